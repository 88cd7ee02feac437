//! SQL for refunds, their items and evidence.

use std::collections::HashMap;

use crate::catalog::ImageRef;
use crate::db::{Conn, DbError, Row, Value, placeholders};
use crate::params;

use super::{RefundItem, RefundView};

const COLUMNS: &str = "id, order_id, sub_order_id, customer_id, reason, description, amount_cents, status, \
     decision_note, decided_at, goods_returned, payout_method, payout_status, payout_receipt, created_at, updated_at";

fn from_row(r: &Row) -> Result<RefundView, DbError> {
    Ok(RefundView {
        id: r.get(0)?,
        order_id: r.get(1)?,
        sub_order_id: r.get(2)?,
        customer_id: r.get(3)?,
        reason: r.get(4)?,
        description: r.get(5)?,
        amount_cents: r.get(6)?,
        status: r.get(7)?,
        decision_note: r.get(8)?,
        decided_at: r.get(9)?,
        goods_returned: r.get(10)?,
        payout_method: r.get(11)?,
        payout_status: r.get(12)?,
        payout_receipt: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        items: Vec::new(),
        evidence: Vec::new(),
    })
}

/// Refund views with items and evidence, in the order of `ids`.
pub fn load(c: &dyn Conn, ids: &[String]) -> Result<Vec<RefundView>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Value> = ids.iter().map(|i| i.as_str().into()).collect();
    let list = placeholders(1, ids.len());
    let mut by_id: HashMap<String, RefundView> = HashMap::new();
    for r in &c.query(
        &format!("SELECT {COLUMNS} FROM refunds WHERE id IN ({list})"),
        &args,
    )? {
        let v = from_row(r)?;
        by_id.insert(v.id.clone(), v);
    }
    for r in &c.query(
        &format!("SELECT refund_id, order_item_id, quantity FROM refund_items WHERE refund_id IN ({list}) ORDER BY order_item_id"),
        &args,
    )? {
        if let Some(v) = by_id.get_mut(&r.get::<String>(0)?) {
            v.items.push(RefundItem {
                order_item_id: r.get(1)?,
                quantity: r.get(2)?,
            });
        }
    }
    for r in &c.query(
        &format!("SELECT refund_id, id FROM refund_evidence WHERE refund_id IN ({list}) ORDER BY created_at, id"),
        &args,
    )? {
        let refund_id: String = r.get(0)?;
        if let Some(v) = by_id.get_mut(&refund_id) {
            let id: String = r.get(1)?;
            v.evidence.push(ImageRef {
                url: evidence_url(&refund_id, &id),
                id,
            });
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Where a picture of a refund request is served, to those allowed to see it (never the
/// storage's own address: evidence is private).
pub fn evidence_url(refund_id: &str, image_id: &str) -> String {
    format!("/api/v1/refunds/{refund_id}/evidence/{image_id}")
}

/// A stored evidence picture: where the store keeps it and what it is.
pub struct EvidenceFile {
    pub key: String,
    pub url: String,
    pub content_type: String,
}

pub fn find_evidence(
    c: &dyn Conn,
    refund_id: &str,
    image_id: &str,
) -> Result<Option<EvidenceFile>, DbError> {
    c.query_opt(
        "SELECT storage_key, url, content_type FROM refund_evidence WHERE refund_id = $1 AND id = $2",
        params![refund_id, image_id],
    )?
    .map(|r| {
        Ok(EvidenceFile {
            key: r.get(0)?,
            url: r.get(1)?,
            content_type: r.get(2)?,
        })
    })
    .transpose()
}

pub fn find(c: &dyn Conn, id: &str) -> Result<Option<RefundView>, DbError> {
    Ok(load(c, &[id.to_owned()])?.into_iter().next())
}

/// One page of refund ids, newest first, optionally of one customer and/or status.
pub fn list(
    c: &dyn Conn,
    customer_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<String>, i64), DbError> {
    let (rows, total) = c.query_page(
        "id",
        "FROM refunds WHERE (CAST($1 AS TEXT) IS NULL OR customer_id = $1)
                        AND (CAST($2 AS TEXT) IS NULL OR status = $2)",
        "created_at DESC, id DESC",
        params![customer_id, status],
        limit,
        offset,
    )?;
    Ok((
        rows.iter().map(|r| r.get(0)).collect::<Result<_, _>>()?,
        total,
    ))
}

pub fn has_open(c: &dyn Conn, sub_order_id: &str) -> Result<bool, DbError> {
    let n: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM refunds WHERE sub_order_id = $1 AND status = 'pending'",
        params![sub_order_id],
    )?;
    Ok(n > 0)
}

/// Sum of the approved refunds of a sub-order.
pub fn refunded_cents(c: &dyn Conn, sub_order_id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM refunds
         WHERE sub_order_id = $1 AND status = 'approved'",
        params![sub_order_id],
    )
}

/// Quantity of an order item already covered by approved refunds.
pub fn refunded_quantity(c: &dyn Conn, order_item_id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT CAST(COALESCE(SUM(ri.quantity), 0) AS BIGINT) FROM refund_items ri
         JOIN refunds r ON r.id = ri.refund_id
         WHERE ri.order_item_id = $1 AND r.status = 'approved'",
        params![order_item_id],
    )
}

pub struct NewRefund<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub sub_order_id: &'a str,
    pub customer_id: &'a str,
    pub reason: &'a str,
    pub description: &'a str,
    pub amount_cents: i64,
    pub now: i64,
}

pub fn insert(c: &dyn Conn, r: &NewRefund<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO refunds (id, order_id, sub_order_id, customer_id, reason, description, amount_cents, status,
                              created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
        params![r.id, r.order_id, r.sub_order_id, r.customer_id, r.reason, r.description, r.amount_cents, r.now],
    )?;
    Ok(())
}

pub fn insert_item(
    c: &dyn Conn,
    refund_id: &str,
    order_item_id: &str,
    quantity: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO refund_items (refund_id, order_item_id, quantity) VALUES ($1, $2, $3)",
        params![refund_id, order_item_id, quantity],
    )?;
    Ok(())
}

pub fn count_evidence(c: &dyn Conn, refund_id: &str) -> Result<i64, DbError> {
    c.query_scalar(
        "SELECT COUNT(*) FROM refund_evidence WHERE refund_id = $1",
        params![refund_id],
    )
}

#[allow(clippy::too_many_arguments)]
pub fn insert_evidence(
    c: &dyn Conn,
    id: &str,
    refund_id: &str,
    key: &str,
    url: &str,
    content_type: &str,
    bytes: i64,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO refund_evidence (id, refund_id, storage_key, url, content_type, bytes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![id, refund_id, key, url, content_type, bytes, now],
    )?;
    Ok(())
}

/// Records a decision on a pending refund; false when it was no longer pending.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    c: &dyn Conn,
    id: &str,
    status: &str,
    note: Option<&str>,
    admin_id: &str,
    goods_returned: bool,
    payout: Option<(&str, &str, Option<&str>)>,
    now: i64,
) -> Result<bool, DbError> {
    let (method, payout_status, reference) = match payout {
        Some((m, s, r)) => (Some(m), Some(s), r),
        None => (None, None, None),
    };
    let n = c.execute(
        "UPDATE refunds SET status = $1, decision_note = $2, decided_by = $3, decided_at = $4, goods_returned = $5,
                payout_method = $6, payout_status = $7, payout_reference = $8, updated_at = $4
         WHERE id = $9 AND status = 'pending'",
        params![status, note, admin_id, now, goods_returned, method, payout_status, reference, id],
    )?;
    Ok(n == 1)
}

/// Settles a pending B2C payout by its OriginatorConversationID; returns the refund id, or
/// `None` when there is no such pending payout (unknown or a duplicate result).
pub fn settle_payout(
    c: &dyn Conn,
    reference: &str,
    paid: bool,
    receipt: Option<&str>,
    now: i64,
) -> Result<Option<String>, DbError> {
    c.query_opt(
        "UPDATE refunds SET payout_status = $1, payout_receipt = $2, updated_at = $3
         WHERE payout_reference = $4 AND payout_method = 'mpesa_b2c' AND payout_status = 'pending'
         RETURNING id",
        params![
            if paid { "paid" } else { "failed" },
            receipt,
            now,
            reference
        ],
    )?
    .map(|r| r.get(0))
    .transpose()
}

pub fn mark_payout_failed(c: &dyn Conn, id: &str, now: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE refunds SET payout_status = 'failed', updated_at = $1 WHERE id = $2 AND payout_status = 'pending'",
        params![now, id],
    )?;
    Ok(())
}

/// Returns the refunded goods to stock: the listed items, or every item of the sub-order.
pub fn restock(c: &dyn Conn, refund_id: &str, sub_order_id: &str, now: i64) -> Result<(), DbError> {
    let listed: i64 = c.query_scalar(
        "SELECT COUNT(*) FROM refund_items WHERE refund_id = $1",
        params![refund_id],
    )?;
    if listed > 0 {
        c.execute(
            "UPDATE products SET stock = stock + (SELECT CAST(COALESCE(SUM(ri.quantity), 0) AS BIGINT) FROM refund_items ri
                  JOIN order_items i ON i.id = ri.order_item_id
                  WHERE ri.refund_id = $1 AND i.product_id = products.id), updated_at = $2
             WHERE id IN (SELECT i.product_id FROM refund_items ri JOIN order_items i ON i.id = ri.order_item_id
                          WHERE ri.refund_id = $1)",
            params![refund_id, now],
        )?;
    } else {
        crate::orders::store::restock(c, sub_order_id, now)?;
    }
    Ok(())
}
