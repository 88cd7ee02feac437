//! Verified reviews: only a customer who received a product (a delivered sub-order) may
//! review it, once per product (a second post edits it); rating 1–5 and a comment; the
//! product's `rating_avg`/`rating_count` are recomputed in the same transaction; the
//! merchant may post one public reply per review. SQL in `store.rs`, handlers in `routes.rs`.

pub mod routes;
pub mod store;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::serde_rfc3339;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b60")]
    pub id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5d")]
    pub product_id: String,
    #[schema(example = "Wireless earbuds")]
    pub product_name: String,
    /// First name and the initial of the last: reviews are public.
    #[schema(example = "Jane D.")]
    pub reviewer: String,
    #[schema(minimum = 1, maximum = 5, example = 4)]
    pub rating: i64,
    #[schema(example = "Good sound, the case is a bit bulky.")]
    pub comment: String,
    /// The merchant's public reply; `null` until they reply.
    #[schema(required = true, example = "Thank you for your feedback!")]
    pub reply: Option<String>,
    /// When the merchant replied; `null` until they reply.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, required = true, format = DateTime, example = "2025-01-16T10:00:00.000Z")]
    pub replied_at: Option<i64>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub updated_at: i64,
}

/// A product's rating figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ReviewSummary)]
pub struct Summary {
    /// Mean rating (0 when there are no reviews).
    #[schema(example = 4.5)]
    pub rating_avg: f64,
    #[schema(example = 8)]
    pub rating_count: i64,
    /// Reviews per star, "1" to "5".
    #[schema(example = json!({"1": 0, "2": 0, "3": 1, "4": 2, "5": 5}))]
    pub histogram: BTreeMap<String, i64>,
}

/// "Jane Wanjiku Doe" → "Jane D.".
pub fn display_name(full_name: &str) -> String {
    let mut parts = full_name.split_whitespace();
    let first = parts.next().unwrap_or("Customer");
    match parts.last().and_then(|l| l.chars().next()) {
        Some(initial) => format!("{first} {}.", initial.to_uppercase()),
        None => first.to_owned(),
    }
}

pub fn validate_rating(r: Option<i64>) -> Result<i64, String> {
    match r {
        Some(r) if (1..=5).contains(&r) => Ok(r),
        Some(_) => Err("must be a whole number from 1 to 5".into()),
        None => Err("is required".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewer_names_are_shortened() {
        assert_eq!(display_name("Jane Wanjiku Doe"), "Jane D.");
        assert_eq!(display_name("Otieno"), "Otieno");
        assert_eq!(display_name("  "), "Customer");
        assert_eq!(validate_rating(Some(5)), Ok(5));
        assert!(validate_rating(Some(0)).is_err());
        assert!(validate_rating(Some(6)).is_err());
        assert!(validate_rating(None).is_err());
    }
}
