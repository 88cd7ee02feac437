//! The one error type handlers return, rendered as the design's JSON envelope:
//! `{"error": {"code": "validation_failed", "message": "…", "fields": {…}}}`.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::DbError;

/// An error that becomes an HTTP response. Internal causes are logged, never sent.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    /// Machine-readable specifics (e.g. the items that failed a checkout).
    pub details: Option<serde_json::Value>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fields: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            details: None,
            retry_after_secs: None,
        }
    }

    /// Adds machine-readable specifics, sent as `error.details`.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 naming one field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), problem.into());
        Self::validation(fields)
    }

    /// 422 naming every field that failed.
    pub fn validation(fields: BTreeMap<String, String>) -> Self {
        let message = match fields.len() {
            1 => fields
                .iter()
                .next()
                .map(|(f, p)| format!("{f}: {p}"))
                .unwrap_or_default(),
            n => format!("{n} fields are invalid"),
        };
        AppError {
            fields,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        AppError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            )
        }
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        AppError {
            retry_after_secs: Some(retry_after.max(1)),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// A failure that is ours, not the client's: logged in full, answered generically.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; it has been logged",
        )
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        if e.is_busy() {
            tracing::warn!(error = %e, "database busy");
            AppError::unavailable("database_busy", "the database is busy; retry shortly", 1)
        } else if e.is_duplicate() {
            // Every unique constraint a request can reach is checked before writing with its
            // own error; this is the net under a check that is missing or lost a race.
            tracing::warn!(error = %e, "a write would have duplicated a unique value");
            AppError::conflict(
                "already_exists",
                "this would duplicate something that already exists",
            )
        } else if matches!(e, DbError::InvalidText(_)) {
            AppError::bad_request(
                "invalid_text",
                "text must not contain NUL characters or other characters that cannot be stored",
            )
        } else {
            AppError::internal(e)
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                fields: &self.fields,
                details: self.details.as_ref(),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Collects per-field problems and turns them into one 422.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `problem` for `field` unless one is already recorded.
    pub fn add(&mut self, field: &str, problem: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// Records the error of a field validator, if any, and returns its value.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(problem) => {
                self.add(field, problem);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_database_is_503_and_other_db_errors_are_500() {
        assert_eq!(
            AppError::from(DbError::Busy).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            AppError::from(DbError::Decode(0, "x".into())).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn field_errors_keep_the_first_problem_per_field() {
        let mut f = FieldErrors::new();
        f.add("email", "is required");
        f.add("email", "is invalid");
        assert_eq!(f.check::<()>("password", Err("too short".into())), None);
        let err = f.finish().expect_err("two problems");
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.fields.get("email").map(String::as_str),
            Some("is required")
        );
        assert_eq!(err.fields.len(), 2);
    }
}
