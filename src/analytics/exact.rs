//! Analytics figures checked to the cent on a known set of orders, payments, cancellations
//! and refunds placed across day boundaries of the analytics zone. The data is written through
//! the real store functions with explicit timestamps.

use crate::auth::Role;
use crate::auth::store::{self as users, NewUser};
use crate::catalog::store::{self as catalog, NewProduct};
use crate::db::{Conn, DbError, temp_db};
use crate::delivery::store as hubs;
use crate::merchants::store::{self as merchants, NewApplication};
use crate::orders::service::recompute;
use crate::orders::store::{self as orders, NewItem, NewOrder};
use crate::orders::{OrderStatus, PaymentMethod, SubStatus};
use crate::refunds::store::{self as refunds, NewRefund};

use super::{Granularity, Query, day_of_date, store};

const EAT: i64 = 180 * 60_000;
const NOV1: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

fn user(c: &dyn Conn, id: &str, role: Role, at: i64) -> Result<(), DbError> {
    users::insert_user(
        c,
        &NewUser {
            id,
            email: &format!("{id}@x.test"),
            password_hash: "x",
            full_name: id,
            phone: None,
            role,
            email_verified: true,
            now: at,
        },
    )
    .map(|_| ())
}

fn merchant(c: &dyn Conn, id: &str, name: &str) -> Result<(), DbError> {
    user(c, id, Role::Merchant, NOV1)?;
    let app = format!("app-{id}");
    merchants::insert_application(
        c,
        &NewApplication {
            id: &app,
            user_id: id,
            business_name: name,
            business_description: "d",
            phone: "1",
            location: "l",
            now: NOV1,
        },
    )?;
    let a = merchants::find_application(c, &app)?.ok_or(DbError::Decode(0, "app".into()))?;
    merchants::upsert_merchant_from(c, &a, NOV1)
}

fn product(c: &dyn Conn, id: &str, merchant: &str, price: i64, stock: i64) -> Result<(), DbError> {
    catalog::insert_product(
        c,
        &NewProduct {
            id,
            merchant_id: merchant,
            category_id: "cat",
            name: id,
            description: "",
            price_cents: price,
            currency: "KES",
            stock,
            is_active: true,
            now: NOV1,
        },
    )
}

/// (product, unit price, quantity).
type Line<'a> = (&'a str, i64, i64);

/// An order placed at `at`: one sub-order per (merchant, lines).
fn order(
    c: &dyn Conn,
    id: &str,
    method: PaymentMethod,
    at: i64,
    parts: &[(&str, &[Line<'_>])],
) -> Result<(), DbError> {
    let total: i64 = parts
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .map(|(_, price, q)| price * q)
        .sum();
    orders::insert_order(
        c,
        &NewOrder {
            id,
            customer_id: "c1",
            status: OrderStatus::Pending,
            payment_method: method,
            total_cents: total,
            currency: "KES",
            hub_id: "hub",
            delivery_address: "x",
            phone: "0712345678",
            idempotency_key: None,
            request_hash: "",
            now: at,
        },
    )?;
    orders::insert_payment(c, id, method, total, at)?;
    for (merchant, lines) in parts {
        let sub = format!("{id}-{merchant}");
        let subtotal: i64 = lines.iter().map(|(_, price, q)| price * q).sum();
        orders::insert_sub_order(c, &sub, id, merchant, "hub", subtotal, at)?;
        for (n, (product, price, q)) in lines.iter().enumerate() {
            orders::insert_item(
                c,
                &NewItem {
                    id: &format!("{sub}-{n}"),
                    order_id: id,
                    sub_order_id: &sub,
                    product_id: product,
                    name: product,
                    unit_price_cents: *price,
                    quantity: *q,
                },
            )?;
        }
    }
    recompute(c, id, at).map(|_| ())
}

/// Moves a sub-order straight to `to` at `at`, recording the event.
fn set(c: &dyn Conn, sub: &str, to: SubStatus, at: i64) -> Result<(), DbError> {
    orders::set_sub_status(c, sub, SubStatus::Pending, to, None, at)?;
    orders::insert_event(
        c,
        sub,
        Some(SubStatus::Pending),
        to,
        None,
        "system",
        None,
        at,
    )
}

fn build(c: &dyn Conn) -> Result<(), DbError> {
    user(c, "c1", Role::Customer, NOV1)?;
    user(c, "c2", Role::Customer, 1_794_398_400_000)?; // 2026-11-11T12:00Z: new in the period
    merchant(c, "m1", "Chai Corner")?;
    merchant(c, "m2", "Kitchen Plus")?;
    hubs::insert_hub(c, "hub", "Westlands Hub", "x", "1", NOV1)?;
    catalog::insert_category(c, "cat", "Kitchen", None, NOV1)?;
    product(c, "p1", "m1", 1_000, 10)?;
    product(c, "p2", "m1", 2_500, 3)?;
    product(c, "p3", "m2", 5_000, 8)?;
    let o1_at = 1_794_344_399_999; // 2026-11-10T20:59:59.999Z = 23:59:59.999 on the 10th in Nairobi
    let o2_at = o1_at + 1; // midnight: the 11th in Nairobi, still the 10th in UTC
    // O1 (cod): tea ×2 from m1, kettle from m2; delivered on the 12th, cash collected.
    order(
        c,
        "o1",
        PaymentMethod::Cod,
        o1_at,
        &[("m1", &[("p1", 1_000, 2)]), ("m2", &[("p3", 5_000, 1)])],
    )?;
    set(c, "o1-m1", SubStatus::Delivered, 1_794_477_600_000)?; // 2026-11-12T10:00Z: 37 h
    set(c, "o1-m2", SubStatus::Delivered, 1_794_484_800_000)?; // 2026-11-12T12:00Z: 39 h
    orders::record_cash(c, "o1", 7_000, "c1", 1_794_484_800_000)?;
    recompute(c, "o1", 1_794_484_800_000)?;
    // O2 (mpesa, paid): a mug from m1, 1 000 refunded later.
    order(
        c,
        "o2",
        PaymentMethod::Mpesa,
        o2_at,
        &[("m1", &[("p2", 2_500, 1)])],
    )?;
    crate::payments::store::mark_paid(c, "o2", 2_500, Some("R1"), o2_at + 60_000)?;
    recompute(c, "o2", o2_at + 60_000)?;
    refunds::insert(
        c,
        &NewRefund {
            id: "r1",
            order_id: "o2",
            sub_order_id: "o2-m1",
            customer_id: "c1",
            reason: "damaged",
            description: "broken",
            amount_cents: 1_000,
            now: 1_794_700_000_000,
        },
    )?;
    refunds::decide(
        c,
        "r1",
        "approved",
        None,
        "c1",
        false,
        Some(("manual", "recorded", None)),
        1_794_700_000_000,
    )?;
    // O3 (cod), fully cancelled.
    order(
        c,
        "o3",
        PaymentMethod::Cod,
        1_794_391_200_000,
        &[("m2", &[("p3", 5_000, 2)])],
    )?;
    set(c, "o3-m2", SubStatus::Cancelled, 1_794_391_500_000)?;
    recompute(c, "o3", 1_794_391_500_000)?;
    // O4 (mpesa, unpaid): m2's part cancelled, m1's pending.
    order(
        c,
        "o4",
        PaymentMethod::Mpesa,
        1_794_459_600_000,
        &[("m1", &[("p1", 1_000, 1)]), ("m2", &[("p3", 5_000, 1)])],
    )?;
    set(c, "o4-m2", SubStatus::Cancelled, 1_794_460_000_000)?;
    recompute(c, "o4", 1_794_460_000_000)?;
    // O5, one minute before the period starts in Nairobi.
    order(
        c,
        "o5",
        PaymentMethod::Cod,
        1_794_257_940_000,
        &[("m1", &[("p1", 1_000, 1)])],
    )?;
    Ok(())
}

fn period(offset_ms: i64, g: Granularity) -> Query {
    let d = |y, m, day| day_of_date(time::Date::from_calendar_date(y, m, day).expect("date"));
    Query {
        from_day: d(2026, time::Month::November, 10),
        to_day: d(2026, time::Month::November, 12),
        granularity: g,
        offset_ms,
    }
}

#[test]
fn admin_figures_are_exact() {
    let (_dir, db) = temp_db();
    db.write_blocking(build).expect("data");
    let a = db
        .write_blocking(|c| store::admin(c, &period(EAT, Granularity::Day), "KES", 10))
        .expect("analytics");
    let t = &a.core.totals;
    assert_eq!(
        (t.orders, t.gmv_cents),
        (3, 10_500),
        "o3 cancelled, o5 outside, o4 counts m1's part only"
    );
    assert_eq!((t.paid_orders, t.paid_revenue_cents), (2, 9_500));
    assert_eq!((t.refunded_cents, t.net_revenue_cents), (1_000, 8_500));
    assert_eq!(t.average_order_value_cents, 3_500);
    let st = &a.core.orders_by_status;
    assert_eq!(
        (
            st["delivered"],
            st["pending"],
            st["cancelled"],
            st["awaiting_payment"],
            st["shipping"]
        ),
        (1, 1, 1, 1, 0)
    );
    let s: Vec<(String, i64, i64, i64, i64)> = a
        .core
        .series
        .iter()
        .map(|p| {
            (
                p.period.clone(),
                p.orders,
                p.gmv_cents,
                p.paid_revenue_cents,
                p.net_revenue_cents,
            )
        })
        .collect();
    assert_eq!(
        s,
        [
            ("2026-11-10".to_owned(), 1, 7_000, 7_000, 7_000),
            ("2026-11-11".to_owned(), 1, 2_500, 2_500, 1_500),
            ("2026-11-12".to_owned(), 1, 1_000, 0, 0),
        ]
    );
    assert_eq!(
        (
            a.core.payment_methods["cod"].orders,
            a.core.payment_methods["cod"].gmv_cents
        ),
        (1, 7_000)
    );
    assert_eq!(
        (
            a.core.payment_methods["mpesa"].orders,
            a.core.payment_methods["mpesa"].gmv_cents
        ),
        (2, 3_500)
    );
    assert_eq!(
        (
            a.core.refunds.requested,
            a.core.refunds.approved,
            a.core.refunds.approved_cents
        ),
        (1, 1, 1_000)
    );
    assert_eq!(a.core.refunds.rate, 0.1053);
    let top: Vec<(&str, i64, i64)> = a
        .core
        .top_products
        .iter()
        .map(|p| (p.product_id.as_str(), p.revenue_cents, p.units))
        .collect();
    assert_eq!(top, [("p3", 5_000, 1), ("p1", 3_000, 3), ("p2", 2_500, 1)]);
    let tm: Vec<(&str, i64, i64, i64)> = a
        .top_merchants
        .iter()
        .map(|m| (m.merchant_id.as_str(), m.revenue_cents, m.units, m.orders))
        .collect();
    assert_eq!(tm, [("m1", 5_500, 4, 3), ("m2", 5_000, 1, 1)]);
    assert_eq!((a.new_users["customer"], a.new_users["merchant"]), (1, 0));
    assert_eq!(a.hubs.len(), 1);
    // Median of 37 h and 39 h (plus a millisecond each): 38 h.
    assert_eq!(
        (a.hubs[0].delivered, a.hubs[0].median_minutes_to_delivery),
        (2, Some(2_280))
    );
    assert_eq!(a.core.range.time_zone, "UTC+03:00");
}

#[test]
fn the_zone_decides_which_day_an_order_belongs_to() {
    let (_dir, db) = temp_db();
    db.write_blocking(build).expect("data");
    let utc = db
        .write_blocking(|c| store::admin(c, &period(0, Granularity::Day), "KES", 10))
        .expect("analytics");
    let first = &utc.core.series[0];
    assert_eq!(
        (first.period.as_str(), first.orders, first.gmv_cents),
        ("2026-11-10", 2, 9_500),
        "in UTC o2 is on the 10th"
    );
    let weekly = db
        .write_blocking(|c| store::admin(c, &period(EAT, Granularity::Week), "KES", 10))
        .expect("analytics");
    let w: Vec<(String, i64)> = weekly
        .core
        .series
        .iter()
        .map(|p| (p.period.clone(), p.gmv_cents))
        .collect();
    assert_eq!(
        w,
        [("2026-11-09".to_owned(), 10_500)],
        "the 10th to the 12th fall in the week of Monday the 9th"
    );
}

#[test]
fn merchant_figures_are_exact() {
    let (_dir, db) = temp_db();
    db.write_blocking(build).expect("data");
    let m = db
        .write_blocking(|c| store::merchant(c, &period(EAT, Granularity::Day), "m1", "KES", 10, 5))
        .expect("analytics");
    let t = &m.core.totals;
    assert_eq!(
        (t.orders, t.gmv_cents, t.paid_orders, t.paid_revenue_cents),
        (3, 5_500, 2, 4_500)
    );
    assert_eq!(
        (
            t.refunded_cents,
            t.net_revenue_cents,
            t.average_order_value_cents
        ),
        (1_000, 3_500, 1_833)
    );
    assert_eq!(
        (
            m.core.orders_by_status["delivered"],
            m.core.orders_by_status["pending"]
        ),
        (1, 2)
    );
    let perf: Vec<(&str, i64, i64)> = m
        .products
        .iter()
        .map(|p| (p.product_id.as_str(), p.units, p.revenue_cents))
        .collect();
    assert_eq!(perf, [("p1", 3, 3_000), ("p2", 1, 2_500)]);
    let low: Vec<(&str, i64)> = m
        .low_stock
        .iter()
        .map(|l| (l.product_id.as_str(), l.stock))
        .collect();
    assert_eq!(low, [("p2", 3)]);
    let other = db
        .write_blocking(|c| store::merchant(c, &period(EAT, Granularity::Day), "m2", "KES", 10, 5))
        .expect("analytics");
    assert_eq!(
        (other.core.totals.orders, other.core.totals.gmv_cents),
        (1, 5_000),
        "cancelled parts are not sales"
    );
}
