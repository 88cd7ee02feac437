//! Review handlers: `POST /reviews` (create or edit one's review), `PUT /reviews/{id}`,
//! `GET /products/{id}/reviews` (public, with the rating histogram), `GET /merchant/reviews`
//! and `POST /merchant/reviews/{id}/reply`.

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::store;
use super::{ReviewView, Summary, validate_rating};
use crate::catalog::store as catalog;
use crate::clock::now_ms;
use crate::http::{AppError, CustomerUser, FieldErrors, JsonBody, MerchantUser, Page, Pagination};
use crate::ids;
use crate::state::AppState;
use crate::text;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, edit, for_product, for_merchant, reply))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reviews", post(create))
        .route("/reviews/{id}", put(edit))
        .route("/products/{id}/reviews", get(for_product))
        .route("/merchant/reviews", get(for_merchant))
        .route("/merchant/reviews/{id}/reply", post(reply))
}

fn not_found() -> AppError {
    AppError::not_found("review")
}

/// A review of a product the caller received.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ReviewBody {
    /// The reviewed product.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5d")]
    product_id: String,
    /// Stars, 1–5.
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 5, example = 4)]
    rating: Option<i64>,
    /// 2–2000 characters (trimmed); line breaks allowed.
    #[schema(
        value_type = String,
        required = true,
        min_length = 2,
        max_length = 2000,
        example = "Good sound, the case is a bit bulky."
    )]
    comment: Option<String>,
}

/// Reviews a product, or edits the caller's existing review of it.
///
/// Customers only, and only for a product they received (a delivered order). One review per
/// customer and product: posting again replaces the rating and comment (200 instead of 201).
/// The product's `rating_avg` and `rating_count` are updated.
#[utoipa::path(
    post,
    path = "/reviews",
    tag = "reviews",
    security(("bearer" = [])),
    request_body = ReviewBody,
    responses(
        (status = 201, description = "The new review", body = ReviewView),
        (status = 200, description = "The caller's existing review of this product, edited", body = ReviewView),
        (status = 403, description = "The caller has not received this product (`not_eligible`), or is not a customer", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such product for sale", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn create(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Result<(StatusCode, Json<ReviewView>), AppError> {
    let mut e = FieldErrors::new();
    let product_id = body.product_id.trim().to_owned();
    if product_id.is_empty() {
        e.add("product_id", "is required");
    }
    let rating = e.check("rating", validate_rating(body.rating));
    let comment = e.check(
        "comment",
        text::multiline(body.comment.as_deref().unwrap_or(""), 2, 2000),
    );
    e.finish()?;
    let (rating, comment) = (rating.unwrap_or(0), comment.unwrap_or_default());
    let (review, created) = state
        .db
        .write(move |c| {
            if !ids::is_valid(&product_id) || catalog::find_live_product(c, &product_id)?.is_none()
            {
                return Err(AppError::not_found("product"));
            }
            if !store::received(c, &u.id, &product_id)? {
                return Err(AppError::forbidden(
                    "not_eligible",
                    "only customers who received this product can review it",
                ));
            }
            let (id, created) = store::upsert(c, &product_id, &u.id, rating, &comment, now_ms())?;
            store::refresh_rating(c, &product_id)?;
            Ok((store::find(c, &id)?.ok_or_else(not_found)?, created))
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(review)))
}

/// Changes to a review: an absent (or `null`) field keeps its value.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
#[schema(as = ReviewEditBody)]
struct EditBody {
    /// Stars, 1–5.
    #[schema(minimum = 1, maximum = 5, example = 5)]
    rating: Option<i64>,
    /// 2–2000 characters (trimmed); line breaks allowed.
    #[schema(
        min_length = 2,
        max_length = 2000,
        example = "Still going strong after a month."
    )]
    comment: Option<String>,
}

/// Edits one of the caller's reviews.
///
/// Customers only; other customers' reviews answer 404. The product's rating is updated.
#[utoipa::path(
    put,
    path = "/reviews/{id}",
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    request_body(content = EditBody, description = "The fields to change"),
    responses(
        (status = 200, description = "The review after the change", body = ReviewView),
        (status = 404, description = "No such review of the caller", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn edit(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditBody>,
) -> Result<Json<ReviewView>, AppError> {
    let mut e = FieldErrors::new();
    let rating = body
        .rating
        .and_then(|r| e.check("rating", validate_rating(Some(r))));
    let comment = body
        .comment
        .as_deref()
        .and_then(|c| e.check("comment", text::multiline(c, 2, 2000)));
    e.finish()?;
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let review = state
        .db
        .write(move |c| {
            let (author, _) = store::owners(c, &id)?.ok_or_else(not_found)?;
            if author != u.id {
                return Err(not_found());
            }
            store::edit(c, &id, rating, comment.as_deref(), now_ms())?;
            let review = store::find(c, &id)?.ok_or_else(not_found)?;
            store::refresh_rating(c, &review.product_id)?;
            Ok(review)
        })
        .await?;
    Ok(Json(review))
}

/// One page of a product's reviews (the list envelope) plus its rating summary.
#[derive(Serialize, utoipa::ToSchema)]
struct ProductReviews {
    #[serde(flatten)]
    page: Page<ReviewView>,
    summary: Summary,
}

/// A product's reviews, newest first, with its rating summary.
///
/// Public.
#[utoipa::path(
    get,
    path = "/products/{id}/reviews",
    tag = "reviews",
    params(("id" = String, Path, description = "Product id"), crate::http::extract::PageParams),
    responses(
        (status = 200, description = "One page of reviews and the rating summary", body = ProductReviews),
        (status = 404, description = "No such product for sale", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn for_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    page: Pagination,
) -> Result<Json<ProductReviews>, AppError> {
    if !ids::is_valid(&id) {
        return Err(AppError::not_found("product"));
    }
    let (items, total, summary) = state
        .db
        .read(move |c| {
            if catalog::find_live_product(c, &id)?.is_none() {
                return Err(AppError::not_found("product"));
            }
            let (items, total) = store::for_product(c, &id, page.limit(), page.offset())?;
            Ok((items, total, store::summary(c, &id)?))
        })
        .await?;
    Ok(Json(ProductReviews {
        page: page.page(items, total),
        summary,
    }))
}

/// Reviews of the caller's products, newest first.
///
/// Merchants only.
#[utoipa::path(
    get,
    path = "/merchant/reviews",
    tag = "reviews",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "One page of reviews", body = Page<ReviewView>))
)]
async fn for_merchant(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    page: Pagination,
) -> Result<Json<Page<ReviewView>>, AppError> {
    let (items, total) = state
        .db
        .read(move |c| store::for_merchant(c, &m.id, page.limit(), page.offset()))
        .await?;
    Ok(Json(page.page(items, total)))
}

/// The merchant's public reply to a review.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
#[schema(as = ReviewReplyBody)]
struct ReplyBody {
    /// 2–1000 characters (trimmed); line breaks allowed.
    #[schema(
        required = true,
        min_length = 2,
        max_length = 1000,
        example = "Thank you for your feedback!"
    )]
    reply: String,
}

/// Replies to a review of one of the caller's products.
///
/// Merchants only; reviews of other merchants' products answer 404. One reply per review.
#[utoipa::path(
    post,
    path = "/merchant/reviews/{id}/reply",
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "The review with the reply", body = ReviewView),
        (status = 404, description = "No such review of the caller's products", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The review already has a reply (`reply_exists`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn reply(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplyBody>,
) -> Result<(StatusCode, Json<ReviewView>), AppError> {
    let text =
        text::multiline(&body.reply, 2, 1000).map_err(|p| AppError::invalid_field("reply", p))?;
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let review = state
        .db
        .write(move |c| {
            let (_, merchant) = store::owners(c, &id)?.ok_or_else(not_found)?;
            if merchant != m.id {
                return Err(not_found());
            }
            if !store::reply(c, &id, &text, now_ms())? {
                return Err(AppError::conflict(
                    "reply_exists",
                    "this review already has your reply",
                ));
            }
            store::find(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(review)))
}
