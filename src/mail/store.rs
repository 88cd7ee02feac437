//! SQL for the mail outbox: insert, claim due messages with a lease, record the outcome,
//! and list for admins.

use serde::Serialize;

use crate::clock::serde_rfc3339;
use crate::db::{Conn, DbError, Row};
use crate::params;

use super::Mail;

pub fn insert(c: &dyn Conn, mail: &Mail, now: i64) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO mail_outbox (id, kind, to_addr, subject, body_text, status, attempts,
                                  next_attempt_at, created_at, secret_ref)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7)",
        params![
            crate::ids::new_id(),
            mail.kind,
            &mail.to,
            &mail.subject,
            &mail.body,
            now,
            mail.secret_ref.as_deref()
        ],
    )?;
    Ok(())
}

/// A message claimed for delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub to: String,
    pub subject: String,
    /// The stored text ([`super::LINK_SECRET`] where a one-time token goes).
    pub body: String,
    /// The nonce of its one-time token, if it has one.
    pub secret_ref: Option<String>,
    /// Attempts including this one.
    pub attempts: u32,
}

/// Claims up to `limit` due messages: pending ones whose time has come, and ones whose
/// previous claim expired (the process died mid-send). The claim lasts `lease_ms`.
pub fn claim_due(
    c: &dyn Conn,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    let rows = c.query(
        "UPDATE mail_outbox
         SET status = 'sending', locked_until = $2, attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM mail_outbox
             WHERE (status = 'pending' AND next_attempt_at <= $1)
                OR (status = 'sending' AND locked_until < $1)
             ORDER BY next_attempt_at
             LIMIT $3)
         RETURNING id, to_addr, subject, body_text, attempts, secret_ref",
        params![now, now + lease_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.get(0)?,
                to: r.get(1)?,
                subject: r.get(2)?,
                body: r.get(3)?,
                attempts: u32::try_from(r.get::<i64>(4)?).unwrap_or(u32::MAX),
                secret_ref: r.get(5)?,
            })
        })
        .collect()
}

/// Extends this sender's claim on message `id` (made until `claimed_until`) to `until`, just
/// before sending it; false when the claim has meanwhile expired and another sender took the
/// message over, which must then not be sent again by this one.
pub fn renew_claim(
    c: &dyn Conn,
    id: &str,
    claimed_until: i64,
    until: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE mail_outbox SET locked_until = $3
         WHERE id = $1 AND status = 'sending' AND locked_until = $2",
        params![id, claimed_until, until],
    )?;
    Ok(n == 1)
}

/// When the next pending message falls due, if any.
pub fn next_due_at(c: &dyn Conn) -> Result<Option<i64>, DbError> {
    c.query_scalar(
        "SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE locked_until END)
         FROM mail_outbox WHERE status IN ('pending', 'sending')",
        params![],
    )
}

/// Records the end state of a claimed message: `sent`, `logged` or `failed`. Its one-time
/// link dies with it: the nonce it was computed from is cleared.
pub fn finish(
    c: &dyn Conn,
    id: &str,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE mail_outbox SET status = $1, last_error = $2, locked_until = NULL,
                sent_at = CASE WHEN $1 IN ('sent', 'logged') THEN $3 ELSE sent_at END,
                secret_ref = NULL
         WHERE id = $4",
        params![status, error, now, id],
    )?;
    Ok(())
}

/// Puts a message back in the queue for another attempt at `next_at`.
pub fn retry_later(c: &dyn Conn, id: &str, error: &str, next_at: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE mail_outbox SET status = 'pending', last_error = $1, next_attempt_at = $2,
                locked_until = NULL
         WHERE id = $3",
        params![error, next_at, id],
    )?;
    Ok(())
}

/// Deletes delivered (or logged) messages created before `cutoff`; failed and pending ones
/// stay for inspection. Returns how many were removed.
pub fn purge_delivered(c: &dyn Conn, cutoff: i64) -> Result<u64, DbError> {
    c.execute(
        "DELETE FROM mail_outbox WHERE status IN ('sent', 'logged') AND created_at < $1",
        params![cutoff],
    )
}

/// A message as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    /// What the message is about, e.g. `verify_email`, `reset_password`, `order_placed`.
    #[schema(example = "verify_email")]
    pub kind: String,
    /// The recipient's address.
    #[schema(example = "jane.doe@example.com")]
    pub to: String,
    #[schema(example = "Confirm your MarketHub email address")]
    pub subject: String,
    /// The plain-text body (with any links it carries).
    #[schema(example = "Hello Jane, open this link to verify your address: …")]
    pub body: String,
    /// `pending`, `sending`, `sent`, `logged` (written to the log instead of sent, when no
    /// SMTP server is configured) or `failed`.
    #[schema(example = "logged")]
    pub status: String,
    /// Delivery attempts so far.
    #[schema(example = 1)]
    pub attempts: i64,
    /// The last delivery error; `null` if none.
    pub last_error: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T08:15:00.000Z")]
    pub created_at: i64,
    /// When it was sent or logged; `null` before that.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-30T08:15:02.000Z")]
    pub sent_at: Option<i64>,
}

fn entry_from_row(r: &Row) -> Result<OutboxEntry, DbError> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        kind: r.get(1)?,
        to: r.get(2)?,
        subject: r.get(3)?,
        body: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
        sent_at: r.get(9)?,
    })
}

/// Newest first, optionally only messages to `to` or of one `status`.
pub fn list(
    c: &dyn Conn,
    to: Option<&str>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<OutboxEntry>, i64), DbError> {
    // Casts give Postgres a type for parameters that may be NULL.
    let (rows, total) = c.query_page(
        "id, kind, to_addr, subject, body_text, status, attempts, last_error, created_at, sent_at",
        "FROM mail_outbox
         WHERE (CAST($1 AS TEXT) IS NULL OR to_addr = $1)
           AND (CAST($2 AS TEXT) IS NULL OR status = $2)",
        "created_at DESC, id DESC",
        &[to.into(), status.into()],
        limit,
        offset,
    )?;
    let items = rows.iter().map(entry_from_row).collect::<Result<_, _>>()?;
    Ok((items, total))
}
