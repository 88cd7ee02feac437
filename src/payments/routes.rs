//! Payment handlers: `POST /payments/cod/confirm` (hub staff of the order's hub),
//! `POST /payments/mpesa/initiate` (the order's customer), the Daraja callback at
//! `POST /payments/mpesa/callback/{secret}` (the original path plus a secret segment), and
//! `GET /payments/{order_id}` (the order's customer, or an admin).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Role;
use crate::clock::now_ms;
use crate::delivery::store as delivery;
use crate::http::{AppError, AuthUser, CustomerUser, FieldErrors, HubStaffUser, JsonBody};
use crate::ids;
use crate::money;
use crate::orders::service;
use crate::orders::store as orders;
use crate::orders::{PaymentMethod, PaymentStatus, SubStatus};
use crate::payments::mpesa;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payments/cod/confirm", post(confirm_cod))
        .route("/payments/mpesa/initiate", post(initiate))
        .route("/payments/mpesa/callback/{secret}", post(stk_callback))
        .route("/payments/{order_id}", get(show))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InitiateBody {
    order_id: String,
    phone: String,
}

async fn initiate(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    JsonBody(body): JsonBody<InitiateBody>,
) -> Result<Json<mpesa::Initiated>, AppError> {
    let mut e = FieldErrors::new();
    let order_id = body.order_id.trim().to_owned();
    if order_id.is_empty() {
        e.add("order_id", "is required");
    }
    if body.phone.trim().is_empty() {
        e.add("phone", "is required");
    }
    e.finish()?;
    if !ids::is_valid(&order_id) {
        return Err(AppError::not_found("order"));
    }
    Ok(Json(
        mpesa::initiate(&state, &u, order_id, &body.phone).await?,
    ))
}

/// Daraja's STK callback. The secret path segment authenticates it (a wrong one answers
/// 404 and stores nothing); every well-formed body is stored, then applied, and answered with
/// Daraja's acknowledgement — duplicates and unknown requests included.
async fn stk_callback(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    if !crate::payments::secret_matches(&secret, &state.callback_secret) {
        tracing::warn!("M-Pesa callback with a wrong secret");
        return Err(AppError::not_found("route"));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| AppError::bad_request("invalid_callback", "not UTF-8"))?;
    mpesa::handle_stk_callback(&state, text).await?;
    Ok(Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodBody {
    order_id: String,
    amount_cents: Option<i64>,
}

/// Records the cash collected for an order. The amount must equal what is due; the parcels
/// must be out for delivery or delivered; a second confirmation changes nothing.
async fn confirm_cod(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    JsonBody(body): JsonBody<CodBody>,
) -> Result<Json<Value>, AppError> {
    let mut e = FieldErrors::new();
    let order_id = body.order_id.trim().to_owned();
    if order_id.is_empty() {
        e.add("order_id", "is required");
    }
    let amount = match body.amount_cents {
        Some(a) if a > 0 => a,
        Some(_) => {
            e.add("amount_cents", "must be greater than 0");
            0
        }
        None => {
            e.add("amount_cents", "is required");
            0
        }
    };
    e.finish()?;
    let not_found = || AppError::not_found("order");
    let view = state
        .db
        .write(move |c| {
            let hub = delivery::hub_of(c, &u.id)?.ok_or_else(|| {
                AppError::forbidden("no_hub", "this account is not assigned to a hub")
            })?;
            if !ids::is_valid(&order_id) {
                return Err(not_found());
            }
            let head = orders::order_head(c, &order_id)?
                .filter(|h| h.hub_id == hub)
                .ok_or_else(not_found)?;
            if head.method != PaymentMethod::Cod {
                return Err(AppError::conflict(
                    "not_cash_on_delivery",
                    "this order is not paid by cash on delivery",
                ));
            }
            match head.payment_status {
                PaymentStatus::Paid => return service::load(c, &order_id),
                PaymentStatus::Pending => {}
                other => {
                    return Err(AppError::conflict(
                        "payment_closed",
                        format!("this order's payment is {}", other.as_str()),
                    ));
                }
            }
            let subs = orders::sub_rows_of_order(c, &order_id)?;
            if let Some(early) = subs.iter().find(|s| {
                !matches!(
                    s.status,
                    SubStatus::OutForDelivery | SubStatus::Delivered | SubStatus::Cancelled
                )
            }) {
                return Err(AppError::conflict(
                    "not_out_for_delivery",
                    format!("a parcel of this order is still {}", early.status.as_str()),
                ));
            }
            let due = orders::amount_due(c, &order_id)?;
            if amount != due {
                return Err(AppError::invalid_field(
                    "amount_cents",
                    format!(
                        "must equal the amount due, {}",
                        money::format(due, &head.currency)
                    ),
                )
                .with_details(json!({ "amount_due_cents": due })));
            }
            let now = now_ms();
            orders::record_cash(c, &order_id, amount, &u.id, now)?;
            service::recompute(c, &order_id, now)?;
            service::load(c, &order_id)
        })
        .await?;
    Ok(Json(
        json!({ "order_id": view.id, "order_status": view.status, "payment": view.payment }),
    ))
}

async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let not_found = || AppError::not_found("order");
    if !ids::is_valid(&order_id) {
        return Err(not_found());
    }
    let view = state.db.read(move |c| service::load(c, &order_id)).await?;
    let allowed =
        user.role == Role::Admin || (user.role == Role::Customer && view.customer_id == user.id);
    if !allowed {
        return Err(not_found());
    }
    Ok(Json(
        json!({ "order_id": view.id, "order_status": view.status, "amount_due_cents": view.amount_due_cents, "payment": view.payment }),
    ))
}
