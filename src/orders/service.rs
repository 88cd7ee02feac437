//! Order flows, each inside one write transaction: checkout (cart → master order +
//! sub-orders + items, stock taken with conditional updates, cart emptied, mail queued),
//! sub-order transitions with their history, customer cancellation, and the derived master
//! status.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::store::{self, NewItem, NewOrder, SubRow};
use super::{
    Actor, OrderStatus, OrderView, PaymentMethod, PaymentStatus, SubStatus, derive_status,
};
use crate::auth::store as users;
use crate::cart::{line_problem, store as cart};
use crate::catalog::store as catalog;
use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::delivery::store as delivery;
use crate::http::AppError;
use crate::ids::new_id;
use crate::mail::{self, templates};
use crate::merchants::store as merchants;
use crate::money;

/// A validated checkout request.
#[derive(Debug, Clone)]
pub struct CheckoutInput {
    pub payment_method: PaymentMethod,
    pub hub_id: String,
    pub delivery_address: String,
    pub phone: String,
}

impl CheckoutInput {
    /// A fingerprint of the request, so a reused idempotency key with another body is caught.
    fn hash(&self) -> String {
        let canonical = json!([
            self.payment_method.as_str(),
            self.hub_id,
            self.delivery_address,
            self.phone
        ]);
        Sha256::digest(canonical.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Turns the customer's cart into an order. Returns the order's id and whether it is the
/// replay of an earlier checkout with the same idempotency key. (The caller reads the order
/// back after the commit, so the single writer is not held for it.)
pub fn checkout(
    c: &dyn Conn,
    customer_id: &str,
    input: &CheckoutInput,
    idempotency_key: Option<&str>,
) -> Result<(String, bool), AppError> {
    let request_hash = input.hash();
    if let Some(key) = idempotency_key
        && let Some((order_id, hash)) = store::find_by_idempotency_key(c, customer_id, key)?
    {
        if hash != request_hash {
            return Err(AppError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different checkout",
            ));
        }
        return Ok((order_id, true));
    }
    match delivery::find_hub(c, &input.hub_id)? {
        Some(h) if h.is_active => {}
        _ => {
            return Err(AppError::invalid_field(
                "hub_id",
                "does not exist or is not accepting parcels",
            ));
        }
    }
    let lines = cart::lines(c, customer_id)?;
    if lines.is_empty() {
        return Err(AppError::conflict("cart_empty", "the cart is empty"));
    }
    let ids: Vec<String> = lines.iter().map(|l| l.1.clone()).collect();
    let products = catalog::products_by_ids(c, &ids)?;

    // Check every line first, so the answer names all offending items at once.
    let mut offending = Vec::new();
    for (line_id, product_id, quantity) in &lines {
        let (product, live) = match products.get(product_id) {
            Some(p) => (Some(&p.0), p.1),
            None => (None, false),
        };
        let stock = product.map_or(0, |p| p.stock);
        if let Some(problem) = line_problem(live, stock, *quantity) {
            offending.push(json!({
                "cart_item_id": line_id, "product_id": product_id,
                "name": product.map(|p| p.name.as_str()), "problem": problem,
                "requested": quantity, "available": if live { stock } else { 0 },
            }));
        }
    }
    if !offending.is_empty() {
        return Err(cart_unavailable(offending));
    }

    let now = now_ms();
    let order_id = new_id();
    let currency = products
        .values()
        .next()
        .map_or_else(String::new, |p| p.0.currency.clone());
    // One sub-order per merchant, in a stable order.
    let mut by_merchant: BTreeMap<String, Vec<(&str, i64)>> = BTreeMap::new();
    for (_, product_id, quantity) in &lines {
        let (product, _) = &products[product_id];
        by_merchant
            .entry(product.merchant_id.clone())
            .or_default()
            .push((product_id.as_str(), *quantity));
    }
    let total: i64 = lines
        .iter()
        .map(|(_, pid, q)| products[pid].0.price_cents * q)
        .sum();
    let initial = derive_status(
        &[SubStatus::Pending],
        input.payment_method,
        PaymentStatus::Pending,
    );
    store::insert_order(
        c,
        &NewOrder {
            id: &order_id,
            customer_id,
            status: initial,
            payment_method: input.payment_method,
            total_cents: total,
            currency: &currency,
            hub_id: &input.hub_id,
            delivery_address: &input.delivery_address,
            phone: &input.phone,
            idempotency_key,
            request_hash: &request_hash,
            now,
        },
    )?;
    store::insert_payment(c, &order_id, input.payment_method, total, now)?;
    let mut merchant_mail = Vec::new();
    for (merchant_id, items) in &by_merchant {
        let sub_id = new_id();
        let subtotal: i64 = items
            .iter()
            .map(|(pid, q)| products[*pid].0.price_cents * q)
            .sum();
        store::insert_sub_order(
            c,
            &sub_id,
            &order_id,
            merchant_id,
            &input.hub_id,
            subtotal,
            now,
        )?;
        for (product_id, quantity) in items {
            let product = &products[*product_id].0;
            if !store::take_stock(c, product_id, *quantity, now)? {
                // Cannot happen inside the single-writer transaction after the checks above,
                // but the conditional update is the guarantee: fail, and roll everything back.
                return Err(cart_unavailable(vec![json!({
                    "product_id": product_id, "name": product.name, "problem": "insufficient_stock",
                    "requested": quantity,
                })]));
            }
            store::insert_item(
                c,
                &NewItem {
                    id: &new_id(),
                    order_id: &order_id,
                    sub_order_id: &sub_id,
                    product_id,
                    name: &product.name,
                    unit_price_cents: product.price_cents,
                    quantity: *quantity,
                },
            )?;
        }
        store::insert_event(
            c,
            &sub_id,
            None,
            SubStatus::Pending,
            Some(customer_id),
            Actor::Customer.as_str(),
            None,
            now,
        )?;
        merchant_mail.push((merchant_id.clone(), sub_id, subtotal, items.clone()));
    }
    cart::clear(c, customer_id)?;

    // Mail, in the same transaction: sent only if the order exists.
    let name_of = |pid: &str| products[pid].0.name.clone();
    if let Some(customer) = users::find_user(c, customer_id)? {
        let lines: Vec<(String, i64)> =
            lines.iter().map(|(_, pid, q)| (name_of(pid), *q)).collect();
        let m = templates::order_placed(
            &customer.email,
            &customer.full_name,
            &order_id,
            &money::format(total, &currency),
            &lines,
        );
        mail::enqueue(c, &m, now)?;
    }
    for (merchant_id, sub_id, subtotal, items) in merchant_mail {
        let (Some(user), Some(profile)) = (
            users::find_user(c, &merchant_id)?,
            merchants::find_merchant(c, &merchant_id)?,
        ) else {
            continue;
        };
        let lines: Vec<(String, i64)> = items.iter().map(|(pid, q)| (name_of(pid), *q)).collect();
        let m = templates::merchant_new_order(
            &user.email,
            &profile.business_name,
            &sub_id,
            &money::format(subtotal, &currency),
            &lines,
        );
        mail::enqueue(c, &m, now)?;
    }
    Ok((order_id, false))
}

fn cart_unavailable(items: Vec<serde_json::Value>) -> AppError {
    let names: Vec<String> = items
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("a product").to_owned())
        .collect();
    AppError::conflict(
        "cart_unavailable",
        format!(
            "some items cannot be ordered as they are: {}",
            names.join(", ")
        ),
    )
    .with_details(json!({ "items": items }))
}

/// The order view, or 404.
pub fn load(c: &dyn Conn, order_id: &str) -> Result<OrderView, AppError> {
    store::load_orders(c, &[order_id.to_owned()])?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("order"))
}

/// Who is moving a sub-order, and whether the customer hears about it step by step.
pub struct Mover<'a> {
    /// `None` for the system.
    pub actor_id: Option<&'a str>,
    pub actor: Actor,
    pub notify_customer: bool,
    /// On a hub instance: staff may receive a parcel (`at_hub`) before the merchant's
    /// "shipped" has reached the hub, from any state the order could still be cancelled in
    /// (the centre's merge settles it, see `sync::merge`).
    pub early_receive: bool,
}

fn illegal(from: SubStatus, to: SubStatus, allowed: Vec<SubStatus>) -> AppError {
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let message = if names.is_empty() {
        format!(
            "cannot move from {} to {}: no further step is yours to take",
            from.as_str(),
            to.as_str()
        )
    } else {
        format!(
            "cannot move from {} to {}; allowed: {}",
            from.as_str(),
            to.as_str(),
            names.join(", ")
        )
    };
    AppError::conflict("illegal_transition", message)
        .with_details(json!({ "from": from.as_str(), "requested": to.as_str(), "allowed": names }))
}

/// Moves one sub-order (already ownership-checked by the caller) and records it: the
/// history entry, stock returned on cancellation, the derived master status, the mail.
pub fn transition(
    c: &dyn Conn,
    sub: &SubRow,
    to: SubStatus,
    partner: Option<&str>,
    note: Option<&str>,
    mover: &Mover<'_>,
) -> Result<(), AppError> {
    let early = mover.early_receive
        && mover.actor == Actor::HubStaff
        && to == SubStatus::AtHub
        && sub.status.is_cancellable();
    if !early {
        sub.status
            .check(to, mover.actor)
            .map_err(|allowed| illegal(sub.status, to, allowed))?;
    }
    if partner.is_some() && !matches!(to, SubStatus::AtHub | SubStatus::OutForDelivery) {
        return Err(AppError::invalid_field(
            "delivery_partner_id",
            "can only be given with at_hub or out_for_delivery",
        ));
    }
    if let Some(p) = partner {
        match delivery::find_partner(c, p)? {
            Some(dp) if dp.hub_id == sub.hub_id && dp.is_active => {}
            _ => {
                return Err(AppError::invalid_field(
                    "delivery_partner_id",
                    "is not an active rider of this hub",
                ));
            }
        }
    }
    if to == SubStatus::OutForDelivery && partner.is_none() && sub.delivery_partner_id.is_none() {
        return Err(AppError::invalid_field(
            "delivery_partner_id",
            "is required: assign a rider before going out for delivery",
        ));
    }
    let now = now_ms();
    if !store::set_sub_status(c, &sub.id, sub.status, to, partner, now)? {
        return Err(AppError::conflict(
            "changed",
            "the sub-order changed meanwhile; reload it",
        ));
    }
    if to == SubStatus::Cancelled {
        store::restock(c, &sub.id, now)?;
    }
    store::insert_event(
        c,
        &sub.id,
        Some(sub.status),
        to,
        mover.actor_id,
        mover.actor.as_str(),
        note,
        now,
    )?;
    recompute(c, &sub.order_id, now)?;
    if mover.notify_customer {
        notify_status(c, sub, to, now)?;
    }
    Ok(())
}

/// Queues the mail telling the customer that a parcel of their order is now `to`.
pub fn notify_status(c: &dyn Conn, sub: &SubRow, to: SubStatus, now: i64) -> Result<(), DbError> {
    if let Some(customer) = users::find_user(c, &sub.customer_id)? {
        let business = merchants::find_merchant(c, &sub.merchant_id)?
            .map_or_else(|| "a seller".to_owned(), |m| m.business_name);
        let m = templates::order_status(
            &customer.email,
            &customer.full_name,
            &sub.order_id,
            &business,
            to.as_str(),
        );
        mail::enqueue(c, &m, now)?;
    }
    Ok(())
}

/// Why cash collected on delivery cannot be recorded for an order (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashProblem {
    /// A live parcel has not gone out for delivery: it is in this status.
    NotOut(SubStatus),
    /// The cash must equal what the live parcels are worth.
    WrongAmount { due: i64 },
}

/// The rules for recording cash on delivery, wherever it was confirmed (the hub's own
/// instance included): every live parcel out for delivery or delivered, the amount exactly
/// what is due.
pub fn cash_problem(
    c: &dyn Conn,
    order_id: &str,
    amount: i64,
) -> Result<Option<CashProblem>, DbError> {
    let early = store::sub_rows_of_order(c, order_id)?
        .into_iter()
        .find(|s| {
            !matches!(
                s.status,
                SubStatus::OutForDelivery | SubStatus::Delivered | SubStatus::Cancelled
            )
        });
    if let Some(s) = early {
        return Ok(Some(CashProblem::NotOut(s.status)));
    }
    let due = store::amount_due(c, order_id)?;
    Ok((amount != due).then_some(CashProblem::WrongAmount { due }))
}

/// Re-derives and stores the master status; a fully cancelled order's open (pending or
/// failed) payment is cancelled too.
pub fn recompute(c: &dyn Conn, order_id: &str, now: i64) -> Result<OrderStatus, DbError> {
    let Some(head) = store::order_head(c, order_id)? else {
        return Ok(OrderStatus::Cancelled);
    };
    let subs: Vec<SubStatus> = store::sub_rows_of_order(c, order_id)?
        .iter()
        .map(|s| s.status)
        .collect();
    let mut payment = head.payment_status;
    if subs.iter().all(|s| *s == SubStatus::Cancelled)
        && matches!(payment, PaymentStatus::Pending | PaymentStatus::Failed)
    {
        store::set_payment_status(c, order_id, PaymentStatus::Cancelled, now)?;
        payment = PaymentStatus::Cancelled;
    }
    let status = derive_status(&subs, head.method, payment);
    store::store_derived(c, order_id, status, now)?;
    Ok(status)
}

/// The customer cancels the whole order, allowed while nothing has shipped; stock returns.
pub fn cancel_order(
    c: &dyn Conn,
    order_id: &str,
    customer_id: &str,
) -> Result<OrderView, AppError> {
    let head = store::order_head(c, order_id)?
        .filter(|h| h.customer_id == customer_id)
        .ok_or_else(|| AppError::not_found("order"))?;
    if head.payment_status == PaymentStatus::Paid {
        return Err(AppError::conflict(
            "order_paid",
            "this order is paid; ask for a refund instead of cancelling",
        ));
    }
    let live: Vec<SubRow> = store::sub_rows_of_order(c, order_id)?
        .into_iter()
        .filter(|s| s.status != SubStatus::Cancelled)
        .collect();
    if live.is_empty() {
        return Err(AppError::conflict(
            "already_cancelled",
            "this order is already cancelled",
        ));
    }
    if let Some(shipped) = live.iter().find(|s| !s.status.is_cancellable()) {
        return Err(AppError::conflict(
            "already_shipped",
            format!(
                "part of this order is already {}; it can no longer be cancelled",
                shipped.status.as_str()
            ),
        ));
    }
    let mover = Mover {
        actor_id: Some(customer_id),
        actor: Actor::Customer,
        notify_customer: false,
        early_receive: false,
    };
    for sub in &live {
        transition(
            c,
            sub,
            SubStatus::Cancelled,
            None,
            Some("cancelled by the customer"),
            &mover,
        )?;
    }
    if let Some(customer) = users::find_user(c, customer_id)? {
        mail::enqueue(
            c,
            &templates::order_cancelled(&customer.email, &customer.full_name, order_id),
            now_ms(),
        )?;
    }
    load(c, order_id)
}
