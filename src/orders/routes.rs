//! Customer order handlers: checkout (`POST /orders`, with `Idempotency-Key`), own orders,
//! and cancellation.

use crate::http::Path;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::service::{self, CheckoutInput};
use super::store::{self, OrderFilter};
use super::{OrderView, PaymentMethod};
use crate::auth::normalize_phone;
use crate::clock::parse_bound;
use crate::http::{AppError, CustomerUser, FieldErrors, JsonBody, Page, Pagination};
use crate::ids;
use crate::state::AppState;
use crate::text;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(checkout, list, show, cancel))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(checkout).get(list))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/cancel", post(cancel))
}

/// `?from=&to=` as unix-millisecond bounds (`to` inclusive of its whole day).
pub fn date_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), AppError> {
    let parse =
        |v: Option<&str>, upper: bool, name: &str| match v.map(str::trim).filter(|s| !s.is_empty())
        {
            Some(s) => parse_bound(s, upper).map(Some).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    format!("{name} must be YYYY-MM-DD or an RFC 3339 time"),
                )
            }),
            None => Ok(None),
        };
    let (f, t) = (parse(from, false, "from")?, parse(to, true, "to")?);
    if let (Some(f), Some(t)) = (f, t)
        && f >= t
    {
        return Err(AppError::bad_request(
            "invalid_query",
            "from must be before to",
        ));
    }
    Ok((f, t))
}

/// What a checkout needs besides the cart.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct CheckoutBody {
    /// `mpesa` (pay by STK push after checkout) or `cod` (cash on delivery).
    #[schema(required = true, example = "mpesa")]
    payment_method: String,
    /// The active hub the parcels go through.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b66")]
    hub_id: String,
    /// 5 to 500 characters once trimmed; line breaks allowed.
    #[schema(
        required = true,
        min_length = 5,
        max_length = 500,
        example = "Moi Avenue 12, Nairobi"
    )]
    delivery_address: String,
    /// A phone number of 7 to 15 digits, optionally starting with `+` (spaces, dashes, dots
    /// and parentheses are ignored).
    #[schema(required = true, example = "+254712345678")]
    phone: String,
}

fn validate(b: CheckoutBody) -> Result<CheckoutInput, AppError> {
    let mut e = FieldErrors::new();
    let method = match PaymentMethod::parse(b.payment_method.trim()) {
        Some(m) => Some(m),
        None if b.payment_method.trim().is_empty() => {
            e.add("payment_method", "is required");
            None
        }
        None => {
            e.add("payment_method", "must be mpesa or cod");
            None
        }
    };
    let hub_id = b.hub_id.trim().to_owned();
    if hub_id.is_empty() {
        e.add("hub_id", "is required");
    } else if !ids::is_valid(&hub_id) {
        e.add("hub_id", "does not exist or is not accepting parcels");
    }
    let address = e.check(
        "delivery_address",
        text::multiline(&b.delivery_address, 5, 500),
    );
    let phone = if b.phone.trim().is_empty() {
        e.add("phone", "is required");
        None
    } else {
        e.check("phone", normalize_phone(&b.phone))
    };
    e.finish()?;
    match (method, address, phone) {
        (Some(payment_method), Some(delivery_address), Some(phone)) => Ok(CheckoutInput {
            payment_method,
            hub_id,
            delivery_address,
            phone,
        }),
        _ => Err(AppError::internal("validated fields missing")),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().map(str::trim).unwrap_or("");
    if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 100 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Places an order from the caller's cart.
///
/// Customers only. The cart becomes one master order with one sub-order per merchant, at the
/// current prices; stock is reserved and the cart emptied. Every line is checked first: if any
/// cannot be bought as it is, nothing happens and the 409 lists them all in
/// `error.details.items`. With an `Idempotency-Key`, repeating the same checkout answers the
/// order it made (201 again, with `Idempotency-Replayed: true`) instead of placing another;
/// reusing the key for a different checkout is a 422. M-Pesa orders are then paid with
/// `POST /payments/mpesa/initiate`.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 100, example = "checkout-7f3c9a",
            description = "Optional key (1 to 100 visible ASCII characters) that makes retries of the same checkout safe"),
    ),
    request_body = CheckoutBody,
    responses(
        (status = 201, description = "The order placed (or, for a replayed Idempotency-Key, the order placed earlier)", body = OrderView,
            headers(("Idempotency-Replayed" = String, description = "`true` when this answers an earlier checkout with the same Idempotency-Key; absent otherwise"))),
        (status = 400, description = "Malformed request, or an Idempotency-Key that is not 1 to 100 visible ASCII characters (`invalid_idempotency_key`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The cart is empty (`cart_empty`), or some lines cannot be ordered as they are (`cart_unavailable`, with `details.items`: `cart_item_id`, `product_id`, `name`, `problem`, `requested`, `available`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation (including a hub that does not exist or is not accepting parcels, and `mpesa` where M-Pesa is not enabled), or the Idempotency-Key was used for a different checkout (`idempotency_key_reused`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn checkout(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CheckoutBody>,
) -> Result<Response, AppError> {
    let key = idempotency_key(&headers)?;
    let input = validate(body)?;
    if input.payment_method == PaymentMethod::Mpesa && state.mpesa.is_none() {
        return Err(AppError::invalid_field(
            "payment_method",
            "M-Pesa is not available here; choose cod",
        ));
    }
    let (order_id, replayed) = state
        .db
        .write(move |c| service::checkout(c, &u.id, &input, key.as_deref()))
        .await?;
    let order = state.db.read(move |c| service::load(c, &order_id)).await?;
    if !replayed {
        state.mail.wake();
        tracing::info!(order_id = %order.id, total_cents = order.total_cents, "order placed");
    }
    let mut resp = (StatusCode::CREATED, Json(order)).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// The caller's orders, newest first.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "One page of the caller's orders", body = Page<OrderView>))
)]
async fn list(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    page: Pagination,
) -> Result<Json<Page<OrderView>>, AppError> {
    let filter = OrderFilter {
        customer_id: Some(u.id),
        ..OrderFilter::default()
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

/// One of the caller's orders, with its sub-orders, items, payment and history.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = OrderView))
)]
async fn show(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let not_found = || AppError::not_found("order");
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let order = state.db.read(move |c| service::load(c, &id)).await?;
    if order.customer_id != u.id {
        return Err(not_found());
    }
    Ok(Json(order))
}

/// Cancels the whole order while nothing has shipped; the stock returns.
///
/// Customers only, on their own orders. A paid order cannot be cancelled: ask for a refund.
#[utoipa::path(
    post,
    path = "/orders/{id}/cancel",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The cancelled order", body = OrderView),
        (status = 409, description = "The order is paid (`order_paid`), already cancelled (`already_cancelled`), partly shipped (`already_shipped`), or changed meanwhile (`changed`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    if !ids::is_valid(&id) {
        return Err(AppError::not_found("order"));
    }
    let order = state
        .db
        .write(move |c| service::cancel_order(c, &id, &u.id))
        .await?;
    state.mail.wake();
    Ok(Json(order))
}
