//! Catalog handlers: the public listing, product pages and categories, and the merchant's
//! own products and images.

use std::collections::BTreeMap;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::images;
use super::search::match_expression;
use super::store::{self, NewImage, NewProduct, ProductChange};
use super::{
    ImageRef, Product, ProductFilter, Sort, validate_description, validate_price,
    validate_product_name, validate_stock,
};
use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::http::{AppError, FieldErrors, JsonBody, MerchantUser, Page, Pagination, Query};
use crate::ids::{self, new_id};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router(state: &AppState) -> Router<AppState> {
    // Room for the largest image plus the multipart framing around it.
    let upload_limit = state.config.uploads.max_image_bytes + 64 * 1024;
    Router::new()
        .route("/categories", get(list_categories))
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product))
        .route("/merchant/products", get(list_own).post(create_product))
        .route(
            "/merchant/products/{id}",
            get(get_own).put(update_product).delete(delete_product),
        )
        .route(
            "/merchant/products/{id}/images",
            post(upload_image).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/merchant/products/{id}/images/{image_id}",
            delete(delete_image),
        )
}

fn not_found() -> AppError {
    AppError::not_found("product")
}

fn check_id(id: &str) -> Result<(), AppError> {
    if ids::is_valid(id) {
        Ok(())
    } else {
        Err(not_found())
    }
}

async fn list_categories(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let items = state.db.read(store::list_categories).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    category_id: Option<String>,
    merchant_id: Option<String>,
    min_price_cents: Option<String>,
    max_price_cents: Option<String>,
    sort: Option<String>,
    in_stock: Option<String>,
    /// `false`: skip the total (infinite scroll needs only the next page).
    count: Option<String>,
}

/// Validates the listing query; every problem is named, as a 400. Also returns whether the
/// total is wanted (`count`, default true).
fn parse_filter(q: ListQuery) -> Result<(ProductFilter, bool), AppError> {
    let mut fields = BTreeMap::new();
    let mut bad = |f: &str, m: &str| {
        fields.insert(f.to_owned(), m.to_owned());
    };
    // The raw text goes to the builder: a trailing space means "this word is finished".
    let text = match q.q.as_deref() {
        Some(raw) if raw.chars().count() > 200 => {
            bad("q", "must be at most 200 characters");
            None
        }
        Some(raw) => match_expression(raw),
        None => None,
    };
    let id_param = |v: Option<String>, name: &str, bad: &mut dyn FnMut(&str, &str)| match v
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    {
        Some(s) if ids::is_valid(&s) => Some(s),
        Some(_) => {
            bad(name, "must be an id");
            None
        }
        None => None,
    };
    let category_id = id_param(q.category_id, "category_id", &mut bad);
    let merchant_id = id_param(q.merchant_id, "merchant_id", &mut bad);
    let mut money =
        |v: Option<String>, name: &str| match v.as_deref().map(str::trim).filter(|s| !s.is_empty())
        {
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    bad(name, "must be a whole number of cents, 0 or more");
                    None
                }
            },
            None => None,
        };
    let min_price_cents = money(q.min_price_cents, "min_price_cents");
    let max_price_cents = money(q.max_price_cents, "max_price_cents");
    if let (Some(lo), Some(hi)) = (min_price_cents, max_price_cents)
        && lo > hi
    {
        bad("max_price_cents", "must not be below min_price_cents");
    }
    let sort = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => match Sort::parse(s) {
            Some(sort) => Some(sort),
            None => {
                bad(
                    "sort",
                    "must be one of relevance, newest, price_asc, price_desc, rating",
                );
                None
            }
        },
        None => None,
    };
    let mut flag = |v: Option<&str>, name: &str| match v.map(str::trim) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            bad(name, "must be true or false");
            None
        }
    };
    let in_stock = flag(q.in_stock.as_deref(), "in_stock");
    let count = flag(q.count.as_deref(), "count").unwrap_or(true);
    if !fields.is_empty() {
        return Err(AppError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_query",
            ..AppError::validation(fields)
        });
    }
    Ok((
        ProductFilter {
            text,
            category_id,
            merchant_id,
            min_price_cents,
            max_price_cents,
            in_stock,
            sort,
        },
        count,
    ))
}

async fn list_products(
    State(state): State<AppState>,
    page: Pagination,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<Product>>, AppError> {
    let (filter, count) = parse_filter(query)?;
    let cache = state.listing_cache.clone();
    let (items, total) = state
        .db
        .read(move |c| {
            store::list_live_products(c, &filter, page.limit(), page.offset(), count, &cache)
        })
        .await?;
    Ok(Json(page.page_maybe_counted(items, total)))
}

async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Product>, AppError> {
    check_id(&id)?;
    let p = state
        .db
        .read(move |c| store::find_live_product(c, &id))
        .await?;
    p.map(Json).ok_or_else(not_found)
}

async fn list_own(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    page: Pagination,
) -> Result<Json<Page<Product>>, AppError> {
    let (items, total) = state
        .db
        .read(move |c| store::list_own_products(c, &m.id, page.limit(), page.offset()))
        .await?;
    Ok(Json(page.page(items, total)))
}

async fn get_own(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
) -> Result<Json<Product>, AppError> {
    check_id(&id)?;
    let p = state
        .db
        .read(move |c| store::find_own_product(c, &id, &m.id))
        .await?;
    p.map(Json).ok_or_else(not_found)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProductBody {
    name: Option<String>,
    description: Option<String>,
    price_cents: Option<i64>,
    stock: Option<i64>,
    category_id: Option<String>,
    is_active: Option<bool>,
}

/// Validates every given field; `require_all` for creation.
fn validate_body(body: ProductBody, require_all: bool) -> Result<ProductChange, AppError> {
    let mut e = FieldErrors::new();
    let mut required = |field: &str, present: bool| {
        if require_all && !present {
            e.add(field, "is required");
        }
    };
    required("name", body.name.is_some());
    required("price_cents", body.price_cents.is_some());
    required("category_id", body.category_id.is_some());
    let change = ProductChange {
        name: body
            .name
            .and_then(|n| e.check("name", validate_product_name(&n))),
        description: body
            .description
            .and_then(|d| e.check("description", validate_description(&d))),
        price_cents: body
            .price_cents
            .and_then(|p| e.check("price_cents", validate_price(p))),
        stock: body.stock.and_then(|s| e.check("stock", validate_stock(s))),
        category_id: body.category_id.map(|c| c.trim().to_owned()),
        is_active: body.is_active,
    };
    e.finish()?;
    Ok(change)
}

/// 422 unless the category exists (checked inside the write transaction).
fn check_category(c: &dyn Conn, category_id: Option<&str>) -> Result<(), AppError> {
    if let Some(id) = category_id
        && (!ids::is_valid(id) || store::find_category(c, id)?.is_none())
    {
        return Err(AppError::invalid_field("category_id", "does not exist"));
    }
    Ok(())
}

fn merchant_profile_exists(c: &dyn Conn, merchant_id: &str) -> Result<bool, DbError> {
    Ok(crate::merchants::store::find_merchant(c, merchant_id)?.is_some())
}

async fn create_product(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    JsonBody(body): JsonBody<ProductBody>,
) -> Result<(StatusCode, Json<Product>), AppError> {
    let ch = validate_body(body, true)?;
    let currency = state.config.catalog.currency.clone();
    let product = state
        .db
        .write(move |c| {
            if !merchant_profile_exists(c, &m.id)? {
                return Err(AppError::conflict(
                    "merchant_profile_missing",
                    "this account has no merchant profile; apply to become a merchant",
                ));
            }
            check_category(c, ch.category_id.as_deref())?;
            let id = new_id();
            store::insert_product(
                c,
                &NewProduct {
                    id: &id,
                    merchant_id: &m.id,
                    category_id: ch.category_id.as_deref().unwrap_or_default(),
                    name: ch.name.as_deref().unwrap_or_default(),
                    description: ch.description.as_deref().unwrap_or_default(),
                    price_cents: ch.price_cents.unwrap_or_default(),
                    currency: &currency,
                    stock: ch.stock.unwrap_or(0),
                    is_active: ch.is_active.unwrap_or(true),
                    now: now_ms(),
                },
            )?;
            store::find_own_product(c, &id, &m.id)?.ok_or_else(not_found)
        })
        .await?;
    tracing::info!(product_id = %product.id, merchant_id = %product.merchant_id, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

async fn update_product(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProductBody>,
) -> Result<Json<Product>, AppError> {
    check_id(&id)?;
    let ch = validate_body(body, false)?;
    let product = state
        .db
        .write(move |c| {
            if store::find_own_product(c, &id, &m.id)?.is_none() {
                return Err(not_found());
            }
            check_category(c, ch.category_id.as_deref())?;
            store::update_product(c, &id, &m.id, &ch, now_ms())?;
            store::find_own_product(c, &id, &m.id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Json(product))
}

async fn delete_product(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    check_id(&id)?;
    let removed_files = state
        .db
        .write(move |c| {
            if store::find_own_product(c, &id, &m.id)?.is_none() {
                return Err(not_found());
            }
            if store::was_ordered(c, &id)? {
                // Order history points at it: hide it, keep the row.
                store::soft_delete_product(c, &id, &m.id, now_ms())?;
                Ok(Vec::new())
            } else {
                Ok(store::hard_delete_product(c, &id)?)
            }
        })
        .await?;
    for key in removed_files {
        images::remove(&state, key).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn upload_image(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ImageRef>), AppError> {
    check_id(&id)?;
    let (pid, mid) = (id.clone(), m.id.clone());
    let max_images = i64::from(state.config.uploads.max_images_per_product);
    let image_count = move |c: &dyn Conn| -> Result<i64, AppError> {
        if store::find_own_product(c, &pid, &mid)?.is_none() {
            return Err(not_found());
        }
        Ok(store::count_images(c, &pid)?)
    };
    // Refuse early (before reading the body) when the product is not the caller's or full.
    let check = image_count.clone();
    if state.db.read(check).await? >= max_images {
        return Err(too_many_images(max_images));
    }
    let upload = images::receive(multipart, state.config.uploads.max_image_bytes).await?;
    let image_id = new_id();
    let stored = images::put(&state, "products", &image_id, &upload).await?;
    let row = stored.clone();
    let saved = state
        .db
        .write(move |c| {
            if image_count(c)? >= max_images {
                return Err(too_many_images(max_images));
            }
            store::insert_image(
                c,
                &NewImage {
                    id: &image_id,
                    product_id: &id,
                    storage_key: &row.key,
                    url: &row.url,
                    content_type: upload.kind.content_type(),
                    bytes: upload.size(),
                    now: now_ms(),
                },
            )?;
            store::image_ref(c, &image_id)?.ok_or_else(not_found)
        })
        .await;
    match saved {
        Ok(image) => Ok((StatusCode::CREATED, Json(image))),
        Err(e) => {
            // The row was not written: do not leave the stored file behind.
            images::remove(&state, stored.key).await;
            Err(e)
        }
    }
}

fn too_many_images(max: i64) -> AppError {
    AppError::conflict(
        "too_many_images",
        format!("a product can have at most {max} images"),
    )
}

async fn delete_image(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path((id, image_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    check_id(&id)?;
    if !ids::is_valid(&image_id) {
        return Err(AppError::not_found("image"));
    }
    let removed = state
        .db
        .write(move |c| {
            if store::find_own_product(c, &id, &m.id)?.is_none() {
                return Err(not_found());
            }
            store::delete_image(c, &id, &image_id)?.ok_or_else(|| AppError::not_found("image"))
        })
        .await?;
    let (key, still_used) = removed;
    if !still_used {
        images::remove(&state, key).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
