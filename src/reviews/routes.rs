//! Review handlers: `POST /reviews` (create or edit one's review), `PUT /reviews/{id}`,
//! `GET /products/{id}/reviews` (public, with the rating histogram), `GET /merchant/reviews`
//! and `POST /merchant/reviews/{id}/reply`.

use axum::extract::{Path, State};
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
#[openapi(paths())]
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReviewBody {
    product_id: String,
    rating: Option<i64>,
    comment: Option<String>,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct EditBody {
    rating: Option<i64>,
    comment: Option<String>,
}

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

#[derive(Serialize, utoipa::ToSchema)]
struct ProductReviews {
    #[serde(flatten)]
    page: Page<ReviewView>,
    summary: Summary,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReplyBody {
    reply: String,
}

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
