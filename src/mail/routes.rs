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
#[openapi(paths(list))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/mail", get(list))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only messages to this address (compared after trimming and lower-casing).
    #[param(example = "jane.doe@example.com")]
    to: Option<String>,
    /// Only messages in this state: `pending`, `sending`, `sent`, `logged` or `failed`
    /// (empty: any).
    #[param(example = "logged")]
    status: Option<String>,
}

const STATUSES: [&str; 5] = ["pending", "sending", "sent", "logged", "failed"];

/// The mail outbox, newest first: what was sent, logged, failed or is waiting.
///
/// Without SMTP, messages are `logged`: this is where verification and reset links can be
/// read.
#[utoipa::path(
    get,
    path = "/admin/mail",
    tag = "admin",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ListQuery),
    responses(
        (status = 200, description = "One page of messages", body = Page<OutboxEntry>),
        (status = 400, description = "Unknown `status` (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
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
