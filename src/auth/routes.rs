//! `/auth/*` handlers: parse, call the flow in `service.rs`, answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::service::{self, AuthResponse, ClientInfo, RegisterInput};
use super::{User, store};
use crate::http::openapi::Message;
use crate::http::{AppError, AuthUser, ClientIp, FieldErrors, JsonBody, JsonOrEmpty};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        register,
        login,
        refresh,
        me,
        logout,
        forgot_password,
        reset_password,
        verify_email,
        resend_verification
    ),
    modifiers(&OptionalBodies)
)]
pub struct Doc;

/// Marks the bodies read with [`JsonOrEmpty`] as optional (utoipa marks every non-`Option`
/// body required, and an `Option` body would wrongly allow a JSON `null`).
struct OptionalBodies;

impl utoipa::Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(body) = openapi
            .paths
            .paths
            .get_mut("/auth/logout")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut())
            && let utoipa::openapi::RefOr::T(body) = body
        {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RegisterBody {
    /// At most 254 characters; trimmed and lower-cased, must be unused.
    #[schema(required = true, example = "jane.doe@example.com")]
    email: String,
    /// 10–128 characters, not a common or predictable password, not the email address.
    #[schema(
        required = true,
        min_length = 10,
        max_length = 128,
        example = "mango-tree-42-river"
    )]
    password: String,
    /// 1–100 characters after trimming, no control characters.
    #[schema(required = true, example = "Jane Doe")]
    full_name: String,
    /// Optional: 7–15 digits, optionally starting with `+` (spaces, dashes, dots and
    /// brackets are ignored); `null` or `""` for none.
    #[schema(example = "+254 712 345 678")]
    phone: Option<String>,
}

/// Creates a customer account and signs it in.
///
/// A verification link is mailed to the address. Registration is rate limited per IP and
/// per email.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The new account (role `customer`) and its tokens", body = AuthResponse),
        (status = 409, description = "An account with this email already exists (`email_taken`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct LoginBody {
    /// Compared case-insensitively.
    #[schema(required = true, example = "jane.doe@example.com")]
    email: String,
    #[schema(required = true, example = "mango-tree-42-river")]
    password: String,
}

/// Signs in with email and password.
///
/// Opens a session: answers an access token and a single-use refresh token. Rate limited
/// per IP and per email.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Email or password is incorrect (`invalid_credentials`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "The account has been deactivated (`account_disabled`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RefreshBody {
    /// The refresh token from the last sign-in or refresh.
    #[schema(
        required = true,
        example = "3kFq9ZrT7w_Lx2Vb8NcYp4HdGm6Js0UeAiOo1KtRz-E"
    )]
    refresh_token: String,
}

/// Exchanges a refresh token for a new access token and refresh token.
///
/// A refresh token works once: presenting a used one again revokes the whole session.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair for the same session", body = AuthResponse),
        (status = 401, description = "The refresh token is unknown (`invalid_token`), expired (`token_expired`), already used (`token_reused`; the session is now revoked), its session was signed out (`session_revoked`), or the account is deactivated (`account_disabled`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<AuthResponse>, AppError> {
    require(&[("refresh_token", &body.refresh_token)])?;
    Ok(Json(service::refresh(&state, &body.refresh_token).await?))
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = User))
)]
async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<User>, AppError> {
    let uid = user.id;
    let found = state.db.read(move |c| store::find_user(c, &uid)).await?;
    found.map(Json).ok_or_else(|| AppError::not_found("user"))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct LogoutBody {
    /// Sign out every session of the user, not just this one.
    #[schema(default = false, example = false)]
    all: bool,
}

/// What an action that ends sessions answers (sign-out, password change).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SessionsEnded {
    #[schema(example = "signed out")]
    pub message: &'static str,
    /// How many sessions this call signed out (sign-out: this one, or with `all` every live
    /// one; password change: every other one, this one stays).
    #[schema(example = 1)]
    pub sessions_revoked: u64,
}

/// Signs out this session, or with `{"all": true}` every session of the user.
///
/// Access and refresh tokens of the signed-out sessions stop working at once.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    request_body(content = LogoutBody, description = "Optional: an empty body signs out this session only"),
    responses((status = 200, description = "Signed out", body = SessionsEnded))
)]
async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    JsonOrEmpty(body): JsonOrEmpty<LogoutBody>,
) -> Result<Json<SessionsEnded>, AppError> {
    let n = service::logout(&state, &user, body.all).await?;
    Ok(Json(SessionsEnded {
        message: "signed out",
        sessions_revoked: n,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ForgotBody {
    /// The account's email address (must be a valid address).
    #[schema(required = true, example = "jane.doe@example.com")]
    email: String,
}

/// Mails a password reset link if an active account has this address.
///
/// Answers the same whether or not the account exists. Rate limited per IP and per email.
#[utoipa::path(
    post,
    path = "/auth/forgot-password",
    tag = "auth",
    request_body = ForgotBody,
    responses((
        status = 202,
        description = "Accepted; a link is mailed if the account exists",
        body = Message,
        example = json!({"message": "if an account exists for this address, a reset link has been sent"})
    ))
)]
async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonBody(body): JsonBody<ForgotBody>,
) -> Result<(StatusCode, Json<Message>), AppError> {
    require(&[("email", &body.email)])?;
    service::forgot_password(&state, &body.email, ip.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Message {
            message: "if an account exists for this address, a reset link has been sent".to_owned(),
        }),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct ResetBody {
    /// The token from the mailed reset link.
    #[schema(
        required = true,
        example = "3kFq9ZrT7w_Lx2Vb8NcYp4HdGm6Js0UeAiOo1KtRz-E"
    )]
    token: String,
    /// The new password: 10–128 characters, not a common or predictable password, not the
    /// email address.
    #[schema(
        required = true,
        min_length = 10,
        max_length = 128,
        example = "mango-tree-42-river"
    )]
    password: String,
}

/// Sets a new password with a mailed reset token.
///
/// Also marks the email verified and signs out every session of the user.
#[utoipa::path(
    post,
    path = "/auth/reset-password",
    tag = "auth",
    request_body = ResetBody,
    responses(
        (
            status = 200,
            description = "Password changed",
            body = Message,
            example = json!({"message": "password changed; sign in with the new password"})
        ),
        (status = 400, description = "The token is invalid, expired or already used (`invalid_token`), or the request is malformed", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Json<Message>, AppError> {
    require(&[("token", &body.token), ("password", &body.password)])?;
    service::reset_password(&state, &body.token, body.password).await?;
    Ok(Json(Message {
        message: "password changed; sign in with the new password".to_owned(),
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct TokenBody {
    /// The token from the mailed verification link.
    #[schema(
        required = true,
        example = "3kFq9ZrT7w_Lx2Vb8NcYp4HdGm6Js0UeAiOo1KtRz-E"
    )]
    token: String,
}

/// What a successful email verification answers.
#[derive(Serialize, utoipa::ToSchema)]
struct VerifiedResponse {
    #[schema(example = "email verified")]
    message: &'static str,
    /// The account, now with `email_verified: true`.
    user: User,
}

/// Verifies an email address with the mailed token.
#[utoipa::path(
    post,
    path = "/auth/verify-email",
    tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The email is verified", body = VerifiedResponse),
        (status = 400, description = "The token is invalid, expired or already used (`invalid_token`), or the request is malformed", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Json<VerifiedResponse>, AppError> {
    require(&[("token", &body.token)])?;
    let user = service::verify_email(&state, &body.token).await?;
    Ok(Json(VerifiedResponse {
        message: "email verified",
        user,
    }))
}

/// Mails a new verification link to the signed-in user (older links stop working).
///
/// Rate limited per IP and per user.
#[utoipa::path(
    post,
    path = "/auth/resend-verification",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (
            status = 202,
            description = "A new link is on its way",
            body = Message,
            example = json!({"message": "a new verification link has been sent"})
        ),
        (status = 409, description = "The email is already verified (`already_verified`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn resend_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    user: AuthUser,
) -> Result<(StatusCode, Json<Message>), AppError> {
    service::resend_verification(&state, &user, ip.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Message {
            message: "a new verification link has been sent".to_owned(),
        }),
    ))
}
