//! Delivery: hubs (admin-managed places parcels are routed through). Hub staff, riders and
//! the hub's parcels build on this (see the commerce issue).

pub mod routes;
pub mod store;

use serde::Serialize;

use crate::clock::serde_rfc3339;

#[derive(Debug, Clone, Serialize)]
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

pub fn validate_hub_name(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    match s.chars().count() {
        0 => Err("is required".into()),
        1 => Err("must be at least 2 characters".into()),
        n if n > 120 => Err("must be at most 120 characters".into()),
        _ if s.chars().any(char::is_control) => Err("must not contain control characters".into()),
        _ => Ok(s.to_owned()),
    }
}

pub fn validate_hub_location(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    match s.chars().count() {
        0 => Err("is required".into()),
        n if n > 200 => Err("must be at most 200 characters".into()),
        _ if s.chars().any(char::is_control) => Err("must not contain control characters".into()),
        _ => Ok(s.to_owned()),
    }
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
