//! HTTP conventions shared by every domain: the error envelope, extractors (JSON bodies,
//! queries, pagination, authentication, client IP), rate limits, middleware layers, health
//! endpoints, embedded assets, the OpenAPI document, and the fallbacks for unknown routes and
//! methods. Also the accept loop that serves connections (`connections.rs`: timeouts and the
//! connection cap) and the open-file limit it is sized from (`file_limit.rs`).

pub mod assets;
pub mod auth;
pub mod client_ip;
pub mod connections;
pub mod error;
pub mod extract;
pub mod file_limit;
pub mod health;
pub mod layers;
pub mod openapi;
pub mod rate_limit;

use axum::http::{Method, Uri};

pub use auth::{AdminUser, AuthUser, CustomerUser, HubStaffUser, MerchantUser};
pub use client_ip::ClientIp;
pub use error::{AppError, FieldErrors};
pub use extract::{JsonBody, JsonOrEmpty, Page, Pagination, Path, Query, RawBody, nullable};

/// 404 for any path no route matches.
pub async fn not_found(method: Method, uri: Uri) -> AppError {
    AppError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

/// 405 for a known path called with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
