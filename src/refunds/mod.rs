//! Refunds: a customer asks for money back on a delivered sub-order (all of it or some
//! items) with a reason, a description and evidence pictures; an admin approves or denies
//! with a note. Approved refunds are paid back through M-Pesa B2C when the order was paid by
//! M-Pesa and the gateway can send payouts, and recorded as manual payouts otherwise; stock
//! returns when the goods come back. A refund never exceeds what was paid for the sub-order
//! minus what was already refunded. SQL in `store.rs`, handlers in `routes.rs`.

pub mod routes;
pub mod store;

use serde::Serialize;

use crate::catalog::ImageRef;
use crate::clock::serde_rfc3339;

pub const REASONS: [&str; 5] = [
    "damaged",
    "wrong_item",
    "not_as_described",
    "not_received",
    "other",
];
pub const MAX_EVIDENCE: i64 = 5;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundItem {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub order_item_id: String,
    #[schema(example = 1)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub order_id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub sub_order_id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub customer_id: String,
    /// `damaged`, `wrong_item`, `not_as_described`, `not_received` or `other`.
    #[schema(example = "damaged")]
    pub reason: String,
    #[schema(example = "The screen arrived cracked in two places.")]
    pub description: String,
    #[schema(example = 149900)]
    pub amount_cents: i64,
    /// `pending`, `approved` or `denied`.
    #[schema(example = "pending")]
    pub status: String,
    /// The admin's note; `null` until decided (and for approvals without a note).
    #[schema(example = "Approved: photos confirm the damage.")]
    pub decision_note: Option<String>,
    /// When an admin decided; `null` while pending.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-03-02T14:05:00.000Z")]
    pub decided_at: Option<i64>,
    /// The goods came back and were returned to stock.
    #[schema(example = false)]
    pub goods_returned: bool,
    /// `mpesa_b2c` or `manual`, once approved.
    #[schema(example = "mpesa_b2c")]
    pub payout_method: Option<String>,
    /// `pending`, `paid`, `failed` (B2C) or `recorded` (manual).
    #[schema(example = "paid")]
    pub payout_status: Option<String>,
    /// The M-Pesa transaction id of a B2C payout, once reported.
    #[schema(example = "QKJ3ABC123")]
    pub payout_receipt: Option<String>,
    /// The items asked about; empty when the request is for the sub-order as a whole.
    pub items: Vec<RefundItem>,
    /// Pictures added with `POST /refunds/{id}/evidence`.
    pub evidence: Vec<ImageRef>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub updated_at: i64,
}

/// What can still be refunded on a sub-order: what was paid for it minus approved refunds.
pub fn refundable(paid_for_sub_order: i64, already_refunded: i64) -> i64 {
    (paid_for_sub_order - already_refunded).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_never_exceed_what_was_paid() {
        assert_eq!(refundable(5_000, 0), 5_000);
        assert_eq!(refundable(5_000, 3_000), 2_000);
        assert_eq!(refundable(5_000, 5_000), 0);
        assert_eq!(refundable(5_000, 6_000), 0);
        assert!(REASONS.contains(&"damaged"));
    }
}
