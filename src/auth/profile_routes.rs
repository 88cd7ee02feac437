//! `/profile` handlers: the caller's own account details, edits, and password change.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::routes::SessionsEnded;
use super::{User, normalize_name, normalize_phone, service, store};
use crate::clock::now_ms;
use crate::db::DbError;
use crate::http::{AppError, AuthUser, ClientIp, FieldErrors, JsonBody, nullable};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_profile, update_profile, change_password))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(get_profile).put(update_profile))
        .route("/profile/password", put(change_password))
}

/// The user with the details only its owner sees.
#[derive(Serialize, utoipa::ToSchema)]
struct Profile {
    #[serde(flatten)]
    user: User,
    /// Sessions of this user that are signed in and not expired (this one included).
    #[schema(example = 2)]
    active_sessions: i64,
}

async fn load_profile(state: &AppState, user_id: String) -> Result<Profile, AppError> {
    state
        .db
        .read(move |c| {
            let Some(user) = store::find_user(c, &user_id)? else {
                return Ok(None);
            };
            let active_sessions = store::count_live_sessions(c, &user_id, now_ms())?;
            Ok::<_, DbError>(Some(Profile {
                user,
                active_sessions,
            }))
        })
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

/// The caller's profile: the account and how many sessions are signed in.
#[utoipa::path(
    get,
    path = "/profile",
    tag = "profile",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile", body = Profile))
)]
async fn get_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Profile>, AppError> {
    Ok(Json(load_profile(&state, user.id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ProfileBody {
    /// 1–100 characters after trimming, no control characters. Absent or `null`: unchanged.
    #[schema(example = "Jane Wanjiru")]
    full_name: Option<String>,
    /// 7–15 digits, optionally starting with `+` (spaces, dashes, dots and brackets are
    /// ignored). Absent: unchanged; `null` or `""` removes the phone number.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "+254712345678")]
    phone: Option<Option<String>>,
}

/// Edits the caller's name and phone number; fields left out stay as they are.
#[utoipa::path(
    put,
    path = "/profile",
    tag = "profile",
    security(("bearer" = [])),
    request_body = ProfileBody,
    responses((status = 200, description = "The profile after the change", body = Profile))
)]
async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<ProfileBody>,
) -> Result<Json<Profile>, AppError> {
    let mut errors = FieldErrors::new();
    let name = match body.full_name.as_deref() {
        Some(n) => errors.check("full_name", normalize_name(n)),
        None => None,
    };
    let phone: Option<Option<String>> = match body.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) if p.trim().is_empty() => Some(None),
        Some(Some(p)) => errors.check("phone", normalize_phone(&p)).map(Some),
    };
    errors.finish()?;
    if name.is_some() || phone.is_some() {
        let uid = user.id.clone();
        state
            .db
            .write(move |c| {
                store::update_profile(
                    c,
                    &uid,
                    name.as_deref(),
                    phone.as_ref().map(|p| p.as_deref()),
                    now_ms(),
                )
            })
            .await?;
    }
    Ok(Json(load_profile(&state, user.id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct PasswordBody {
    /// The password in use now.
    #[schema(required = true, example = "mango-tree-42-river")]
    current_password: String,
    /// 10–128 characters, different from the current one, not a common or predictable
    /// password, not the email address.
    #[schema(
        required = true,
        min_length = 10,
        max_length = 128,
        example = "baobab-sunset-77-lake"
    )]
    new_password: String,
}

/// Changes the caller's password after checking the current one.
///
/// Every other session is signed out; this one stays. Rate limited like sign-in.
#[utoipa::path(
    put,
    path = "/profile/password",
    tag = "profile",
    security(("bearer" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "Password changed", body = SessionsEnded),
        (status = 422, description = "`current_password` is missing or incorrect, or `new_password` breaks the password rules (`validation_failed`, see `error.fields`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    user: AuthUser,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Json<SessionsEnded>, AppError> {
    let revoked = service::change_password(
        &state,
        &user,
        body.current_password,
        body.new_password,
        ip.0,
    )
    .await?;
    Ok(Json(SessionsEnded {
        message: "password changed; other sessions were signed out",
        sessions_revoked: revoked,
    }))
}
