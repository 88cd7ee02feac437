//! `/cart` handlers (customers only).

use axum::extract::{Path, State};
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

async fn show(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
) -> Result<Json<CartView>, AppError> {
    let st = state.clone();
    Ok(Json(
        state.db.read(move |c| show_cart(&st, c, &u.id)).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddBody {
    product_id: String,
    quantity: Option<i64>,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct QuantityBody {
    quantity: Option<i64>,
}

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

async fn clear(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
) -> Result<StatusCode, AppError> {
    state.db.write(move |c| store::clear(c, &u.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
