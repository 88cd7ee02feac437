//! The analytics queries: a fixed handful of grouped queries over the period (day buckets
//! computed in SQL as integers), folded into the figures in Rust. `merchant` restricts every
//! query to one merchant's sub-orders.

use std::collections::{BTreeMap, HashMap};

use crate::auth::Role;
use crate::db::{Conn, DbError, Dialect};
use crate::orders::{OrderStatus, SubStatus};
use crate::params;

use super::{
    AdminAnalytics, Core, HubThroughput, LowStock, MerchantAnalytics, MethodSplit, Point,
    ProductPerformance, Query, RefundStats, TopMerchant, TopProduct, Totals, average, bucket_of,
    buckets, label, median, ratio,
};

/// How the period scans of `sub_orders` name their covering index. SQLite's planner, once
/// ANALYZE has run, prefers a skip-scan of the merchant index for a bare date range, which is
/// several times slower; the hint keeps the range scan. Postgres has no index hints (and no
/// `INDEXED BY`): its planner chooses on its own.
fn sub_orders_by_date(c: &dyn Conn) -> &'static str {
    match c.dialect() {
        Dialect::Sqlite => "sub_orders s INDEXED BY sub_orders_analytics_idx",
        Dialect::Postgres => "sub_orders s",
    }
}

/// Orders (admin) or sub-orders (merchant) grouped by local day, status, method and payment.
struct Fact {
    day: i64,
    status: String,
    method: String,
    paid: bool,
    count: i64,
    live_cents: i64,
}

fn facts(c: &dyn Conn, q: &Query, merchant: Option<&str>) -> Result<Vec<Fact>, DbError> {
    let rows = match merchant {
        // Reads only the orders_analytics_idx covering index.
        None => c.query(
            "SELECT (o.created_at + $3) / 86400000, o.status, o.payment_method,
                    CASE WHEN o.payment_status = 'paid' THEN 1 ELSE 0 END, COUNT(*),
                    CAST(COALESCE(SUM(o.live_total_cents), 0) AS BIGINT)
             FROM orders o
             WHERE o.created_at >= $1 AND o.created_at < $2
             GROUP BY 1, 2, 3, 4",
            params![q.start_ms(), q.end_ms(), q.offset_ms],
        )?,
        Some(m) => c.query(
            "SELECT (s.created_at + $3) / 86400000, s.status, o.payment_method,
                    CASE WHEN o.payment_status = 'paid' THEN 1 ELSE 0 END, COUNT(*),
                    CAST(COALESCE(SUM(CASE WHEN s.status <> 'cancelled' THEN s.subtotal_cents ELSE 0 END), 0) AS BIGINT)
             FROM sub_orders s JOIN orders o ON o.id = s.order_id
             WHERE s.merchant_id = $4 AND s.created_at >= $1 AND s.created_at < $2
             GROUP BY 1, 2, 3, 4",
            params![q.start_ms(), q.end_ms(), q.offset_ms, m],
        )?,
    };
    rows.iter()
        .map(|r| {
            Ok(Fact {
                day: r.get(0)?,
                status: r.get(1)?,
                method: r.get(2)?,
                paid: r.get(3)?,
                count: r.get(4)?,
                live_cents: r.get(5)?,
            })
        })
        .collect()
}

/// Refunds of orders placed in the period: (local day, status, count, cents).
fn refunds(
    c: &dyn Conn,
    q: &Query,
    merchant: Option<&str>,
) -> Result<Vec<(i64, String, i64, i64)>, DbError> {
    c.query(
        "SELECT (o.created_at + $3) / 86400000, r.status, COUNT(*), CAST(COALESCE(SUM(r.amount_cents), 0) AS BIGINT)
         FROM refunds r JOIN orders o ON o.id = r.order_id JOIN sub_orders s ON s.id = r.sub_order_id
         WHERE o.created_at >= $1 AND o.created_at < $2 AND (CAST($4 AS TEXT) IS NULL OR s.merchant_id = $4)
         GROUP BY 1, 2",
        params![q.start_ms(), q.end_ms(), q.offset_ms, merchant],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
    .collect()
}

fn top_products(
    c: &dyn Conn,
    q: &Query,
    merchant: Option<&str>,
    limit: i64,
) -> Result<Vec<TopProduct>, DbError> {
    // Rank first (index-only over sub_orders and order_items), then look up ten names.
    let mut args: Vec<crate::db::Value> =
        vec![q.start_ms().into(), q.end_ms().into(), limit.into()];
    let (from, scope) = match merchant {
        Some(m) => {
            args.push(m.into());
            ("sub_orders s", "AND s.merchant_id = $4")
        }
        None => (sub_orders_by_date(c), ""),
    };
    c.query(
        &format!(
            "SELECT t.product_id, p.name, p.merchant_id, t.revenue, t.units
             FROM (SELECT i.product_id, CAST(SUM(i.line_total_cents) AS BIGINT) AS revenue,
                          CAST(SUM(i.quantity) AS BIGINT) AS units
                   FROM {from} JOIN order_items i ON i.sub_order_id = s.id
                   WHERE s.created_at >= $1 AND s.created_at < $2 AND s.status <> 'cancelled' {scope}
                   GROUP BY i.product_id
                   ORDER BY revenue DESC, units DESC, i.product_id
                   LIMIT $3) t
             JOIN products p ON p.id = t.product_id
             ORDER BY t.revenue DESC, t.units DESC, t.product_id"
        ),
        &args,
    )?
    .iter()
    .map(|r| {
        Ok(TopProduct {
            product_id: r.get(0)?,
            name: r.get(1)?,
            merchant_id: r.get(2)?,
            revenue_cents: r.get(3)?,
            units: r.get(4)?,
        })
    })
    .collect()
}

fn core(
    c: &dyn Conn,
    q: &Query,
    merchant: Option<&str>,
    currency: &str,
    top: i64,
) -> Result<Core, DbError> {
    let facts = facts(c, q, merchant)?;
    let refund_rows = refunds(c, q, merchant)?;
    let bucket_days = buckets(q.from_day, q.to_day, q.granularity);
    let mut series: BTreeMap<i64, Point> = bucket_days
        .iter()
        .map(|d| {
            (
                *d,
                Point {
                    period: label(*d),
                    ..Point::default()
                },
            )
        })
        .collect();

    let statuses: Vec<&str> = match merchant {
        None => OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        Some(_) => SubStatus::ALL.iter().map(|s| s.as_str()).collect(),
    };
    let mut by_status: BTreeMap<String, i64> =
        statuses.iter().map(|s| ((*s).to_owned(), 0)).collect();
    let mut methods: BTreeMap<String, MethodSplit> = ["mpesa", "cod"]
        .iter()
        .map(|m| ((*m).to_owned(), MethodSplit::default()))
        .collect();
    let mut totals = Totals::default();
    for f in &facts {
        *by_status.entry(f.status.clone()).or_default() += f.count;
        if f.status == "cancelled" {
            continue;
        }
        totals.orders += f.count;
        totals.gmv_cents += f.live_cents;
        let m = methods.entry(f.method.clone()).or_default();
        m.orders += f.count;
        m.gmv_cents += f.live_cents;
        let point = series.entry(bucket_of(f.day, q.granularity)).or_default();
        point.orders += f.count;
        point.gmv_cents += f.live_cents;
        if f.paid {
            totals.paid_orders += f.count;
            totals.paid_revenue_cents += f.live_cents;
            point.paid_revenue_cents += f.live_cents;
        }
    }
    let mut stats = RefundStats::default();
    let mut refunded_by_bucket: HashMap<i64, i64> = HashMap::new();
    for (day, status, count, cents) in &refund_rows {
        stats.requested += count;
        match status.as_str() {
            "approved" => {
                stats.approved += count;
                stats.approved_cents += cents;
                *refunded_by_bucket
                    .entry(bucket_of(*day, q.granularity))
                    .or_default() += cents;
            }
            "denied" => stats.denied += count,
            _ => {}
        }
    }
    for (bucket, point) in &mut series {
        point.net_revenue_cents =
            point.paid_revenue_cents - refunded_by_bucket.get(bucket).copied().unwrap_or(0);
    }
    totals.refunded_cents = stats.approved_cents;
    totals.net_revenue_cents = totals.paid_revenue_cents - totals.refunded_cents;
    totals.average_order_value_cents = average(totals.gmv_cents, totals.orders);
    stats.rate = ratio(stats.approved_cents, totals.paid_revenue_cents);
    Ok(Core {
        range: q.range_info(),
        currency: currency.to_owned(),
        totals,
        orders_by_status: by_status,
        series: series.into_values().collect(),
        top_products: top_products(c, q, merchant, top)?,
        payment_methods: methods,
        refunds: stats,
    })
}

pub fn admin(c: &dyn Conn, q: &Query, currency: &str, top: i64) -> Result<AdminAnalytics, DbError> {
    let core = core(c, q, None, currency, top)?;
    let top_merchants = c
        .query(
            &format!(
                "SELECT t.merchant_id, COALESCE(m.business_name, ''), t.revenue, t.units, t.orders
             FROM (SELECT s.merchant_id, CAST(SUM(s.subtotal_cents) AS BIGINT) AS revenue,
                          CAST(SUM(s.units) AS BIGINT) AS units, COUNT(*) AS orders
                   FROM {}
                   WHERE s.created_at >= $1 AND s.created_at < $2 AND s.status <> 'cancelled'
                   GROUP BY s.merchant_id
                   ORDER BY revenue DESC, units DESC, s.merchant_id
                   LIMIT $3) t
             LEFT JOIN merchants m ON m.id = t.merchant_id
             ORDER BY t.revenue DESC, t.units DESC, t.merchant_id",
                sub_orders_by_date(c)
            ),
            params![q.start_ms(), q.end_ms(), top],
        )?
        .iter()
        .map(|r| {
            Ok(TopMerchant {
                merchant_id: r.get(0)?,
                business_name: r.get(1)?,
                revenue_cents: r.get(2)?,
                units: r.get(3)?,
                orders: r.get(4)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let mut new_users: BTreeMap<String, i64> = Role::ALL
        .iter()
        .map(|r| (r.as_str().to_owned(), 0))
        .collect();
    for r in &c.query(
        "SELECT role, COUNT(*) FROM users WHERE created_at >= $1 AND created_at < $2 GROUP BY role",
        params![q.start_ms(), q.end_ms()],
    )? {
        new_users.insert(r.get(0)?, r.get(1)?);
    }
    // Delivery times of the period (an index-only scan), medians per hub in Rust.
    let mut per_hub: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &c.query(
        "SELECT hub_id, delivered_at - created_at FROM sub_orders WHERE delivered_at >= $1 AND delivered_at < $2",
        params![q.start_ms(), q.end_ms()],
    )? {
        per_hub.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    let names: HashMap<String, String> = c
        .query("SELECT id, name FROM hubs", params![])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, DbError>>()?;
    let hubs = per_hub
        .into_iter()
        .map(|(hub_id, mut durations)| HubThroughput {
            name: names.get(&hub_id).cloned().unwrap_or_default(),
            delivered: i64::try_from(durations.len()).unwrap_or(i64::MAX),
            median_minutes_to_delivery: median(&mut durations).map(|ms| ms / 60_000),
            hub_id,
        })
        .collect::<Vec<_>>();
    Ok(AdminAnalytics {
        core,
        top_merchants,
        new_users,
        hubs,
    })
}

pub fn merchant(
    c: &dyn Conn,
    q: &Query,
    merchant_id: &str,
    currency: &str,
    top: i64,
    low_stock_threshold: i64,
) -> Result<MerchantAnalytics, DbError> {
    let core = core(c, q, Some(merchant_id), currency, top)?;
    let sold = "FROM order_items i JOIN sub_orders s ON s.id = i.sub_order_id
                WHERE i.product_id = p.id AND s.status <> 'cancelled' AND s.created_at >= $2 AND s.created_at < $3";
    let products = c
        .query(
            &format!(
                "SELECT p.id, p.name, p.stock, p.is_active, p.rating_avg, p.rating_count,
                        CAST(COALESCE((SELECT SUM(i.quantity) {sold}), 0) AS BIGINT) AS units,
                        CAST(COALESCE((SELECT SUM(i.line_total_cents) {sold}), 0) AS BIGINT) AS revenue
                 FROM products p WHERE p.merchant_id = $1 AND p.deleted_at IS NULL
                 ORDER BY revenue DESC, units DESC, p.name, p.id
                 LIMIT 200"
            ),
            params![merchant_id, q.start_ms(), q.end_ms()],
        )?
        .iter()
        .map(|r| {
            Ok(ProductPerformance {
                product_id: r.get(0)?,
                name: r.get(1)?,
                stock: r.get(2)?,
                is_active: r.get(3)?,
                rating_avg: r.get(4)?,
                rating_count: r.get(5)?,
                units: r.get(6)?,
                revenue_cents: r.get(7)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let low_stock = c
        .query(
            "SELECT id, name, stock FROM products
             WHERE merchant_id = $1 AND deleted_at IS NULL AND is_active = 1 AND stock <= $2
             ORDER BY stock, name, id LIMIT 100",
            params![merchant_id, low_stock_threshold],
        )?
        .iter()
        .map(|r| {
            Ok(LowStock {
                product_id: r.get(0)?,
                name: r.get(1)?,
                stock: r.get(2)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(MerchantAnalytics {
        core,
        products,
        low_stock,
    })
}

/// The CSV export: the series and the top lists, one section column.
pub fn to_csv(a: &AdminAnalytics) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "section",
        "key",
        "label",
        "orders",
        "units",
        "gmv_cents",
        "paid_revenue_cents",
        "net_revenue_cents",
        "revenue_cents",
    ])?;
    for p in &a.core.series {
        w.write_record([
            "series",
            &p.period,
            &p.period,
            &p.orders.to_string(),
            "",
            &p.gmv_cents.to_string(),
            &p.paid_revenue_cents.to_string(),
            &p.net_revenue_cents.to_string(),
            "",
        ])?;
    }
    for p in &a.core.top_products {
        w.write_record([
            "top_product",
            &p.product_id,
            &p.name,
            "",
            &p.units.to_string(),
            "",
            "",
            "",
            &p.revenue_cents.to_string(),
        ])?;
    }
    for m in &a.top_merchants {
        w.write_record([
            "top_merchant",
            &m.merchant_id,
            &m.business_name,
            &m.orders.to_string(),
            &m.units.to_string(),
            "",
            "",
            "",
            &m.revenue_cents.to_string(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
