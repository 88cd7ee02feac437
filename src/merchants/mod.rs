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

/// An application to become a merchant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Application {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    /// The applicant's user id.
    #[schema(format = Uuid, example = "0193a6c2-6f00-7a11-8b22-4c5d6e7f8091")]
    pub user_id: String,
    #[schema(example = "jane.doe@example.com")]
    pub applicant_email: String,
    #[schema(example = "Jane Doe")]
    pub applicant_name: String,
    #[schema(example = "Duka La Mama")]
    pub business_name: String,
    #[schema(example = "Fresh produce from Limuru farms, delivered twice a week.")]
    pub business_description: String,
    #[schema(example = "+254712345678")]
    pub phone: String,
    #[schema(example = "Limuru, Kiambu")]
    pub location: String,
    pub status: ApplicationStatus,
    /// The admin's note with the decision (always given on rejection); `null` if none.
    #[schema(example = "Welcome aboard!")]
    pub decision_note: Option<String>,
    /// `null` while pending.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T10:00:00.000Z")]
    pub decided_at: Option<i64>,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T08:15:00.000Z")]
    pub created_at: i64,
}

/// A merchant's public business details; `id` is the merchant user's id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MerchantProfile {
    #[schema(format = Uuid, example = "0193a6c2-6f00-7a11-8b22-4c5d6e7f8091")]
    pub id: String,
    #[schema(example = "Duka La Mama")]
    pub business_name: String,
    #[schema(example = "Fresh produce from Limuru farms, delivered twice a week.")]
    pub business_description: String,
    #[schema(example = "+254712345678")]
    pub phone: String,
    #[schema(example = "Limuru, Kiambu")]
    pub location: String,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-12-01T10:00:00.000Z")]
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
