//! Delivery: hubs (admin-managed places parcels are routed through), their staff, their
//! delivery partners (riders), and the hub's side of the parcel lifecycle. SQL in
//! `store.rs`; hub and admin handlers in `routes.rs`, hub-staff handlers in `hub_routes.rs`.

pub mod hub_routes;
pub mod routes;
pub mod store;

use serde::Serialize;

use crate::clock::serde_rfc3339;
use crate::text;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hub {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(example = "Westlands Hub")]
    pub name: String,
    #[schema(example = "Westlands, Nairobi")]
    pub location: String,
    #[schema(example = "+254712345678")]
    pub phone: String,
    /// Inactive hubs are hidden from `GET /hubs` and cannot be chosen at checkout.
    #[schema(example = true)]
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPartner {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub hub_id: String,
    #[schema(example = "Otieno Rider")]
    pub name: String,
    #[schema(example = "+254722000111")]
    pub phone: String,
    #[schema(example = "Motorbike KMFA 123X")]
    pub vehicle: Option<String>,
    #[schema(example = true)]
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub updated_at: i64,
}

/// A member of a hub's staff, as admins list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub user_id: String,
    #[schema(example = "jane@example.com")]
    pub email: String,
    #[schema(example = "Jane Wanjiru")]
    pub full_name: String,
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub hub_id: String,
    /// Whether the user's account is active.
    #[schema(example = true)]
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-03-01T09:30:00.000Z")]
    pub assigned_at: i64,
}

pub fn validate_hub_name(raw: &str) -> Result<String, String> {
    text::line(raw, 2, 120)
}

pub fn validate_hub_location(raw: &str) -> Result<String, String> {
    text::line(raw, 1, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_fields() {
        assert!(validate_hub_name("X").is_err());
        assert_eq!(
            validate_hub_name(" Westlands Hub ").ok().as_deref(),
            Some("Westlands Hub")
        );
        assert!(validate_hub_location("").is_err());
        assert!(validate_hub_location(&"l".repeat(201)).is_err());
    }
}
