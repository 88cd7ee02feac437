//! `/profile` handlers: the caller's own account details, edits, and password change.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{User, normalize_name, normalize_phone, service, store};
use crate::clock::now_ms;
use crate::db::DbError;
use crate::http::{AppError, AuthUser, ClientIp, FieldErrors, JsonBody, nullable};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
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

async fn get_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Profile>, AppError> {
    Ok(Json(load_profile(&state, user.id).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileBody {
    full_name: Option<String>,
    /// `null` or `""` removes the phone number.
    #[serde(deserialize_with = "nullable")]
    phone: Option<Option<String>>,
}

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    user: AuthUser,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Json<Value>, AppError> {
    let revoked = service::change_password(
        &state,
        &user,
        body.current_password,
        body.new_password,
        ip.0,
    )
    .await?;
    Ok(Json(json!({
        "message": "password changed; other sessions were signed out",
        "sessions_revoked": revoked
    })))
}
