//! The centre's side of hub sync: issuing a hub's token (and logging the hub's full snapshot
//! after it), answering pulls with the current state of what changed, and applying a hub's
//! pushed changes under the merge rules, recording conflicts.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::auth::tokens::{hash_token, random_token};
use crate::clock::now_ms;
use crate::db::{Conn, DbError, Value as SqlValue, placeholders};
use crate::delivery::store as delivery;
use crate::http::AppError;
use crate::ids;
use crate::orders::service::{self as orders, CashProblem};
use crate::orders::store as order_store;
use crate::orders::{PaymentMethod, SubStatus};
use crate::params;

use super::apply::{self, Outcome};
use super::merge::{self, CashMerge, StatusMerge};
use super::records::*;
use super::store;

/// Prefix of hub sync tokens (tells them apart from JWTs at a glance).
pub const TOKEN_PREFIX: &str = "mhs_";
/// Finished orders older than this are not part of a hub's first snapshot.
const SNAPSHOT_DONE_WITHIN_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Issues a new token for `hub_id` (the previous one stops working) and logs the hub's
/// snapshot: the hub, its staff, its riders, and its orders that are still moving or
/// finished within 30 days. Returns the token, shown once.
pub fn issue_token(c: &dyn Conn, hub_id: &str, admin_id: &str) -> Result<String, DbError> {
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let base = store::outbox_head(c)?;
    let now = now_ms();
    store::put_token(c, hub_id, &hash_token(&token), base, admin_id, now)?;
    store::outbox_note(c, hub_id, "hub", hub_id)?;
    for r in &c.query(
        "SELECT user_id FROM hub_staff WHERE hub_id = $1 ORDER BY user_id",
        params![hub_id],
    )? {
        store::outbox_note(c, hub_id, "staff", &r.get::<String>(0)?)?;
    }
    for r in &c.query(
        "SELECT id FROM delivery_partners WHERE hub_id = $1 ORDER BY id",
        params![hub_id],
    )? {
        store::outbox_note(c, hub_id, "partner", &r.get::<String>(0)?)?;
    }
    for r in &c.query(
        "SELECT DISTINCT order_id FROM sub_orders WHERE hub_id = $1
           AND (status NOT IN ('delivered', 'cancelled', 'returned') OR updated_at > $2)
         ORDER BY order_id",
        params![hub_id, now - SNAPSHOT_DONE_WITHIN_MS],
    )? {
        store::outbox_note(c, hub_id, "order", &r.get::<String>(0)?)?;
    }
    Ok(token)
}

/// The hub a sync token belongs to, with its base position.
pub fn authenticate(c: &dyn Conn, token: &str) -> Result<Option<(String, i64)>, DbError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    store::token_hub(c, &hash_token(token))
}

/// One batch of the hub's changes after `after` (from the token's base for a hub starting from
/// nothing), each with the entity's current state; an entity changed several times in the batch is sent once, at
/// its last position.
pub fn pull(
    c: &dyn Conn,
    node_id: &str,
    hub_id: &str,
    base: i64,
    after: i64,
    limit: i64,
) -> Result<PullPage, DbError> {
    // A hub starting from nothing begins at its snapshot; one with a cursor (even from an
    // earlier token) continues from it, so nothing between the two is skipped.
    let after = if after == 0 { base } else { after };
    let rows = store::outbox_after(c, hub_id, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_after = rows.last().map_or(after, |r| r.0);
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for (seq, kind, id) in rows.iter().rev() {
        if !seen.insert((kind.clone(), id.clone())) {
            continue;
        }
        let data = match kind.as_str() {
            "hub" => to_value(hub_rec(c, id)?),
            "staff" => to_value(staff_rec(c, id, hub_id)?),
            "partner" => to_value(
                delivery::find_partner(c, id)?
                    .filter(|p| p.hub_id == hub_id)
                    .map(PartnerRec::from),
            ),
            "order" => to_value(order_snap(c, id, hub_id)?),
            _ => Value::Null,
        };
        entries.push(PullEntry {
            seq: *seq,
            kind: kind.clone(),
            id: id.clone(),
            data,
        });
    }
    entries.reverse();
    Ok(PullPage {
        node_id: node_id.to_owned(),
        hub_id: hub_id.to_owned(),
        entries,
        next_after,
        more,
        head: store::outbox_head(c)?,
    })
}

fn to_value<T: serde::Serialize>(v: Option<T>) -> Value {
    v.and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

fn hub_rec(c: &dyn Conn, id: &str) -> Result<Option<HubRec>, DbError> {
    Ok(delivery::find_hub(c, id)?.map(HubRec::from))
}

fn staff_rec(c: &dyn Conn, user_id: &str, hub_id: &str) -> Result<Option<StaffRec>, DbError> {
    let Some(r) = c.query_opt(
        "SELECT id, email, password_hash, full_name, phone, role, is_active, email_verified,
                created_at, updated_at FROM users WHERE id = $1",
        params![user_id],
    )?
    else {
        return Ok(None);
    };
    let user = UserRec {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        full_name: r.get(3)?,
        phone: r.get(4)?,
        role: r.get(5)?,
        is_active: r.get(6)?,
        email_verified: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    };
    let here = delivery::hub_of(c, user_id)?.filter(|h| h == hub_id);
    if here.is_some() && user.role == "hub_staff" {
        return Ok(Some(StaffRec { user, hub_id: here }));
    }
    // No longer this hub's staff (moved, or given another role): the hub only learns to shut
    // the account, never its new credentials or address.
    Ok(Some(StaffRec {
        user: UserRec {
            email: format!("{}@stand-in.invalid", user.id),
            password_hash: "!".into(),
            phone: None,
            role: "hub_staff".into(),
            is_active: false,
            email_verified: false,
            ..user
        },
        hub_id: None,
    }))
}

fn in_list(ids: &BTreeSet<String>) -> (String, Vec<SqlValue>) {
    let args: Vec<SqlValue> = ids.iter().map(|i| i.as_str().into()).collect();
    (placeholders(1, args.len()), args)
}

/// The order with its sub-orders routed to `hub_id`, or `None` when it has none there.
pub fn order_snap(
    c: &dyn Conn,
    order_id: &str,
    hub_id: &str,
) -> Result<Option<OrderSnap>, DbError> {
    let Some(o) = c.query_opt(
        "SELECT id, customer_id, payment_method, total_cents, currency, hub_id, delivery_address,
                phone, created_at FROM orders WHERE id = $1",
        params![order_id],
    )?
    else {
        return Ok(None);
    };
    let Some(p) = c.query_opt(
        "SELECT id, method, status, amount_cents, collected_cents, confirmed_by, paid_at,
                created_at, updated_at FROM payments WHERE order_id = $1",
        params![order_id],
    )?
    else {
        return Ok(None);
    };
    let payment = PaymentRec {
        id: p.get(0)?,
        method: p.get(1)?,
        status: p.get(2)?,
        amount_cents: p.get(3)?,
        collected_cents: p.get(4)?,
        confirmed_by: p.get(5)?,
        paid_at: p.get(6)?,
        created_at: p.get(7)?,
        updated_at: p.get(8)?,
    };
    let mut sub_orders = Vec::new();
    for r in &c.query(
        "SELECT id, merchant_id, status, subtotal_cents, units, delivery_partner_id, delivered_at,
                created_at, updated_at
         FROM sub_orders WHERE order_id = $1 AND hub_id = $2 ORDER BY created_at, id",
        params![order_id, hub_id],
    )? {
        let id: String = r.get(0)?;
        let items = c
            .query(
                "SELECT id, product_id, name, unit_price_cents, quantity, line_total_cents
                 FROM order_items WHERE sub_order_id = $1 ORDER BY id",
                params![id.as_str()],
            )?
            .iter()
            .map(|i| {
                Ok(ItemRec {
                    id: i.get(0)?,
                    product_id: i.get(1)?,
                    name: i.get(2)?,
                    unit_price_cents: i.get(3)?,
                    quantity: i.get(4)?,
                    line_total_cents: i.get(5)?,
                })
            })
            .collect::<Result<_, DbError>>()?;
        let events = apply::events_of(c, &id)?;
        sub_orders.push(SubRec {
            merchant_id: r.get(1)?,
            status: r.get(2)?,
            subtotal_cents: r.get(3)?,
            units: r.get(4)?,
            delivery_partner_id: r.get(5)?,
            delivered_at: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
            items,
            events,
            id,
        });
    }
    if sub_orders.is_empty() {
        return Ok(None);
    }
    let customer_id: String = o.get(1)?;
    let mut people = BTreeSet::from([customer_id.clone()]);
    people.extend(payment.confirmed_by.clone());
    let mut merchant_ids = BTreeSet::new();
    let mut product_ids = BTreeSet::new();
    let mut rider_ids = BTreeSet::new();
    for s in &sub_orders {
        merchant_ids.insert(s.merchant_id.clone());
        people.insert(s.merchant_id.clone());
        product_ids.extend(s.items.iter().map(|i| i.product_id.clone()));
        rider_ids.extend(s.delivery_partner_id.clone());
        people.extend(s.events.iter().filter_map(|e| e.actor_id.clone()));
    }
    let (list, args) = in_list(&people);
    let users = c
        .query(
            &format!("SELECT id, full_name, role FROM users WHERE id IN ({list}) ORDER BY id"),
            &args,
        )?
        .iter()
        .map(|r| {
            Ok(StubUser {
                id: r.get(0)?,
                full_name: r.get(1)?,
                role: r.get(2)?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    let (list, args) = in_list(&merchant_ids);
    let merchants = c
        .query(
            &format!("SELECT id, business_name FROM merchants WHERE id IN ({list}) ORDER BY id"),
            &args,
        )?
        .iter()
        .map(|r| {
            Ok(MerchantStub {
                id: r.get(0)?,
                business_name: r.get(1)?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    let products = if product_ids.is_empty() {
        Vec::new()
    } else {
        let (list, args) = in_list(&product_ids);
        c.query(
            &format!(
                "SELECT id, merchant_id, name, price_cents, currency FROM products
                 WHERE id IN ({list}) ORDER BY id"
            ),
            &args,
        )?
        .iter()
        .map(|r| {
            Ok(ProductStub {
                id: r.get(0)?,
                merchant_id: r.get(1)?,
                name: r.get(2)?,
                price_cents: r.get(3)?,
                currency: r.get(4)?,
            })
        })
        .collect::<Result<_, DbError>>()?
    };
    let mut partners = Vec::new();
    for id in &rider_ids {
        if let Some(p) = delivery::find_partner(c, id)? {
            partners.push(PartnerRec::from(p));
        }
    }
    Ok(Some(OrderSnap {
        id: o.get(0)?,
        customer_id,
        payment_method: o.get(2)?,
        total_cents: o.get(3)?,
        currency: o.get(4)?,
        hub_id: o.get(5)?,
        delivery_address: o.get(6)?,
        phone: o.get(7)?,
        created_at: o.get(8)?,
        payment,
        users,
        merchants,
        products,
        partners,
        sub_orders,
    }))
}

fn outside_hub(what: &str) -> AppError {
    AppError::forbidden(
        "outside_hub",
        format!("{what} does not belong to this token's hub"),
    )
}

fn bad_entry(seq: i64, problem: impl std::fmt::Display) -> AppError {
    AppError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_entry",
        format!("entry {seq}: {problem}"),
    )
}

fn parse<T: serde::de::DeserializeOwned>(seq: i64, data: &Value) -> Result<T, AppError> {
    serde_json::from_value(data.clone()).map_err(|e| bad_entry(seq, e))
}

/// Applies a hub's batch in log order. Entries the centre already holds are applied again
/// and change nothing; a batch that starts after a gap is refused (409 `sync_gap`, with the
/// position to resend from) so nothing is skipped.
pub fn push(c: &dyn Conn, hub_id: &str, batch: &PushBatch) -> Result<PushAck, AppError> {
    if !ids::is_valid(&batch.node_id) {
        return Err(AppError::invalid_field(
            "node_id",
            "must be the hub node's id",
        ));
    }
    let acked = match store::peer(c, &batch.node_id)? {
        Some((h, _)) if h != hub_id => return Err(outside_hub("this node")),
        Some((_, a)) => a,
        None => 0,
    };
    let mut ack = PushAck {
        acked_upto: acked,
        applied: 0,
        unchanged: 0,
        conflicts: 0,
    };
    let Some(first) = batch.entries.first() else {
        return Ok(ack);
    };
    if first.seq < 1 {
        return Err(bad_entry(first.seq, "seq starts at 1"));
    }
    if first.seq > acked + 1 {
        return Err(AppError::conflict(
            "sync_gap",
            format!("changes after {acked} are missing; resend from there"),
        )
        .with_details(json!({ "expected_after": acked })));
    }
    let mut prev = first.seq - 1;
    for e in &batch.entries {
        if e.seq != prev + 1 {
            return Err(bad_entry(
                e.seq,
                "entries must follow each other without gaps",
            ));
        }
        prev = e.seq;
        let outcome = match e.kind.as_str() {
            "progress" => apply_progress(c, hub_id, &parse(e.seq, &e.data)?, e.seq)?,
            "cash" => apply_cash(c, hub_id, &parse(e.seq, &e.data)?)?,
            "partner" => apply_partner(c, hub_id, &parse(e.seq, &e.data)?, e.seq)?,
            other => return Err(bad_entry(e.seq, format!("unknown kind {other:?}"))),
        };
        match outcome {
            Outcome::Changed => ack.applied += 1,
            Outcome::Unchanged => ack.unchanged += 1,
            Outcome::Conflict => ack.conflicts += 1,
        }
    }
    ack.acked_upto = acked.max(prev);
    store::put_peer(c, &batch.node_id, hub_id, ack.acked_upto, now_ms())?;
    Ok(ack)
}

fn apply_progress(
    c: &dyn Conn,
    hub_id: &str,
    rec: &ProgressRec,
    seq: i64,
) -> Result<Outcome, AppError> {
    let Some(sub) = order_store::sub_row(c, &rec.sub_order_id)? else {
        // Not here (the centre was restored from an older backup?): recorded, not retried
        // forever.
        let new = store::record_conflict(
            c,
            &format!("push:unknown:{}:{}", rec.sub_order_id, rec.status),
            hub_id,
            "status",
            &rec.sub_order_id,
            &format!(
                "the hub reported {} for a parcel the centre does not have",
                rec.status
            ),
            "missing",
            &rec.status,
        )?;
        return Ok(Outcome::recorded(new));
    };
    if sub.hub_id != hub_id {
        return Err(outside_hub("this parcel"));
    }
    let reported = SubStatus::parse(&rec.status)
        .filter(|s| merge::is_hub_step(*s))
        .ok_or_else(|| {
            bad_entry(
                seq,
                "status must be at_hub, out_for_delivery, delivered or returned",
            )
        })?;
    for e in &rec.events {
        if e.sub_order_id != sub.id
            || SubStatus::parse(&e.to_status).is_none()
            || e.from_status
                .as_deref()
                .is_some_and(|f| SubStatus::parse(f).is_none())
            || !ids::is_valid(&e.id)
        {
            return Err(bad_entry(
                seq,
                "a history entry does not belong to this parcel",
            ));
        }
    }
    let added = apply::put_events(c, &hub_events(c, &rec.events)?)? > 0;
    let merged = merge::merge_status(sub.status, reported);
    if merged == StatusMerge::Conflict {
        let new = store::record_conflict(
            c,
            &format!(
                "push:status:{}:{}:{}",
                sub.id,
                sub.status.as_str(),
                reported.as_str()
            ),
            hub_id,
            "status",
            &sub.id,
            &format!(
                "the hub reported {} for a parcel the centre has {}; {} is kept",
                reported.as_str(),
                sub.status.as_str(),
                merge::settled(merged).as_str()
            ),
            sub.status.as_str(),
            reported.as_str(),
        )?;
        return Ok(Outcome::recorded(new).or_changed(added));
    }
    let status = merge::settled(merged);
    let hub_rider = match rec.delivery_partner_id.as_deref() {
        Some(r) if apply::rider_of_hub(c, r, hub_id)? => Some(r),
        _ => None,
    };
    let rider = merge::rider_after(
        sub.status,
        sub.delivery_partner_id.as_deref(),
        reported,
        hub_rider,
    );
    if status == sub.status && rider == sub.delivery_partner_id {
        return Ok(Outcome::Unchanged.or_changed(added));
    }
    let now = now_ms();
    let delivered_at = rec.delivered_at.map(|t| t.min(now));
    apply::set_sub(
        c,
        &sub.id,
        status.as_str(),
        rider.as_deref(),
        delivered_at,
        now,
    )?;
    if status != sub.status {
        orders::recompute(c, &sub.order_id, now)?;
        orders::notify_status(c, &sub, status, now)?;
    }
    Ok(Outcome::Changed)
}

/// The history entries of a report the centre stores: those it has (inserting them again
/// does nothing) and new ones the hub's staff wrote for the hub's own steps. A hub cannot
/// write history in a merchant's, a customer's or an admin's name, for a step it does not
/// own, or in the future; entries of the centre's own it no longer has (restored from an
/// older backup) are not the hub's to restore.
fn hub_events(c: &dyn Conn, events: &[EventRec]) -> Result<Vec<EventRec>, DbError> {
    let latest = now_ms() + 10 * 60 * 1000;
    let mut keep = Vec::new();
    for e in events {
        let known: i64 = c.query_scalar(
            "SELECT COUNT(*) FROM sub_order_events WHERE id = $1",
            params![e.id.as_str()],
        )?;
        if known > 0 {
            continue;
        }
        let hub_step = SubStatus::parse(&e.to_status).is_some_and(merge::is_hub_step);
        let staff_actor = match &e.actor_id {
            Some(a) => crate::auth::store::find_user(c, a)?
                .is_some_and(|u| u.role == crate::auth::Role::HubStaff),
            None => true,
        };
        if e.actor_role == "hub_staff"
            && hub_step
            && staff_actor
            && e.created_at <= latest
            && e.note.as_deref().is_none_or(|n| n.chars().count() <= 500)
        {
            keep.push(e.clone());
        }
    }
    Ok(keep)
}

/// Why cash confirmed at the hub cannot be taken as it is, checked as `POST
/// /payments/cod/confirm` checks it: by a staff member, for the amount due now, once every
/// live parcel of the order is out for delivery or delivered.
fn cash_problem(c: &dyn Conn, rec: &CashRec) -> Result<Option<String>, DbError> {
    let by_staff = crate::auth::store::find_user(c, &rec.confirmed_by)?
        .is_some_and(|u| u.role == crate::auth::Role::HubStaff);
    if !by_staff {
        return Ok(Some("it was not confirmed by hub staff".into()));
    }
    Ok(
        orders::cash_problem(c, &rec.order_id, rec.collected_cents)?.map(|p| match p {
            CashProblem::NotOut(s) => format!("a parcel of the order is {}", s.as_str()),
            CashProblem::WrongAmount { due } => format!("{due} cents are due"),
        }),
    )
}

fn apply_cash(c: &dyn Conn, hub_id: &str, rec: &CashRec) -> Result<Outcome, AppError> {
    let Some(head) = order_store::order_head(c, &rec.order_id)? else {
        let new = store::record_conflict(
            c,
            &format!("push:cash:{}:missing:{}", rec.order_id, rec.collected_cents),
            hub_id,
            "cash",
            &rec.order_id,
            "the hub collected cash for an order the centre does not have",
            "missing",
            &format!("paid {} cents", rec.collected_cents),
        )?;
        return Ok(Outcome::recorded(new));
    };
    if head.hub_id != hub_id {
        return Err(outside_hub("this order"));
    }
    let current = c
        .query_opt(
            "SELECT collected_cents, confirmed_by FROM payments WHERE order_id = $1",
            params![rec.order_id.as_str()],
        )?
        .map(|r| Ok::<_, DbError>((r.get::<Option<i64>>(0)?, r.get::<Option<String>>(1)?)))
        .transpose()?
        .unwrap_or((None, None));
    let mut verdict = if head.method == PaymentMethod::Cod {
        merge::merge_cash(
            head.payment_status,
            current.0,
            current.1.as_deref(),
            rec.collected_cents,
            &rec.confirmed_by,
        )
    } else {
        CashMerge::Conflict
    };
    let mut problem = None;
    if verdict == CashMerge::Apply {
        problem = cash_problem(c, rec)?;
        if problem.is_some() {
            verdict = CashMerge::Conflict;
        }
    }
    match verdict {
        CashMerge::Same => Ok(Outcome::Unchanged),
        CashMerge::Conflict => {
            let new = store::record_conflict(
                c,
                &format!(
                    "push:cash:{}:{}:{}",
                    rec.order_id,
                    head.payment_status.as_str(),
                    rec.collected_cents
                ),
                hub_id,
                "cash",
                &rec.order_id,
                &match &problem {
                    Some(p) => format!(
                        "the hub collected {} cents but {p}; the payment stays {} at the centre",
                        rec.collected_cents,
                        head.payment_status.as_str()
                    ),
                    None => format!(
                        "the hub collected {} cents for an order whose payment is {} ({}) at the centre; the centre's payment is kept",
                        rec.collected_cents,
                        head.payment_status.as_str(),
                        head.method.as_str()
                    ),
                },
                head.payment_status.as_str(),
                &format!("paid {} cents", rec.collected_cents),
            )?;
            Ok(Outcome::recorded(new))
        }
        CashMerge::Apply => {
            let by = rec.confirmed_by.as_str();
            c.execute(
                "UPDATE payments SET status = 'paid', collected_cents = $1, confirmed_by = $2,
                        paid_at = $3, updated_at = $4
                 WHERE order_id = $5 AND status = 'pending'",
                params![
                    rec.collected_cents,
                    by,
                    rec.paid_at,
                    now_ms(),
                    rec.order_id.as_str()
                ],
            )?;
            orders::recompute(c, &rec.order_id, now_ms())?;
            Ok(Outcome::Changed)
        }
    }
}

fn apply_partner(
    c: &dyn Conn,
    hub_id: &str,
    rec: &PartnerRec,
    seq: i64,
) -> Result<Outcome, AppError> {
    if rec.hub_id != hub_id {
        return Err(outside_hub("this rider"));
    }
    if let Some(p) = delivery::find_partner(c, &rec.id)?
        && p.hub_id != hub_id
    {
        return Err(outside_hub("this rider"));
    }
    if !ids::is_valid(&rec.id)
        || crate::text::line(&rec.name, 1, 120).is_err()
        || crate::auth::normalize_phone(&rec.phone).is_err()
    {
        return Err(bad_entry(seq, "the rider's id, name or phone is not valid"));
    }
    // The last change wins, so a change stamped in the future would win forever.
    if rec.updated_at > now_ms() + 10 * 60 * 1000 {
        let new = store::record_conflict(
            c,
            &format!("push:partner:{}:future:{}", rec.id, rec.updated_at),
            hub_id,
            "partner",
            &rec.id,
            "the hub's change to this rider is stamped in the future (is the hub machine's clock right?); it was not stored",
            "kept",
            &rec.name,
        )?;
        return Ok(Outcome::recorded(new));
    }
    match apply::put_partner(c, rec)? {
        Ok(true) => Ok(Outcome::Changed),
        Ok(false) => Ok(Outcome::Unchanged),
        Err(phone) => {
            let new = store::record_conflict(
                c,
                &format!("push:partner:{}:{phone}", rec.id),
                hub_id,
                "partner",
                &rec.id,
                &format!(
                    "another rider of this hub already has the phone number {phone} at the centre; the hub's rider was not stored"
                ),
                "phone taken",
                &rec.name,
            )?;
            Ok(Outcome::recorded(new))
        }
    }
}
