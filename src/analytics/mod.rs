//! Analytics for admins and merchants. Definitions (every figure is exact integer cents):
//!
//! - A **day** is a calendar day in the analytics zone: UTC plus `analytics.utc_offset_minutes`
//!   (default +180, East Africa Time, which has no daylight saving). Day buckets are integer
//!   arithmetic on unix milliseconds: `(ms + offset) / 86 400 000`, the same in every dialect.
//! - `?from=&to=` are local dates, both included (default: the 30 days ending today).
//!   Weeks start on Monday; months on the 1st. Series are zero-filled.
//! - Everything is attributed to the day the **order was placed**, including refunds and
//!   cancellations that happen later (so past days can change as refunds are approved).
//! - `orders`: orders placed, not fully cancelled. `gmv_cents`: value of their non-cancelled
//!   sub-orders (price snapshots). `paid_revenue_cents`: the same for orders whose payment is
//!   paid. `refunded_cents`: approved refunds of those orders. `net_revenue_cents` = paid
//!   revenue − refunds. `average_order_value_cents` = gmv / orders, rounded to the nearest cent.
//! - `refunds.rate` = refunded / paid revenue (4 decimals). Top lists rank by revenue (value of
//!   non-cancelled lines), then units. Hub throughput counts sub-orders delivered during the
//!   period (by delivery time) with the median minutes from order to delivery.
//!
//! A merchant's analytics are the same restricted to its own sub-orders, plus per-product
//! performance and the low-stock list. SQL in `store.rs`, handlers in `routes.rs`.

pub mod routes;
pub mod store;

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

pub const DAY_MS: i64 = 86_400_000;
/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Granularity::Day),
            "week" => Some(Granularity::Week),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }
}

/// Local day index of a unix-millisecond instant.
pub fn day_of(ms: i64, offset_ms: i64) -> i64 {
    (ms + offset_ms).div_euclid(DAY_MS)
}

/// The unix millisecond at which local day `day` starts.
pub fn day_start_ms(day: i64, offset_ms: i64) -> i64 {
    day * DAY_MS - offset_ms
}

pub fn date_of(day: i64) -> Option<Date> {
    Date::from_julian_day(i32::try_from(day + UNIX_EPOCH_JULIAN_DAY).ok()?).ok()
}

pub fn day_of_date(date: Date) -> i64 {
    i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
}

/// The first day of the bucket `day` falls in.
pub fn bucket_of(day: i64, g: Granularity) -> i64 {
    match g {
        Granularity::Day => day,
        // 1970-01-01 was a Thursday: day 0 is three days after a Monday.
        Granularity::Week => day - (day + 3).rem_euclid(7),
        Granularity::Month => date_of(day)
            .and_then(|d| d.replace_day(1).ok())
            .map_or(day, day_of_date),
    }
}

/// Every bucket start between two local days (inclusive): the zero-filled series' periods.
pub fn buckets(from_day: i64, to_day: i64, g: Granularity) -> Vec<i64> {
    let mut out = Vec::new();
    let mut day = bucket_of(from_day, g);
    while day <= to_day {
        out.push(day);
        day = match g {
            Granularity::Day => day + 1,
            Granularity::Week => day + 7,
            Granularity::Month => date_of(day)
                .and_then(|d| {
                    let (y, m) = if d.month() == time::Month::December {
                        (d.year() + 1, time::Month::January)
                    } else {
                        (d.year(), d.month().next())
                    };
                    Date::from_calendar_date(y, m, 1).ok()
                })
                .map_or(day + 31, day_of_date),
        };
    }
    out
}

/// `YYYY-MM-DD` of a local day.
pub fn label(day: i64) -> String {
    date_of(day).map_or_else(
        || day.to_string(),
        |d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
    )
}

/// The median; for an even count the mean of the two middle values, rounded down.
pub fn median(values: &mut [i64]) -> Option<i64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (_, &mut upper, _) = values.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return Some(upper);
    }
    // The lower middle is the largest value left of the upper one.
    let lower = values[..n / 2].iter().copied().max().unwrap_or(upper);
    Some((lower + upper).div_euclid(2))
}

/// `total / count` rounded to the nearest integer (halves away from zero); 0 for no items.
pub fn average(total: i64, count: i64) -> i64 {
    if count == 0 {
        return 0;
    }
    let q = total / count;
    let r = total % count;
    if 2 * r.abs() >= count.abs() {
        q + total.signum() * count.signum()
    } else {
        q
    }
}

/// `num / den` to four decimals; 0 when there is nothing to divide by.
pub fn ratio(num: i64, den: i64) -> f64 {
    if den == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let r = num as f64 / den as f64;
    (r * 10_000.0).round() / 10_000.0
}

/// The period the figures cover.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RangeInfo {
    /// First local day, `YYYY-MM-DD`.
    #[schema(example = "2026-11-01")]
    pub from: String,
    /// Last local day, `YYYY-MM-DD` (included).
    #[schema(example = "2026-11-30")]
    pub to: String,
    pub granularity: Granularity,
    /// e.g. `UTC+03:00`.
    #[schema(example = "UTC+03:00")]
    pub time_zone: String,
}

/// Totals over the period (cancelled orders excluded).
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Totals {
    #[schema(example = 42)]
    pub orders: i64,
    #[schema(example = 3_780_000)]
    pub gmv_cents: i64,
    #[schema(example = 30)]
    pub paid_orders: i64,
    #[schema(example = 2_700_000)]
    pub paid_revenue_cents: i64,
    #[schema(example = 90000)]
    pub refunded_cents: i64,
    /// `paid_revenue_cents − refunded_cents`.
    #[schema(example = 2_610_000)]
    pub net_revenue_cents: i64,
    /// `gmv_cents / orders`, rounded to the nearest cent (0 without orders).
    #[schema(example = 90000)]
    pub average_order_value_cents: i64,
}

/// One bucket of the zero-filled series.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Point {
    /// The bucket's first local day, `YYYY-MM-DD`.
    #[schema(example = "2026-11-02")]
    pub period: String,
    #[schema(example = 3)]
    pub orders: i64,
    #[schema(example = 270000)]
    pub gmv_cents: i64,
    #[schema(example = 180000)]
    pub paid_revenue_cents: i64,
    #[schema(example = 180000)]
    pub net_revenue_cents: i64,
}

/// Orders and value paid by one method.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MethodSplit {
    #[schema(example = 25)]
    pub orders: i64,
    #[schema(example = 2_250_000)]
    pub gmv_cents: i64,
}

/// Refund requests of the period's orders.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RefundStats {
    #[schema(example = 3)]
    pub requested: i64,
    #[schema(example = 1)]
    pub approved: i64,
    #[schema(example = 1)]
    pub denied: i64,
    #[schema(example = 90000)]
    pub approved_cents: i64,
    /// Refunded / paid revenue, to four decimals (0 without paid revenue).
    #[schema(example = 0.0333)]
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TopProduct {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b62")]
    pub product_id: String,
    #[schema(example = "Ceramic mug")]
    pub name: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b68")]
    pub merchant_id: String,
    #[schema(example = 450000)]
    pub revenue_cents: i64,
    #[schema(example = 10)]
    pub units: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TopMerchant {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b68")]
    pub merchant_id: String,
    #[schema(example = "Nairobi Crafts")]
    pub business_name: String,
    #[schema(example = 1_200_000)]
    pub revenue_cents: i64,
    #[schema(example = 25)]
    pub units: i64,
    /// Sub-orders of the merchant.
    #[schema(example = 12)]
    pub orders: i64,
}

/// Sub-orders a hub delivered during the period (by delivery time).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HubThroughput {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b66")]
    pub hub_id: String,
    #[schema(example = "Nairobi CBD Hub")]
    pub name: String,
    #[schema(example = 18)]
    pub delivered: i64,
    /// Median minutes from order to delivery.
    #[schema(example = 1440)]
    pub median_minutes_to_delivery: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ProductPerformance {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b62")]
    pub product_id: String,
    #[schema(example = "Ceramic mug")]
    pub name: String,
    /// Units sold in the period (non-cancelled sub-orders).
    #[schema(example = 10)]
    pub units: i64,
    #[schema(example = 450000)]
    pub revenue_cents: i64,
    #[schema(example = 4.5)]
    pub rating_avg: f64,
    #[schema(example = 8)]
    pub rating_count: i64,
    #[schema(example = 14)]
    pub stock: i64,
    pub is_active: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LowStock {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b62")]
    pub product_id: String,
    #[schema(example = "Ceramic mug")]
    pub name: String,
    #[schema(example = 2)]
    pub stock: i64,
}

/// What admins and merchants share.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Core {
    pub range: RangeInfo,
    #[schema(example = "KES")]
    pub currency: String,
    pub totals: Totals,
    /// Master-order statuses (admin) or sub-order statuses (merchant), every one listed.
    #[schema(example = json!({"pending": 4, "processing": 10, "cancelled": 2}))]
    pub orders_by_status: BTreeMap<String, i64>,
    pub series: Vec<Point>,
    pub top_products: Vec<TopProduct>,
    /// By payment method: `mpesa` and `cod`, both always listed.
    pub payment_methods: BTreeMap<String, MethodSplit>,
    pub refunds: RefundStats,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AdminAnalytics {
    #[serde(flatten)]
    pub core: Core,
    pub top_merchants: Vec<TopMerchant>,
    /// Accounts created in the period, by role (every role listed).
    #[schema(example = json!({"customer": 120, "merchant": 4}))]
    pub new_users: BTreeMap<String, i64>,
    pub hubs: Vec<HubThroughput>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MerchantAnalytics {
    #[serde(flatten)]
    pub core: Core,
    /// The merchant's products (up to 200), best sellers first.
    pub products: Vec<ProductPerformance>,
    /// Active products at or below the low-stock threshold (up to 100), lowest first.
    pub low_stock: Vec<LowStock>,
}

/// A validated query: local days and bucket size.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub from_day: i64,
    pub to_day: i64,
    pub granularity: Granularity,
    pub offset_ms: i64,
}

impl Query {
    pub fn start_ms(&self) -> i64 {
        day_start_ms(self.from_day, self.offset_ms)
    }

    pub fn end_ms(&self) -> i64 {
        day_start_ms(self.to_day + 1, self.offset_ms)
    }

    pub fn range_info(&self) -> RangeInfo {
        let minutes = self.offset_ms / 60_000;
        let sign = if minutes < 0 { '-' } else { '+' };
        RangeInfo {
            from: label(self.from_day),
            to: label(self.to_day),
            granularity: self.granularity,
            time_zone: format!(
                "UTC{sign}{:02}:{:02}",
                minutes.abs() / 60,
                minutes.abs() % 60
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EAT: i64 = 3 * 3_600_000;

    #[test]
    fn days_follow_the_zone() {
        // 2026-11-10T20:59:59.999Z is 23:59:59.999 in Nairobi; one millisecond later is the 11th.
        let before = 1_794_344_399_999;
        assert_eq!(label(day_of(before, EAT)), "2026-11-10");
        assert_eq!(label(day_of(before + 1, EAT)), "2026-11-11");
        assert_eq!(
            label(day_of(before + 1, 0)),
            "2026-11-10",
            "in UTC it is still the 10th"
        );
        let d = day_of(before + 1, EAT);
        assert_eq!(day_start_ms(d, EAT), before + 1);
        assert_eq!(day_of_date(date_of(d).expect("date")), d);
    }

    #[test]
    fn weeks_start_monday_and_months_on_the_first() {
        let d = |s: &str| {
            day_of_date(
                Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                    .expect("date"),
            )
        };
        assert_eq!(
            label(bucket_of(d("2026-11-12"), Granularity::Week)),
            "2026-11-09"
        );
        assert_eq!(
            label(bucket_of(d("2026-11-09"), Granularity::Week)),
            "2026-11-09"
        );
        assert_eq!(
            label(bucket_of(d("2026-11-08"), Granularity::Week)),
            "2026-11-02"
        );
        assert_eq!(
            label(bucket_of(d("2026-11-30"), Granularity::Month)),
            "2026-11-01"
        );
        let months: Vec<String> = buckets(d("2026-11-15"), d("2027-02-01"), Granularity::Month)
            .into_iter()
            .map(label)
            .collect();
        assert_eq!(
            months,
            ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]
        );
        assert_eq!(
            buckets(d("2026-11-01"), d("2026-11-30"), Granularity::Day).len(),
            30
        );
        assert_eq!(
            buckets(d("2026-11-01"), d("2026-11-30"), Granularity::Week).len(),
            6
        );
    }

    #[test]
    fn medians_averages_and_ratios() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 10]), Some(3));
        assert_eq!(median(&mut [7]), Some(7));
        assert_eq!(average(10, 4), 3, "2.5 rounds up");
        assert_eq!(average(10, 3), 3);
        assert_eq!(average(11, 3), 4);
        assert_eq!(average(0, 0), 0);
        assert_eq!(ratio(1, 3), 0.3333);
        assert_eq!(ratio(5, 0), 0.0);
    }
}

#[cfg(test)]
mod exact;
