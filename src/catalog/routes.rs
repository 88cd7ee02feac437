//! Catalog handlers: the public listing, product pages and categories, and the merchant's
//! own products and images.

use std::collections::BTreeMap;

use crate::http::Path;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::images;
use super::search::match_expression;
use super::store::{self, NewImage, NewProduct, ProductChange};
use super::{
    Category, ImageRef, Product, ProductFilter, Sort, validate_description, validate_price,
    validate_product_name, validate_stock,
};
use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::http::{AppError, FieldErrors, JsonBody, MerchantUser, Page, Pagination, Query};
use crate::ids::{self, new_id};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_categories,
    list_products,
    get_product,
    list_own,
    create_product,
    get_own,
    update_product,
    delete_product,
    upload_image,
    delete_image
))]
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

/// Every category, as a flat list (`parent_id` links them into a tree).
#[derive(Serialize, utoipa::ToSchema)]
struct CategoryList {
    items: Vec<Category>,
}

/// All categories.
///
/// Public. Not paginated: the whole tree comes at once, each category naming its parent.
#[utoipa::path(
    get,
    path = "/categories",
    tag = "catalog",
    responses((status = 200, description = "Every category", body = CategoryList))
)]
async fn list_categories(State(state): State<AppState>) -> Result<Json<CategoryList>, AppError> {
    let items = state.db.read(store::list_categories).await?;
    Ok(Json(CategoryList { items }))
}

/// The filters, sort and counting of `GET /products`. Values other than `q` are trimmed; an
/// empty value is the same as an absent one. Every invalid value is named in `error.fields`
/// of a 400.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Search text (name, description, category). Split into words; the last word matches
    /// as a prefix unless the text ends with a space. At most 200 characters.
    #[param(max_length = 200, example = "wireless ear")]
    q: Option<String>,
    /// Only products in this category or any of its sub-categories (a category id).
    #[param(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    category_id: Option<String>,
    /// Only this merchant's products (a merchant's user id).
    #[param(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5b")]
    merchant_id: Option<String>,
    /// Lowest price, in cents (inclusive).
    #[param(value_type = Option<i64>, minimum = 0, example = 100000)]
    min_price_cents: Option<String>,
    /// Highest price, in cents (inclusive); not below `min_price_cents`.
    #[param(value_type = Option<i64>, minimum = 0, example = 500000)]
    max_price_cents: Option<String>,
    /// Order: `relevance`, `newest`, `price_asc`, `price_desc` or `rating`. Default:
    /// `relevance` when `q` has a word, else `newest` (`relevance` without search text means
    /// `newest`).
    #[param(value_type = Option<String>, example = "price_asc")]
    sort: Option<String>,
    /// `true`: only products in stock; `false`: only out-of-stock ones; absent: both.
    #[param(value_type = Option<bool>)]
    in_stock: Option<String>,
    /// `false`: skip the total (infinite scroll needs only the next page); the response then
    /// has no `total`. Default `true`. Large totals are capped (`total_exact: false`).
    #[param(value_type = Option<bool>, default = true)]
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

/// The public product listing: search, filters, sorts.
///
/// Public. Lists live products only (active, not deleted, of an active merchant),
/// out-of-stock ones included unless `in_stock` says otherwise. `total` is absent with
/// `count=false`; when a count is capped the response carries `total_exact: false` and `total`
/// is a lower bound.
#[utoipa::path(
    get,
    path = "/products",
    tag = "catalog",
    params(ListQuery, crate::http::extract::PageParams),
    responses(
        (status = 200, description = "One page of products", body = Page<Product>),
        (status = 400, description = "A query parameter is invalid (`invalid_query`; `error.fields` names each one)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// A public product.
///
/// Public. Products that are inactive, deleted or of an inactive merchant answer 404.
#[utoipa::path(
    get,
    path = "/products/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No such product for sale", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// The caller's own products.
///
/// Merchants only. Every product of the caller except deleted ones, active or not.
#[utoipa::path(
    get,
    path = "/merchant/products",
    tag = "catalog",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "One page of the caller's products", body = Page<Product>))
)]
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

/// One of the caller's own products.
///
/// Merchants only. Inactive products are included; other merchants' products answer 404.
#[utoipa::path(
    get,
    path = "/merchant/products/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No such product of the caller", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// Changes to a product: an absent (or `null`) field keeps its value.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ProductBody {
    /// 2–200 characters (trimmed), no control characters.
    #[schema(min_length = 2, max_length = 200, example = "Wireless earbuds")]
    name: Option<String>,
    /// Up to 5000 characters (trimmed); line breaks allowed.
    #[schema(
        max_length = 5000,
        example = "Bluetooth 5.3, 24 h battery with the case."
    )]
    description: Option<String>,
    /// Unit price in cents.
    #[schema(minimum = 1, maximum = 100_000_000_000_i64, example = 349900)]
    price_cents: Option<i64>,
    /// Units in stock.
    #[schema(minimum = 0, maximum = 1_000_000_000, example = 12)]
    stock: Option<i64>,
    /// An existing category's id.
    #[schema(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    category_id: Option<String>,
    /// Whether the product is for sale (shown in the public listing).
    is_active: Option<bool>,
}

/// A new product (the same fields as an update; `name`, `price_cents` and `category_id` are
/// required).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct NewProductBody {
    /// 2–200 characters (trimmed), no control characters.
    #[schema(min_length = 2, max_length = 200, example = "Wireless earbuds")]
    name: String,
    /// Up to 5000 characters (trimmed); line breaks allowed. Default empty.
    #[schema(
        max_length = 5000,
        example = "Bluetooth 5.3, 24 h battery with the case."
    )]
    description: Option<String>,
    /// Unit price in cents.
    #[schema(minimum = 1, maximum = 100_000_000_000_i64, example = 349900)]
    price_cents: i64,
    /// Units in stock (default 0).
    #[schema(minimum = 0, maximum = 1_000_000_000, example = 12)]
    stock: Option<i64>,
    /// An existing category's id.
    #[schema(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    category_id: String,
    /// Whether the product is for sale right away (default true).
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

/// Creates a product.
///
/// Merchants with a merchant profile only. The price is in the shop's currency.
#[utoipa::path(
    post,
    path = "/merchant/products",
    tag = "catalog",
    security(("bearer" = [])),
    request_body = NewProductBody,
    responses(
        (status = 201, description = "The new product", body = Product),
        (status = 409, description = "The caller has no merchant profile (`merchant_profile_missing`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation (e.g. `category_id` does not exist)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// Changes one of the caller's products.
///
/// Merchants only. Only the fields given change.
#[utoipa::path(
    put,
    path = "/merchant/products/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    request_body = ProductBody,
    responses(
        (status = 200, description = "The product after the change", body = Product),
        (status = 404, description = "No such product of the caller", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation (e.g. `category_id` does not exist)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// Deletes one of the caller's products.
///
/// Merchants only. A product that was ever ordered is hidden (soft-deleted) so order history
/// keeps it; otherwise it and its images are removed.
#[utoipa::path(
    delete,
    path = "/merchant/products/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such product of the caller", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// The multipart form of an image upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ImageUploadForm {
    /// The image: JPEG, PNG or WebP (recognised by content), at most `uploads.max_image_bytes`
    /// (5 MiB by default). Other form fields are ignored.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds an image to one of the caller's products.
///
/// Merchants only. Send `multipart/form-data` with the image in a field named `file`. A
/// product holds at most `uploads.max_images_per_product` images (10 by default).
#[utoipa::path(
    post,
    path = "/merchant/products/{id}/images",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    request_body(content_type = "multipart/form-data", content = inline(ImageUploadForm)),
    responses(
        (status = 201, description = "The stored image", body = ImageRef),
        (status = 400, description = "Malformed multipart body (`invalid_multipart`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such product of the caller", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The product already has the most images allowed (`too_many_images`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 413, description = "The image is larger than allowed (`payload_too_large`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 415, description = "Not a multipart body (`unsupported_media_type`), or not a JPEG, PNG or WebP image (`unsupported_image_type`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "No `file` field, or the image is larger than `uploads.max_image_side_px`/`max_image_megapixels` or does not decode as the format it claims (`error.fields.file` says which)", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The image service did not accept the file (`storage_unavailable`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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
    let upload = images::receive(multipart, &state.config.uploads).await?;
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

/// Removes an image from one of the caller's products.
///
/// Merchants only.
#[utoipa::path(
    delete,
    path = "/merchant/products/{id}/images/{image_id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Product id"),
        ("image_id" = String, Path, description = "Image id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such product of the caller, or no such image of it", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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
