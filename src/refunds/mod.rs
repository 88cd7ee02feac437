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
    pub order_item_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub id: String,
    pub order_id: String,
    pub sub_order_id: String,
    pub customer_id: String,
    pub reason: String,
    pub description: String,
    pub amount_cents: i64,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub decision_note: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    pub decided_at: Option<i64>,
    pub goods_returned: bool,
    /// `mpesa_b2c` or `manual`, once approved.
    pub payout_method: Option<String>,
    /// `pending`, `paid`, `failed` (B2C) or `recorded` (manual).
    pub payout_status: Option<String>,
    pub payout_receipt: Option<String>,
    pub items: Vec<RefundItem>,
    pub evidence: Vec<ImageRef>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
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
