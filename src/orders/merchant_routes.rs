//! Merchant sub-order handlers: own sub-orders with filters, detail, and the merchant's
//! steps of the lifecycle (confirm, process, ship to the hub, or cancel).

use crate::http::Path;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::routes::date_range;
use super::service::{self, Mover};
use super::store::{self, SubFilter};
use super::{Actor, SubOrderView, SubStatus};
use crate::http::{AppError, JsonBody, MerchantUser, Page, Pagination, Query};
use crate::ids;
use crate::state::AppState;
use crate::text;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, show, move_status))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/merchant/orders", get(list))
        .route("/merchant/orders/{id}", get(show))
        .route("/merchant/orders/{id}/status", put(move_status))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only sub-orders in this status: `pending`, `confirmed`, `processing`, `shipped_to_hub`,
    /// `at_hub`, `out_for_delivery`, `delivered`, `cancelled` or `returned`.
    #[param(example = "pending")]
    status: Option<String>,
    /// Created at or after: `YYYY-MM-DD` (UTC day) or an RFC 3339 time.
    #[param(example = "2026-11-01")]
    from: Option<String>,
    /// Created before the end of this UTC day (`YYYY-MM-DD`) or before this RFC 3339 time;
    /// must be after `from`.
    #[param(example = "2026-11-30")]
    to: Option<String>,
}

pub fn parse_sub_status(s: Option<&str>) -> Result<Option<SubStatus>, AppError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => SubStatus::parse(s).map(Some).ok_or_else(|| {
            AppError::bad_request("invalid_query", "status is not a sub-order status")
        }),
        None => Ok(None),
    }
}

/// The caller's sub-orders, newest first, optionally by status and creation date.
///
/// Merchants only.
#[utoipa::path(
    get,
    path = "/merchant/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of the caller's sub-orders", body = Page<SubOrderView>),
        (status = 400, description = "Malformed query: an unknown `status`, a bad date, or `from` not before `to` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn list(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    page: Pagination,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<SubOrderView>>, AppError> {
    let (from_ms, to_ms) = date_range(q.from.as_deref(), q.to.as_deref())?;
    let filter = SubFilter {
        merchant_id: Some(m.id),
        status: parse_sub_status(q.status.as_deref())?,
        from_ms,
        to_ms,
        ..SubFilter::default()
    };
    let (items, total) = state
        .db
        .read(move |c| {
            let (ids, total) = store::list_sub_orders(c, &filter, page.limit(), page.offset())?;
            Ok::<_, AppError>((store::load_sub_orders(c, &ids)?, total))
        })
        .await?;
    Ok(Json(page.page(items, total)))
}

fn own(c: &dyn crate::db::Conn, merchant_id: &str, id: &str) -> Result<store::SubRow, AppError> {
    let not_found = || AppError::not_found("order");
    if !ids::is_valid(id) {
        return Err(not_found());
    }
    store::sub_row(c, id)?
        .filter(|s| s.merchant_id == merchant_id)
        .ok_or_else(not_found)
}

/// One of the caller's sub-orders, with its items and history.
///
/// Merchants only.
#[utoipa::path(
    get,
    path = "/merchant/orders/{id}",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Sub-order id")),
    responses((status = 200, description = "The sub-order", body = SubOrderView))
)]
async fn show(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
) -> Result<Json<SubOrderView>, AppError> {
    let view = state
        .db
        .read(move |c| {
            let sub = own(c, &m.id, &id)?;
            store::load_sub_orders(c, &[sub.id])?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::not_found("order"))
        })
        .await?;
    Ok(Json(view))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct StatusBody {
    /// The next status: `confirmed`, `processing`, `shipped_to_hub` or `cancelled` (one step
    /// at a time; cancelling only before the parcel ships).
    #[schema(required = true, example = "confirmed")]
    status: String,
    /// Optional note for the history (at most 500 characters; blank means none).
    #[schema(max_length = 500, example = "Packed and ready")]
    note: Option<String>,
}

/// Moves one of the caller's sub-orders to its next status.
///
/// Merchants only. The merchant's steps are pending → confirmed → processing →
/// shipped_to_hub, or cancelled from any of the first three (the stock returns). The
/// customer is told by mail.
#[utoipa::path(
    put,
    path = "/merchant/orders/{id}/status",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Sub-order id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The sub-order after the step", body = SubOrderView),
        (status = 409, description = "Not a step the merchant may take from the current status (`illegal_transition`, with `details`: `from`, `requested`, `allowed`), or the sub-order changed meanwhile (`changed`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn move_status(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Json<SubOrderView>, AppError> {
    let to = SubStatus::parse(body.status.trim()).ok_or_else(|| {
        AppError::invalid_field(
            "status",
            "must be confirmed, processing, shipped_to_hub or cancelled",
        )
    })?;
    let note = match body.note.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => {
            Some(text::multiline(n, 1, 500).map_err(|p| AppError::invalid_field("note", p))?)
        }
        None => None,
    };
    let view = state
        .db
        .write(move |c| {
            let sub = own(c, &m.id, &id)?;
            let mover = Mover {
                actor_id: Some(&m.id),
                actor: Actor::Merchant,
                notify_customer: true,
                early_receive: false,
            };
            service::transition(c, &sub, to, None, note.as_deref(), &mover)?;
            store::load_sub_orders(c, &[sub.id])?
                .into_iter()
                .next()
                .ok_or_else(|| AppError::not_found("order"))
        })
        .await?;
    state.mail.wake();
    Ok(Json(view))
}
