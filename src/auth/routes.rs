//! `/auth/*` handlers: parse, call the flow in `service.rs`, answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::service::{self, AuthResponse, ClientInfo, RegisterInput};
use super::{User, store};
use crate::http::{AppError, AuthUser, ClientIp, FieldErrors, JsonBody, JsonOrEmpty};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/me", get(me))
        .route("/auth/logout", post(logout))
        .route("/auth/forgot-password", post(forgot_password))
        .route("/auth/reset-password", post(reset_password))
        .route("/auth/verify-email", post(verify_email))
        .route("/auth/resend-verification", post(resend_verification))
}

fn client(ip: ClientIp, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: ip.0,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Turns empty strings of required fields into one 422 listing them all.
fn require(fields: &[(&str, &str)]) -> Result<(), AppError> {
    let mut errors = FieldErrors::new();
    for (name, value) in fields {
        if value.trim().is_empty() {
            errors.add(name, "is required");
        }
    }
    errors.finish()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegisterBody {
    email: String,
    password: String,
    full_name: String,
    phone: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<AuthResponse>), AppError> {
    let input = RegisterInput {
        email: body.email,
        password: body.password,
        full_name: body.full_name,
        phone: body.phone,
    };
    let out = service::register(&state, input, client(ip, &headers)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<AuthResponse>, AppError> {
    require(&[("email", &body.email), ("password", &body.password)])?;
    let out = service::login(&state, &body.email, body.password, client(ip, &headers)).await?;
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<AuthResponse>, AppError> {
    require(&[("refresh_token", &body.refresh_token)])?;
    Ok(Json(service::refresh(&state, &body.refresh_token).await?))
}

async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<User>, AppError> {
    let uid = user.id;
    let found = state.db.read(move |c| store::find_user(c, &uid)).await?;
    found.map(Json).ok_or_else(|| AppError::not_found("user"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogoutBody {
    /// Sign out every session of the user, not just this one.
    all: bool,
}

async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    JsonOrEmpty(body): JsonOrEmpty<LogoutBody>,
) -> Result<Json<Value>, AppError> {
    let n = service::logout(&state, &user, body.all).await?;
    Ok(Json(
        json!({ "message": "signed out", "sessions_revoked": n }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotBody {
    email: String,
}

async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonBody(body): JsonBody<ForgotBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require(&[("email", &body.email)])?;
    service::forgot_password(&state, &body.email, ip.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "if an account exists for this address, a reset link has been sent"
        })),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetBody {
    token: String,
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Json<Value>, AppError> {
    require(&[("token", &body.token), ("password", &body.password)])?;
    service::reset_password(&state, &body.token, body.password).await?;
    Ok(Json(
        json!({ "message": "password changed; sign in with the new password" }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenBody {
    token: String,
}

async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Json<Value>, AppError> {
    require(&[("token", &body.token)])?;
    let user = service::verify_email(&state, &body.token).await?;
    Ok(Json(json!({ "message": "email verified", "user": user })))
}

async fn resend_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    user: AuthUser,
) -> Result<(StatusCode, Json<Value>), AppError> {
    service::resend_verification(&state, &user, ip.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "message": "a new verification link has been sent" })),
    ))
}
