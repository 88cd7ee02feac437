//! Merchant application handlers: apply and read one's own (`/merchant-applications`), and
//! the admin queue and decisions (`/admin/merchant-applications`). Also the merchant's own
//! profile (`/merchant/profile`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{self, NewApplication};
use super::{
    Application, ApplicationStatus, MerchantProfile, validate_business_description,
    validate_business_name, validate_location, validate_note,
};
use crate::auth::{Role, normalize_phone, store as users};
use crate::clock::now_ms;
use crate::http::{
    AdminUser, AppError, AuthUser, CustomerUser, FieldErrors, JsonBody, MerchantUser, Page,
    Pagination, Query,
};
use crate::ids::{self, new_id};
use crate::mail::{self, templates};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/merchant-applications", post(apply))
        .route("/merchant-applications/me", get(own_applications))
        .route("/admin/merchant-applications", get(list))
        .route("/admin/merchant-applications/{id}", put(decide))
        .route("/merchant/profile", get(own_profile))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApplyBody {
    business_name: String,
    business_description: String,
    phone: String,
    location: String,
}

async fn apply(
    State(state): State<AppState>,
    CustomerUser(user): CustomerUser,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<(StatusCode, Json<Application>), AppError> {
    let mut e = FieldErrors::new();
    let name = e.check("business_name", validate_business_name(&body.business_name));
    let description = e.check(
        "business_description",
        validate_business_description(&body.business_description),
    );
    let phone = if body.phone.trim().is_empty() {
        e.add("phone", "is required");
        None
    } else {
        e.check("phone", normalize_phone(&body.phone))
    };
    let location = e.check("location", validate_location(&body.location));
    e.finish()?;
    let (Some(name), Some(description), Some(phone), Some(location)) =
        (name, description, phone, location)
    else {
        return Err(AppError::internal("validated fields missing"));
    };
    let app = state
        .db
        .write(move |c| {
            if store::has_pending(c, &user.id)? {
                return Err(AppError::conflict(
                    "application_pending",
                    "you already have an application waiting for a decision",
                ));
            }
            let id = new_id();
            store::insert_application(
                c,
                &NewApplication {
                    id: &id,
                    user_id: &user.id,
                    business_name: &name,
                    business_description: &description,
                    phone: &phone,
                    location: &location,
                    now: now_ms(),
                },
            )?;
            store::find_application(c, &id)?.ok_or_else(|| AppError::not_found("application"))
        })
        .await?;
    tracing::info!(application_id = %app.id, "merchant application received");
    Ok((StatusCode::CREATED, Json(app)))
}

async fn own_applications(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    if !matches!(user.role, Role::Customer | Role::Merchant) {
        return Err(AppError::forbidden(
            "forbidden",
            "only customers and merchants apply",
        ));
    }
    let items = state
        .db
        .read(move |c| store::list_for_user(c, &user.id))
        .await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Application>>, AppError> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(ApplicationStatus::parse(s).ok_or_else(|| {
            AppError::bad_request(
                "invalid_query",
                "status must be pending, approved or rejected",
            )
        })?),
        None => None,
    };
    let (items, total) = state
        .db
        .read(move |c| store::list_applications(c, status, page.limit(), page.offset()))
        .await?;
    Ok(Json(page.page(items, total)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DecisionBody {
    decision: String,
    note: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Application>, AppError> {
    if !ids::is_valid(&id) {
        return Err(AppError::not_found("application"));
    }
    let status = match body.decision.trim() {
        "approve" => ApplicationStatus::Approved,
        "reject" => ApplicationStatus::Rejected,
        "" => return Err(AppError::invalid_field("decision", "is required")),
        _ => {
            return Err(AppError::invalid_field(
                "decision",
                "must be approve or reject",
            ));
        }
    };
    let note = match body.note.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => Some(validate_note(n).map_err(|p| AppError::invalid_field("note", p))?),
        None if status == ApplicationStatus::Rejected => {
            return Err(AppError::invalid_field(
                "note",
                "is required when rejecting",
            ));
        }
        None => None,
    };
    let base_url = state.config.public_url();
    let app = state
        .db
        .write(move |c| {
            let app = store::find_application(c, &id)?
                .ok_or_else(|| AppError::not_found("application"))?;
            if app.status != ApplicationStatus::Pending {
                return Err(AppError::conflict(
                    "already_decided",
                    format!("this application was already {}", app.status.as_str()),
                ));
            }
            let applicant =
                users::find_user(c, &app.user_id)?.ok_or_else(|| AppError::not_found("user"))?;
            let now = now_ms();
            if status == ApplicationStatus::Approved {
                if applicant.role != Role::Customer || !applicant.is_active {
                    return Err(AppError::conflict(
                        "applicant_not_eligible",
                        "only an active customer can become a merchant",
                    ));
                }
                users::set_role(c, &applicant.id, Role::Merchant, now)?;
                store::upsert_merchant_from(c, &app, now)?;
            }
            if !store::decide(c, &id, status, note.as_deref(), &admin.id, now)? {
                return Err(AppError::conflict(
                    "already_decided",
                    "this application was already decided",
                ));
            }
            let mail = if status == ApplicationStatus::Approved {
                templates::merchant_approved(
                    &applicant.email,
                    &applicant.full_name,
                    &app.business_name,
                    note.as_deref(),
                    &base_url,
                )
            } else {
                templates::merchant_rejected(
                    &applicant.email,
                    &applicant.full_name,
                    &app.business_name,
                    note.as_deref().unwrap_or(""),
                )
            };
            mail::enqueue(c, &mail, now)?;
            store::find_application(c, &id)?.ok_or_else(|| AppError::not_found("application"))
        })
        .await?;
    state.mail.wake();
    tracing::info!(application_id = %app.id, status = app.status.as_str(), "merchant application decided");
    Ok(Json(app))
}

async fn own_profile(
    State(state): State<AppState>,
    MerchantUser(m): MerchantUser,
) -> Result<Json<MerchantProfile>, AppError> {
    let profile = state
        .db
        .read(move |c| store::find_merchant(c, &m.id))
        .await?;
    profile
        .map(Json)
        .ok_or_else(|| AppError::not_found("merchant profile"))
}
