//! Payment handlers: `POST /payments/cod/confirm` (hub staff of the order's hub),
//! `POST /payments/mpesa/initiate` (the order's customer), the Daraja callback at
//! `POST /payments/mpesa/callback/{secret}` (the original path plus a secret segment), and
//! `GET /payments/{order_id}` (the order's customer, or an admin).

use crate::http::Path;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Role;
use crate::clock::now_ms;
use crate::delivery::store as delivery;
use crate::http::{AppError, AuthUser, CustomerUser, FieldErrors, HubStaffUser, JsonBody, RawBody};
use crate::ids;
use crate::money;
use crate::orders::service::{self, CashProblem};
use crate::orders::store as orders;
use crate::orders::{OrderStatus, PaymentMethod, PaymentStatus, PaymentView};
use crate::payments::mpesa;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(confirm_cod, initiate, stk_callback, show))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payments/cod/confirm", post(confirm_cod))
        .route("/payments/mpesa/initiate", post(initiate))
        .route("/payments/mpesa/callback/{secret}", post(stk_callback))
        .route("/payments/{order_id}", get(show))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct InitiateBody {
    /// The caller's M-Pesa order to pay.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    order_id: String,
    /// The Safaricom number that receives the payment prompt: a Kenyan mobile number such as
    /// `0712345678`, `712345678` or `254712345678` (an optional `+`, spaces, dashes and
    /// parentheses are ignored).
    #[schema(required = true, example = "0712345678")]
    phone: String,
}

/// The answer to `POST /payments/mpesa/initiate` (the JSON of `mpesa::Initiated`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct MpesaInitiated {
    /// Daraja's id of the push; the callback and the reconciliation settle it.
    #[schema(example = "ws_CO_301120260915123456789")]
    checkout_request_id: String,
    /// Always `pending`: the customer still has to answer the prompt on the phone.
    #[schema(example = "pending")]
    status: String,
    /// Whole shillings asked for (the amount due rounded up to the next shilling).
    #[schema(example = 900)]
    amount: i64,
    /// The number prompted, as `2547XXXXXXXX` / `2541XXXXXXXX`.
    #[schema(example = "254712345678")]
    phone: String,
}

/// Sends an M-Pesa STK push (the payment prompt) to a phone for one of the caller's orders.
///
/// Customers only, on their own M-Pesa orders with something due. The order is paid when
/// Daraja's callback reports success; follow it with `GET /payments/{order_id}`. A failed or
/// expired push may be retried; a push still waiting on the phone blocks a new one.
#[utoipa::path(
    post,
    path = "/payments/mpesa/initiate",
    tag = "payments",
    security(("bearer" = [])),
    request_body = InitiateBody,
    responses(
        (status = 200, description = "The push was sent; the payment is pending", body = MpesaInitiated),
        (status = 404, description = "No such order of the caller", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The order is paid by cash on delivery (`not_mpesa`), already paid (`already_paid`), cancelled (`payment_closed`), has nothing due (`nothing_due`), or has a push still waiting on the phone (`payment_in_progress`, with `details.checkout_request_id`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation (e.g. not a Kenyan mobile number), or M-Pesa refused the push (`mpesa_rejected`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 503, description = "M-Pesa is not enabled here or could not be reached (`mpesa_unavailable`), or busy; retry after the `Retry-After` seconds", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// Daraja's STK callback (called by Safaricom, not by clients).
///
/// The secret path segment authenticates it (a wrong one answers 404 and stores nothing);
/// every well-formed body is stored, then applied, and answered with Daraja's
/// acknowledgement — duplicates and unknown requests included. A success marks the order
/// paid only when the amount, receipt and phone check out.
#[utoipa::path(
    post,
    path = "/payments/mpesa/callback/{secret}",
    tag = "payments",
    params(("secret" = String, Path, description = "The callback secret MarketHub put in the callback URL of its push")),
    request_body(content = Object, description = "Daraja's STK callback, `{Body: {stkCallback: {MerchantRequestID, CheckoutRequestID, ResultCode, ResultDesc, CallbackMetadata: {Item: [{Name, Value}]}}}}`; `CheckoutRequestID` and `ResultCode` are required"),
    responses(
        (status = 200, description = "Accepted (stored and applied, or a duplicate / unknown request kept in the log)", body = super::DarajaAck,
            example = json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
        (status = 400, description = "Not UTF-8, not JSON, or without `Body.stkCallback.CheckoutRequestID` / `ResultCode` (`invalid_callback`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "Wrong secret", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn stk_callback(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<super::DarajaAck>, AppError> {
    if !crate::payments::secret_matches(&secret, &state.callback_secret) {
        tracing::warn!("M-Pesa callback with a wrong secret");
        return Err(AppError::not_found("route"));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| AppError::bad_request("invalid_callback", "not UTF-8"))?;
    mpesa::handle_stk_callback(&state, text).await?;
    Ok(Json(super::DarajaAck::accepted()))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct CodBody {
    /// A cash-on-delivery order of the caller's hub.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    order_id: String,
    /// The cash collected, in cents: must equal the order's amount due.
    #[schema(required = true, minimum = 1, example = 90000)]
    amount_cents: Option<i64>,
}

/// The answer to a cash confirmation.
#[derive(Serialize, utoipa::ToSchema)]
struct CodConfirmed {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    order_id: String,
    order_status: OrderStatus,
    payment: PaymentView,
}

/// Records the cash collected for an order.
///
/// Hub staff of the order's hub only. The amount must equal what is due; the parcels must be
/// out for delivery or delivered; a second confirmation changes nothing.
#[utoipa::path(
    post,
    path = "/payments/cod/confirm",
    tag = "payments",
    security(("bearer" = [])),
    request_body = CodBody,
    responses(
        (status = 200, description = "The order's payment, now paid", body = CodConfirmed),
        (status = 403, description = "Not hub staff, or not assigned to a hub (`no_hub`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such order at the caller's hub", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not a cash-on-delivery order (`not_cash_on_delivery`), the payment is cancelled or failed (`payment_closed`), or a parcel is not out for delivery yet (`not_out_for_delivery`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation, or `amount_cents` is not the amount due (`details.amount_due_cents` gives it)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn confirm_cod(
    State(state): State<AppState>,
    HubStaffUser(u): HubStaffUser,
    JsonBody(body): JsonBody<CodBody>,
) -> Result<Json<CodConfirmed>, AppError> {
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
    let hub_instance = state.sync.role.is_hub();
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
            match service::cash_problem(c, &order_id, amount)? {
                Some(CashProblem::NotOut(status)) => {
                    return Err(AppError::conflict(
                        "not_out_for_delivery",
                        format!("a parcel of this order is still {}", status.as_str()),
                    ));
                }
                Some(CashProblem::WrongAmount { due }) => {
                    return Err(AppError::invalid_field(
                        "amount_cents",
                        format!(
                            "must equal the amount due, {}",
                            money::format(due, &head.currency)
                        ),
                    )
                    .with_details(json!({ "amount_due_cents": due })));
                }
                None => {}
            }
            let now = now_ms();
            orders::record_cash(c, &order_id, amount, &u.id, now)?;
            service::recompute(c, &order_id, now)?;
            if hub_instance {
                crate::sync::mirror::log_cash(c, &order_id)?;
            }
            service::load(c, &order_id)
        })
        .await?;
    state.sync.wake();
    Ok(Json(CodConfirmed {
        order_id: view.id,
        order_status: view.status,
        payment: view.payment,
    }))
}

/// An order's payment state.
#[derive(Serialize, utoipa::ToSchema)]
struct PaymentSummary {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    order_id: String,
    order_status: OrderStatus,
    /// What is still to be paid for the live (not cancelled) sub-orders, in cents.
    #[schema(example = 90000)]
    amount_due_cents: i64,
    payment: PaymentView,
}

/// An order's payment: method, status, amount and what is still due.
///
/// The order's customer, or an admin; anyone else gets 404.
#[utoipa::path(
    get,
    path = "/payments/{order_id}",
    tag = "payments",
    security(("bearer" = [])),
    params(("order_id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order's payment", body = PaymentSummary))
)]
async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentSummary>, AppError> {
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
    Ok(Json(PaymentSummary {
        order_id: view.id,
        order_status: view.status,
        amount_due_cents: view.amount_due_cents,
        payment: view.payment,
    }))
}
