//! `GET /admin/analytics`, `GET /admin/analytics/export?format=csv` and
//! `GET /merchant/analytics`, each with `?from=&to=` (local dates, default the last 30 days)
//! and `granularity=day|week|month`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use time::macros::format_description;

use super::store;
use super::{AdminAnalytics, Granularity, MerchantAnalytics, Query as Period, day_of, day_of_date};
use crate::clock::now_ms;
use crate::http::{AdminUser, AppError, MerchantUser, Query};
use crate::state::AppState;

/// Longest period one request may cover, in days.
const MAX_DAYS: i64 = 1100;

/// Shop-wide dashboards aggregate up to every order of the period: they run one at a time,
/// so a few admins refreshing at once neither take every core from the shop nor multiply the
/// memory of the aggregation.
static SHOP_WIDE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(admin, export, merchant))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/analytics", get(admin))
        .route("/admin/analytics/export", get(export))
        .route("/merchant/analytics", get(merchant))
}

/// `?from=&to=&granularity=&format=`; `format` only matters to the export.
/// `?from=&to=&granularity=`: the period every analytics route reads.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    /// First day of the period, a local date (analytics zone), included. Default: 29 days
    /// before `to`.
    #[param(format = Date, example = "2026-11-01")]
    from: Option<String>,
    /// Last day of the period, a local date, included. Default: today. A period covers at
    /// most 1100 days.
    #[param(format = Date, example = "2026-11-30")]
    to: Option<String>,
    /// Bucket size of `series`: `day` (default), `week` (from Monday) or `month`.
    #[param(example = "week")]
    granularity: Option<String>,
}

/// `?format=` of the export.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FormatQuery {
    /// Export format: only `csv` (the default).
    #[param(example = "csv")]
    format: Option<String>,
}

fn bad(message: &str) -> AppError {
    AppError::bad_request("invalid_query", message)
}

fn period(state: &AppState, q: &PeriodQuery) -> Result<Period, AppError> {
    let offset_ms = state.config.analytics.utc_offset_minutes * 60_000;
    let parse = |s: &str, name: &str| {
        time::Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
            .map(day_of_date)
            .map_err(|_| bad(&format!("{name} must be a date like 2026-11-30")))
    };
    let to_day = match q.to.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse(s, "to")?,
        None => day_of(now_ms(), offset_ms),
    };
    let from_day = match q.from.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse(s, "from")?,
        None => to_day - 29,
    };
    if from_day > to_day {
        return Err(bad("from must not be after to"));
    }
    if to_day - from_day >= MAX_DAYS {
        return Err(bad(&format!("a period covers at most {MAX_DAYS} days")));
    }
    let granularity = match q
        .granularity
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(g) => {
            Granularity::parse(g).ok_or_else(|| bad("granularity must be day, week or month"))?
        }
        None => Granularity::Day,
    };
    Ok(Period {
        from_day,
        to_day,
        granularity,
        offset_ms,
    })
}

async fn compute_admin(state: &AppState, p: Period) -> Result<AdminAnalytics, AppError> {
    let currency = state.config.catalog.currency.clone();
    let top = state.config.analytics.top_limit;
    let _turn = SHOP_WIDE.acquire().await.map_err(AppError::internal)?;
    Ok(state
        .db
        .read(move |c| store::admin(c, &p, &currency, top))
        .await?)
}

/// Shop-wide figures for a period: totals, series, orders by status, top products and
/// merchants, payment methods, refunds, new users and hub throughput.
///
/// Admins only. Days are local to the analytics zone; every order counts on the day it was
/// placed.
#[utoipa::path(
    get,
    path = "/admin/analytics",
    tag = "analytics",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The figures", body = AdminAnalytics),
        (status = 400, description = "Malformed query: a date that is not `YYYY-MM-DD`, `from` after `to`, a period over 1100 days or an unknown `granularity` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn admin(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<AdminAnalytics>, AppError> {
    let p = period(&state, &q)?;
    Ok(Json(compute_admin(&state, p).await?))
}

/// The shop-wide figures as a CSV download.
///
/// Admins only. Columns: `section,key,label,orders,units,gmv_cents,paid_revenue_cents,
/// net_revenue_cents,revenue_cents`; one row per `series` period, `top_product` and
/// `top_merchant`, with the columns that do not apply left empty.
#[utoipa::path(
    get,
    path = "/admin/analytics/export",
    tag = "analytics",
    security(("bearer" = [])),
    params(PeriodQuery, FormatQuery),
    responses(
        (status = 200, description = "The CSV file", content_type = "text/csv; charset=utf-8", body = String,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"markethub-analytics-<from>-<to>.csv\"`")),
            example = json!("section,key,label,orders,units,gmv_cents,paid_revenue_cents,net_revenue_cents,revenue_cents\nseries,2026-11-01,2026-11-01,3,,270000,180000,180000,\n")),
        (status = 400, description = "Malformed query: `format` other than `csv`, a date that is not `YYYY-MM-DD`, `from` after `to`, a period over 1100 days or an unknown `granularity` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn export(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<PeriodQuery>,
    Query(f): Query<FormatQuery>,
) -> Result<impl IntoResponse, AppError> {
    if f.format.as_deref().unwrap_or("csv") != "csv" {
        return Err(bad("format must be csv"));
    }
    let p = period(&state, &q)?;
    let a = compute_admin(&state, p).await?;
    let csv = store::to_csv(&a).map_err(AppError::internal)?;
    let name = format!(
        "attachment; filename=\"markethub-analytics-{}-{}.csv\"",
        a.core.range.from, a.core.range.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        csv,
    ))
}

/// The caller's own figures for a period: totals, series, sub-orders by status, top
/// products, payment methods, refunds, per-product performance and low stock.
///
/// Merchants only. Everything is restricted to the caller's sub-orders.
#[utoipa::path(
    get,
    path = "/merchant/analytics",
    tag = "analytics",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The figures", body = MerchantAnalytics),
        (status = 400, description = "Malformed query: a date that is not `YYYY-MM-DD`, `from` after `to`, a period over 1100 days or an unknown `granularity` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn merchant(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<MerchantAnalytics>, AppError> {
    let p = period(&state, &q)?;
    let currency = state.config.catalog.currency.clone();
    let (top, low) = (
        state.config.analytics.top_limit,
        state.config.analytics.low_stock_threshold,
    );
    Ok(Json(
        state
            .db
            .read(move |c| store::merchant(c, &p, &m.id, &currency, top, low))
            .await?,
    ))
}
