//! Hub handlers: the public list of active hubs (customers pick one at checkout) and the
//! admin's `/admin/hubs`.

use crate::http::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::store;
use super::{Hub, StaffMember, validate_hub_location, validate_hub_name};
use crate::auth::{Role, normalize_phone, store as users};
use crate::clock::now_ms;
use crate::http::{AdminUser, AppError, FieldErrors, JsonBody, Query};
use crate::ids::{self, new_id};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    public_list,
    admin_list,
    create,
    update,
    admin_get,
    list_staff,
    assign_staff
))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hubs", get(public_list))
        .route("/admin/hubs", get(admin_list).post(create))
        .route("/admin/hubs/{id}", put(update).get(admin_get))
        .route("/admin/hub-staff", get(list_staff).post(assign_staff))
}

/// `{"items": [...]}`: every hub of a list, unpaginated.
#[derive(Serialize, utoipa::ToSchema)]
struct HubList {
    items: Vec<Hub>,
}

/// `{"items": [...]}`: hub staff members, unpaginated.
#[derive(Serialize, utoipa::ToSchema)]
struct HubStaffList {
    items: Vec<StaffMember>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StaffQuery {
    /// Only the staff of this hub (an empty value lists every hub's staff).
    #[param(example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    hub_id: Option<String>,
}

/// Lists hub staff members (users with the `hub_staff` role), optionally of one hub.
///
/// Admins only. Sorted by name; not paginated.
#[utoipa::path(
    get,
    path = "/admin/hub-staff",
    tag = "delivery",
    security(("bearer" = [])),
    params(StaffQuery),
    responses((status = 200, description = "The staff members", body = HubStaffList))
)]
async fn list_staff(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<StaffQuery>,
) -> Result<Json<HubStaffList>, AppError> {
    let hub = q.hub_id.filter(|h| !h.trim().is_empty());
    let items = state
        .db
        .read(move |c| store::list_staff(c, hub.as_deref()))
        .await?;
    Ok(Json(HubStaffList { items }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct HubStaffBody {
    /// The user to assign: an active customer, or a hub staff member to move to another hub.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    user_id: String,
    /// An active hub.
    #[schema(required = true, format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    hub_id: String,
}

/// Makes a customer (or an existing staff member, to move them) staff of a hub.
///
/// Admins only. The user's role becomes `hub_staff`; a staff member already assigned to a hub
/// moves to the new one.
#[utoipa::path(
    post,
    path = "/admin/hub-staff",
    tag = "delivery",
    security(("bearer" = [])),
    request_body = HubStaffBody,
    responses(
        (status = 201, description = "The staff member as assigned", body = StaffMember),
        (status = 409, description = "The user is inactive or neither a customer nor hub staff (`user_not_eligible`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "An id is malformed, the user does not exist, or the hub does not exist or is inactive; `error.fields` names the field", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn assign_staff(
    State(state): State<AppState>,
    _admin: AdminUser,
    JsonBody(body): JsonBody<HubStaffBody>,
) -> Result<(StatusCode, Json<StaffMember>), AppError> {
    let mut e = FieldErrors::new();
    let (user_id, hub_id) = (
        body.user_id.trim().to_owned(),
        body.hub_id.trim().to_owned(),
    );
    if !ids::is_valid(&user_id) {
        e.add("user_id", "must be a user id");
    }
    if !ids::is_valid(&hub_id) {
        e.add("hub_id", "must be a hub id");
    }
    e.finish()?;
    let member = state
        .db
        .write(move |c| {
            let user = users::find_user(c, &user_id)?
                .ok_or_else(|| AppError::invalid_field("user_id", "does not exist"))?;
            match store::find_hub(c, &hub_id)? {
                Some(h) if h.is_active => {}
                _ => {
                    return Err(AppError::invalid_field(
                        "hub_id",
                        "does not exist or is not active",
                    ));
                }
            }
            if !user.is_active || !matches!(user.role, Role::Customer | Role::HubStaff) {
                return Err(AppError::conflict(
                    "user_not_eligible",
                    "only an active customer or hub staff member can be assigned to a hub",
                ));
            }
            let now = now_ms();
            users::set_role(c, &user_id, Role::HubStaff, now)?;
            store::assign_staff(c, &user_id, &hub_id, now)?;
            store::list_staff(c, Some(&hub_id))?
                .into_iter()
                .find(|m| m.user_id == user_id)
                .ok_or_else(|| AppError::not_found("staff member"))
        })
        .await?;
    tracing::info!(user_id = %member.user_id, hub_id = %member.hub_id, "hub staff assigned");
    Ok((StatusCode::CREATED, Json(member)))
}

fn not_found() -> AppError {
    AppError::not_found("hub")
}

/// The active hubs, which customers choose from at checkout.
///
/// Public; not paginated.
#[utoipa::path(
    get,
    path = "/hubs",
    tag = "delivery",
    responses((status = 200, description = "The active hubs", body = HubList))
)]
async fn public_list(State(state): State<AppState>) -> Result<Json<HubList>, AppError> {
    let items = state.db.read(|c| store::list_hubs(c, false)).await?;
    Ok(Json(HubList { items }))
}

/// Every hub, active or not.
///
/// Admins only; not paginated.
#[utoipa::path(
    get,
    path = "/admin/hubs",
    tag = "delivery",
    security(("bearer" = [])),
    responses((status = 200, description = "All hubs", body = HubList))
)]
async fn admin_list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<HubList>, AppError> {
    let items = state.db.read(|c| store::list_hubs(c, true)).await?;
    Ok(Json(HubList { items }))
}

/// One hub, active or not.
///
/// Admins only.
#[utoipa::path(
    get,
    path = "/admin/hubs/{id}",
    tag = "delivery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Hub id")),
    responses((status = 200, description = "The hub", body = Hub))
)]
async fn admin_get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Hub>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    state
        .db
        .read(move |c| store::find_hub(c, &id))
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// A hub's fields. On creation `name`, `location` and `phone` are required; on update every
/// field is optional and only the given ones change.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct HubBody {
    /// Unique among hubs; 2 to 120 characters (trimmed).
    #[schema(min_length = 2, max_length = 120, example = "Westlands Hub")]
    name: Option<String>,
    /// 1 to 200 characters (trimmed).
    #[schema(min_length = 1, max_length = 200, example = "Westlands, Nairobi")]
    location: Option<String>,
    /// 7 to 15 digits, optionally starting with `+`; spaces, dashes, dots and parentheses are
    /// ignored.
    #[schema(example = "+254712345678")]
    phone: Option<String>,
    /// Updates only: deactivate or reactivate the hub. Ignored on creation (new hubs are active).
    #[schema(example = true)]
    is_active: Option<bool>,
}

/// Validates the given fields; `require_all` for creation.
fn validate(body: HubBody, require_all: bool) -> Result<HubBody, AppError> {
    let mut e = FieldErrors::new();
    for (field, present) in [
        ("name", body.name.is_some()),
        ("location", body.location.is_some()),
        ("phone", body.phone.is_some()),
    ] {
        if require_all && !present {
            e.add(field, "is required");
        }
    }
    let out = HubBody {
        name: body
            .name
            .and_then(|n| e.check("name", validate_hub_name(&n))),
        location: body
            .location
            .and_then(|l| e.check("location", validate_hub_location(&l))),
        phone: body
            .phone
            .and_then(|p| e.check("phone", normalize_phone(&p))),
        is_active: body.is_active,
    };
    e.finish()?;
    Ok(out)
}

fn name_conflict() -> AppError {
    AppError::conflict("hub_exists", "a hub with this name already exists")
}

/// Creates a hub.
///
/// Admins only. `name`, `location` and `phone` are required; the new hub is active.
#[utoipa::path(
    post,
    path = "/admin/hubs",
    tag = "delivery",
    security(("bearer" = [])),
    request_body = HubBody,
    responses(
        (status = 201, description = "The new hub", body = Hub),
        (status = 409, description = "A hub with this name already exists (`hub_exists`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    JsonBody(body): JsonBody<HubBody>,
) -> Result<(StatusCode, Json<Hub>), AppError> {
    let b = validate(body, true)?;
    let hub = state
        .db
        .write(move |c| {
            let (name, location, phone) = (
                b.name.unwrap_or_default(),
                b.location.unwrap_or_default(),
                b.phone.unwrap_or_default(),
            );
            if store::name_taken(c, &name, None)? {
                return Err(name_conflict());
            }
            let id = new_id();
            store::insert_hub(c, &id, &name, &location, &phone, now_ms())?;
            store::find_hub(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(hub)))
}

/// Changes a hub: only the fields given change.
///
/// Admins only.
#[utoipa::path(
    put,
    path = "/admin/hubs/{id}",
    tag = "delivery",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Hub id")),
    request_body = HubBody,
    responses(
        (status = 200, description = "The hub after the change", body = Hub),
        (status = 409, description = "Another hub has this name (`hub_exists`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn update(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<HubBody>,
) -> Result<Json<Hub>, AppError> {
    if !ids::is_valid(&id) {
        return Err(not_found());
    }
    let b = validate(body, false)?;
    let hub = state
        .db
        .write(move |c| {
            let mut hub = store::find_hub(c, &id)?.ok_or_else(not_found)?;
            if let Some(name) = b.name {
                if store::name_taken(c, &name, Some(&id))? {
                    return Err(name_conflict());
                }
                hub.name = name;
            }
            hub.location = b.location.unwrap_or(hub.location);
            hub.phone = b.phone.unwrap_or(hub.phone);
            hub.is_active = b.is_active.unwrap_or(hub.is_active);
            store::update_hub(c, &hub, now_ms())?;
            store::find_hub(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Json(hub))
}
