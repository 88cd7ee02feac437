//! Admin order views: every master order, filterable by status, merchant, hub, customer and
//! creation date.

use axum::extract::{Path, State};
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
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders", get(list))
        .route("/admin/orders/{id}", get(show))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    merchant_id: Option<String>,
    hub_id: Option<String>,
    customer_id: Option<String>,
    from: Option<String>,
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
