//! Users and authentication: roles, the user record, input rules for emails, names and
//! phones, and (in submodules) passwords, tokens, storage, the auth flows and their routes.

pub mod admin_routes;
pub mod password;
pub mod profile_routes;
pub mod routes;
pub mod service;
pub mod store;
pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::clock::serde_rfc3339;

/// One role per user. A merchant is a user whose application was approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Merchant,
    HubStaff,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Merchant, Role::HubStaff, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Merchant => "merchant",
            Role::HubStaff => "hub_staff",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    #[schema(format = Uuid, example = "0193a6c2-7b1e-7cc0-9a51-3f0c2d1e4b5a")]
    pub id: String,
    /// Stored trimmed and lower-cased.
    #[schema(example = "jane.doe@example.com")]
    pub email: String,
    #[schema(example = "Jane Doe")]
    pub full_name: String,
    /// Digits with an optional leading `+`; `null` when none was given.
    #[schema(example = "+254712345678")]
    pub phone: Option<String>,
    pub role: Role,
    /// False once an admin deactivated the account.
    #[schema(example = true)]
    pub is_active: bool,
    #[schema(example = false)]
    pub email_verified: bool,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T08:15:00.000Z")]
    pub created_at: i64,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T08:15:00.000Z")]
    pub updated_at: i64,
    /// `null` until the first sign-in.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T09:30:00.000Z")]
    pub last_login_at: Option<i64>,
}

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_NAME_LEN: usize = 100;

/// Trims and lower-cases an email and checks its shape. Emails are unique case-insensitively
/// because they are stored normalised.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("is required".into());
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(format!("must be at most {MAX_EMAIL_LEN} characters"));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
                && !email.contains(['<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']'])
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err("is not a valid email address".into())
    }
}

/// A display name: 1–100 characters, trimmed, no control characters.
pub fn normalize_name(raw: &str) -> Result<String, String> {
    crate::text::line(raw, 1, MAX_NAME_LEN)
}

/// Removes spaces, dashes, dots and brackets; accepts an optional leading `+` and 7–15 digits.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(cleaned)
    } else {
        Err("must be a phone number of 7 to 15 digits, optionally starting with +".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalize_email("  Jane.Doe@Example.COM ").ok().as_deref(),
            Some("jane.doe@example.com")
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.com",
            "jane@.example.com",
            "jane@example..com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn names_and_phones() {
        assert_eq!(
            normalize_name("  Jane Doe ").ok().as_deref(),
            Some("Jane Doe")
        );
        assert!(normalize_name("   ").is_err());
        assert!(normalize_name(&"x".repeat(101)).is_err());
        assert!(normalize_name("a\u{0007}b").is_err());
        assert_eq!(
            normalize_phone("+254 712-345-678").ok().as_deref(),
            Some("+254712345678")
        );
        assert_eq!(
            normalize_phone("0712 345678").ok().as_deref(),
            Some("0712345678")
        );
        assert!(normalize_phone("12345").is_err());
        assert!(normalize_phone("+2547abc45678").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
