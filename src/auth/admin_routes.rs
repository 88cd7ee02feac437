//! `/admin/users` handlers: list and search users, change a role, (de)activate an account.

use crate::http::Path;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::store::{self, UserFilter};
use super::{Role, User};
use crate::clock::now_ms;
use crate::http::{AdminUser, AppError, JsonBody, Page, Pagination, Query};
use crate::ids;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_users, set_role, set_active))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list_users))
        .route("/admin/users/{id}/role", put(set_role))
        .route("/admin/users/{id}/active", put(set_active))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only users of this role: `customer`, `merchant`, `hub_staff` or `admin` (empty: any).
    #[param(example = "merchant")]
    role: Option<String>,
    /// Search text (at most 100 characters after trimming).
    #[param(example = "jane")]
    q: Option<String>,
    /// Only active (`true`) or only deactivated (`false`) accounts.
    #[param(example = true)]
    is_active: Option<bool>,
}

/// Lists users, optionally filtered by role, activity and a search text.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of users", body = Page<User>),
        (status = 400, description = "Bad query: unknown `role`, `q` too long, `is_active` not `true`/`false` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<User>>, AppError> {
    let role = match query
        .role
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => Some(Role::parse(r).ok_or_else(|| {
            AppError::bad_request(
                "invalid_query",
                "role must be one of customer, merchant, hub_staff, admin",
            )
        })?),
        None => None,
    };
    let filter = UserFilter {
        role,
        is_active: query.is_active,
        q: query
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
    };
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(AppError::bad_request(
            "invalid_query",
            "q must be at most 100 characters",
        ));
    }
    let (users, total) = state
        .db
        .read(move |c| store::list_users(c, &filter, page.limit(), page.offset()))
        .await?;
    Ok(Json(page.page(users, total)))
}

fn check_id(id: &str) -> Result<(), AppError> {
    if ids::is_valid(id) {
        Ok(())
    } else {
        Err(AppError::not_found("user"))
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RoleBody {
    /// `customer`, `merchant`, `hub_staff` or `admin`.
    #[schema(required = true, example = "hub_staff")]
    role: String,
}

/// Changes a user's role.
///
/// The last active admin cannot lose the admin role.
#[utoipa::path(
    put,
    path = "/admin/users/{id}/role",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The user with the new role", body = User),
        (status = 409, description = "This is the last active admin (`last_admin`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn set_role(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<User>, AppError> {
    check_id(&id)?;
    let role = Role::parse(body.role.trim()).ok_or_else(|| {
        AppError::invalid_field(
            "role",
            "must be one of customer, merchant, hub_staff, admin",
        )
    })?;
    let user = state
        .db
        .write(move |c| {
            let user = store::find_user(c, &id)?.ok_or_else(|| AppError::not_found("user"))?;
            if user.role == Role::Admin
                && role != Role::Admin
                && user.is_active
                && store::count_active_admins(c)? <= 1
            {
                return Err(AppError::conflict(
                    "last_admin",
                    "this is the last active admin; make another admin first",
                ));
            }
            let now = now_ms();
            store::set_role(c, &id, role, now)?;
            store::find_user(c, &id)?.ok_or_else(|| AppError::not_found("user"))
        })
        .await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "role changed");
    Ok(Json(user))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ActiveBody {
    /// `false` deactivates the account and signs out all its sessions; `true` reactivates it.
    #[schema(example = false)]
    is_active: bool,
}

/// Activates or deactivates an account.
///
/// Deactivation signs out every session of the user at once. Admins cannot deactivate
/// themselves, nor the last active admin.
#[utoipa::path(
    put,
    path = "/admin/users/{id}/active",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = ActiveBody,
    responses(
        (status = 200, description = "The user after the change", body = User),
        (status = 409, description = "The caller's own account (`cannot_deactivate_self`) or the last active admin (`last_admin`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn set_active(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ActiveBody>,
) -> Result<Json<User>, AppError> {
    check_id(&id)?;
    if id == admin.id && !body.is_active {
        return Err(AppError::conflict(
            "cannot_deactivate_self",
            "you cannot deactivate your own account",
        ));
    }
    let active = body.is_active;
    let user = state
        .db
        .write(move |c| {
            let user = store::find_user(c, &id)?.ok_or_else(|| AppError::not_found("user"))?;
            if !active
                && user.role == Role::Admin
                && user.is_active
                && store::count_active_admins(c)? <= 1
            {
                return Err(AppError::conflict(
                    "last_admin",
                    "this is the last active admin",
                ));
            }
            let now = now_ms();
            store::set_active(c, &id, active, now)?;
            if !active {
                store::revoke_user_sessions(c, &id, "deactivated", None, now)?;
            }
            store::find_user(c, &id)?.ok_or_else(|| AppError::not_found("user"))
        })
        .await?;
    tracing::info!(user_id = %user.id, is_active = user.is_active, "account activation changed");
    Ok(Json(user))
}
