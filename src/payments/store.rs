//! SQL for M-Pesa requests, the raw callback log, and the M-Pesa side of payments.

use crate::db::{Conn, DbError};
use crate::params;

/// One STK push and what became of it.
#[derive(Debug, Clone)]
pub struct Request {
    pub checkout_request_id: String,
    pub order_id: String,
    pub phone: String,
    /// Whole shillings.
    pub amount: i64,
    pub status: String,
    pub created_at: i64,
}

const REQUEST_COLUMNS: &str = "checkout_request_id, order_id, phone, amount, status, created_at";

fn request_from_row(r: &crate::db::Row) -> Result<Request, DbError> {
    Ok(Request {
        checkout_request_id: r.get(0)?,
        order_id: r.get(1)?,
        phone: r.get(2)?,
        amount: r.get(3)?,
        status: r.get(4)?,
        created_at: r.get(5)?,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn insert_request(
    c: &dyn Conn,
    checkout_request_id: &str,
    merchant_request_id: &str,
    order_id: &str,
    phone: &str,
    amount: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO mpesa_requests (checkout_request_id, merchant_request_id, order_id, phone, amount, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        params![checkout_request_id, merchant_request_id, order_id, phone, amount, now],
    )?;
    Ok(())
}

pub fn find_request(c: &dyn Conn, checkout_request_id: &str) -> Result<Option<Request>, DbError> {
    c.query_opt(
        &format!("SELECT {REQUEST_COLUMNS} FROM mpesa_requests WHERE checkout_request_id = $1"),
        params![checkout_request_id],
    )?
    .map(|r| request_from_row(&r))
    .transpose()
}

/// A pending push of the order younger than `since`, if any (one at a time per order).
pub fn pending_request_since(
    c: &dyn Conn,
    order_id: &str,
    since: i64,
) -> Result<Option<Request>, DbError> {
    c.query_opt(
        &format!(
            "SELECT {REQUEST_COLUMNS} FROM mpesa_requests
             WHERE order_id = $1 AND status = 'pending' AND created_at >= $2
             ORDER BY created_at DESC LIMIT 1"
        ),
        params![order_id, since],
    )?
    .map(|r| request_from_row(&r))
    .transpose()
}

/// Pending pushes older than `before`: for reconciliation.
pub fn stale_requests(c: &dyn Conn, before: i64, limit: i64) -> Result<Vec<Request>, DbError> {
    c.query(
        &format!(
            "SELECT {REQUEST_COLUMNS} FROM mpesa_requests WHERE status = 'pending' AND created_at < $1
             ORDER BY created_at LIMIT $2"
        ),
        params![before, limit],
    )?
    .iter()
    .map(request_from_row)
    .collect()
}

/// Settles a pending request; false when it was already settled (a duplicate).
pub fn settle_request(
    c: &dyn Conn,
    checkout_request_id: &str,
    status: &str,
    result_code: Option<i64>,
    result_desc: &str,
    receipt: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE mpesa_requests SET status = $1, result_code = $2, result_desc = $3, receipt = $4, settled_at = $5
         WHERE checkout_request_id = $6 AND status = 'pending'",
        params![status, result_code, result_desc, receipt, now, checkout_request_id],
    )?;
    Ok(n == 1)
}

pub fn receipt_used(c: &dyn Conn, receipt: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM mpesa_requests WHERE receipt = $1",
        params![receipt],
    )?;
    Ok(n > 0)
}

/// Logs a callback body as received and returns its id.
pub fn log_callback(
    c: &dyn Conn,
    kind: &str,
    reference: Option<&str>,
    body: &str,
    now: i64,
) -> Result<String, DbError> {
    let id = crate::ids::new_id();
    c.execute(
        "INSERT INTO mpesa_callbacks (id, kind, reference, body, processed, received_at)
         VALUES ($1, $2, $3, $4, 0, $5)",
        params![id.as_str(), kind, reference, body, now],
    )?;
    Ok(id)
}

pub fn mark_callback(c: &dyn Conn, id: &str, outcome: &str) -> Result<(), DbError> {
    c.execute(
        "UPDATE mpesa_callbacks SET processed = 1, outcome = $1 WHERE id = $2",
        params![outcome, id],
    )?;
    Ok(())
}

/// Callbacks that arrived before their request row existed: (log id, body).
pub fn early_callbacks(
    c: &dyn Conn,
    kind: &str,
    reference: &str,
) -> Result<Vec<(String, String)>, DbError> {
    c.query(
        "SELECT id, body FROM mpesa_callbacks WHERE kind = $1 AND reference = $2 AND processed = 0
         ORDER BY received_at",
        params![kind, reference],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// Marks an M-Pesa payment paid; false when it was already paid or closed.
pub fn mark_paid(
    c: &dyn Conn,
    order_id: &str,
    collected_cents: i64,
    receipt: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE payments SET status = 'paid', collected_cents = $1, receipt = $2, paid_at = $3, failed_at = NULL,
                updated_at = $3
         WHERE order_id = $4 AND status IN ('pending', 'failed')",
        params![collected_cents, receipt, now, order_id],
    )?;
    Ok(n == 1)
}

/// Marks a pending payment failed (the release clock starts).
pub fn mark_failed(c: &dyn Conn, order_id: &str, now: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE payments SET status = 'failed', failed_at = $1, updated_at = $1
         WHERE order_id = $2 AND status = 'pending'",
        params![now, order_id],
    )?;
    Ok(n == 1)
}

/// Puts a failed payment back to pending for a new attempt.
pub fn reopen(c: &dyn Conn, order_id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE payments SET status = 'pending', failed_at = NULL, updated_at = $1
         WHERE order_id = $2 AND status = 'failed'",
        params![now, order_id],
    )?;
    Ok(())
}

/// Orders whose M-Pesa payment failed before `before` and which still hold stock.
pub fn orders_to_release(c: &dyn Conn, before: i64, limit: i64) -> Result<Vec<String>, DbError> {
    c.query(
        "SELECT p.order_id FROM payments p
         WHERE p.status = 'failed' AND p.failed_at < $1
           AND EXISTS (SELECT 1 FROM sub_orders s WHERE s.order_id = p.order_id AND s.status <> 'cancelled')
         ORDER BY p.failed_at LIMIT $2",
        params![before, limit],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}
