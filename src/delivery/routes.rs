//! Hub handlers: the public list of active hubs (customers pick one at checkout) and the
//! admin's `/admin/hubs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store;
use super::{Hub, StaffMember, validate_hub_location, validate_hub_name};
use crate::auth::{Role, normalize_phone, store as users};
use crate::clock::now_ms;
use crate::http::{AdminUser, AppError, FieldErrors, JsonBody, Query};
use crate::ids::{self, new_id};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hubs", get(public_list))
        .route("/admin/hubs", get(admin_list).post(create))
        .route("/admin/hubs/{id}", put(update).get(admin_get))
        .route("/admin/hub-staff", get(list_staff).post(assign_staff))
}

#[derive(Deserialize)]
struct StaffQuery {
    hub_id: Option<String>,
}

async fn list_staff(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<StaffQuery>,
) -> Result<Json<Value>, AppError> {
    let hub = q.hub_id.filter(|h| !h.trim().is_empty());
    let items = state
        .db
        .read(move |c| store::list_staff(c, hub.as_deref()))
        .await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StaffBody {
    user_id: String,
    hub_id: String,
}

/// Makes a customer (or an existing staff member, to move them) staff of a hub.
async fn assign_staff(
    State(state): State<AppState>,
    _admin: AdminUser,
    JsonBody(body): JsonBody<StaffBody>,
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

async fn public_list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let items = state.db.read(|c| store::list_hubs(c, false)).await?;
    Ok(Json(json!({ "items": items })))
}

async fn admin_list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Value>, AppError> {
    let items = state.db.read(|c| store::list_hubs(c, true)).await?;
    Ok(Json(json!({ "items": items })))
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct HubBody {
    name: Option<String>,
    location: Option<String>,
    phone: Option<String>,
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
