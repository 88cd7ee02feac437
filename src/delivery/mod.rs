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
    pub id: String,
    pub name: String,
    pub location: String,
    pub phone: String,
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPartner {
    pub id: String,
    pub hub_id: String,
    pub name: String,
    pub phone: String,
    pub vehicle: Option<String>,
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub updated_at: i64,
}

/// A member of a hub's staff, as admins list them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub user_id: String,
    pub email: String,
    pub full_name: String,
    pub hub_id: String,
    pub is_active: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
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
