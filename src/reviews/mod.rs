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
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    /// First name and the initial of the last: reviews are public.
    pub reviewer: String,
    pub rating: i64,
    pub comment: String,
    pub reply: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    pub replied_at: Option<i64>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub rating_avg: f64,
    pub rating_count: i64,
    /// Reviews per star, "1" to "5".
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
