//! Refund handlers: customers ask (`POST /refunds`), add evidence
//! (`POST /refunds/{id}/evidence`) and follow their requests; admins decide
//! (`PUT /admin/refunds/{id}/approve|deny`). Also the B2C result and timeout callbacks at
//! `POST /payments/mpesa/b2c/result|timeout/{secret}`.

use crate::http::Path;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{self, NewRefund};
use super::{MAX_EVIDENCE, REASONS, RefundView, refundable};
use crate::auth::{Role, store as users};
use crate::catalog::{ImageRef, images};
use crate::clock::now_ms;
use crate::db::{Conn, DbError};
use crate::http::{
    AdminUser, AppError, AuthUser, CustomerUser, FieldErrors, JsonBody, Page, Pagination, Query,
    RawBody,
};
use crate::ids::{self, new_id};
use crate::mail::{self, templates};
use crate::money;
use crate::orders::store as orders;
use crate::orders::{PaymentMethod, PaymentStatus, SubStatus};
use crate::payments::DarajaAck;
use crate::payments::gateway::{B2cRequest, normalize_msisdn, shillings_for};
use crate::payments::store as payments;
use crate::state::AppState;
use crate::text;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    request,
    own,
    show,
    add_evidence,
    evidence_file,
    admin_list,
    approve,
    deny,
    b2c_result,
    b2c_timeout
))]
pub struct Doc;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state.config.uploads.max_image_bytes + 64 * 1024;
    Router::new()
        .route("/refunds", post(request).get(own))
        .route("/refunds/{id}", get(show))
        .route(
            "/refunds/{id}/evidence",
            post(add_evidence).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/refunds/{id}/evidence/{image_id}", get(evidence_file))
        .route("/admin/refunds", get(admin_list))
        .route("/admin/refunds/{id}/approve", put(approve))
        .route("/admin/refunds/{id}/deny", put(deny))
        .route("/payments/mpesa/b2c/result/{secret}", post(b2c_result))
        .route("/payments/mpesa/b2c/timeout/{secret}", post(b2c_timeout))
}

fn not_found() -> AppError {
    AppError::not_found("refund")
}

/// Part of a sub-order to refund: some units of one of its items.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RefundItemBody {
    /// An item of the sub-order.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    order_item_id: String,
    /// Units to refund: at most the units bought minus those already refunded.
    #[schema(required = true, minimum = 1, example = 1)]
    quantity: i64,
}

/// Why a refund is asked for.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
enum RefundReason {
    Damaged,
    WrongItem,
    NotAsDescribed,
    NotReceived,
    Other,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RefundRequestBody {
    /// A delivered sub-order of the caller's.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    sub_order_id: String,
    #[schema(required = true, value_type = RefundReason, example = "damaged")]
    reason: String,
    /// 10 to 2000 characters (trimmed); line breaks allowed.
    #[schema(
        required = true,
        min_length = 10,
        max_length = 2000,
        example = "The screen arrived cracked in two places."
    )]
    description: String,
    /// How much to refund; by default (absent or `null`) the most allowed: what is left of
    /// the paid amount, or the value of `items` when given. More than that answers 422 with
    /// `error.details.max_amount_cents`.
    #[schema(minimum = 1, example = 149900)]
    amount_cents: Option<i64>,
    /// Refund only these items (default: the sub-order as a whole).
    #[schema(default = json!([]))]
    items: Vec<RefundItemBody>,
}

/// What a sub-order's refund may cover: the paid amount left, and item quantities left.
fn refund_room(c: &dyn Conn, sub: &orders::SubRow) -> Result<i64, AppError> {
    let head = orders::order_head(c, &sub.order_id)?.ok_or_else(|| AppError::not_found("order"))?;
    if head.payment_status != PaymentStatus::Paid {
        return Err(AppError::conflict(
            "not_paid",
            "nothing was paid for this order yet",
        ));
    }
    let subtotal: i64 = orders::load_sub_orders(c, std::slice::from_ref(&sub.id))?
        .first()
        .map_or(0, |s| s.subtotal_cents);
    Ok(refundable(subtotal, store::refunded_cents(c, &sub.id)?))
}

/// Asks for a refund on a delivered sub-order: all of it or some items.
///
/// Customers only, for their own paid and delivered sub-orders, one open request at a time.
/// The body is JSON (`application/json`); pictures are added afterwards with
/// `POST /refunds/{id}/evidence`.
#[utoipa::path(
    post,
    path = "/refunds",
    tag = "refunds",
    security(("bearer" = [])),
    request_body = RefundRequestBody,
    responses(
        (status = 201, description = "The refund request, `pending`", body = RefundView),
        (status = 404, description = "No such sub-order of the caller's", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The sub-order is not delivered (`not_delivered`), the order is not paid (`not_paid`), a request is already open (`refund_open`), or it was refunded in full (`fully_refunded`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field failed validation: `error.fields` names it; an `amount_cents` above what may be refunded also gives `error.details.max_amount_cents`", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn request(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    JsonBody(body): JsonBody<RefundRequestBody>,
) -> Result<(StatusCode, Json<RefundView>), AppError> {
    let mut e = FieldErrors::new();
    let sub_id = body.sub_order_id.trim().to_owned();
    if sub_id.is_empty() {
        e.add("sub_order_id", "is required");
    }
    if !REASONS.contains(&body.reason.as_str()) {
        e.add("reason", format!("must be one of {}", REASONS.join(", ")));
    }
    let description = e.check("description", text::multiline(&body.description, 10, 2000));
    if body.amount_cents.is_some_and(|a| a <= 0) {
        e.add("amount_cents", "must be greater than 0");
    }
    if body
        .items
        .iter()
        .any(|i| i.quantity <= 0 || !ids::is_valid(&i.order_item_id))
    {
        e.add(
            "items",
            "each item needs an order_item_id and a quantity above 0",
        );
    }
    let mut listed = std::collections::HashSet::new();
    if let Some(twice) = body
        .items
        .iter()
        .find(|i| !listed.insert(i.order_item_id.trim()))
    {
        e.add(
            "items",
            format!(
                "order_item_id {} is listed twice; list each item once with the quantity to refund",
                twice.order_item_id.trim()
            ),
        );
    }
    e.finish()?;
    let description = description.unwrap_or_default();
    let refund = state
        .db
        .write(move |c| {
            let sub = if ids::is_valid(&sub_id) {
                orders::sub_row(c, &sub_id)?
            } else {
                None
            };
            let sub = sub
                .filter(|s| s.customer_id == u.id)
                .ok_or_else(|| AppError::not_found("sub-order"))?;
            if sub.status != SubStatus::Delivered {
                return Err(AppError::conflict(
                    "not_delivered",
                    "refunds are for delivered orders",
                ));
            }
            if store::has_open(c, &sub.id)? {
                return Err(AppError::conflict(
                    "refund_open",
                    "there is already an open refund request for this order",
                ));
            }
            let room = refund_room(c, &sub)?;
            if room == 0 {
                return Err(AppError::conflict(
                    "fully_refunded",
                    "this order was already refunded in full",
                ));
            }
            // Items must belong to the sub-order and not exceed what is left of them.
            let view = orders::load_sub_orders(c, std::slice::from_ref(&sub.id))?;
            let lines = view.first().map(|s| s.items.clone()).unwrap_or_default();
            let mut items_value = 0;
            for item in &body.items {
                let line = lines
                    .iter()
                    .find(|l| l.id == item.order_item_id)
                    .ok_or_else(|| {
                        AppError::invalid_field("items", "an item is not part of this order")
                    })?;
                let left = line.quantity - store::refunded_quantity(c, &line.id)?;
                if item.quantity > left {
                    return Err(AppError::invalid_field(
                        "items",
                        format!("only {left} of {} can still be refunded", line.name),
                    ));
                }
                items_value += line.unit_price_cents * item.quantity;
            }
            let limit = if body.items.is_empty() {
                room
            } else {
                items_value.min(room)
            };
            let amount = body.amount_cents.unwrap_or(limit);
            if amount > limit {
                let currency = orders::order_head(c, &sub.order_id)?
                    .map(|h| h.currency)
                    .unwrap_or_default();
                return Err(AppError::invalid_field(
                    "amount_cents",
                    format!("can be at most {}", money::format(limit, &currency)),
                )
                .with_details(json!({ "max_amount_cents": limit })));
            }
            let id = new_id();
            let now = now_ms();
            store::insert(
                c,
                &NewRefund {
                    id: &id,
                    order_id: &sub.order_id,
                    sub_order_id: &sub.id,
                    customer_id: &u.id,
                    reason: &body.reason,
                    description: &description,
                    amount_cents: amount,
                    now,
                },
            )?;
            for item in &body.items {
                store::insert_item(c, &id, &item.order_item_id, item.quantity)?;
            }
            store::find(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    tracing::info!(refund_id = %refund.id, amount_cents = refund.amount_cents, "refund requested");
    Ok((StatusCode::CREATED, Json(refund)))
}

/// The multipart form of an evidence upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EvidenceUpload {
    /// The picture: JPEG, PNG or WebP (checked by content, not by name or declared type), at
    /// most the configured `uploads.max_image_bytes` (5 MiB by default). Other form fields are
    /// ignored.
    #[schema(value_type = String, format = Binary)]
    file: String,
}

/// Adds a picture to an open refund request of the caller's.
///
/// Customers only, while the request is `pending`; at most 5 pictures per request. Send
/// `multipart/form-data` with the image in a field named `file`.
#[utoipa::path(
    post,
    path = "/refunds/{id}/evidence",
    tag = "refunds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Refund id")),
    request_body(content_type = "multipart/form-data", content = inline(EvidenceUpload)),
    responses(
        (status = 201, description = "The stored picture", body = ImageRef),
        (status = 400, description = "Malformed multipart body (`invalid_multipart`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The request was already decided (`refund_decided`) or has 5 pictures (`too_many_images`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 413, description = "The image or the body is too large (`payload_too_large`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 415, description = "Not a multipart/form-data body (`unsupported_media_type`), or the file is not a JPEG, PNG or WebP image (`unsupported_image_type`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "The `file` field is missing, or the image is larger than `uploads.max_image_side_px`/`max_image_megapixels` or does not decode as the format it claims (`error.fields.file` says which)", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The image service did not accept the file (`storage_unavailable`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn add_evidence(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ImageRef>), AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let (rid, uid) = (id.clone(), u.id.clone());
    let check = move |c: &dyn Conn| -> Result<(), AppError> {
        let r = store::find(c, &rid)?
            .filter(|r| r.customer_id == uid)
            .ok_or_else(not_found)?;
        if r.status != "pending" {
            return Err(AppError::conflict(
                "refund_decided",
                "evidence can only be added while the request is open",
            ));
        }
        if store::count_evidence(c, &rid)? >= MAX_EVIDENCE {
            return Err(AppError::conflict(
                "too_many_images",
                format!("at most {MAX_EVIDENCE} pictures per request"),
            ));
        }
        Ok(())
    };
    let early = check.clone();
    state.db.read(early).await?;
    let upload = images::receive(multipart, &state.config.uploads).await?;
    let image_id = new_id();
    let stored = images::put(&state, "evidence", &image_id, &upload).await?;
    let row = stored.clone();
    let (kind, size) = (upload.kind, upload.size());
    let saved = state
        .db
        .write(move |c| {
            check(c)?;
            store::insert_evidence(
                c,
                &image_id,
                &id,
                &row.key,
                &row.url,
                kind.content_type(),
                size,
                now_ms(),
            )?;
            Ok::<_, AppError>(ImageRef {
                url: store::evidence_url(&id, &image_id),
                id: image_id,
            })
        })
        .await;
    match saved {
        Ok(image) => Ok((StatusCode::CREATED, Json(image))),
        Err(e) => {
            images::remove(&state, stored.key).await;
            Err(e)
        }
    }
}

/// One evidence picture of a refund request (the `url` of its `evidence` entry).
///
/// Private: only the customer who asked, the merchant of the sub-order and admins may see
/// it, with their bearer token; answered with `Cache-Control: private`. Anyone else gets 404.
#[utoipa::path(
    get,
    path = "/refunds/{id}/evidence/{image_id}",
    tag = "refunds",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Refund id"),
        ("image_id" = String, Path, description = "Evidence picture id"),
    ),
    responses(
        (status = 200, description = "The picture", content(
            (String = "image/jpeg"), (String = "image/png"), (String = "image/webp")
        )),
        (status = 401, description = "No valid bearer token", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such picture, or not the caller's to see", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The image service did not answer (`storage_unavailable`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn evidence_file(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, image_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let gone = || AppError::not_found("evidence picture");
    if !ids::is_valid(&id) || !ids::is_valid(&image_id) {
        return Err(gone());
    }
    let file = state
        .db
        .read(move |c| {
            let Some(refund) = store::find(c, &id)? else {
                return Ok(None);
            };
            let allowed = match user.role {
                Role::Admin => true,
                Role::Customer => refund.customer_id == user.id,
                Role::Merchant => orders::sub_row(c, &refund.sub_order_id)?
                    .is_some_and(|s| s.merchant_id == user.id),
                Role::HubStaff => false,
            };
            if !allowed {
                return Ok(None);
            }
            store::find_evidence(c, &id, &image_id)
        })
        .await?
        .ok_or_else(gone)?;
    let bytes = images::read(&state, file.key, file.url)
        .await?
        .ok_or_else(gone)?;
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// The caller's refund requests, newest first.
///
/// Customers only.
#[utoipa::path(
    get,
    path = "/refunds",
    tag = "refunds",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams),
    responses((status = 200, description = "One page of refund requests", body = Page<RefundView>))
)]
async fn own(
    State(state): State<AppState>,
    CustomerUser(u): CustomerUser,
    page: Pagination,
) -> Result<Json<Page<RefundView>>, AppError> {
    let (items, total) = state
        .db
        .read(move |c| {
            let (ids, total) = store::list(c, Some(&u.id), None, page.limit(), page.offset())?;
            Ok::<_, DbError>((store::load(c, &ids)?, total))
        })
        .await?;
    Ok(Json(page.page(items, total)))
}

/// One refund request: the caller's own, or any for an admin.
///
/// Any signed-in user; another customer's request answers 404.
#[utoipa::path(
    get,
    path = "/refunds/{id}",
    tag = "refunds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Refund id")),
    responses((status = 200, description = "The refund request", body = RefundView))
)]
async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<RefundView>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let refund = state
        .db
        .read(move |c| store::find(c, &id))
        .await?
        .ok_or_else(not_found)?;
    if user.role != Role::Admin && refund.customer_id != user.id {
        return Err(not_found());
    }
    Ok(Json(refund))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only requests in this status: `pending`, `approved` or `denied` (anything else answers
    /// 400 `invalid_query`; empty means any).
    #[param(example = "pending")]
    status: Option<String>,
}

/// Every refund request, newest first, optionally of one status.
///
/// Admins only.
#[utoipa::path(
    get,
    path = "/admin/refunds",
    tag = "refunds",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of refund requests", body = Page<RefundView>),
        (status = 400, description = "Malformed query, or `status` is not pending, approved or denied (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn admin_list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<RefundView>>, AppError> {
    let status = q.status.filter(|s| !s.trim().is_empty());
    if let Some(s) = status.as_deref()
        && !["pending", "approved", "denied"].contains(&s)
    {
        return Err(AppError::bad_request(
            "invalid_query",
            "status must be pending, approved or denied",
        ));
    }
    let (items, total) = state
        .db
        .read(move |c| {
            let (ids, total) =
                store::list(c, None, status.as_deref(), page.limit(), page.offset())?;
            Ok::<_, DbError>((store::load(c, &ids)?, total))
        })
        .await?;
    Ok(Json(page.page(items, total)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RefundApproveBody {
    /// Shown to the customer; up to 1000 characters (blank means none).
    #[schema(max_length = 1000, example = "Approved: photos confirm the damage.")]
    note: Option<String>,
    /// The goods came back: return them to stock.
    #[schema(default = false, example = false)]
    goods_returned: bool,
}

/// A B2C payout to start after the approval commits.
struct Payout {
    request: B2cRequest,
    refund_id: String,
}

/// Approves a pending refund request and pays it back.
///
/// Admins only. When the order was paid by M-Pesa and the gateway can send payouts, the money
/// goes back by M-Pesa B2C (`payout_method` `mpesa_b2c`, `payout_status` `pending` until the
/// result arrives, or `failed` if the gateway refused it); otherwise it is recorded as a manual
/// payout (`manual`, `recorded`). The customer is notified by email.
#[utoipa::path(
    put,
    path = "/admin/refunds/{id}/approve",
    tag = "refunds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Refund id")),
    request_body = RefundApproveBody,
    responses(
        (status = 200, description = "The refund, `approved`", body = RefundView),
        (status = 409, description = "Already decided (`already_decided`), the order is not paid (`not_paid`), or it would refund more than was paid (`exceeds_paid`, with `error.details.max_amount_cents`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn approve(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RefundApproveBody>,
) -> Result<Json<RefundView>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let note = match body.note.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => {
            Some(text::multiline(n, 1, 1000).map_err(|p| AppError::invalid_field("note", p))?)
        }
        None => None,
    };
    let b2c = state.mpesa.clone().filter(|g| g.supports_b2c());
    let can_b2c = b2c.is_some();
    let base = format!(
        "{}/api/v1/payments/mpesa/b2c",
        state.config.callback_base_url()
    );
    let secret = state.callback_secret.clone();
    let (refund, payout) = state
        .db
        .write(move |c| {
            let r = store::find(c, &id)?.ok_or_else(not_found)?;
            if r.status != "pending" {
                return Err(AppError::conflict(
                    "already_decided",
                    format!("this refund was already {}", r.status),
                ));
            }
            let sub = orders::sub_row(c, &r.sub_order_id)?
                .ok_or_else(|| AppError::not_found("sub-order"))?;
            let room = refund_room(c, &sub)?;
            if r.amount_cents > room {
                return Err(AppError::conflict(
                    "exceeds_paid",
                    "approving this would refund more than was paid for the order",
                )
                .with_details(json!({ "max_amount_cents": room })));
            }
            let head =
                orders::order_head(c, &r.order_id)?.ok_or_else(|| AppError::not_found("order"))?;
            let now = now_ms();
            // M-Pesa orders paid through a gateway that can send payouts go back by B2C.
            let phone = orders::load_orders(c, std::slice::from_ref(&r.order_id))?
                .first()
                .and_then(|o| normalize_msisdn(&o.phone).ok());
            let payout = match (can_b2c, head.method, phone) {
                (true, PaymentMethod::Mpesa, Some(phone)) => Some(Payout {
                    request: B2cRequest {
                        originator_conversation_id: new_id(),
                        phone,
                        amount: shillings_for(r.amount_cents),
                        remarks: format!("Refund {}", &r.id[r.id.len().saturating_sub(8)..]),
                        result_url: format!("{base}/result/{secret}"),
                        timeout_url: format!("{base}/timeout/{secret}"),
                    },
                    refund_id: r.id.clone(),
                }),
                _ => None,
            };
            let recorded = match &payout {
                Some(p) => (
                    "mpesa_b2c",
                    "pending",
                    Some(p.request.originator_conversation_id.as_str()),
                ),
                None => ("manual", "recorded", None),
            };
            if !store::decide(
                c,
                &r.id,
                "approved",
                note.as_deref(),
                &admin.id,
                body.goods_returned,
                Some(recorded),
                now,
            )? {
                return Err(AppError::conflict(
                    "already_decided",
                    "this refund was already decided",
                ));
            }
            if body.goods_returned {
                store::restock(c, &r.id, &r.sub_order_id, now)?;
            }
            if let Some(customer) = users::find_user(c, &r.customer_id)? {
                let amount = money::format(r.amount_cents, &head.currency);
                mail::enqueue(
                    c,
                    &templates::refund_approved(
                        &customer.email,
                        &customer.full_name,
                        &r.order_id,
                        &amount,
                        note.as_deref(),
                    ),
                    now,
                )?;
            }
            Ok((store::find(c, &r.id)?.ok_or_else(not_found)?, payout))
        })
        .await?;
    state.mail.wake();
    if let (Some(p), Some(gw)) = (payout, b2c) {
        let request = p.request.clone();
        let sent = tokio::task::spawn_blocking(move || gw.b2c(&request))
            .await
            .map_err(AppError::internal)?;
        if let Err(e) = sent {
            tracing::warn!(refund_id = %p.refund_id, error = %e, "B2C payout refused; pay it back by hand");
            let rid = p.refund_id.clone();
            state
                .db
                .write(move |c| store::mark_payout_failed(c, &rid, now_ms()))
                .await?;
        }
        let rid = p.refund_id;
        return Ok(Json(
            state
                .db
                .read(move |c| store::find(c, &rid))
                .await?
                .ok_or_else(not_found)?,
        ));
    }
    Ok(Json(refund))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RefundDenyBody {
    /// Why: shown to the customer; 1 to 1000 characters (trimmed).
    #[schema(
        required = true,
        min_length = 1,
        max_length = 1000,
        example = "The item was used after delivery."
    )]
    note: String,
}

/// Denies a pending refund request with a note.
///
/// Admins only. The customer is notified by email.
#[utoipa::path(
    put,
    path = "/admin/refunds/{id}/deny",
    tag = "refunds",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Refund id")),
    request_body = RefundDenyBody,
    responses(
        (status = 200, description = "The refund, `denied`", body = RefundView),
        (status = 409, description = "Already decided (`already_decided`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn deny(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RefundDenyBody>,
) -> Result<Json<RefundView>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let note =
        text::multiline(&body.note, 1, 1000).map_err(|p| AppError::invalid_field("note", p))?;
    let refund = state
        .db
        .write(move |c| {
            let r = store::find(c, &id)?.ok_or_else(not_found)?;
            let now = now_ms();
            if !store::decide(c, &r.id, "denied", Some(&note), &admin.id, false, None, now)? {
                return Err(AppError::conflict(
                    "already_decided",
                    format!("this refund was already {}", r.status),
                ));
            }
            if let Some(customer) = users::find_user(c, &r.customer_id)? {
                mail::enqueue(
                    c,
                    &templates::refund_denied(
                        &customer.email,
                        &customer.full_name,
                        &r.order_id,
                        &note,
                    ),
                    now,
                )?;
            }
            store::find(c, &r.id)?.ok_or_else(not_found)
        })
        .await?;
    state.mail.wake();
    Ok(Json(refund))
}

/// The parts of a Daraja B2C result (or timeout) body that are read; other keys are kept in
/// the callback log and ignored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "PascalCase")]
struct B2cCallbackBody {
    result: B2cCallbackResult,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct B2cCallbackResult {
    /// The id MarketHub gave the payout request.
    #[schema(
        rename = "OriginatorConversationID",
        example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a"
    )]
    originator_conversation_id: String,
    /// 0 means paid (a numeric string is accepted too); ignored on the timeout URL.
    #[schema(rename = "ResultCode", value_type = Value, required = false, example = 0)]
    result_code: Option<i64>,
    /// The M-Pesa receipt of the payout.
    #[schema(rename = "TransactionID", example = "QKJ3ABC123")]
    transaction_id: Option<String>,
}

/// A B2C result (or queue timeout) from Daraja: stored, then applied once.
async fn b2c_callback(
    state: &AppState,
    secret: &str,
    body: axum::body::Bytes,
    timeout: bool,
) -> Result<Json<DarajaAck>, AppError> {
    if !crate::payments::secret_matches(secret, &state.callback_secret) {
        return Err(AppError::not_found("route"));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| AppError::bad_request("invalid_callback", "not UTF-8"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| AppError::bad_request("invalid_callback", e.to_string()))?;
    let result = &v["Result"];
    let reference = result["OriginatorConversationID"]
        .as_str()
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_callback",
                "Result.OriginatorConversationID is missing",
            )
        })?
        .to_owned();
    let code = result["ResultCode"]
        .as_i64()
        .or_else(|| result["ResultCode"].as_str().and_then(|s| s.parse().ok()));
    let paid = !timeout && code == Some(0);
    let receipt = result["TransactionID"].as_str().map(str::to_owned);
    state
        .db
        .write(move |c| {
            let now = now_ms();
            let log = payments::log_callback(c, "b2c", Some(&reference), &text, now)?;
            let outcome = match store::settle_payout(c, &reference, paid, receipt.as_deref(), now)?
            {
                Some(_) if paid => "paid",
                Some(_) => "failed",
                None => "ignored",
            };
            payments::mark_callback(c, &log, outcome)?;
            tracing::info!(outcome, "B2C result");
            Ok::<_, DbError>(())
        })
        .await?;
    Ok(Json(DarajaAck::accepted()))
}

/// Daraja's B2C result callback for a refund payout (the `ResultURL` given with the request).
///
/// Called by Safaricom; the secret path segment authenticates it (a wrong one answers 404 and
/// stores nothing). Every well-formed body is stored and applied once: `Result.ResultCode` 0
/// marks the payout `paid` with `Result.TransactionID` as its receipt, anything else `failed`;
/// duplicates and unknown payouts are acknowledged too.
#[utoipa::path(
    post,
    path = "/payments/mpesa/b2c/result/{secret}",
    tag = "refunds",
    params(("secret" = String, Path, description = "The callback secret given to Daraja with the request")),
    request_body(content = B2cCallbackBody, content_type = "application/json", description = "Daraja's B2C result JSON, read whatever its Content-Type"),
    responses(
        (status = 200, description = "Acknowledged", body = DarajaAck),
        (status = 400, description = "Not UTF-8 JSON, or `Result.OriginatorConversationID` is missing (`invalid_callback`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "Wrong secret", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn b2c_result(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<DarajaAck>, AppError> {
    b2c_callback(&state, &secret, body, false).await
}

/// Daraja's B2C queue-timeout callback for a refund payout (the `QueueTimeOutURL`).
///
/// Called by Safaricom; the secret path segment authenticates it (a wrong one answers 404 and
/// stores nothing). The body is stored and the pending payout is marked `failed` (to be paid
/// back by hand); duplicates and unknown payouts are acknowledged too.
#[utoipa::path(
    post,
    path = "/payments/mpesa/b2c/timeout/{secret}",
    tag = "refunds",
    params(("secret" = String, Path, description = "The callback secret given to Daraja with the request")),
    request_body(content = B2cCallbackBody, content_type = "application/json", description = "Daraja's B2C timeout JSON, read whatever its Content-Type"),
    responses(
        (status = 200, description = "Acknowledged", body = DarajaAck),
        (status = 400, description = "Not UTF-8 JSON, or `Result.OriginatorConversationID` is missing (`invalid_callback`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "Wrong secret", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn b2c_timeout(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<DarajaAck>, AppError> {
    b2c_callback(&state, &secret, body, true).await
}
