//! Hub sync over HTTP. On the centre: `POST /admin/hubs/{id}/sync-token` (admins issue a
//! hub's token), `GET /sync/pull` and `POST /sync/push` (the hub instance, with its token and
//! nothing else). On every instance: `GET /admin/sync/conflicts` (admins) and
//! `GET /hub/sync/status` (hub staff and admins); on a hub also `POST /hub/sync/run`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::client::{Report, SyncError};
use super::records::{PullPage, PushAck, PushBatch};
use super::store::{self, Conflict};
use super::{Role, centre};
use crate::auth::Role as UserRole;
use crate::clock::{now_ms, serde_rfc3339};
use crate::http::{AdminUser, AppError, AuthUser, JsonOrEmpty, Page, Pagination, Path, Query};
use crate::ids;
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(issue_token, pull, push, conflicts, status, run_now))]
pub struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/hubs/{id}/sync-token", post(issue_token))
        .route("/sync/pull", get(pull))
        .route("/sync/push", post(push))
        .route("/admin/sync/conflicts", get(conflicts))
        .route("/hub/sync/status", get(status))
        .route("/hub/sync/run", post(run_now))
}

/// Changes a hub's own instance accepts: signing in and out, the hub staff's work (parcels,
/// riders, sync) and cash on delivery. Everything else is the centre's to change.
fn hub_may_change(path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(
        path,
        "/auth/login" | "/auth/refresh" | "/auth/logout" | "/payments/cod/confirm"
    ) || path.starts_with("/hub/")
}

/// On a hub's own instance, refuses (409 `centre_owned`) every change the centre owns:
/// checkout, catalog, merchants' steps, accounts, refunds, M-Pesa. They would change the
/// local copy behind the centre's back and never reach it.
pub async fn hub_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let reading = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if state.sync.role.is_hub() && !reading && !hub_may_change(req.uri().path()) {
        return AppError::conflict(
            "centre_owned",
            "this is a hub's own instance: make this change on the central marketplace",
        )
        .into_response();
    }
    next.run(req).await
}

/// A request authenticated by a hub sync token: the hub it belongs to.
pub struct HubToken {
    pub hub_id: String,
    pub base_seq: i64,
}

impl FromRequestParts<AppState> for HubToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let invalid = || {
            AppError::unauthorized(
                "invalid_sync_token",
                "send Authorization: Bearer <the hub's sync token>",
            )
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .ok_or_else(invalid)?;
        let found = state
            .db
            .read(move |c| centre::authenticate(c, &token))
            .await?
            .ok_or_else(invalid)?;
        Ok(HubToken {
            hub_id: found.0,
            base_seq: found.1,
        })
    }
}

/// A freshly issued sync token (shown once).
#[derive(Serialize, utoipa::ToSchema)]
struct IssuedToken {
    #[schema(format = Uuid)]
    hub_id: String,
    /// Give it to `markethub hub join --token`; stored only hashed.
    #[schema(example = "mhs_3q2p…")]
    token: String,
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    created_at: i64,
}

/// Issues the hub's sync token for its own instance; the previous token stops working.
///
/// Admins only. The hub's full snapshot (its staff, riders and open orders) is queued for
/// the next pull.
#[utoipa::path(
    post,
    path = "/admin/hubs/{id}/sync-token",
    tag = "sync",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Hub id")),
    responses(
        (status = 201, description = "The token, shown once", body = IssuedToken),
        (status = 404, description = "No such hub", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn issue_token(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<IssuedToken>), AppError> {
    if !ids::is_valid(&id) {
        return Err(AppError::not_found("hub"));
    }
    let issued = state
        .db
        .write(move |c| {
            if crate::delivery::store::find_hub(c, &id)?.is_none() {
                return Err(AppError::not_found("hub"));
            }
            let token = centre::issue_token(c, &id, &admin.id)?;
            Ok(IssuedToken {
                hub_id: id,
                token,
                created_at: now_ms(),
            })
        })
        .await?;
    tracing::info!(hub_id = %issued.hub_id, "hub sync token issued");
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PullQuery {
    /// The last `seq` applied (0 or absent: from the start).
    #[param(example = 0)]
    after: Option<i64>,
    /// Entries per batch, 1 to 1000 (default 200).
    #[param(example = 200)]
    limit: Option<i64>,
}

/// The centre's changes for the token's hub after a cursor, oldest first, each with the
/// entity's current state.
///
/// Hub sync token only.
#[utoipa::path(
    get,
    path = "/sync/pull",
    tag = "sync",
    security(("bearer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "One batch", body = PullPage),
        (status = 400, description = "`after` is negative or `limit` outside 1..1000 (`invalid_query`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "This instance is a hub itself (`not_a_centre`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn pull(
    State(state): State<AppState>,
    hub: HubToken,
    Query(q): Query<PullQuery>,
) -> Result<Json<PullPage>, AppError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(200);
    if after < 0 || !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            "after must be 0 or more and limit between 1 and 1000",
        ));
    }
    if state.sync.role.is_hub() {
        return Err(not_a_centre());
    }
    let hub_id = hub.hub_id.clone();
    let page = state
        .db
        .read(move |c| {
            let node = store::node(c)?.map(|n| n.node_id).unwrap_or_default();
            centre::pull(c, &node, &hub_id, hub.base_seq, after, limit)
        })
        .await?;
    let hub_id = hub.hub_id;
    state
        .db
        .write(move |c| store::touch_token(c, &hub_id, now_ms()))
        .await?;
    Ok(Json(page))
}

fn not_a_centre() -> AppError {
    AppError::conflict(
        "not_a_centre",
        "this instance is a hub; sync with the central instance",
    )
}

/// Applies a batch of the hub's changes (in log order); replaying a batch changes nothing.
///
/// Hub sync token only. An entry about another hub's parcel, order or rider refuses the
/// whole batch.
#[utoipa::path(
    post,
    path = "/sync/push",
    tag = "sync",
    security(("bearer" = [])),
    request_body = PushBatch,
    responses(
        (status = 200, description = "What the centre did", body = PushAck),
        (status = 403, description = "An entry touches another hub's data, or the node belongs to another hub (`outside_hub`); nothing was applied", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The batch starts after changes the centre does not have (`sync_gap`, `error.details.expected_after`), or this instance is a hub (`not_a_centre`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A malformed entry (`invalid_entry`) or node id", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn push(
    State(state): State<AppState>,
    hub: HubToken,
    crate::http::JsonBody(batch): crate::http::JsonBody<PushBatch>,
) -> Result<Json<PushAck>, AppError> {
    if state.sync.role.is_hub() {
        return Err(not_a_centre());
    }
    if batch.entries.len() > 1000 {
        return Err(AppError::invalid_field("entries", "at most 1000 per batch"));
    }
    let hub_id = hub.hub_id;
    let ack = state
        .db
        .write(move |c| {
            let ack = centre::push(c, &hub_id, &batch)?;
            store::touch_token(c, &hub_id, now_ms())?;
            Ok::<_, AppError>(ack)
        })
        .await?;
    if ack.applied > 0 {
        state.mail.wake();
    }
    Ok(Json(ack))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ConflictQuery {
    /// Only this hub's conflicts.
    #[param(format = Uuid)]
    hub_id: Option<String>,
}

/// Conflicts found while merging hub changes, newest first.
///
/// Admins only.
#[utoipa::path(
    get,
    path = "/admin/sync/conflicts",
    tag = "sync",
    security(("bearer" = [])),
    params(crate::http::extract::PageParams, ConflictQuery),
    responses((status = 200, description = "One page of conflicts", body = Page<Conflict>))
)]
async fn conflicts(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    Query(q): Query<ConflictQuery>,
) -> Result<Json<Page<Conflict>>, AppError> {
    let hub = q.hub_id.filter(|h| !h.trim().is_empty());
    let (items, total) = state
        .db
        .read(move |c| store::conflicts(c, hub.as_deref(), page.limit(), page.offset()))
        .await?;
    Ok(Json(page.page(items, total)))
}

/// Hub staff of their hub, or an admin (of any hub; `None` on a centre).
async fn hub_viewer(state: &AppState, user: &AuthUser) -> Result<Option<String>, AppError> {
    match user.role {
        UserRole::Admin => Ok(None),
        UserRole::HubStaff => {
            let id = user.id.clone();
            let hub = state
                .db
                .read(move |c| crate::delivery::store::hub_of(c, &id))
                .await?
                .ok_or_else(|| {
                    AppError::forbidden("no_hub", "this account is not assigned to a hub")
                })?;
            Ok(Some(hub))
        }
        _ => Err(AppError::forbidden(
            "forbidden",
            "this action requires the hub_staff or admin role",
        )),
    }
}

/// The state of sync as this instance sees it.
#[derive(Serialize, utoipa::ToSchema)]
struct SyncStatus {
    /// `hub` on a hub's own instance, `central` on the marketplace.
    #[schema(example = "hub")]
    mode: String,
    /// The hub concerned (on a centre: the caller's hub; `null` for an admin).
    hub_id: Option<String>,
    node_id: String,
    /// Hub: the centre it syncs with.
    upstream_url: Option<String>,
    /// Hub: the last round, finished or failed.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_attempt_at: Option<i64>,
    /// Hub: the last round that completed.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_success_at: Option<i64>,
    /// Hub: why the last round failed (`null` after a success).
    last_error: Option<String>,
    /// Hub: local changes the centre has not acknowledged yet.
    pending_changes: i64,
    pushed_upto: i64,
    pulled_upto: i64,
    /// Centre: when the hub's instance last synced.
    #[serde(serialize_with = "serde_rfc3339::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_contact_at: Option<i64>,
    /// Conflicts recorded here (for the hub concerned).
    conflicts: i64,
    /// The five newest.
    recent_conflicts: Vec<Conflict>,
}

/// Sync state: on a hub instance the last round, pending changes and conflicts; on the
/// centre when the hub's instance last synced and the conflicts recorded there.
///
/// Hub staff (their hub) and admins.
#[utoipa::path(
    get,
    path = "/hub/sync/status",
    tag = "sync",
    security(("bearer" = [])),
    responses((status = 200, description = "The sync state", body = SyncStatus))
)]
async fn status(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SyncStatus>, AppError> {
    let viewer_hub = hub_viewer(&state, &user).await?;
    let role = state.sync.role.clone();
    let out = state
        .db
        .read(move |c| {
            let node = store::node(c)?;
            let hub_id = match &role {
                Role::Hub(id) => Some(id.hub_id.clone()),
                Role::Central => viewer_hub,
            };
            let (recent, conflicts) = store::conflicts(c, hub_id.as_deref(), 5, 0)?;
            let mut s = SyncStatus {
                mode: if role.is_hub() { "hub" } else { "central" }.into(),
                node_id: node.as_ref().map(|n| n.node_id.clone()).unwrap_or_default(),
                upstream_url: None,
                last_attempt_at: None,
                last_success_at: None,
                last_error: None,
                pending_changes: 0,
                pushed_upto: 0,
                pulled_upto: 0,
                last_contact_at: None,
                conflicts,
                recent_conflicts: recent,
                hub_id: hub_id.clone(),
            };
            match (&role, node) {
                (Role::Hub(id), Some(n)) => {
                    s.upstream_url = Some(id.upstream_url.clone());
                    s.last_attempt_at = n.last_attempt_at;
                    s.last_success_at = n.last_success_at;
                    s.last_error = n.last_error;
                    s.pending_changes = store::log_count_after(c, n.pushed_upto)?;
                    s.pushed_upto = n.pushed_upto;
                    s.pulled_upto = n.pulled_upto;
                }
                (Role::Central, _) => {
                    if let Some(h) = &hub_id {
                        s.last_contact_at = store::last_contact(c, h)?;
                    }
                }
                _ => {}
            }
            Ok::<_, AppError>(s)
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
struct RunBody {
    /// Re-send every logged change from the first and re-pull from the start: a replay,
    /// which must change nothing on either side.
    from_start: bool,
}

/// Runs a sync round now and answers what it did.
///
/// Hub staff and admins, on a hub instance.
#[utoipa::path(
    post,
    path = "/hub/sync/run",
    tag = "sync",
    security(("bearer" = [])),
    request_body(content = RunBody, description = "Optional"),
    responses(
        (status = 200, description = "The round's report", body = Report),
        (status = 409, description = "This instance is not a hub (`not_a_hub`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The centre could not be reached or refused the round (`upstream_unreachable`, `upstream_refused`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn run_now(
    State(state): State<AppState>,
    user: AuthUser,
    JsonOrEmpty(body): JsonOrEmpty<RunBody>,
) -> Result<Json<Report>, AppError> {
    hub_viewer(&state, &user).await?;
    match state
        .sync
        .run(&state.db, &state.config.upstream, body.from_start)
        .await
    {
        None => Err(AppError::conflict(
            "not_a_hub",
            "this instance is not a hub; nothing to sync",
        )),
        Some(Ok(report)) => Ok(Json(report)),
        Some(Err(SyncError::Unreachable(m))) => Err(AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            format!("the centre cannot be reached: {m}"),
        )),
        Some(Err(SyncError::Local(e))) => Err(e),
        Some(Err(e)) => Err(AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_refused",
            e.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::hub_may_change;

    #[test]
    fn a_hub_changes_only_its_own_work() {
        for path in [
            "/api/v1/auth/login",
            "/auth/refresh",
            "/hub/orders/x/status",
            "/hub/delivery-partners",
            "/hub/sync/run",
            "/payments/cod/confirm",
        ] {
            assert!(hub_may_change(path), "{path}");
        }
        for path in [
            "/auth/register",
            "/orders",
            "/payments/mpesa/initiate",
            "/admin/hubs",
            "/profile/password",
            "/merchant/products",
            "/hubx/orders",
        ] {
            assert!(!hub_may_change(path), "{path}");
        }
    }
}
