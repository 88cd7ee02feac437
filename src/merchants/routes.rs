//! Merchant application handlers: apply and read one's own (`/merchant-applications`), and
//! the admin queue and decisions (`/admin/merchant-applications`). Also the merchant's own
//! profile (`/merchant/profile`).

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

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
#[openapi(paths(apply, own_applications, list, decide, own_profile))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/merchant-applications", post(apply))
        .route("/merchant-applications/me", get(own_applications))
        .route("/admin/merchant-applications", get(list))
        .route("/admin/merchant-applications/{id}", put(decide))
        .route("/merchant/profile", get(own_profile))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ApplyBody {
    /// 2–120 characters after trimming, no control characters.
    #[schema(required = true, example = "Duka La Mama")]
    business_name: String,
    /// 10–2000 characters after trimming; line breaks and tabs allowed.
    #[schema(
        required = true,
        example = "Fresh produce from Limuru farms, delivered twice a week."
    )]
    business_description: String,
    /// 7–15 digits, optionally starting with `+` (spaces, dashes, dots and brackets are
    /// ignored).
    #[schema(required = true, example = "+254 712 345 678")]
    phone: String,
    /// 2–200 characters after trimming, no control characters.
    #[schema(required = true, example = "Limuru, Kiambu")]
    location: String,
}

/// Applies to become a merchant (customers only).
///
/// An admin approves or rejects the application; the applicant is mailed the decision.
#[utoipa::path(
    post,
    path = "/merchant-applications",
    tag = "merchant applications",
    security(("bearer" = [])),
    request_body = ApplyBody,
    responses(
        (status = 201, description = "The application, `pending`", body = Application),
        (status = 409, description = "An application of the caller is already waiting for a decision (`application_pending`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// The caller's applications.
#[derive(Serialize, utoipa::ToSchema)]
struct ApplicationList {
    /// Newest first.
    items: Vec<Application>,
}

/// The caller's own applications, newest first (customers and merchants).
#[utoipa::path(
    get,
    path = "/merchant-applications/me",
    tag = "merchant applications",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's applications (not paginated)", body = ApplicationList))
)]
async fn own_applications(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ApplicationList>, AppError> {
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
    Ok(Json(ApplicationList { items }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only applications in this state: `pending`, `approved` or `rejected` (empty: any).
    #[param(example = "pending")]
    status: Option<String>,
}

/// The applications queue, oldest first (admins).
#[utoipa::path(
    get,
    path = "/admin/merchant-applications",
    tag = "merchant applications",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of applications", body = Page<Application>),
        (status = 400, description = "Unknown `status` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(required = true, example = "approve")]
    decision: String,
    /// A note to the applicant, 1–1000 characters after trimming; required when rejecting.
    #[schema(example = "Welcome aboard!")]
    note: Option<String>,
}

/// Approves or rejects a pending application (admins).
///
/// Approval makes the applicant (who must be an active customer) a merchant with a merchant
/// profile. The applicant is mailed the decision and the note.
#[utoipa::path(
    put,
    path = "/admin/merchant-applications/{id}",
    tag = "merchant applications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Application id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The application with its decision", body = Application),
        (status = 409, description = "Already decided (`already_decided`), or the applicant is no longer an active customer (`applicant_not_eligible`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

/// The caller's merchant profile (merchants).
#[utoipa::path(
    get,
    path = "/merchant/profile",
    tag = "merchant applications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The merchant profile", body = MerchantProfile),
        (status = 404, description = "The caller has the merchant role but no merchant profile (`not_found`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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
