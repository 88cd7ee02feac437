//! SQL for orders, sub-orders, items, the sub-order history and payments, and the batched
//! loading of order views (a fixed number of queries per page, never one per row).

use std::collections::HashMap;

use crate::catalog::MerchantRef;
use crate::db::{Conn, DbError, Row, Value, placeholders};
use crate::params;

use super::{
    EventView, ItemView, OrderStatus, OrderView, PartnerRef, PaymentMethod, PaymentStatus,
    PaymentView, SubOrderView, SubStatus,
};

fn decode<T>(parsed: Option<T>, idx: usize, what: &str) -> Result<T, DbError> {
    parsed.ok_or_else(|| DbError::Decode(idx, format!("unknown {what}")))
}

// ---- writing ----

pub struct NewOrder<'a> {
    pub id: &'a str,
    pub customer_id: &'a str,
    pub status: OrderStatus,
    pub payment_method: PaymentMethod,
    pub total_cents: i64,
    pub currency: &'a str,
    pub hub_id: &'a str,
    pub delivery_address: &'a str,
    pub phone: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a str,
    pub now: i64,
}

pub fn insert_order(c: &dyn Conn, o: &NewOrder<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO orders (id, customer_id, status, payment_method, total_cents, live_total_cents, payment_status,
                             currency, hub_id, delivery_address, phone, idempotency_key, request_hash,
                             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $12)",
        params![
            o.id,
            o.customer_id,
            o.status.as_str(),
            o.payment_method.as_str(),
            o.total_cents,
            o.currency,
            o.hub_id,
            o.delivery_address,
            o.phone,
            o.idempotency_key,
            o.request_hash,
            o.now
        ],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn insert_sub_order(
    c: &dyn Conn,
    id: &str,
    order_id: &str,
    merchant_id: &str,
    hub_id: &str,
    subtotal_cents: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sub_orders (id, order_id, merchant_id, hub_id, status, subtotal_cents, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6)",
        params![id, order_id, merchant_id, hub_id, subtotal_cents, now],
    )?;
    Ok(())
}

pub struct NewItem<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub sub_order_id: &'a str,
    pub product_id: &'a str,
    pub name: &'a str,
    pub unit_price_cents: i64,
    pub quantity: i64,
}

pub fn insert_item(c: &dyn Conn, i: &NewItem<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO order_items (id, order_id, sub_order_id, product_id, name, unit_price_cents, quantity,
                                  line_total_cents)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            i.id,
            i.order_id,
            i.sub_order_id,
            i.product_id,
            i.name,
            i.unit_price_cents,
            i.quantity,
            i.unit_price_cents * i.quantity
        ],
    )?;
    c.execute(
        "UPDATE sub_orders SET units = units + $1 WHERE id = $2",
        params![i.quantity, i.sub_order_id],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn insert_event(
    c: &dyn Conn,
    sub_order_id: &str,
    from: Option<SubStatus>,
    to: SubStatus,
    actor_id: Option<&str>,
    actor_role: &str,
    note: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sub_order_events (id, sub_order_id, from_status, to_status, actor_id, actor_role, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            crate::ids::new_id(),
            sub_order_id,
            from.map(SubStatus::as_str),
            to.as_str(),
            actor_id,
            actor_role,
            note,
            now
        ],
    )?;
    Ok(())
}

pub fn insert_payment(
    c: &dyn Conn,
    order_id: &str,
    method: PaymentMethod,
    amount_cents: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO payments (id, order_id, method, status, amount_cents, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $5)",
        params![
            crate::ids::new_id(),
            order_id,
            method.as_str(),
            amount_cents,
            now
        ],
    )?;
    Ok(())
}

/// Takes `quantity` units if (and only if) that many are in stock and the product is still
/// for sale. The condition is in the UPDATE itself: no read-then-write race.
pub fn take_stock(
    c: &dyn Conn,
    product_id: &str,
    quantity: i64,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE products SET stock = stock - $1, updated_at = $3
         WHERE id = $2 AND stock >= $1 AND is_active = 1 AND deleted_at IS NULL AND merchant_active = 1",
        params![quantity, product_id, now],
    )?;
    Ok(n == 1)
}

/// Puts the items of a sub-order back into stock.
pub fn restock(c: &dyn Conn, sub_order_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE products SET stock = stock + (SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM order_items i
                                             WHERE i.sub_order_id = $1 AND i.product_id = products.id),
                             updated_at = $2
         WHERE id IN (SELECT product_id FROM order_items WHERE sub_order_id = $1)",
        params![sub_order_id, now],
    )?;
    Ok(())
}

/// The order a customer's earlier checkout with this idempotency key made, and the hash of
/// that request.
pub fn find_by_idempotency_key(
    c: &dyn Conn,
    customer_id: &str,
    key: &str,
) -> Result<Option<(String, String)>, DbError> {
    c.query_opt(
        "SELECT id, COALESCE(request_hash, '') FROM orders WHERE customer_id = $1 AND idempotency_key = $2",
        params![customer_id, key],
    )?
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .transpose()
}

/// The fields of a sub-order that rules and ownership checks need.
#[derive(Debug, Clone)]
pub struct SubRow {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub hub_id: String,
    pub status: SubStatus,
    pub delivery_partner_id: Option<String>,
    pub customer_id: String,
}

pub fn sub_row(c: &dyn Conn, id: &str) -> Result<Option<SubRow>, DbError> {
    c.query_opt(
        "SELECT s.id, s.order_id, s.merchant_id, s.hub_id, s.status, s.delivery_partner_id, o.customer_id
         FROM sub_orders s JOIN orders o ON o.id = s.order_id WHERE s.id = $1",
        params![id],
    )?
    .map(|r| {
        let status: String = r.get(4)?;
        Ok(SubRow {
            id: r.get(0)?,
            order_id: r.get(1)?,
            merchant_id: r.get(2)?,
            hub_id: r.get(3)?,
            status: decode(SubStatus::parse(&status), 4, "sub-order status")?,
            delivery_partner_id: r.get(5)?,
            customer_id: r.get(6)?,
        })
    })
    .transpose()
}

pub fn sub_rows_of_order(c: &dyn Conn, order_id: &str) -> Result<Vec<SubRow>, DbError> {
    let ids: Vec<String> = c
        .query(
            "SELECT id FROM sub_orders WHERE order_id = $1 ORDER BY created_at, id",
            params![order_id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    ids.iter()
        .map(|id| sub_row(c, id)?.ok_or_else(|| DbError::Decode(0, "sub-order vanished".into())))
        .collect()
}

/// Moves a sub-order from `from` to `to` (optionally assigning a delivery partner); false
/// when it was no longer in `from`.
pub fn set_sub_status(
    c: &dyn Conn,
    id: &str,
    from: SubStatus,
    to: SubStatus,
    partner: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE sub_orders SET status = $1, delivery_partner_id = COALESCE($2, delivery_partner_id), updated_at = $3,
                delivered_at = CASE WHEN $1 = 'delivered' THEN $3 ELSE delivered_at END
         WHERE id = $4 AND status = $5",
        params![to.as_str(), partner, now, id, from.as_str()],
    )?;
    Ok(n == 1)
}

/// The order-level facts that status derivation and payment rules need.
#[derive(Debug, Clone)]
pub struct OrderHead {
    pub id: String,
    pub customer_id: String,
    pub hub_id: String,
    pub method: PaymentMethod,
    pub payment_status: PaymentStatus,
    pub currency: String,
    pub total_cents: i64,
}

pub fn order_head(c: &dyn Conn, id: &str) -> Result<Option<OrderHead>, DbError> {
    c.query_opt(
        "SELECT o.id, o.customer_id, o.hub_id, o.payment_method, p.status, o.currency, o.total_cents
         FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = $1",
        params![id],
    )?
    .map(|r| {
        let method: String = r.get(3)?;
        let pay: String = r.get(4)?;
        Ok(OrderHead {
            id: r.get(0)?,
            customer_id: r.get(1)?,
            hub_id: r.get(2)?,
            method: decode(PaymentMethod::parse(&method), 3, "payment method")?,
            payment_status: decode(PaymentStatus::parse(&pay), 4, "payment status")?,
            currency: r.get(5)?,
            total_cents: r.get(6)?,
        })
    })
    .transpose()
}

/// Sum of the live (not cancelled) sub-orders: what the customer still owes in full.
pub fn amount_due(c: &dyn Conn, order_id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT CAST(COALESCE(SUM(subtotal_cents), 0) AS BIGINT) FROM sub_orders
         WHERE order_id = $1 AND status <> 'cancelled'",
        params![order_id],
    )
}

/// Stores the derived status with the facts analytics read from the order row: the value of
/// its live (not cancelled) sub-orders and its payment status.
pub fn store_derived(c: &dyn Conn, id: &str, status: OrderStatus, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE orders SET status = $1,
                payment_status = (SELECT p.status FROM payments p WHERE p.order_id = orders.id),
                live_total_cents = (SELECT CAST(COALESCE(SUM(s.subtotal_cents), 0) AS BIGINT) FROM sub_orders s
                                    WHERE s.order_id = orders.id AND s.status <> 'cancelled'),
                updated_at = $2
         WHERE id = $3",
        params![status.as_str(), now, id],
    )?;
    Ok(())
}

pub fn set_payment_status(
    c: &dyn Conn,
    order_id: &str,
    status: PaymentStatus,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE payments SET status = $1, updated_at = $2 WHERE order_id = $3",
        params![status.as_str(), now, order_id],
    )?;
    Ok(())
}

/// Records cash collected on delivery; false when the payment was not pending.
pub fn record_cash(
    c: &dyn Conn,
    order_id: &str,
    collected: i64,
    staff_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE payments SET status = 'paid', collected_cents = $1, confirmed_by = $2, paid_at = $3, updated_at = $3
         WHERE order_id = $4 AND status = 'pending' AND method = 'cod'",
        params![collected, staff_id, now, order_id],
    )?;
    Ok(n == 1)
}

// ---- reading views ----

fn sub_view_from_row(r: &Row) -> Result<SubOrderView, DbError> {
    let status: String = r.get(4)?;
    let partner_id: Option<String> = r.get(7)?;
    Ok(SubOrderView {
        id: r.get(0)?,
        order_id: r.get(1)?,
        merchant: MerchantRef {
            id: r.get(2)?,
            business_name: r.get(3)?,
        },
        status: decode(SubStatus::parse(&status), 4, "sub-order status")?,
        hub_id: r.get(5)?,
        subtotal_cents: r.get(6)?,
        delivery_partner: match partner_id {
            Some(id) => Some(PartnerRef {
                id,
                name: r.get(8)?,
                phone: r.get(9)?,
            }),
            None => None,
        },
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        items: Vec::new(),
        history: Vec::new(),
    })
}

/// Sub-orders with their items and history, in the order of `ids`.
pub fn load_sub_orders(c: &dyn Conn, ids: &[String]) -> Result<Vec<SubOrderView>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Value> = ids.iter().map(|i| i.as_str().into()).collect();
    let list = placeholders(1, ids.len());
    let rows = c.query(
        &format!(
            "SELECT s.id, s.order_id, s.merchant_id,
                    COALESCE((SELECT m.business_name FROM merchants m WHERE m.id = s.merchant_id), ''),
                    s.status, s.hub_id, s.subtotal_cents, s.delivery_partner_id,
                    COALESCE(dp.name, ''), COALESCE(dp.phone, ''), s.created_at, s.updated_at
             FROM sub_orders s LEFT JOIN delivery_partners dp ON dp.id = s.delivery_partner_id
             WHERE s.id IN ({list})"
        ),
        &args,
    )?;
    let mut by_id: HashMap<String, SubOrderView> = HashMap::new();
    for r in &rows {
        let v = sub_view_from_row(r)?;
        by_id.insert(v.id.clone(), v);
    }
    for r in &c.query(
        &format!(
            "SELECT sub_order_id, id, product_id, name, unit_price_cents, quantity, line_total_cents
             FROM order_items WHERE sub_order_id IN ({list}) ORDER BY sub_order_id, id"
        ),
        &args,
    )? {
        let sub: String = r.get(0)?;
        if let Some(v) = by_id.get_mut(&sub) {
            v.items.push(ItemView {
                id: r.get(1)?,
                product_id: r.get(2)?,
                name: r.get(3)?,
                unit_price_cents: r.get(4)?,
                quantity: r.get(5)?,
                line_total_cents: r.get(6)?,
            });
        }
    }
    for r in &c.query(
        &format!(
            "SELECT sub_order_id, from_status, to_status, actor_id, actor_role, note, created_at
             FROM sub_order_events WHERE sub_order_id IN ({list}) ORDER BY created_at, id"
        ),
        &args,
    )? {
        let sub: String = r.get(0)?;
        if let Some(v) = by_id.get_mut(&sub) {
            v.history.push(EventView {
                from_status: r.get(1)?,
                to_status: r.get(2)?,
                actor_id: r.get(3)?,
                actor_role: r.get(4)?,
                note: r.get(5)?,
                at: r.get(6)?,
            });
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Master orders with payment and sub-orders, in the order of `ids`.
pub fn load_orders(c: &dyn Conn, ids: &[String]) -> Result<Vec<OrderView>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Value> = ids.iter().map(|i| i.as_str().into()).collect();
    let list = placeholders(1, ids.len());
    let mut subs_by_order: HashMap<String, Vec<String>> = HashMap::new();
    let mut all_subs = Vec::new();
    for r in &c.query(
        &format!(
            "SELECT id, order_id FROM sub_orders WHERE order_id IN ({list}) ORDER BY created_at, id"
        ),
        &args,
    )? {
        let (id, order): (String, String) = (r.get(0)?, r.get(1)?);
        subs_by_order.entry(order).or_default().push(id.clone());
        all_subs.push(id);
    }
    let mut subs: HashMap<String, SubOrderView> = load_sub_orders(c, &all_subs)?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let rows = c.query(
        &format!(
            "SELECT o.id, o.customer_id, o.status, o.payment_method, o.total_cents, o.currency, o.hub_id,
                    o.delivery_address, o.phone, o.created_at, o.updated_at,
                    p.status, p.amount_cents, p.collected_cents, p.paid_at
             FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id IN ({list})"
        ),
        &args,
    )?;
    let mut by_id = HashMap::new();
    for r in &rows {
        let id: String = r.get(0)?;
        let status: String = r.get(2)?;
        let method: String = r.get(3)?;
        let pay: String = r.get(11)?;
        let method = decode(PaymentMethod::parse(&method), 3, "payment method")?;
        let payment_status = decode(PaymentStatus::parse(&pay), 11, "payment status")?;
        let sub_orders: Vec<SubOrderView> = subs_by_order
            .remove(&id)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| subs.remove(s))
            .collect();
        let live_total: i64 = sub_orders
            .iter()
            .filter(|s| s.status != SubStatus::Cancelled)
            .map(|s| s.subtotal_cents)
            .sum();
        let view = OrderView {
            customer_id: r.get(1)?,
            status: decode(OrderStatus::parse(&status), 2, "order status")?,
            payment_method: method,
            payment_status,
            total_cents: r.get(4)?,
            amount_due_cents: if payment_status == PaymentStatus::Paid {
                0
            } else {
                live_total
            },
            currency: r.get(5)?,
            hub_id: r.get(6)?,
            delivery_address: r.get(7)?,
            phone: r.get(8)?,
            created_at: r.get(9)?,
            updated_at: r.get(10)?,
            payment: PaymentView {
                method,
                status: payment_status,
                amount_cents: r.get(12)?,
                collected_cents: r.get(13)?,
                paid_at: r.get(14)?,
            },
            sub_orders,
            id: id.clone(),
        };
        by_id.insert(id, view);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Filters for order lists; every field is optional.
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub customer_id: Option<String>,
    pub status: Option<OrderStatus>,
    pub merchant_id: Option<String>,
    pub hub_id: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// One page of master-order ids, newest first, and the total.
pub fn list_orders(
    c: &dyn Conn,
    f: &OrderFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<String>, i64), DbError> {
    let (where_sql, args) = crate::db::where_present(vec![
        (
            "o.customer_id = $?",
            f.customer_id.as_deref().map(Value::from),
        ),
        ("o.status = $?", f.status.map(|s| Value::from(s.as_str()))),
        (
            "EXISTS (SELECT 1 FROM sub_orders s WHERE s.order_id = o.id AND s.merchant_id = $?)",
            f.merchant_id.as_deref().map(Value::from),
        ),
        ("o.hub_id = $?", f.hub_id.as_deref().map(Value::from)),
        ("o.created_at >= $?", f.from_ms.map(Value::from)),
        ("o.created_at < $?", f.to_ms.map(Value::from)),
    ]);
    let (rows, total) = c.query_page(
        "o.id",
        &format!("FROM orders o {where_sql}"),
        "o.created_at DESC, o.id DESC",
        &args,
        limit,
        offset,
    )?;
    Ok((
        rows.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?,
        total,
    ))
}

/// Filters for sub-order lists (a merchant's or a hub's).
#[derive(Debug, Default, Clone)]
pub struct SubFilter {
    pub merchant_id: Option<String>,
    pub hub_id: Option<String>,
    pub status: Option<SubStatus>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// One page of sub-order ids, newest first, and the total.
pub fn list_sub_orders(
    c: &dyn Conn,
    f: &SubFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<String>, i64), DbError> {
    let (where_sql, args) = crate::db::where_present(vec![
        (
            "s.merchant_id = $?",
            f.merchant_id.as_deref().map(Value::from),
        ),
        ("s.hub_id = $?", f.hub_id.as_deref().map(Value::from)),
        ("s.status = $?", f.status.map(|s| Value::from(s.as_str()))),
        ("s.created_at >= $?", f.from_ms.map(Value::from)),
        ("s.created_at < $?", f.to_ms.map(Value::from)),
    ]);
    let (rows, total) = c.query_page(
        "s.id",
        &format!("FROM sub_orders s {where_sql}"),
        "s.created_at DESC, s.id DESC",
        &args,
        limit,
        offset,
    )?;
    Ok((
        rows.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?,
        total,
    ))
}
