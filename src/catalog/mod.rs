//! The catalog: categories (a tree), products with images, the public listing with filters,
//! sorts and full-text search. Types and input rules live here; SQL in `store.rs`, the
//! full-text query builder in `search.rs`, image storage in `images.rs`, handlers in
//! `routes.rs` (public and merchant) and `admin_routes.rs` (categories).

pub mod admin_routes;
#[cfg(feature = "cloudinary")]
pub mod cloudinary;
pub mod images;
pub mod listing_cache;
pub mod routes;
pub mod search;
pub mod store;

use serde::Serialize;

use crate::clock::serde_rfc3339;
use crate::text;

pub const MAX_CATEGORY_DEPTH: i64 = 5;
pub const MAX_PRICE_CENTS: i64 = 100_000_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(example = "Electronics")]
    pub name: String,
    /// The parent category; `null` for a top-level category.
    #[schema(required = true, format = Uuid)]
    pub parent_id: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub updated_at: i64,
}

/// The merchant as shown on a product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MerchantRef {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5b")]
    pub id: String,
    /// Empty when the merchant has no profile.
    #[schema(example = "Nairobi Gadgets Ltd")]
    pub business_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImageRef {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5c")]
    pub id: String,
    /// Where clients load the image: `/media/…` on this server, or the image service's URL.
    #[schema(example = "/media/products/0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5c.webp")]
    pub url: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Product {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5d")]
    pub id: String,
    #[schema(example = "Wireless earbuds")]
    pub name: String,
    #[schema(example = "Bluetooth 5.3, 24 h battery with the case.")]
    pub description: String,
    /// Unit price in cents of `currency`.
    #[schema(example = 349900)]
    pub price_cents: i64,
    #[schema(example = "KES")]
    pub currency: String,
    #[schema(example = 12)]
    pub stock: i64,
    /// `stock > 0`: listings show out-of-stock products, flagged.
    pub in_stock: bool,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub category_id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5b")]
    pub merchant_id: String,
    pub merchant: MerchantRef,
    pub is_active: bool,
    pub images: Vec<ImageRef>,
    /// Mean rating of its reviews (0 when it has none).
    #[schema(example = 4.5)]
    pub rating_avg: f64,
    #[schema(example = 8)]
    pub rating_count: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2025-01-15T09:30:00.000Z")]
    pub updated_at: i64,
}

/// Listing order. `Relevance` needs a search text; without one it means `Newest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Relevance,
    Newest,
    PriceAsc,
    PriceDesc,
    Rating,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "relevance" => Sort::Relevance,
            "newest" => Sort::Newest,
            "price_asc" => Sort::PriceAsc,
            "price_desc" => Sort::PriceDesc,
            "rating" => Sort::Rating,
            _ => return None,
        })
    }
}

/// Filters of the public listing, already validated.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// The FTS5 match expression built by [`search::match_expression`].
    pub text: Option<String>,
    pub category_id: Option<String>,
    pub merchant_id: Option<String>,
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    pub in_stock: Option<bool>,
    pub sort: Option<Sort>,
}

pub fn validate_category_name(raw: &str) -> Result<String, String> {
    text::line(raw, 1, 80)
}

pub fn validate_product_name(raw: &str) -> Result<String, String> {
    text::line(raw, 2, 200)
}

pub fn validate_description(raw: &str) -> Result<String, String> {
    text::multiline(raw, 0, 5000)
}

pub fn validate_price(cents: i64) -> Result<i64, String> {
    if cents <= 0 {
        Err("must be greater than 0".into())
    } else if cents > MAX_PRICE_CENTS {
        Err(format!("must be at most {MAX_PRICE_CENTS}"))
    } else {
        Ok(cents)
    }
}

pub fn validate_stock(stock: i64) -> Result<i64, String> {
    if stock < 0 {
        Err("must not be negative".into())
    } else if stock > MAX_STOCK {
        Err(format!("must be at most {MAX_STOCK}"))
    } else {
        Ok(stock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_rules() {
        assert!(validate_product_name(" x ").is_err());
        assert_eq!(
            validate_product_name("  Tea  ").ok().as_deref(),
            Some("Tea")
        );
        assert!(validate_product_name(&"n".repeat(201)).is_err());
        assert!(validate_price(0).is_err());
        assert!(validate_price(-5).is_err());
        assert_eq!(validate_price(1), Ok(1));
        assert!(validate_price(MAX_PRICE_CENTS + 1).is_err());
        assert_eq!(validate_stock(0), Ok(0));
        assert!(validate_stock(-1).is_err());
        assert!(validate_description(&"d".repeat(5001)).is_err());
        assert!(validate_category_name("").is_err());
        assert_eq!(Sort::parse("price_desc"), Some(Sort::PriceDesc));
        assert_eq!(Sort::parse("cheapest"), None);
    }
}
