//! The authentication flows: register, sign in, refresh (rotation with reuse detection),
//! sign out, password reset, email verification, password change, and admin creation for
//! the CLI. Each flow validates, hashes off the executor, then makes all its changes
//! (including the mail it sends) in one write transaction.

use std::net::IpAddr;

use serde::Serialize;

use super::password::{self, check_policy};
use super::store::{self, NewSession, NewUser, Purpose};
use super::tokens::{hash_token, random_token};
use super::{Role, User, normalize_email, normalize_name, normalize_phone};
use crate::clock::now_ms;
use crate::db::{Conn, Db, DbError};
use crate::http::{AppError, AuthUser, FieldErrors};
use crate::ids::new_id;
use crate::mail::{self, templates};
use crate::state::AppState;

const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;
const MAX_USER_AGENT: usize = 256;

/// What sign-in, registration and refresh answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    pub user: User,
    /// The access JWT: send it as `Authorization: Bearer <access_token>`.
    #[schema(
        example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzYTZjMiJ9.c2lnbmF0dXJl"
    )]
    pub access_token: String,
    /// Opaque, single-use: exchange it at `/auth/refresh` for a new pair.
    #[schema(example = "3kFq9ZrT7w_Lx2Vb8NcYp4HdGm6Js0UeAiOo1KtRz-E")]
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// Where a request came from, recorded on the session it opens.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

pub struct RegisterInput {
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub phone: Option<String>,
}

fn invalid_token() -> AppError {
    AppError::bad_request(
        "invalid_token",
        "the token is invalid, expired or already used",
    )
}

/// Opens a session with its first refresh token inside the caller's transaction.
fn open_session(
    c: &dyn Conn,
    user_id: &str,
    client: &ClientInfo,
    refresh_ttl_days: u64,
    now: i64,
) -> Result<(String, String), DbError> {
    let session_id = new_id();
    let ua: Option<String> = client
        .user_agent
        .as_deref()
        .map(|s| s.chars().take(MAX_USER_AGENT).collect());
    store::insert_session(
        c,
        &NewSession {
            id: &session_id,
            user_id,
            ip: Some(&client.ip.to_string()),
            user_agent: ua.as_deref(),
            now,
        },
    )?;
    let refresh = random_token(32);
    store::insert_refresh_token(
        c,
        &hash_token(&refresh),
        &session_id,
        now,
        now + ttl_ms(refresh_ttl_days),
    )?;
    Ok((session_id, refresh))
}

fn ttl_ms(days: u64) -> i64 {
    i64::try_from(days)
        .unwrap_or(3650)
        .saturating_mul(MS_PER_DAY)
}

fn respond(
    state: &AppState,
    user: User,
    session_id: &str,
    refresh: String,
) -> Result<AuthResponse, AppError> {
    let access = state
        .tokens
        .issue_access(&user.id, session_id, now_ms() / 1000)
        .map_err(AppError::internal)?;
    Ok(AuthResponse {
        user,
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl_secs(),
    })
}

/// Queues a verification mail with a fresh token (older ones stop working).
fn queue_verification(
    state: &AppState,
    c: &dyn Conn,
    user: &User,
    now: i64,
) -> Result<(), DbError> {
    let (nonce, token) = mail::link_token(&state.signer);
    let hours = state.config.auth.verify_token_ttl_hours;
    let ttl = i64::try_from(hours).unwrap_or(48) * 3_600_000;
    store::replace_one_time_token(
        c,
        &hash_token(&token),
        &user.id,
        Purpose::VerifyEmail,
        now,
        now + ttl,
    )?;
    let m = templates::verify_email(
        &user.email,
        &user.full_name,
        &nonce,
        &state.config.public_url(),
        hours,
    );
    mail::enqueue(c, &m, now)
}

pub async fn register(
    state: &AppState,
    input: RegisterInput,
    client: ClientInfo,
) -> Result<AuthResponse, AppError> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", normalize_email(&input.email));
    let name = errors.check("full_name", normalize_name(&input.full_name));
    let phone = match input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => errors.check("phone", normalize_phone(p)).map(Some),
        None => Some(None),
    };
    if input.password.is_empty() {
        errors.add("password", "is required");
    } else {
        errors.check("password", check_policy(&input.password, email.as_deref()));
    }
    errors.finish()?;
    let (Some(email), Some(name), Some(phone)) = (email, name, phone) else {
        return Err(AppError::internal("validated fields missing"));
    };
    state.limits.register(client.ip, &email)?;

    let taken = || AppError::conflict("email_taken", "an account with this email already exists");
    let probe = email.clone();
    if let Some(owner) = state
        .db
        .read(move |c| store::find_user_by_email(c, &probe))
        .await?
    {
        warn_owner(state, owner).await?;
        return Err(taken());
    }
    let hash = state.hasher.hash(input.password).await?;
    let st = state.clone();
    let refresh_days = state.config.auth.refresh_token_ttl_days;
    let (user, session_id, refresh) = state
        .db
        .write(move |c| {
            let now = now_ms();
            let id = new_id();
            let inserted = store::insert_user(
                c,
                &NewUser {
                    id: &id,
                    email: &email,
                    password_hash: &hash,
                    full_name: &name,
                    phone: phone.as_deref(),
                    role: Role::Customer,
                    email_verified: false,
                    now,
                },
            )?;
            if !inserted {
                return Err(taken());
            }
            let user =
                store::find_user(c, &id)?.ok_or_else(|| AppError::internal("user vanished"))?;
            let (sid, refresh) = open_session(c, &id, &client, refresh_days, now)?;
            store::record_login(c, &id, now)?;
            queue_verification(&st, c, &user, now)?;
            Ok::<_, AppError>((user, sid, refresh))
        })
        .await?;
    state.mail.wake();
    tracing::info!(user_id = %user.id, "user registered");
    respond(state, user, &session_id, refresh)
}

/// Tells the owner of an address that someone tried to register with it (at most once an
/// hour). Registration answers `email_taken` as the API contract says — a sign-up that
/// signs the caller in at once cannot hide which addresses have accounts — so the owner at
/// least hears of it, and the per-IP and per-address limits keep probing slow.
async fn warn_owner(state: &AppState, owner: User) -> Result<(), AppError> {
    if !owner.is_active {
        return Ok(());
    }
    let base = state.config.public_url();
    let recently = |c: &dyn crate::db::Conn, to: &str| -> Result<bool, DbError> {
        let n: i64 = c.query_scalar(
            "SELECT COUNT(*) FROM mail_outbox
             WHERE to_addr = $1 AND kind = 'registration_attempt' AND created_at > $2",
            crate::params![to, now_ms() - 3_600_000],
        )?;
        Ok(n > 0)
    };
    // Most repeated attempts stop at this read: the single writer is not taken for them.
    let to = owner.email.clone();
    if state.db.read(move |c| recently(c, &to)).await? {
        return Ok(());
    }
    let queued = state
        .db
        .write(move |c| {
            let now = now_ms();
            if recently(c, &owner.email)? {
                return Ok(false);
            }
            let m = templates::registration_attempt(&owner.email, &owner.full_name, &base);
            mail::enqueue(c, &m, now)?;
            Ok::<_, DbError>(true)
        })
        .await?;
    if queued {
        state.mail.wake();
    }
    Ok(())
}

pub async fn login(
    state: &AppState,
    email: &str,
    password: String,
    client: ClientInfo,
) -> Result<AuthResponse, AppError> {
    let email = email.trim().to_lowercase();
    state.limits.login(client.ip, &email)?;
    let probe = email.clone();
    let found = state
        .db
        .read(move |c| store::find_credentials(c, &probe))
        .await?;
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), Some(h)),
        None => (None, None),
    };
    let ok = state.hasher.verify(password, hash).await?;
    let user = match user {
        Some(u) if ok => u,
        _ => {
            tracing::info!(ip = %client.ip, "failed sign-in");
            return Err(AppError::unauthorized(
                "invalid_credentials",
                "email or password is incorrect",
            ));
        }
    };
    if !user.is_active {
        return Err(AppError::forbidden(
            "account_disabled",
            "this account has been deactivated",
        ));
    }
    let refresh_days = state.config.auth.refresh_token_ttl_days;
    let uid = user.id.clone();
    let (sid, refresh, last_login) = state
        .db
        .write(move |c| {
            let now = now_ms();
            let (sid, refresh) = open_session(c, &uid, &client, refresh_days, now)?;
            store::record_login(c, &uid, now)?;
            Ok::<_, DbError>((sid, refresh, now))
        })
        .await?;
    let user = User {
        last_login_at: Some(last_login),
        ..user
    };
    respond(state, user, &sid, refresh)
}

enum RefreshOutcome {
    Rotated(User, String, String),
    Unknown,
    Expired,
    Revoked,
    Reused,
    Disabled,
}

/// Exchanges a refresh token for a new pair. A token is good once: presenting it again
/// means it was stolen or replayed, so the whole session is revoked.
pub async fn refresh(state: &AppState, token: &str) -> Result<AuthResponse, AppError> {
    let hash = hash_token(token);
    let refresh_days = state.config.auth.refresh_token_ttl_days;
    let outcome = state
        .db
        .write(move |c| {
            let now = now_ms();
            let Some(rec) = store::find_refresh_token(c, &hash)? else {
                return Ok(RefreshOutcome::Unknown);
            };
            if rec.session_revoked {
                return Ok(RefreshOutcome::Revoked);
            }
            if rec.used_at.is_some() || !store::mark_refresh_used(c, &hash, now)? {
                store::revoke_session(c, &rec.session_id, "refresh_token_reuse", now)?;
                return Ok(RefreshOutcome::Reused);
            }
            if rec.expires_at <= now {
                return Ok(RefreshOutcome::Expired);
            }
            if !rec.user_active {
                return Ok(RefreshOutcome::Disabled);
            }
            let next = random_token(32);
            store::insert_refresh_token(
                c,
                &hash_token(&next),
                &rec.session_id,
                now,
                now + ttl_ms(refresh_days),
            )?;
            store::touch_session(c, &rec.session_id, now)?;
            let user = store::find_user(c, &rec.user_id)?
                .ok_or(DbError::Decode(0, "user vanished".into()))?;
            Ok::<_, DbError>(RefreshOutcome::Rotated(user, rec.session_id, next))
        })
        .await?;
    match outcome {
        RefreshOutcome::Rotated(user, sid, next) => respond(state, user, &sid, next),
        RefreshOutcome::Unknown => Err(AppError::unauthorized(
            "invalid_token",
            "the refresh token is not valid",
        )),
        RefreshOutcome::Expired => Err(AppError::unauthorized(
            "token_expired",
            "the refresh token has expired; sign in again",
        )),
        RefreshOutcome::Revoked => Err(AppError::unauthorized(
            "session_revoked",
            "this session has been signed out",
        )),
        RefreshOutcome::Disabled => Err(AppError::unauthorized(
            "account_disabled",
            "this account has been deactivated",
        )),
        RefreshOutcome::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Err(AppError::unauthorized(
                "token_reused",
                "this refresh token was already used; the session has been revoked for safety",
            ))
        }
    }
}

/// Signs out the caller's session, or every session of the caller with `all`.
pub async fn logout(state: &AppState, user: &AuthUser, all: bool) -> Result<u64, AppError> {
    let (uid, sid) = (user.id.clone(), user.session_id.clone());
    let n = state
        .db
        .write(move |c| {
            let now = now_ms();
            if all {
                store::revoke_user_sessions(c, &uid, "logout_all", None, now)
            } else {
                store::revoke_session(c, &sid, "logout", now).map(|()| 1)
            }
        })
        .await?;
    Ok(n)
}

/// Mails a reset link if the account exists and is active; answers the same either way.
pub async fn forgot_password(state: &AppState, email: &str, ip: IpAddr) -> Result<(), AppError> {
    let email = normalize_email(email).map_err(|p| AppError::invalid_field("email", p))?;
    state.limits.mail_request(ip, &email)?;
    let st = state.clone();
    let queued = state
        .db
        .write(move |c| {
            let Some(user) = store::find_user_by_email(c, &email)? else {
                return Ok(false);
            };
            if !user.is_active {
                return Ok(false);
            }
            let now = now_ms();
            let minutes = st.config.auth.reset_token_ttl_minutes;
            let ttl = i64::try_from(minutes).unwrap_or(60) * 60_000;
            let (nonce, token) = mail::link_token(&st.signer);
            store::replace_one_time_token(
                c,
                &hash_token(&token),
                &user.id,
                Purpose::ResetPassword,
                now,
                now + ttl,
            )?;
            let m = templates::reset_password(
                &user.email,
                &user.full_name,
                &nonce,
                &st.config.public_url(),
                minutes,
            );
            mail::enqueue(c, &m, now)?;
            Ok::<_, DbError>(true)
        })
        .await?;
    if queued {
        state.mail.wake();
    }
    Ok(())
}

/// Sets a new password with a mailed reset token; signs out every session.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    new_password: String,
) -> Result<(), AppError> {
    let hash = hash_token(token);
    let probe = hash.clone();
    let user = state
        .db
        .read(move |c| {
            match store::peek_one_time_token(c, &probe, Purpose::ResetPassword, now_ms())? {
                Some(uid) => store::find_user(c, &uid),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(invalid_token)?;
    check_policy(&new_password, Some(&user.email))
        .map_err(|p| AppError::invalid_field("password", p))?;
    let password_hash = state.hasher.hash(new_password).await?;
    state
        .db
        .write(move |c| {
            let now = now_ms();
            match store::consume_one_time_token(c, &hash, Purpose::ResetPassword, now)? {
                Some(uid) if uid == user.id => {}
                _ => return Err(invalid_token()),
            }
            store::set_password(c, &user.id, &password_hash, now)?;
            // Following the mailed link proves the address works.
            store::set_email_verified(c, &user.id, now)?;
            store::revoke_user_sessions(c, &user.id, "password_reset", None, now)?;
            mail::enqueue(
                c,
                &templates::password_changed(&user.email, &user.full_name),
                now,
            )?;
            Ok(())
        })
        .await?;
    state.mail.wake();
    Ok(())
}

/// Marks the email of the token's user verified.
pub async fn verify_email(state: &AppState, token: &str) -> Result<User, AppError> {
    let hash = hash_token(token);
    state
        .db
        .write(move |c| {
            let now = now_ms();
            let uid = store::consume_one_time_token(c, &hash, Purpose::VerifyEmail, now)?
                .ok_or_else(invalid_token)?;
            store::set_email_verified(c, &uid, now)?;
            store::find_user(c, &uid)?.ok_or_else(invalid_token)
        })
        .await
}

/// Mails a new verification link to a signed-in user whose email is not verified yet.
pub async fn resend_verification(
    state: &AppState,
    caller: &AuthUser,
    ip: IpAddr,
) -> Result<(), AppError> {
    state.limits.mail_request(ip, &caller.id)?;
    let st = state.clone();
    let uid = caller.id.clone();
    state
        .db
        .write(move |c| {
            let user = store::find_user(c, &uid)?.ok_or_else(|| AppError::not_found("user"))?;
            if user.email_verified {
                return Err(AppError::conflict(
                    "already_verified",
                    "this email address is already verified",
                ));
            }
            queue_verification(&st, c, &user, now_ms())?;
            Ok(())
        })
        .await?;
    state.mail.wake();
    Ok(())
}

/// Changes the caller's password after checking the current one; signs out every other
/// session. Returns how many sessions were signed out.
pub async fn change_password(
    state: &AppState,
    caller: &AuthUser,
    current: String,
    new_password: String,
    ip: IpAddr,
) -> Result<u64, AppError> {
    state.limits.login(ip, &caller.id)?;
    let uid = caller.id.clone();
    let (user, hash) = state
        .db
        .read(move |c| {
            let user = store::find_user(c, &uid)?;
            let hash = store::password_hash(c, &uid)?;
            Ok::<_, DbError>(user.zip(hash))
        })
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let mut errors = FieldErrors::new();
    errors.check(
        "new_password",
        check_policy(&new_password, Some(&user.email)),
    );
    if new_password == current {
        errors.add("new_password", "must differ from the current password");
    }
    if current.is_empty() {
        errors.add("current_password", "is required");
    }
    errors.finish()?;
    if !state.hasher.verify(current, Some(hash)).await? {
        return Err(AppError::invalid_field("current_password", "is incorrect"));
    }
    let new_hash = state.hasher.hash(new_password).await?;
    let sid = caller.session_id.clone();
    let revoked = state
        .db
        .write(move |c| {
            let now = now_ms();
            store::set_password(c, &user.id, &new_hash, now)?;
            let n = store::revoke_user_sessions(c, &user.id, "password_changed", Some(&sid), now)?;
            mail::enqueue(
                c,
                &templates::password_changed(&user.email, &user.full_name),
                now,
            )?;
            Ok::<_, DbError>(n)
        })
        .await?;
    state.mail.wake();
    Ok(revoked)
}

/// Creates an admin (or, with `update_existing`, turns an existing account into an active
/// admin with the given password). For `markethub create-admin`; blocking.
pub fn create_admin(
    db: &Db,
    email: &str,
    password: &str,
    full_name: &str,
    update_existing: bool,
) -> Result<User, AppError> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", normalize_email(email));
    let name = errors.check("name", normalize_name(full_name));
    errors.check("password", check_policy(password, email.as_deref()));
    errors.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let hash = password::hash_blocking(password)?;
    db.write_blocking(|c| {
        let now = now_ms();
        if let Some(existing) = store::find_user_by_email(c, &email)? {
            if !update_existing {
                return Err(AppError::conflict(
                    "email_taken",
                    "an account with this email already exists (use --update-existing to make it an admin)",
                ));
            }
            store::set_password(c, &existing.id, &hash, now)?;
            store::set_role(c, &existing.id, Role::Admin, now)?;
            store::set_active(c, &existing.id, true, now)?;
            store::set_email_verified(c, &existing.id, now)?;
            store::revoke_user_sessions(c, &existing.id, "admin_reset", None, now)?;
            return store::find_user(c, &existing.id)?.ok_or_else(|| AppError::not_found("user"));
        }
        let id = new_id();
        store::insert_user(
            c,
            &NewUser {
                id: &id,
                email: &email,
                password_hash: &hash,
                full_name: &name,
                phone: None,
                role: Role::Admin,
                email_verified: true,
                now,
            },
        )?;
        store::find_user(c, &id)?.ok_or_else(|| AppError::not_found("user"))
    })
}
