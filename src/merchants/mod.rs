//! Merchants: applications to become one (a customer applies, an admin approves or rejects
//! with a note, the applicant is mailed the decision), and the merchant profile created on
//! approval, whose `id` is the merchant user's id.

pub mod routes;
pub mod store;

use serde::Serialize;

use crate::clock::serde_rfc3339;
use crate::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    Pending,
    Approved,
    Rejected,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Pending => "pending",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Application {
    pub id: String,
    pub user_id: String,
    pub applicant_email: String,
    pub applicant_name: String,
    pub business_name: String,
    pub business_description: String,
    pub phone: String,
    pub location: String,
    pub status: ApplicationStatus,
    pub decision_note: Option<String>,
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    pub decided_at: Option<i64>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MerchantProfile {
    pub id: String,
    pub business_name: String,
    pub business_description: String,
    pub phone: String,
    pub location: String,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    pub created_at: i64,
}

pub fn validate_business_name(raw: &str) -> Result<String, String> {
    text::line(raw, 2, 120)
}

pub fn validate_business_description(raw: &str) -> Result<String, String> {
    text::multiline(raw, 10, 2000)
}

pub fn validate_location(raw: &str) -> Result<String, String> {
    text::line(raw, 2, 200)
}

pub fn validate_note(raw: &str) -> Result<String, String> {
    text::multiline(raw, 1, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_fields() {
        assert!(validate_business_name("A").is_err());
        assert_eq!(
            validate_business_name(" Duka La Mama ").ok().as_deref(),
            Some("Duka La Mama")
        );
        assert!(validate_business_description("too short").is_err());
        assert!(validate_business_description("Fresh produce from Limuru farms").is_ok());
        assert!(validate_location(&"x".repeat(201)).is_err());
        assert!(validate_note("  ").is_err());
        assert_eq!(
            ApplicationStatus::parse("approved"),
            Some(ApplicationStatus::Approved)
        );
        assert_eq!(ApplicationStatus::parse("maybe"), None);
    }
}
