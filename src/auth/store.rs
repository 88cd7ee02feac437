//! SQL for users, sessions, refresh tokens and one-time tokens. Nothing else touches these
//! tables. Every function takes the connection or transaction it runs in.

use crate::db::{Conn, DbError, Row, Value};
use crate::params;

use super::{Role, User};

const USER_COLUMNS: &str = "id, email, full_name, phone, role, is_active, email_verified, \
                            created_at, updated_at, last_login_at";

fn user_from_row(row: &Row) -> Result<User, DbError> {
    let role: String = row.get(4)?;
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        full_name: row.get(2)?,
        phone: row.get(3)?,
        role: Role::parse(&role)
            .ok_or_else(|| DbError::Decode(4, format!("unknown role {role}")))?,
        is_active: row.get(5)?,
        email_verified: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        last_login_at: row.get(9)?,
    })
}

pub fn find_user(c: &dyn Conn, id: &str) -> Result<Option<User>, DbError> {
    c.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
        params![id],
    )?
    .map(|r| user_from_row(&r))
    .transpose()
}

pub fn find_user_by_email(c: &dyn Conn, email: &str) -> Result<Option<User>, DbError> {
    c.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
        params![email],
    )?
    .map(|r| user_from_row(&r))
    .transpose()
}

/// The user and their password hash, for sign-in.
pub fn find_credentials(c: &dyn Conn, email: &str) -> Result<Option<(User, String)>, DbError> {
    c.query_opt(
        &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"),
        params![email],
    )?
    .map(|r| Ok((user_from_row(&r)?, r.get(10)?)))
    .transpose()
}

pub fn password_hash(c: &dyn Conn, user_id: &str) -> Result<Option<String>, DbError> {
    c.query_opt(
        "SELECT password_hash FROM users WHERE id = $1",
        params![user_id],
    )?
    .map(|r| r.get(0))
    .transpose()
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub full_name: &'a str,
    pub phone: Option<&'a str>,
    pub role: Role,
    pub email_verified: bool,
    pub now: i64,
}

/// Inserts a user; returns false (and changes nothing) when the email is taken.
pub fn insert_user(c: &dyn Conn, u: &NewUser<'_>) -> Result<bool, DbError> {
    let n = c.execute(
        "INSERT INTO users (id, email, password_hash, full_name, phone, role, is_active,
                            email_verified, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $8)
         ON CONFLICT (email) DO NOTHING",
        params![
            u.id,
            u.email,
            u.password_hash,
            u.full_name,
            u.phone,
            u.role.as_str(),
            u.email_verified,
            u.now
        ],
    )?;
    Ok(n == 1)
}

pub fn set_password(c: &dyn Conn, user_id: &str, hash: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        params![hash, now, user_id],
    )?;
    Ok(())
}

pub fn set_email_verified(c: &dyn Conn, user_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET email_verified = 1, updated_at = $1 WHERE id = $2 AND email_verified = 0",
        params![now, user_id],
    )?;
    Ok(())
}

pub fn record_login(c: &dyn Conn, user_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET last_login_at = $1 WHERE id = $2",
        params![now, user_id],
    )?;
    Ok(())
}

/// Applies a profile change; `phone: Some(None)` clears the phone.
pub fn update_profile(
    c: &dyn Conn,
    user_id: &str,
    full_name: Option<&str>,
    phone: Option<Option<&str>>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET
             full_name = COALESCE($1, full_name),
             phone = CASE WHEN $2 = 1 THEN $3 ELSE phone END,
             updated_at = $4
         WHERE id = $5",
        params![full_name, phone.is_some(), phone.flatten(), now, user_id],
    )?;
    Ok(())
}

pub fn set_role(c: &dyn Conn, user_id: &str, role: Role, now: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3",
        params![role.as_str(), now, user_id],
    )?;
    Ok(n == 1)
}

pub fn set_active(c: &dyn Conn, user_id: &str, active: bool, now: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3",
        params![active, now, user_id],
    )?;
    Ok(n == 1)
}

pub fn count_active_admins(c: &dyn Conn) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND is_active = 1",
        params![],
    )
}

/// Filters of the admin user list.
#[derive(Debug, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// Case-insensitive substring of the email or the name.
    pub q: Option<String>,
}

/// One page of users, newest first, and the number matching the filter.
pub fn list_users(
    c: &dyn Conn,
    f: &UserFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), DbError> {
    let mut conds = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(role) = f.role {
        args.push(role.as_str().into());
        conds.push(format!("role = ${}", args.len()));
    }
    if let Some(active) = f.is_active {
        args.push(active.into());
        conds.push(format!("is_active = ${}", args.len()));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        args.push(format!("%{}%", escape_like(&q.to_lowercase())).into());
        let n = args.len();
        conds.push(format!(
            "(email LIKE ${n} ESCAPE '\\' OR lower(full_name) LIKE ${n} ESCAPE '\\')"
        ));
    }
    let from_where = if conds.is_empty() {
        "FROM users".to_owned()
    } else {
        format!("FROM users WHERE {}", conds.join(" AND "))
    };
    let (rows, total) = c.query_page(
        USER_COLUMNS,
        &from_where,
        "created_at DESC, id DESC",
        &args,
        limit,
        offset,
    )?;
    let users = rows.iter().map(user_from_row).collect::<Result<_, _>>()?;
    Ok((users, total))
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

// ---- sessions and refresh tokens ----

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
}

pub fn insert_session(c: &dyn Conn, s: &NewSession<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, ip, user_agent)
         VALUES ($1, $2, $3, $3, $4, $5)",
        params![s.id, s.user_id, s.now, s.ip, s.user_agent],
    )?;
    Ok(())
}

pub fn insert_refresh_token(
    c: &dyn Conn,
    token_hash: &str,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        params![token_hash, session_id, now, expires_at],
    )?;
    Ok(())
}

/// A refresh token looked up by its hash, with the state of its session and user.
pub struct RefreshRecord {
    pub session_id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub session_revoked: bool,
    pub user_active: bool,
}

pub fn find_refresh_token(
    c: &dyn Conn,
    token_hash: &str,
) -> Result<Option<RefreshRecord>, DbError> {
    c.query_opt(
        "SELECT t.session_id, s.user_id, t.expires_at, t.used_at, s.revoked_at IS NOT NULL,
                u.is_active
         FROM refresh_tokens t
         JOIN sessions s ON s.id = t.session_id
         JOIN users u ON u.id = s.user_id
         WHERE t.token_hash = $1",
        params![token_hash],
    )?
    .map(|r| {
        Ok(RefreshRecord {
            session_id: r.get(0)?,
            user_id: r.get(1)?,
            expires_at: r.get(2)?,
            used_at: r.get(3)?,
            session_revoked: r.get(4)?,
            user_active: r.get(5)?,
        })
    })
    .transpose()
}

/// Marks a refresh token used; false if it was already used (a concurrent refresh won).
pub fn mark_refresh_used(c: &dyn Conn, token_hash: &str, now: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        params![now, token_hash],
    )?;
    Ok(n == 1)
}

pub fn touch_session(c: &dyn Conn, session_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE sessions SET last_used_at = $1 WHERE id = $2",
        params![now, session_id],
    )?;
    Ok(())
}

pub fn revoke_session(
    c: &dyn Conn,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
         WHERE id = $3 AND revoked_at IS NULL",
        params![now, reason, session_id],
    )?;
    Ok(())
}

/// Revokes every live session of a user, except `keep` if given. Returns how many.
pub fn revoke_user_sessions(
    c: &dyn Conn,
    user_id: &str,
    reason: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<u64, DbError> {
    c.execute(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
         WHERE user_id = $3 AND revoked_at IS NULL AND id <> COALESCE($4, '')",
        params![now, reason, user_id, keep],
    )
}

/// Sessions that can still be refreshed: not revoked, with an unused, unexpired token.
pub fn count_live_sessions(c: &dyn Conn, user_id: &str, now: i64) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT COUNT(*) FROM sessions s
         WHERE s.user_id = $1 AND s.revoked_at IS NULL
           AND EXISTS (SELECT 1 FROM refresh_tokens t
                       WHERE t.session_id = s.id AND t.used_at IS NULL AND t.expires_at > $2)",
        params![user_id, now],
    )
}

/// What an access token's session says about its bearer right now.
pub struct Principal {
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    pub session_revoked: bool,
}

pub fn find_principal(
    c: &dyn Conn,
    user_id: &str,
    session_id: &str,
) -> Result<Option<Principal>, DbError> {
    c.query_opt(
        "SELECT u.role, u.is_active, u.email_verified, s.revoked_at IS NOT NULL
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND u.id = $2",
        params![session_id, user_id],
    )?
    .map(|r| {
        let role: String = r.get(0)?;
        Ok(Principal {
            role: Role::parse(&role)
                .ok_or_else(|| DbError::Decode(0, format!("unknown role {role}")))?,
            is_active: r.get(1)?,
            email_verified: r.get(2)?,
            session_revoked: r.get(3)?,
        })
    })
    .transpose()
}

// ---- one-time tokens (password reset, email verification) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ResetPassword,
    VerifyEmail,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::ResetPassword => "reset_password",
            Purpose::VerifyEmail => "verify_email",
        }
    }
}

/// Stores a new token and retires the user's earlier unused ones of the same purpose, so
/// only the most recently mailed link works.
pub fn replace_one_time_token(
    c: &dyn Conn,
    token_hash: &str,
    user_id: &str,
    purpose: Purpose,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE one_time_tokens SET used_at = $1
         WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        params![now, user_id, purpose.as_str()],
    )?;
    c.execute(
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![token_hash, user_id, purpose.as_str(), now, expires_at],
    )?;
    Ok(())
}

/// The user a live (unused, unexpired) token belongs to, without consuming it.
pub fn peek_one_time_token(
    c: &dyn Conn,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, DbError> {
    c.query_opt(
        "SELECT user_id FROM one_time_tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        params![token_hash, purpose.as_str(), now],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// Consumes a live token and returns its user; `None` if it is unknown, used or expired.
pub fn consume_one_time_token(
    c: &dyn Conn,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, DbError> {
    c.query_opt(
        "UPDATE one_time_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
        params![token_hash, purpose.as_str(), now],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// Deletes what can no longer be used: expired refresh and one-time tokens, and sessions
/// revoked or idle for longer than `keep_ms`. Returns the number of rows removed.
pub fn purge_expired(c: &dyn Conn, now: i64, keep_ms: i64) -> Result<u64, DbError> {
    let cutoff = now - keep_ms;
    let mut n = c.execute(
        "DELETE FROM refresh_tokens WHERE expires_at < $1",
        params![cutoff],
    )?;
    n += c.execute(
        "DELETE FROM one_time_tokens WHERE expires_at < $1",
        params![cutoff],
    )?;
    n += c.execute(
        "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1)
            OR (revoked_at IS NULL AND last_used_at < $1
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                                WHERE t.session_id = sessions.id AND t.expires_at >= $2))",
        params![cutoff, now],
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}

#[cfg(test)]
mod token_rules {
    use super::*;
    use crate::db::Db;

    fn db() -> (tempfile::TempDir, Db) {
        let (dir, db) = crate::db::temp_db();
        db.write_blocking(|c| {
            insert_user(
                c,
                &NewUser {
                    id: "u1",
                    email: "u@example.com",
                    password_hash: "x",
                    full_name: "U",
                    phone: None,
                    role: Role::Customer,
                    email_verified: false,
                    now: 0,
                },
            )
            .map(|_| ())
        })
        .expect("user");
        (dir, db)
    }

    #[test]
    fn one_time_tokens_are_single_use_expiring_and_purpose_bound() {
        let (_dir, db) = db();
        let r: Result<(), DbError> = db.write_blocking(|c| {
            replace_one_time_token(c, "h1", "u1", Purpose::ResetPassword, 1000, 2000)?;
            assert_eq!(
                consume_one_time_token(c, "h1", Purpose::VerifyEmail, 1500)?,
                None
            );
            assert_eq!(
                consume_one_time_token(c, "h1", Purpose::ResetPassword, 2000)?,
                None,
                "expired"
            );
            assert_eq!(
                peek_one_time_token(c, "h1", Purpose::ResetPassword, 1999)?.as_deref(),
                Some("u1")
            );
            assert_eq!(
                consume_one_time_token(c, "h1", Purpose::ResetPassword, 1999)?.as_deref(),
                Some("u1")
            );
            assert_eq!(
                consume_one_time_token(c, "h1", Purpose::ResetPassword, 1999)?,
                None,
                "used"
            );

            replace_one_time_token(c, "h2", "u1", Purpose::VerifyEmail, 1000, 9000)?;
            replace_one_time_token(c, "h3", "u1", Purpose::VerifyEmail, 1100, 9000)?;
            assert_eq!(
                consume_one_time_token(c, "h2", Purpose::VerifyEmail, 1200)?,
                None,
                "superseded"
            );
            assert_eq!(
                consume_one_time_token(c, "h3", Purpose::VerifyEmail, 1200)?.as_deref(),
                Some("u1")
            );
            Ok(())
        });
        r.expect("token rules");
    }

    #[test]
    fn refresh_tokens_are_marked_used_once_and_purged_after_expiry() {
        let (_dir, db) = db();
        let r: Result<(), DbError> = db.write_blocking(|c| {
            insert_session(
                c,
                &NewSession {
                    id: "s1",
                    user_id: "u1",
                    ip: None,
                    user_agent: None,
                    now: 0,
                },
            )?;
            insert_refresh_token(c, "r1", "s1", 0, 1000)?;
            assert!(mark_refresh_used(c, "r1", 10)?);
            assert!(!mark_refresh_used(c, "r1", 11)?, "a second use is detected");
            let rec = find_refresh_token(c, "r1")?.expect("found");
            assert_eq!(rec.used_at, Some(10));
            assert!(!rec.session_revoked);
            revoke_session(c, "s1", "test", 20)?;
            assert!(find_refresh_token(c, "r1")?.expect("found").session_revoked);
            assert!(
                purge_expired(c, 5000, 100)? >= 2,
                "expired token and revoked session go"
            );
            assert!(find_refresh_token(c, "r1")?.is_none());
            Ok(())
        });
        r.expect("refresh rules");
    }
}
