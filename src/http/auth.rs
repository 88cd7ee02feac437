//! Authentication extractors. [`AuthUser`] requires a valid access token whose session is
//! live and whose user is active (checked against the database on every request, so
//! logout, password change and deactivation take effect at once); the role extractors
//! additionally require one role and answer 403 otherwise.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::AppError;
use crate::auth::Role;
use crate::auth::store;
use crate::auth::tokens::TokenError;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub role: Role,
    pub session_id: String,
    pub email_verified: bool,
}

impl AuthUser {
    /// 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role == role {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "forbidden",
                format!("this action requires the {} role", role.as_str()),
            ))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(parts)?;
        let claims = state.tokens.verify_access(token).map_err(|e| match e {
            TokenError::Expired => {
                AppError::unauthorized("token_expired", "the access token has expired; refresh it")
            }
            TokenError::Invalid => {
                AppError::unauthorized("invalid_token", "the access token is not valid")
            }
        })?;
        let (uid, sid) = (claims.sub.clone(), claims.sid.clone());
        let principal = state
            .db
            .read(move |c| store::find_principal(c, &uid, &sid))
            .await?
            .ok_or_else(|| {
                AppError::unauthorized("invalid_token", "the access token is not valid")
            })?;
        if principal.session_revoked {
            return Err(AppError::unauthorized(
                "session_revoked",
                "this session has been signed out",
            ));
        }
        if !principal.is_active {
            return Err(AppError::unauthorized(
                "account_disabled",
                "this account has been deactivated",
            ));
        }
        Ok(AuthUser {
            id: claims.sub,
            role: principal.role,
            session_id: claims.sid,
            email_verified: principal.email_verified,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, AppError> {
    let missing =
        || AppError::unauthorized("missing_token", "send Authorization: Bearer <access token>");
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub AuthUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
                let user = AuthUser::from_request_parts(parts, state).await?;
                user.require($role)?;
                Ok($name(user))
            }
        }
    };
}

role_extractor!(
    /// An authenticated admin.
    AdminUser, Role::Admin
);
role_extractor!(
    /// An authenticated customer.
    CustomerUser, Role::Customer
);
role_extractor!(
    /// An authenticated merchant.
    MerchantUser, Role::Merchant
);
role_extractor!(
    /// An authenticated member of a hub's staff.
    HubStaffUser, Role::HubStaff
);
