//! `GET /admin/backups` (list), `POST /admin/backups` (take one now) and
//! `GET /admin/backups/{name}` (download). One backup at a time per server.

use crate::http::Path;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::{BackupError, BackupInfo, dir_of, list, parse_name};
use crate::clock::now_ms;
use crate::http::{AdminUser, AppError};
use crate::state::AppState;

/// The OpenAPI description of these routes (paths as in [`router`], relative to `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(index, create, download))]
pub struct Doc;

/// The backups on the server.
#[derive(Serialize, utoipa::ToSchema)]
struct BackupList {
    /// Newest first.
    items: Vec<BackupInfo>,
    /// Seconds since the newest backup was taken; `null` when there is none.
    #[schema(example = 3600)]
    last_backup_age_secs: Option<i64>,
}

/// A backup file: a gzip-compressed SQLite database.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct BackupFile(Vec<u8>);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/backups", get(index).post(create))
        .route("/admin/backups/{name}", get(download))
}

impl From<BackupError> for AppError {
    fn from(e: BackupError) -> Self {
        AppError::internal(e)
    }
}

/// Takes a backup now unless one is already running (409). Used by the API and the schedule.
pub async fn take_backup(state: &AppState) -> Result<BackupInfo, AppError> {
    let _running = state
        .backup_lock
        .clone()
        .try_lock_owned()
        .map_err(|_| AppError::conflict("backup_running", "a backup is already being taken"))?;
    let Some(db_path) = state.db.sqlite_file().map(std::path::Path::to_path_buf) else {
        return Err(AppError::conflict(
            "backups_external",
            "this install keeps its data in PostgreSQL: back it up with pg_dump \
             (see docs/OPERATIONS.md); MarketHub takes backups of SQLite databases only",
        ));
    };
    let dir = dir_of(&state.config);
    let started = std::time::Instant::now();
    let info = tokio::task::spawn_blocking(move || super::create(&db_path, &dir, None, |_, _| {}))
        .await
        .map_err(AppError::internal)??;
    crate::metrics::backup_taken(started.elapsed());
    Ok(info)
}

/// Lists the backups, newest first, and the age of the newest (admins).
#[utoipa::path(
    get,
    path = "/admin/backups",
    tag = "backups",
    security(("bearer" = [])),
    responses((status = 200, description = "The backups (not paginated)", body = BackupList))
)]
async fn index(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<BackupList>, AppError> {
    let dir = dir_of(&state.config);
    let items = tokio::task::spawn_blocking(move || list(&dir))
        .await
        .map_err(AppError::internal)??;
    let age = items.first().map(|b| (now_ms() - b.created_at) / 1000);
    Ok(Json(BackupList {
        items,
        last_backup_age_secs: age,
    }))
}

/// Takes a backup now (admins).
///
/// An online snapshot of the database, checked and gzip-compressed. One backup at a time.
#[utoipa::path(
    post,
    path = "/admin/backups",
    tag = "backups",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new backup", body = BackupInfo),
        (status = 409, description = "A backup is already being taken (`backup_running`), or the data is in PostgreSQL, which is backed up with `pg_dump` (`backups_external`)", body = crate::http::openapi::ErrorEnvelope),
    )
)]
async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<(StatusCode, Json<BackupInfo>), AppError> {
    let info = take_backup(&state).await?;
    tracing::info!(name = %info.name, size = info.size_bytes, "backup taken on request");
    Ok((StatusCode::CREATED, Json(info)))
}

/// Downloads a backup file (admins): a gzip-compressed SQLite database.
#[utoipa::path(
    get,
    path = "/admin/backups/{name}",
    tag = "backups",
    security(("bearer" = [])),
    params((
        "name" = String,
        Path,
        description = "The backup's file name, as listed",
        example = "markethub-20261130T020000Z.db.gz"
    )),
    responses(
        (
            status = 200,
            description = "The backup file",
            content_type = "application/gzip",
            body = BackupFile,
            headers(
                ("Content-Length" = u64, description = "Size of the file in bytes"),
                ("Content-Disposition" = String, description = "`attachment; filename=\"<name>\"`"),
            )
        ),
    )
)]
async fn download(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    // Only names we generate: nothing else in (or outside) the directory can be reached.
    if parse_name(&name).is_none() || name.contains('/') || name.contains("..") {
        return Err(AppError::not_found("backup"));
    }
    let path = dir_of(&state.config).join(&name);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppError::not_found("backup"));
        }
        Err(e) => return Err(AppError::internal(e)),
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
