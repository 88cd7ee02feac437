//! Admin order views: every master order, filterable by status, merchant, hub, customer and
//! creation date.

use crate::http::Path;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::routes::date_range;
use super::service;
use super::store::{self, OrderFilter};
use super::{OrderStatus, OrderView};
use crate::http::{AdminUser, AppError, Page, Pagination, Query};
use crate::ids;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, show))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders", get(list))
        .route("/admin/orders/{id}", get(show))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only orders in this (derived) status: `awaiting_payment`, `pending`, `processing`,
    /// `shipping`, `delivered`, `returned` or `cancelled`.
    #[param(example = "processing")]
    status: Option<String>,
    /// Only orders with a sub-order of this merchant.
    #[param(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b68")]
    merchant_id: Option<String>,
    /// Only orders going through this hub.
    #[param(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b66")]
    hub_id: Option<String>,
    /// Only this customer's orders.
    #[param(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b67")]
    customer_id: Option<String>,
    /// Created at or after: `YYYY-MM-DD` (UTC day) or an RFC 3339 time.
    #[param(example = "2026-11-01")]
    from: Option<String>,
    /// Created before the end of this UTC day (`YYYY-MM-DD`) or before this RFC 3339 time;
    /// must be after `from`.
    #[param(example = "2026-11-30")]
    to: Option<String>,
}

fn id_filter(v: Option<String>, name: &str) -> Result<Option<String>, AppError> {
    match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if ids::is_valid(&s) => Ok(Some(s)),
        Some(_) => Err(AppError::bad_request(
            "invalid_query",
            format!("{name} must be an id"),
        )),
        None => Ok(None),
    }
}

/// Every master order, newest first, filterable by status, merchant, hub, customer and
/// creation date.
///
/// Admins only.
#[utoipa::path(
    get,
    path = "/admin/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of orders", body = Page<OrderView>),
        (status = 400, description = "Malformed query: an unknown `status`, an id that is not an id, a bad date, or `from` not before `to` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<OrderView>>, AppError> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
            AppError::bad_request(
                "invalid_query",
                "status must be one of awaiting_payment, pending, processing, shipping, delivered, returned, cancelled",
            )
        })?),
        None => None,
    };
    let (from_ms, to_ms) = date_range(q.from.as_deref(), q.to.as_deref())?;
    let filter = OrderFilter {
        customer_id: id_filter(q.customer_id, "customer_id")?,
        status,
        merchant_id: id_filter(q.merchant_id, "merchant_id")?,
        hub_id: id_filter(q.hub_id, "hub_id")?,
        from_ms,
        to_ms,
    };
    let (items, total) = state
        .db
        .read(move |c| {
            let (ids, total) = store::list_orders(c, &filter, page.limit(), page.offset())?;
            Ok::<_, AppError>((store::load_orders(c, &ids)?, total))
        })
        .await?;
    Ok(Json(page.page(items, total)))
}

/// Any order, with its sub-orders, items, payment and history.
///
/// Admins only.
#[utoipa::path(
    get,
    path = "/admin/orders/{id}",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = OrderView))
)]
async fn show(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    if !ids::is_valid(&id) {
        return Err(AppError::not_found("order"));
    }
    Ok(Json(state.db.read(move |c| service::load(c, &id)).await?))
}
