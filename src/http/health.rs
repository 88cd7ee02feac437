//! Liveness and readiness: `GET /healthz` answers while the process runs; `GET /readyz`
//! also checks that the database answers on both the read pool and the writer.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppError;
use crate::state::AppState;

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct Health {
    #[schema(example = "ok")]
    status: String,
    #[schema(example = "0.1.0")]
    version: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct Ready {
    #[schema(example = "ready")]
    status: String,
}

/// Liveness: answers while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the database answers on the read pool and the writer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "The database is not answering (`not_ready`)", body = super::openapi::ErrorEnvelope),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        AppError::unavailable("not_ready", "the database is not answering", 5)
    })?;
    Ok(Json(json!({ "status": "ready" })))
}
