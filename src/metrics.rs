//! Prometheus metrics (`GET /metrics`, text format, optionally behind a bearer token):
//! request counts and latency by route and status, waits for and durations of write
//! transactions, the read pool, backups, and (computed at scrape time) the mail outbox
//! backlog, pending payments, the age of the last backup, and hub sync (conflicts; on a hub's
//! own instance also the changes waiting to be sent and the age of the last good round).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::http::AppError;
use crate::params;
use crate::state::AppState;

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    write_wait: Histogram,
    write_duration: Histogram,
    backups: IntCounter,
    backup_seconds: Histogram,
    connections: IntGauge,
    connections_closed: IntCounterVec,
    connections_refused: IntCounter,
    accept_errors: IntCounter,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("markethub".into()), None)?;
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "HTTP requests by method, route and status",
        ),
        &["method", "route", "status"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
        &["method", "route"],
    )?;
    let write_wait = Histogram::with_opts(
        HistogramOpts::new(
            "db_write_wait_seconds",
            "Time a write transaction waited for the writer",
        )
        .buckets(vec![
            0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
        ]),
    )?;
    let write_duration = Histogram::with_opts(
        HistogramOpts::new(
            "db_write_duration_seconds",
            "Duration of write transactions",
        )
        .buckets(vec![
            0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
        ]),
    )?;
    let backups = IntCounter::new("backups_total", "Backups taken by this process")?;
    let backup_seconds = Histogram::with_opts(
        HistogramOpts::new("backup_duration_seconds", "Time to take a backup")
            .buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0]),
    )?;
    let connections = IntGauge::new("http_connections", "Open client connections")?;
    let connections_closed = IntCounterVec::new(
        Opts::new(
            "http_connections_closed_total",
            "Client connections closed, by reason (closed, header_timeout, idle_timeout, send_timeout, evicted, shutdown)",
        ),
        &["reason"],
    )?;
    let connections_refused = IntCounter::new(
        "http_connections_refused_total",
        "Connections refused at http.max_connections because every open one was busy",
    )?;
    let accept_errors = IntCounter::new(
        "http_accept_errors_total",
        "Failed accepts (such as running out of file descriptors)",
    )?;
    registry.register(Box::new(connections.clone()))?;
    registry.register(Box::new(connections_closed.clone()))?;
    registry.register(Box::new(connections_refused.clone()))?;
    registry.register(Box::new(accept_errors.clone()))?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(write_wait.clone()))?;
    registry.register(Box::new(write_duration.clone()))?;
    registry.register(Box::new(backups.clone()))?;
    registry.register(Box::new(backup_seconds.clone()))?;
    Ok(Metrics {
        registry,
        requests,
        latency,
        write_wait,
        write_duration,
        backups,
        backup_seconds,
        connections,
        connections_closed,
        connections_refused,
        accept_errors,
    })
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(m) => Some(m),
    Err(e) => {
        tracing::error!(error = %e, "metrics unavailable");
        None
    }
});

/// Counts one request and its latency.
pub fn observe_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        m.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }
}

/// One write transaction: how long it waited for the writer, how long it ran.
pub fn write_transaction(wait: Duration, run: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.write_wait.observe(wait.as_secs_f64());
        m.write_duration.observe(run.as_secs_f64());
    }
}

/// How many client connections are open now.
pub fn connections_open(n: usize) {
    if let Some(m) = METRICS.as_ref() {
        m.connections.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// A client connection ended, and why.
pub fn connection_closed(reason: &str) {
    if let Some(m) = METRICS.as_ref() {
        m.connections_closed.with_label_values(&[reason]).inc();
    }
}

/// A connection refused at the cap.
pub fn connection_refused() {
    if let Some(m) = METRICS.as_ref() {
        m.connections_refused.inc();
    }
}

/// An accept that failed.
pub fn accept_error() {
    if let Some(m) = METRICS.as_ref() {
        m.accept_errors.inc();
    }
}

/// One backup taken (its size is read from the newest file at scrape time).
pub fn backup_taken(took: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.backups.inc();
        m.backup_seconds.observe(took.as_secs_f64());
    }
}

/// Middleware around every route (`Router::layer` runs after routing, so the matched route
/// template is known; unmatched requests count as `unmatched`).
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    observe_request(&method, &route, resp.status().as_u16(), started.elapsed());
    resp
}

/// `GET /metrics`.
/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(render))]
pub struct Doc;

/// Prometheus metrics in the text exposition format. When `metrics.token` is set, the
/// request must carry it as a bearer token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Metrics", content_type = "text/plain", body = String),
        (status = 401, description = "`metrics.token` is set and the request does not carry it", body = crate::http::openapi::ErrorEnvelope),
    )
)]
pub async fn render(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let token = state.config.metrics.token.trim();
    if !token.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::payments::secret_matches(given.trim(), token) {
            return Err(AppError::unauthorized(
                "invalid_token",
                "metrics need the configured bearer token",
            ));
        }
    }
    let hub_instance = state.sync.role.is_hub();
    let (outbox, pending_payments, conflicts, hub_sync) = state
        .db
        .read(move |c| {
            let outbox: i64 = c.query_scalar(
                "SELECT COUNT(*) FROM mail_outbox WHERE status IN ('pending', 'sending')",
                params![],
            )?;
            let pending: i64 = c.query_scalar(
                "SELECT COUNT(*) FROM mpesa_requests WHERE status = 'pending'",
                params![],
            )?;
            let conflicts: i64 =
                c.query_scalar("SELECT COUNT(*) FROM sync_conflicts", params![])?;
            let hub_sync = match crate::sync::store::node(c)? {
                Some(n) if hub_instance => Some((
                    crate::sync::store::log_count_after(c, n.pushed_upto)?,
                    n.last_success_at,
                    n.last_error.is_some(),
                )),
                _ => None,
            };
            Ok::<_, crate::db::DbError>((outbox, pending, conflicts, hub_sync))
        })
        .await?;
    let dir = crate::backups::dir_of(&state.config);
    let newest = tokio::task::spawn_blocking(move || {
        crate::backups::list(&dir)
            .ok()
            .and_then(|l| l.into_iter().next())
    })
    .await
    .ok()
    .flatten();
    let (pool_open, pool_idle) = state.db.read_pool_state();
    let mut out = Vec::new();
    if let Some(m) = METRICS.as_ref() {
        TextEncoder::new()
            .encode(&m.registry.gather(), &mut out)
            .map_err(AppError::internal)?;
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    let mut gauge = |name: &str, help: &str, value: f64| {
        text.push_str(&format!("# HELP markethub_{name} {help}\n# TYPE markethub_{name} gauge\nmarkethub_{name} {value}\n"));
    };
    #[allow(clippy::cast_precision_loss)]
    {
        gauge(
            "mail_outbox_backlog",
            "Messages waiting to be sent",
            outbox as f64,
        );
        gauge(
            "payments_pending",
            "M-Pesa pushes waiting for an answer",
            pending_payments as f64,
        );
        gauge(
            "db_read_connections_open",
            "Read connections in the pool",
            f64::from(pool_open),
        );
        gauge(
            "db_read_connections_in_use",
            "Read connections lent out",
            f64::from(pool_open.saturating_sub(pool_idle)),
        );
        gauge(
            "sync_conflicts",
            "Hub sync conflicts recorded here",
            conflicts as f64,
        );
        if let Some((pending, last_success, failing)) = hub_sync {
            gauge(
                "hub_sync_pending_changes",
                "Changes of this hub not acknowledged by the centre yet",
                pending as f64,
            );
            gauge(
                "hub_sync_failing",
                "1 while the last sync round failed",
                if failing { 1.0 } else { 0.0 },
            );
            if let Some(t) = last_success {
                gauge(
                    "hub_sync_last_success_age_seconds",
                    "Seconds since the last complete sync round",
                    ((crate::clock::now_ms() - t) / 1000) as f64,
                );
            }
        }
        if let Some(b) = newest {
            gauge(
                "last_backup_age_seconds",
                "Seconds since the newest backup",
                ((crate::clock::now_ms() - b.created_at) / 1000) as f64,
            );
            gauge(
                "last_backup_file_bytes",
                "Size of the newest backup file",
                b.size_bytes as f64,
            );
        }
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response())
}
