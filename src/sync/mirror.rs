//! The hub's side of sync: applying the centre's changes to the local copy (its orders,
//! staff, riders and the hub itself) under the merge rules, and logging the hub's own
//! changes (parcel progress, cash, riders) in the same transaction as the change.

use serde::Serialize;

use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::delivery::store as delivery;
use crate::http::AppError;
use crate::orders::service as orders;
use crate::orders::{PaymentStatus, SubStatus};
use crate::params;

use super::apply::{self, Outcome};
use super::merge::{self, StatusMerge};
use super::records::*;
use super::store;

/// The category that product stand-ins belong to (a hub has no catalog of its own).
const STUB_CATEGORY: &str = "00000000-0000-7000-8000-000000000001";
/// Password hash of stand-in accounts: not a PHC string, so no password ever matches it.
const NO_PASSWORD: &str = "!";

// ---- logging the hub's own changes ----

fn log<T: Serialize>(c: &dyn Conn, kind: &str, entity_id: &str, rec: &T) -> Result<(), DbError> {
    let payload = serde_json::to_string(rec)
        .map_err(|e| DbError::Decode(0, format!("encoding a sync entry: {e}")))?;
    store::append(c, kind, entity_id, &payload)?;
    Ok(())
}

/// Logs a parcel's progress after a hub staff member moved it.
pub fn log_progress(c: &dyn Conn, sub_order_id: &str) -> Result<(), DbError> {
    let Some(r) = c.query_opt(
        "SELECT status, delivery_partner_id, delivered_at FROM sub_orders WHERE id = $1",
        params![sub_order_id],
    )?
    else {
        return Ok(());
    };
    let rec = ProgressRec {
        sub_order_id: sub_order_id.to_owned(),
        status: r.get(0)?,
        delivery_partner_id: r.get(1)?,
        delivered_at: r.get(2)?,
        events: apply::events_of(c, sub_order_id)?,
    };
    log(c, "progress", sub_order_id, &rec)
}

/// Logs a cash confirmation.
pub fn log_cash(c: &dyn Conn, order_id: &str) -> Result<(), DbError> {
    let Some(r) = c.query_opt(
        "SELECT collected_cents, confirmed_by, paid_at FROM payments
         WHERE order_id = $1 AND status = 'paid'",
        params![order_id],
    )?
    else {
        return Ok(());
    };
    let (Some(collected), Some(by), Some(paid_at)) = (
        r.get::<Option<i64>>(0)?,
        r.get::<Option<String>>(1)?,
        r.get::<Option<i64>>(2)?,
    ) else {
        return Ok(());
    };
    let rec = CashRec {
        order_id: order_id.to_owned(),
        collected_cents: collected,
        confirmed_by: by,
        paid_at,
    };
    log(c, "cash", order_id, &rec)
}

/// Logs a rider as it is now (after a create or an update).
pub fn log_partner(c: &dyn Conn, partner_id: &str) -> Result<(), DbError> {
    let Some(p) = delivery::find_partner(c, partner_id)? else {
        return Ok(());
    };
    let rec = PartnerRec::from(p);
    log(c, "partner", partner_id, &rec)
}

// ---- applying the centre's changes ----

/// Counts of what a pulled batch did here.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub changed: i64,
    pub conflicts: i64,
}

fn bad(kind: &str, e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("the centre sent a malformed {kind} entry: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(e: &PullEntry) -> Result<T, AppError> {
    serde_json::from_value(e.data.clone()).map_err(|x| bad(&e.kind, x))
}

/// Applies one pulled batch (the caller commits it with the new cursor).
pub fn apply_pull(c: &dyn Conn, hub_id: &str, entries: &[PullEntry]) -> Result<Applied, AppError> {
    let mut applied = Applied::default();
    // Parents first: staff, riders and orders refer to the hub (an entity is sent at its
    // last position in the batch, so a hub edited after its staff were logged comes later).
    let rank = |kind: &str| match kind {
        "hub" => 0,
        "staff" => 1,
        "partner" => 2,
        _ => 3,
    };
    let mut ordered: Vec<&PullEntry> = entries.iter().collect();
    ordered.sort_by_key(|e| rank(&e.kind));
    for e in ordered {
        if e.data.is_null() {
            continue;
        }
        let outcome = match e.kind.as_str() {
            "hub" => put_hub(c, &decode(e)?)?,
            "staff" => put_staff(c, hub_id, &decode(e)?)?,
            "partner" => put_rider(c, hub_id, &decode(e)?)?,
            "order" => put_order(c, hub_id, &decode(e)?)?,
            _ => Outcome::Unchanged,
        };
        match outcome {
            Outcome::Changed => applied.changed += 1,
            Outcome::Conflict => {
                applied.changed += 1;
                applied.conflicts += 1;
            }
            Outcome::Unchanged => {}
        }
    }
    Ok(applied)
}

fn put_hub(c: &dyn Conn, h: &HubRec) -> Result<Outcome, DbError> {
    if let Some(cur) = delivery::find_hub(c, &h.id)?
        && cur.name == h.name
        && cur.location == h.location
        && cur.phone == h.phone
        && cur.is_active == h.is_active
    {
        return Ok(Outcome::Unchanged);
    }
    c.execute(
        "INSERT INTO hubs (id, name, location, phone, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, location = excluded.location,
             phone = excluded.phone, is_active = excluded.is_active, updated_at = excluded.updated_at",
        params![
            h.id.as_str(),
            h.name.as_str(),
            h.location.as_str(),
            h.phone.as_str(),
            h.is_active,
            h.created_at,
            h.updated_at
        ],
    )?;
    Ok(Outcome::Changed)
}

fn put_staff(c: &dyn Conn, hub_id: &str, s: &StaffRec) -> Result<Outcome, DbError> {
    let u = &s.user;
    let current = c
        .query_opt(
            "SELECT email, password_hash, full_name, phone, role, is_active, email_verified
             FROM users WHERE id = $1",
            params![u.id.as_str()],
        )?
        .map(|r| {
            Ok::<_, DbError>((
                r.get::<String>(0)? == u.email
                    && r.get::<String>(2)? == u.full_name
                    && r.get::<Option<String>>(3)? == u.phone
                    && r.get::<String>(4)? == u.role
                    && r.get::<bool>(6)? == u.email_verified,
                r.get::<String>(1)? == u.password_hash,
                r.get::<bool>(5)? == u.is_active,
            ))
        })
        .transpose()?;
    let same = current.is_some_and(|(rest, password, active)| rest && password && active);
    // A password changed, or an account shut, at the centre ends the sessions opened here
    // with the old state, as it does at the centre.
    if current.is_some_and(|(_, password, active)| !password || !active) {
        crate::auth::store::revoke_user_sessions(c, &u.id, "changed_at_centre", None, now_ms())?;
    }
    let mut changed = false;
    if !same {
        // The centre owns accounts: a local account still holding this address (someone who
        // left the hub and whose later changes no longer reach it) gives it up.
        c.execute(
            "UPDATE users SET email = id || '@stand-in.invalid' WHERE email = $1 AND id <> $2",
            params![u.email.as_str(), u.id.as_str()],
        )?;
        c.execute(
            "INSERT INTO users (id, email, password_hash, full_name, phone, role, is_active,
                                email_verified, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO UPDATE SET email = excluded.email,
                 password_hash = excluded.password_hash, full_name = excluded.full_name,
                 phone = excluded.phone, role = excluded.role, is_active = excluded.is_active,
                 email_verified = excluded.email_verified, updated_at = excluded.updated_at",
            params![
                u.id.as_str(),
                u.email.as_str(),
                u.password_hash.as_str(),
                u.full_name.as_str(),
                u.phone.as_deref(),
                u.role.as_str(),
                u.is_active,
                u.email_verified,
                u.created_at,
                u.updated_at
            ],
        )?;
        changed = true;
    }
    let here = delivery::hub_of(c, &u.id)?;
    match (
        s.hub_id.as_deref() == Some(hub_id),
        here.as_deref() == Some(hub_id),
    ) {
        (true, false) => {
            delivery::assign_staff(c, &u.id, hub_id, now_ms())?;
            changed = true;
        }
        (false, true) => {
            c.execute(
                "DELETE FROM hub_staff WHERE user_id = $1",
                params![u.id.as_str()],
            )?;
            changed = true;
        }
        _ => {}
    }
    Ok(if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    })
}

/// A rider from the centre: the last change wins (`updated_at`), on both sides, so a local
/// change not sent yet survives when it is the newer one and yields when it is not.
fn put_rider(c: &dyn Conn, hub_id: &str, p: &PartnerRec) -> Result<Outcome, DbError> {
    if p.hub_id != hub_id {
        return Ok(Outcome::Unchanged);
    }
    Ok(match apply::put_partner(c, p)? {
        Ok(true) => Outcome::Changed,
        Ok(false) => Outcome::Unchanged,
        Err(phone) => {
            // The centre's rider has a number a local rider holds (two riders swapped numbers
            // there, or the hub's rider was refused there as a conflict): the centre decides.
            // A local rider with a change not sent yet keeps it until the centre has answered.
            let holder: Option<String> = c
                .query_opt(
                    "SELECT id FROM delivery_partners WHERE hub_id = $1 AND phone = $2 AND id <> $3",
                    params![hub_id, phone.as_str(), p.id.as_str()],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            match holder {
                Some(h) if !store::unsent_change_to(c, &h)? => {
                    // Parked without touching `updated_at`, so its own record from the centre
                    // (if it has one) still replaces it.
                    c.execute(
                        "UPDATE delivery_partners SET phone = 'parked:' || id, is_active = 0 WHERE id = $1",
                        params![h.as_str()],
                    )?;
                    match apply::put_partner(c, p)? {
                        Ok(true) => Outcome::Changed,
                        _ => Outcome::Unchanged,
                    }
                }
                _ => Outcome::Unchanged,
            }
        }
    })
}

fn put_stubs(c: &dyn Conn, o: &OrderSnap) -> Result<(), DbError> {
    let now = now_ms();
    for u in &o.users {
        c.execute(
            "INSERT INTO users (id, email, password_hash, full_name, role, is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (id) DO NOTHING",
            params![
                u.id.as_str(),
                format!("{}@stand-in.invalid", u.id),
                NO_PASSWORD,
                u.full_name.as_str(),
                u.role.as_str(),
                now
            ],
        )?;
    }
    for m in &o.merchants {
        c.execute(
            "INSERT INTO merchants (id, business_name, business_description, phone, location, created_at, updated_at)
             VALUES ($1, $2, '', '', '', $3, $3)
             ON CONFLICT (id) DO UPDATE SET business_name = excluded.business_name",
            params![m.id.as_str(), m.business_name.as_str(), now],
        )?;
    }
    if !o.products.is_empty() {
        c.execute(
            "INSERT INTO categories (id, name, parent_id, created_at, updated_at)
             VALUES ($1, 'Ordered products', NULL, $2, $2) ON CONFLICT (id) DO NOTHING",
            params![STUB_CATEGORY, now],
        )?;
    }
    for p in &o.products {
        c.execute(
            "INSERT INTO products (id, merchant_id, category_id, name, price_cents, currency, stock,
                                   is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $7) ON CONFLICT (id) DO NOTHING",
            params![
                p.id.as_str(),
                p.merchant_id.as_str(),
                STUB_CATEGORY,
                p.name.as_str(),
                p.price_cents,
                p.currency.as_str(),
                now
            ],
        )?;
    }
    Ok(())
}

fn put_order(c: &dyn Conn, hub_id: &str, o: &OrderSnap) -> Result<Outcome, AppError> {
    if o.hub_id != hub_id {
        return Ok(Outcome::Unchanged);
    }
    put_stubs(c, o)?;
    let mut changed = false;
    for p in &o.partners {
        changed |= put_rider(c, hub_id, p)? == Outcome::Changed;
    }
    let now = now_ms();
    changed |= c.execute(
        "INSERT INTO orders (id, customer_id, status, payment_method, total_cents, live_total_cents,
                             payment_status, currency, hub_id, delivery_address, phone, created_at, updated_at)
         VALUES ($1, $2, 'pending', $3, $4, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING",
        params![
            o.id.as_str(),
            o.customer_id.as_str(),
            o.payment_method.as_str(),
            o.total_cents,
            o.payment.status.as_str(),
            o.currency.as_str(),
            o.hub_id.as_str(),
            o.delivery_address.as_str(),
            o.phone.as_str(),
            o.created_at
        ],
    )? > 0;
    let mut conflict = put_payment(c, hub_id, o, &mut changed)?;
    for s in &o.sub_orders {
        conflict |= put_sub(c, hub_id, &o.id, s, &mut changed)?;
    }
    if changed {
        orders::recompute(c, &o.id, now)?;
    }
    Ok(if conflict {
        Outcome::Conflict
    } else if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    })
}

/// The centre owns payments, except that cash confirmed here and not yet acknowledged beats
/// its `pending`. Cash confirmed here against a payment the centre closed another way is a
/// conflict (the centre's payment is kept). Returns true when a conflict was recorded now.
fn put_payment(
    c: &dyn Conn,
    hub_id: &str,
    o: &OrderSnap,
    changed: &mut bool,
) -> Result<bool, DbError> {
    let p = &o.payment;
    let current = c
        .query_opt(
            "SELECT status, collected_cents, confirmed_by, paid_at FROM payments WHERE order_id = $1",
            params![o.id.as_str()],
        )?
        .map(|r| {
            Ok::<_, DbError>((
                r.get::<String>(0)?,
                r.get::<Option<i64>>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<Option<i64>>(3)?,
            ))
        })
        .transpose()?;
    let Some((status, collected, by, paid_at)) = current else {
        c.execute(
            "INSERT INTO payments (id, order_id, method, status, amount_cents, collected_cents,
                                   confirmed_by, paid_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            params![
                p.id.as_str(),
                o.id.as_str(),
                p.method.as_str(),
                p.status.as_str(),
                p.amount_cents,
                p.collected_cents,
                p.confirmed_by.as_deref(),
                p.paid_at,
                p.created_at,
                p.updated_at
            ],
        )?;
        *changed = true;
        return Ok(false);
    };
    if status == p.status
        && collected == p.collected_cents
        && by == p.confirmed_by
        && paid_at == p.paid_at
    {
        return Ok(false);
    }
    let local_cash = status == PaymentStatus::Paid.as_str() && collected.is_some();
    if local_cash
        && p.status == PaymentStatus::Pending.as_str()
        && store::unsent_change_to(c, &o.id)?
    {
        return Ok(false);
    }
    let mut conflict = false;
    if local_cash && p.status != PaymentStatus::Paid.as_str() {
        conflict = store::record_conflict(
            c,
            &format!("pull:cash:{}:{}", o.id, p.status),
            hub_id,
            "cash",
            &o.id,
            &format!(
                "cash was collected here for an order whose payment the centre has {}; the centre's payment is kept",
                p.status
            ),
            &format!("paid {} cents", collected.unwrap_or(0)),
            &p.status,
        )?;
    }
    c.execute(
        "UPDATE payments SET status = $1, collected_cents = $2, confirmed_by = $3, paid_at = $4,
                updated_at = $5 WHERE order_id = $6",
        params![
            p.status.as_str(),
            p.collected_cents,
            p.confirmed_by.as_deref(),
            p.paid_at,
            p.updated_at,
            o.id.as_str()
        ],
    )?;
    *changed = true;
    Ok(conflict)
}

/// Merges one sub-order; returns true when a conflict was recorded now.
fn put_sub(
    c: &dyn Conn,
    hub_id: &str,
    order_id: &str,
    s: &SubRec,
    changed: &mut bool,
) -> Result<bool, AppError> {
    let remote = SubStatus::parse(&s.status).ok_or_else(|| bad("order", "unknown status"))?;
    let current = c
        .query_opt(
            "SELECT status, delivery_partner_id FROM sub_orders WHERE id = $1",
            params![s.id.as_str()],
        )?
        .map(|r| Ok::<_, DbError>((r.get::<String>(0)?, r.get::<Option<String>>(1)?)))
        .transpose()?;
    // A rider the hub does not know (its record clashed here) is left out rather than broken.
    let remote_rider = match s.delivery_partner_id.as_deref() {
        Some(r) if apply::rider_of_hub(c, r, hub_id)? => Some(r.to_owned()),
        _ => None,
    };
    let mut conflict = false;
    match current {
        None => {
            c.execute(
                "INSERT INTO sub_orders (id, order_id, merchant_id, hub_id, status, subtotal_cents,
                                         units, delivery_partner_id, delivered_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                params![
                    s.id.as_str(),
                    order_id,
                    s.merchant_id.as_str(),
                    hub_id,
                    s.status.as_str(),
                    s.subtotal_cents,
                    s.units,
                    remote_rider.as_deref(),
                    s.delivered_at,
                    s.created_at,
                    s.updated_at
                ],
            )?;
            *changed = true;
        }
        Some((local, rider)) => {
            let local =
                SubStatus::parse(&local).ok_or_else(|| bad("order", "unknown local status"))?;
            let merged = merge::merge_status(local, remote);
            if merged == StatusMerge::Conflict {
                conflict = store::record_conflict(
                    c,
                    &format!(
                        "pull:status:{}:{}:{}",
                        s.id,
                        local.as_str(),
                        remote.as_str()
                    ),
                    hub_id,
                    "status",
                    &s.id,
                    &format!(
                        "the centre has this parcel {} while it was {} here; {} is kept",
                        remote.as_str(),
                        local.as_str(),
                        merge::settled(merged).as_str()
                    ),
                    local.as_str(),
                    remote.as_str(),
                )?;
            }
            let status = merge::settled(merged);
            // The centre has applied every report the hub sent (it owns nothing the hub did
            // not tell it, except an admin's step there), so its rider is the merged one; a
            // report not sent yet keeps the hub's rider until the centre has it.
            let before = rider.clone();
            let rider = if store::unsent_change_to(c, &s.id)? {
                rider.or(remote_rider)
            } else {
                remote_rider.or(rider)
            };
            if status != local || rider != before {
                apply::set_sub(c, &s.id, status.as_str(), rider.as_deref(), None, now_ms())?;
                *changed = true;
            }
            if s.delivered_at.is_some() && status == remote {
                *changed |= c.execute(
                    "UPDATE sub_orders SET delivered_at = CAST($1 AS BIGINT) WHERE id = $2 AND delivered_at IS DISTINCT FROM CAST($1 AS BIGINT)",
                    params![s.delivered_at, s.id.as_str()],
                )? > 0;
            }
        }
    }
    for i in &s.items {
        *changed |= c.execute(
            "INSERT INTO order_items (id, order_id, sub_order_id, product_id, name, unit_price_cents,
                                      quantity, line_total_cents)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            params![
                i.id.as_str(),
                order_id,
                s.id.as_str(),
                i.product_id.as_str(),
                i.name.as_str(),
                i.unit_price_cents,
                i.quantity,
                i.line_total_cents
            ],
        )? > 0;
    }
    *changed |= apply::put_events(c, &s.events)? > 0;
    Ok(conflict)
}
