//! `GET /admin/mail`: the outbox as admins see it (what was sent, logged, failed or is
//! waiting). Without SMTP this is where a demo reads its verification and reset links.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::store::{self, OutboxEntry};
use crate::http::{AdminUser, AppError, Page, Pagination, Query};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/mail", get(list))
}

#[derive(Deserialize)]
struct ListQuery {
    to: Option<String>,
    status: Option<String>,
}

const STATUSES: [&str; 5] = ["pending", "sending", "sent", "logged", "failed"];

async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<OutboxEntry>>, AppError> {
    let to =
        q.to.map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = status.as_deref()
        && !STATUSES.contains(&s)
    {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let (items, total) = state
        .db
        .read(move |c| {
            store::list(
                c,
                to.as_deref(),
                status.as_deref(),
                page.limit(),
                page.offset(),
            )
        })
        .await?;
    Ok(Json(page.page(items, total)))
}
