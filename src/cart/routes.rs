//! `/cart` handlers (customers only).

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::store;
use super::{CartView, MAX_QUANTITY};
use crate::catalog::store as catalog;
use crate::clock::now_ms;
use crate::db::Conn;
use crate::http::{AppError, CustomerUser, FieldErrors, JsonBody};
use crate::ids;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(show, add, update, remove, clear))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(show))
        .route("/cart/items", post(add))
        .route("/cart/items/{id}", put(update).delete(remove))
        .route("/cart/clear", delete(clear))
}

fn quantity_ok(q: Option<i64>, e: &mut FieldErrors) -> i64 {
    match q {
        None => {
            e.add("quantity", "is required");
            0
        }
        Some(q) if !(1..=MAX_QUANTITY).contains(&q) => {
            e.add("quantity", format!("must be from 1 to {MAX_QUANTITY}"));
            0
        }
        Some(q) => q,
    }
}

fn show_cart(state: &AppState, c: &dyn Conn, customer: &str) -> Result<CartView, AppError> {
    Ok(store::view(c, customer, &state.config.catalog.currency)?)
}

/// The caller's cart, priced live; lines that cannot be bought as they are carry a `problem`.
#[utoipa::path(
    get,
    path = "/cart",
    tag = "cart",
    security(("bearer" = [])),
    responses((status = 200, description = "The cart", body = CartView))
)]
async fn show(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
) -> Result<Json<CartView>, AppError> {
    let st = state.clone();
    Ok(Json(
        state.db.read(move |c| show_cart(&st, c, &u.id)).await?,
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct AddBody {
    #[schema(required = true, format = Uuid)]
    product_id: String,
    /// Units to add to the product's line (default 1).
    #[schema(minimum = 1, maximum = 1000, example = 2)]
    quantity: Option<i64>,
}

/// Adds units of a product; an existing line for it grows. Stock is checked.
#[utoipa::path(
    post,
    path = "/cart/items",
    tag = "cart",
    security(("bearer" = [])),
    request_body = AddBody,
    responses(
        (status = 201, description = "The cart after the change", body = CartView),
        (status = 404, description = "No such product for sale", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not enough stock (`insufficient_stock`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn add(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<(StatusCode, Json<CartView>), AppError> {
    let mut e = FieldErrors::new();
    let product_id = body.product_id.trim().to_owned();
    if product_id.is_empty() {
        e.add("product_id", "is required");
    }
    let quantity = quantity_ok(body.quantity.or(Some(1)), &mut e);
    e.finish()?;
    let customer = u.id.clone();
    state
        .db
        .write(move |c| super::add_item(c, &customer, &product_id, quantity))
        .await?;
    let st = state.clone();
    let cart = state.db.read(move |c| show_cart(&st, c, &u.id)).await?;
    Ok((StatusCode::CREATED, Json(cart)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct QuantityBody {
    /// The line's new quantity.
    #[schema(required = true, minimum = 1, maximum = 1000, example = 3)]
    quantity: Option<i64>,
}

/// Sets the quantity of one line.
#[utoipa::path(
    put,
    path = "/cart/items/{id}",
    tag = "cart",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Cart line id")),
    request_body = QuantityBody,
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 409, description = "The product is no longer for sale, or not enough stock", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn update(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<QuantityBody>,
) -> Result<Json<CartView>, AppError> {
    let mut e = FieldErrors::new();
    let quantity = quantity_ok(body.quantity, &mut e);
    e.finish()?;
    let not_found = || AppError::not_found("cart item");
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let st = state.clone();
    let cart = state
        .db
        .write(move |c| {
            let (line_id, product_id, _) =
                store::find_line(c, &id, &u.id)?.ok_or_else(not_found)?;
            let product = catalog::find_live_product(c, &product_id)?.ok_or_else(|| {
                AppError::conflict(
                    "product_unavailable",
                    "this product is no longer for sale; remove it",
                )
            })?;
            if quantity > product.stock {
                return Err(super::insufficient(product.stock));
            }
            store::set_quantity(c, &line_id, quantity, now_ms())?;
            show_cart(&st, c, &u.id)
        })
        .await?;
    Ok(Json(cart))
}

/// Removes one line.
#[utoipa::path(
    delete,
    path = "/cart/items/{id}",
    tag = "cart",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Cart line id")),
    responses((status = 204, description = "Removed"))
)]
async fn remove(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let removed = ids::is_valid(&id)
        && state
            .db
            .write(move |c| store::delete_line(c, &id, &u.id))
            .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("cart item"))
    }
}

/// Empties the cart.
#[utoipa::path(
    delete,
    path = "/cart/clear",
    tag = "cart",
    security(("bearer" = [])),
    responses((status = 204, description = "The cart is empty"))
)]
async fn clear(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
) -> Result<StatusCode, AppError> {
    state.db.write(move |c| store::clear(c, &u.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
