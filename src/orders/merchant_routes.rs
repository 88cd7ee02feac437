//! Merchant sub-order handlers: own sub-orders with filters, detail, and the merchant's
//! steps of the lifecycle (confirm, process, ship to the hub, or cancel).

use axum::extract::{Path, State};
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
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/merchant/orders", get(list))
        .route("/merchant/orders/{id}", get(show))
        .route("/merchant/orders/{id}/status", put(move_status))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    from: Option<String>,
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusBody {
    status: String,
    note: Option<String>,
}

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
