//! The middleware stack around every route: request ids, tracing spans, panic catching,
//! gzip, CORS from config, a request timeout and the body size limit. Every failure these
//! layers produce is answered with the JSON error envelope.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use tower::{BoxError, ServiceBuilder};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::AppError;
use crate::config::Config;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the standard stack (outermost first in the list below).
pub fn apply(router: Router, config: &Config) -> Router {
    let timeout = Duration::from_secs(config.http.request_timeout_secs);
    router
        .layer(DefaultBodyLimit::max(config.http.body_limit_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<Body>| {
                            let id = req
                                .headers()
                                .get(REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!(
                                "http",
                                method = %req.method(),
                                path = %loggable_path(req.uri().path()),
                                request_id = %id
                            )
                        })
                        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                        .on_response(
                            DefaultOnResponse::new()
                                .level(Level::INFO)
                                .latency_unit(LatencyUnit::Micros),
                        ),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(
                    // Backups are gzip files already.
                    CompressionLayer::new().gzip(true).compress_when(
                        DefaultPredicate::new()
                            .and(NotForContentType::const_new("application/gzip")),
                    ),
                )
                .layer(cors(config))
                .layer(HandleErrorLayer::new(middleware_error))
                .timeout(timeout),
        )
}

/// The request path as logged: the secret segment of the M-Pesa callback URLs (which is
/// what authenticates Safaricom's calls) is replaced by `***`.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const SECRET_AFTER: [&str; 3] = [
        "/payments/mpesa/callback/",
        "/payments/mpesa/b2c/result/",
        "/payments/mpesa/b2c/timeout/",
    ];
    for prefix in SECRET_AFTER {
        if let Some(at) = path.find(prefix) {
            return format!("{}***", &path[..at + prefix.len()]).into();
        }
    }
    path.into()
}

/// CORS from `http.cors_origins`: none listed means no cross-origin access at all.
fn cors(config: &Config) -> CorsLayer {
    let origins = &config.http.cors_origins;
    let allow = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

async fn middleware_error(err: BoxError) -> AppError {
    if err.is::<tower::timeout::error::Elapsed>() {
        AppError::unavailable("timeout", "the request took too long; retry later", 5)
    } else {
        AppError::internal(err)
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let mut resp = AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an unexpected error occurred; it has been logged",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn callback_secrets_never_reach_the_log() {
        assert_eq!(
            loggable_path("/api/v1/payments/mpesa/callback/s3cr3t"),
            "/api/v1/payments/mpesa/callback/***"
        );
        assert_eq!(
            loggable_path("/api/v1/payments/mpesa/b2c/timeout/s3cr3t"),
            "/api/v1/payments/mpesa/b2c/timeout/***"
        );
        assert_eq!(loggable_path("/api/v1/products/7"), "/api/v1/products/7");
    }
}
