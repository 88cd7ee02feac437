//! The hub's side of the wire: the HTTP client towards the centre, one sync round (push the
//! local log, then pull the centre's), the background job that repeats it with backoff, and
//! `markethub hub join`.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::{Config, UpstreamConfig};
use crate::db::{Db, DbError};
use crate::http::AppError;

use super::records::{PullPage, PushAck, PushBatch, PushEntry};
use super::{HubIdentity, Role, mirror, store};

/// Why a hub cannot keep its data in PostgreSQL.
pub const HUB_NEEDS_SQLITE: &str = "a hub instance keeps its data in SQLite (its change log must \
    number changes without gaps, which PostgreSQL sequences do not promise): leave \
    database.url empty";

/// Upper bound of a push request's entries, in bytes of JSON.
const MAX_PUSH_BYTES: usize = 512 * 1024;

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the centre cannot be reached: {0}")]
    Unreachable(String),
    #[error("the centre refused the request ({0}): {1}")]
    Refused(u16, String),
    #[error("{}", .0.message)]
    Local(AppError),
    #[error("{0}")]
    Join(String),
}

impl SyncError {
    /// The centre did not answer, or something in front of it said it is down (502, 503, 504).
    pub fn centre_unreachable(&self) -> bool {
        match self {
            SyncError::Unreachable(_) => true,
            SyncError::Refused(status, _) => matches!(status, 502..=504),
            SyncError::Local(_) | SyncError::Join(_) => false,
        }
    }
}

impl From<AppError> for SyncError {
    fn from(e: AppError) -> Self {
        SyncError::Local(e)
    }
}

impl From<DbError> for SyncError {
    fn from(e: DbError) -> Self {
        SyncError::Local(e.into())
    }
}

/// The blocking HTTP client for one upstream.
#[derive(Clone)]
pub struct Upstream {
    agent: ureq::Agent,
    base: String,
    token: String,
}

enum PushReply {
    Ack(PushAck),
    /// The centre misses changes after this position (e.g. it was restored from a backup).
    Gap(i64),
}

impl Upstream {
    pub fn new(url: &str, token: &str, timeout_secs: u64) -> Upstream {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(timeout_secs)))
            .http_status_as_error(false)
            .build()
            .into();
        Upstream {
            agent,
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            token: token.to_owned(),
        }
    }

    fn read(resp: ureq::http::Response<ureq::Body>) -> Result<(u16, Value), SyncError> {
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Sends a request, once more if the connection broke (a kept-alive connection the far
    /// end had closed, a reset on the way): both sync calls may be repeated without effect.
    fn twice(
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Value), SyncError> {
        let first = send()
            .map_err(|e| e.to_string())
            .and_then(|r| Self::read(r).map_err(|e| e.to_string()));
        match first {
            Ok(answer) => Ok(answer),
            Err(_) => {
                let resp = send().map_err(|e| SyncError::Unreachable(e.to_string()))?;
                Self::read(resp)
            }
        }
    }

    /// A cheap sign of life from the centre: `GET /healthz` answered with anything below 500
    /// (a proxy's 404 proves the way is open too).
    fn probe(&self, timeout: Duration) -> bool {
        let root = self.base.trim_end_matches("/api/v1");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .get(&format!("{root}/healthz"))
            .call()
            .is_ok_and(|r| r.status().as_u16() < 500)
    }

    fn refused(status: u16, body: &Value) -> SyncError {
        let message = body["error"]["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}"), str::to_owned);
        SyncError::Refused(status, message)
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        let url = format!("{}/sync/pull?after={after}&limit={limit}", self.base);
        let (status, body) = Self::twice(|| {
            self.agent
                .get(&url)
                .header("Authorization", &format!("Bearer {}", self.token))
                .call()
        })?;
        if status != 200 {
            return Err(Self::refused(status, &body));
        }
        serde_json::from_value(body)
            .map_err(|e| SyncError::Refused(status, format!("unexpected pull answer: {e}")))
    }

    fn push(&self, batch: &PushBatch) -> Result<PushReply, SyncError> {
        let url = format!("{}/sync/push", self.base);
        let (status, body) = Self::twice(|| {
            self.agent
                .post(&url)
                .header("Authorization", &format!("Bearer {}", self.token))
                .send_json(batch)
        })?;
        match status {
            200 => serde_json::from_value(body)
                .map(PushReply::Ack)
                .map_err(|e| SyncError::Refused(status, format!("unexpected push answer: {e}"))),
            409 if body["error"]["code"] == "sync_gap" => {
                body["error"]["details"]["expected_after"]
                    .as_i64()
                    .map(PushReply::Gap)
                    .ok_or_else(|| Self::refused(status, &body))
            }
            _ => Err(Self::refused(status, &body)),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Local(AppError::internal(e)))?
}

/// What one round did.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Local changes sent.
    pub pushed: i64,
    pub push_batches: i64,
    /// Sent changes that changed something at the centre (0 on a replay).
    pub remote_changed: i64,
    /// Centre changes received.
    pub pulled: i64,
    pub pull_batches: i64,
    /// Received changes that changed something here (0 on a replay).
    pub local_changed: i64,
    /// Conflicts recorded by this round, on either side.
    pub new_conflicts: i64,
}

/// Sends the local log from the last acknowledged change (or from the start) in batches.
async fn push_all(
    db: &Db,
    up: &Upstream,
    node_id: &str,
    batch_size: u32,
    from_start: bool,
    report: &mut Report,
) -> Result<(), SyncError> {
    let acked = db
        .read(|c| Ok::<_, DbError>(store::node(c)?.map_or(0, |n| n.pushed_upto)))
        .await?;
    let mut after = if from_start { 0 } else { acked };
    let mut gaps = 0;
    loop {
        let limit = i64::from(batch_size);
        let mut rows = db.read(move |c| store::log_after(c, after, limit)).await?;
        // Stay well inside the centre's request size limit (1 MiB by default).
        let mut bytes = 0;
        let fits = rows
            .iter()
            .take_while(|r| {
                bytes += r.2.len() + 64;
                bytes <= MAX_PUSH_BYTES
            })
            .count();
        rows.truncate(fits.max(1));
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(());
        };
        let entries = rows
            .into_iter()
            .map(|(seq, kind, payload)| {
                let data = serde_json::from_str(&payload).map_err(|e| {
                    SyncError::Local(AppError::internal(format!("sync log entry {seq}: {e}")))
                })?;
                Ok(PushEntry { seq, kind, data })
            })
            .collect::<Result<Vec<_>, SyncError>>()?;
        let batch = PushBatch {
            node_id: node_id.to_owned(),
            entries,
        };
        let sent = batch.entries.len() as i64;
        let client = up.clone();
        match blocking(move || client.push(&batch)).await? {
            PushReply::Ack(ack) => {
                report.pushed += sent;
                report.push_batches += 1;
                report.remote_changed += ack.applied + ack.conflicts;
                report.new_conflicts += ack.conflicts;
                let upto = ack.acked_upto.min(last);
                db.write(move |c| {
                    let cur = store::node(c)?.map_or(0, |n| n.pushed_upto);
                    store::set_pushed(c, cur.max(upto))
                })
                .await?;
                after = last;
            }
            PushReply::Gap(expected) => {
                gaps += 1;
                if gaps > 3 || expected >= after {
                    return Err(SyncError::Refused(
                        409,
                        format!("the centre keeps asking for changes after {expected}"),
                    ));
                }
                tracing::warn!(
                    expected,
                    "the centre misses earlier changes; resending them"
                );
                db.write(move |c| store::set_pushed(c, expected)).await?;
                after = expected;
            }
        }
    }
}

/// Pulls the centre's changes from the cursor (or from the start) and applies each batch in
/// one transaction with the new cursor.
async fn pull_all(
    db: &Db,
    up: &Upstream,
    hub_id: &str,
    batch_size: u32,
    from_start: bool,
    report: &mut Report,
) -> Result<(), SyncError> {
    let (cursor, known_centre) = db
        .read(|c| {
            Ok::<_, DbError>(
                store::node(c)?.map_or((0, None), |n| (n.pulled_upto, n.upstream_node_id)),
            )
        })
        .await?;
    let mut after = if from_start { 0 } else { cursor };
    // Set when the centre's log is not the one the cursor counts in (restored from an older
    // backup, or a new database): then everything is pulled again and the cursor follows.
    let mut rewound = false;
    loop {
        let client = up.clone();
        let page = blocking(move || client.pull(after, batch_size)).await?;
        if page.hub_id != hub_id {
            return Err(SyncError::Refused(
                200,
                format!("the token belongs to hub {}, not {hub_id}", page.hub_id),
            ));
        }
        let other_log = known_centre.as_deref().is_some_and(|n| n != page.node_id);
        if !rewound && after > 0 && (page.head < after || other_log) {
            tracing::warn!(
                cursor = after,
                centre_head = page.head,
                "the centre's change log is not the one this hub followed; pulling everything again"
            );
            rewound = true;
            after = 0;
            continue;
        }
        report.pulled += page.entries.len() as i64;
        report.pull_batches += 1;
        let hub = hub_id.to_owned();
        let (next, more, node) = (page.next_after, page.more, page.node_id.clone());
        let applied = db
            .write(move |c| {
                let applied = mirror::apply_pull(c, &hub, &page.entries)?;
                let cur = store::node(c)?.map_or(0, |n| n.pulled_upto);
                store::set_pulled(c, if rewound { next } else { cur.max(next) }, &node)?;
                Ok::<_, AppError>(applied)
            })
            .await?;
        report.local_changed += applied.changed;
        report.new_conflicts += applied.conflicts;
        if !more || next <= after {
            return Ok(());
        }
        after = next;
    }
}

/// One round: push, then pull (so the centre's answer already reflects the hub's changes).
pub async fn round(
    db: &Db,
    id: &HubIdentity,
    cfg: &UpstreamConfig,
    from_start: bool,
) -> Result<Report, SyncError> {
    let up = Upstream::new(&id.upstream_url, &id.upstream_token, cfg.timeout_secs);
    let mut report = Report::default();
    push_all(
        db,
        &up,
        &id.node_id,
        cfg.batch_size,
        from_start,
        &mut report,
    )
    .await?;
    pull_all(db, &up, &id.hub_id, cfg.batch_size, from_start, &mut report).await?;
    Ok(report)
}

/// The instance's sync role, the lock that keeps rounds from overlapping, and the bell that
/// starts a round early.
pub struct SyncHandle {
    pub role: Role,
    lock: Mutex<()>,
    wake: Notify,
}

impl SyncHandle {
    pub fn new(role: Role) -> Arc<SyncHandle> {
        Arc::new(SyncHandle {
            role,
            lock: Mutex::new(()),
            wake: Notify::new(),
        })
    }

    /// Asks the background job for a round now (after a local change).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs one round now and records its outcome; `None` on a central instance.
    pub async fn run(
        &self,
        db: &Db,
        cfg: &UpstreamConfig,
        from_start: bool,
    ) -> Option<Result<Report, SyncError>> {
        let Role::Hub(id) = &self.role else {
            return None;
        };
        let _one_at_a_time = self.lock.lock().await;
        let result = round(db, id, cfg, from_start).await;
        let error = result.as_ref().err().map(ToString::to_string);
        let recorded = db
            .write(move |c| store::record_round(c, now_ms(), error.as_deref()))
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "recording the sync round");
        }
        Some(result)
    }
}

/// When the next round or probe is due while the centre is failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Pause before the next full round: doubles after each failed round, up to the cap.
    pub retry_in: Duration,
    /// Pause between probes.
    pub probe_every: Duration,
}

impl Backoff {
    /// After the first failure of a run of them.
    pub fn first(cfg: &UpstreamConfig) -> Backoff {
        Backoff {
            retry_in: Duration::from_millis(cfg.sync_interval_ms),
            probe_every: probe_interval(cfg),
        }
    }

    /// After one more failed round. Only rounds escalate: local changes made meanwhile do not
    /// start rounds (they ring a probe), so an outage full of work waits no longer for it.
    pub fn after_failed_round(self, cfg: &UpstreamConfig) -> Backoff {
        Backoff {
            retry_in: (self.retry_in * 2).min(Duration::from_millis(cfg.max_backoff_ms)),
            ..self
        }
    }
}

/// How often a failing hub asks the centre whether it is back: `probe_interval_ms`, at most
/// 10 s and never longer than the round interval.
pub fn probe_interval(cfg: &UpstreamConfig) -> Duration {
    Duration::from_millis(
        cfg.probe_interval_ms
            .clamp(1, 10_000)
            .min(cfg.sync_interval_ms.max(1)),
    )
}

/// Repeats rounds every `sync_interval_ms`; a local change or `POST /hub/sync/run` starts one
/// early. After a failure, full rounds back off (doubling up to `max_backoff_ms`) while a
/// cheap probe asks the centre every `probe_interval_ms` (≤ 10 s) whether it is back; when
/// the centre was down, a probe that gets an answer starts a round at once. Local changes
/// during an outage bring the next probe forward, never start a round, so they do not
/// stretch the back-off.
pub async fn run_job(
    db: Db,
    handle: Arc<SyncHandle>,
    cfg: UpstreamConfig,
    shutdown: CancellationToken,
) {
    let Role::Hub(id) = &handle.role else {
        return;
    };
    let upstream = Upstream::new(&id.upstream_url, &id.upstream_token, cfg.timeout_secs);
    let probe_timeout = Duration::from_secs(cfg.timeout_secs.clamp(1, 5));
    let interval = Duration::from_millis(cfg.sync_interval_ms);
    let mut next_round = tokio::time::Instant::now();
    let mut failing: Option<Backoff> = None;
    // Whether the centre was last seen down (a round or a probe could not reach it): only
    // then does a probe's answer start a round. A centre that answers probes while its
    // rounds fail (a revoked token, say) is left to the back-off.
    let mut centre_down = false;
    let mut next_probe = tokio::time::Instant::now();
    loop {
        let probe_at = failing.map(|_| next_probe);
        let cause = tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(next_round) => Wake::Schedule,
            () = handle.wake.notified() => Wake::LocalChange,
            () = tokio::time::sleep_until(probe_at.unwrap_or(next_round)), if probe_at.is_some() => Wake::Probe,
        };
        if let Some(backoff) = failing
            && cause != Wake::Schedule
        {
            // Failing: a probe decides whether a round is worth it. A local change brings
            // the next probe forward (to within a second), it does not start a round.
            if cause == Wake::LocalChange {
                next_probe = next_probe.min(tokio::time::Instant::now() + Duration::from_secs(1));
                continue;
            }
            let up = upstream.clone();
            let alive = tokio::task::spawn_blocking(move || up.probe(probe_timeout))
                .await
                .unwrap_or(false);
            next_probe = tokio::time::Instant::now() + backoff.probe_every;
            if !alive {
                centre_down = true;
                continue;
            }
            if !centre_down {
                continue;
            }
            tracing::info!("the centre answers again; syncing now");
        }
        let outcome = tokio::select! {
            () = shutdown.cancelled() => break,
            r = handle.run(&db, &cfg, false) => r,
        };
        match outcome {
            Some(Ok(r)) => {
                if failing.is_some() || r.local_changed + r.remote_changed > 0 {
                    tracing::info!(
                        pushed = r.pushed,
                        pulled = r.pulled,
                        local_changed = r.local_changed,
                        remote_changed = r.remote_changed,
                        conflicts = r.new_conflicts,
                        "hub sync round done"
                    );
                }
                failing = None;
                next_round = tokio::time::Instant::now() + interval;
            }
            Some(Err(e)) => {
                let backoff = match failing {
                    Some(b) => b.after_failed_round(&cfg),
                    None => Backoff::first(&cfg),
                };
                failing = Some(backoff);
                centre_down = e.centre_unreachable();
                let now = tokio::time::Instant::now();
                next_round = now + backoff.retry_in;
                next_probe = now + backoff.probe_every;
                tracing::warn!(
                    error = %e,
                    retry_in_ms = backoff.retry_in.as_millis() as u64,
                    probe_every_ms = backoff.probe_every.as_millis() as u64,
                    "hub sync round failed"
                );
            }
            None => break,
        }
    }
}

/// What woke the sync job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Schedule,
    LocalChange,
    Probe,
}

/// What `hub join` fetched.
pub struct JoinSummary {
    pub hub_id: String,
    pub hub_name: String,
    pub orders: i64,
    pub staff: i64,
    pub riders: i64,
}

/// `markethub hub join`: makes this data directory a hub instance of the centre at `url` and
/// pulls everything the hub needs.
pub async fn join(db: &Db, config: &Config, url: &str, token: &str) -> Result<JoinSummary, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("--upstream must start with http:// or https://".into());
    }
    if db.dialect() != crate::db::Dialect::Sqlite {
        return Err(HUB_NEEDS_SQLITE.into());
    }
    let up = Upstream::new(url, token, config.upstream.timeout_secs);
    let first = blocking(move || up.pull(0, 1))
        .await
        .map_err(|e| e.to_string())?;
    let hub_id = first.hub_id.clone();
    let (u, t, h) = (url.to_owned(), token.to_owned(), hub_id.clone());
    db.write(move |c| {
        match store::node(c)? {
            Some(n) if n.mode == "hub" && n.hub_id.as_deref() != Some(h.as_str()) => {
                return Err(SyncError::Join(format!(
                    "this data directory already serves hub {}; use a fresh one for hub {h}",
                    n.hub_id.unwrap_or_default()
                )));
            }
            Some(n) if n.mode == "hub" => {}
            other => {
                // Accounts or orders of its own would mix with the hub's copy (and a local
                // admin could act behind the centre's back).
                let users: i64 = c.query_scalar("SELECT COUNT(*) FROM users", &[])?;
                if users > 0 {
                    return Err(SyncError::Join(
                        "this data directory holds a marketplace of its own; join with a fresh data directory"
                            .into(),
                    ));
                }
                if other.is_some() {
                    c.execute("DELETE FROM sync_node", &[])?;
                }
            }
        }
        store::join_as_hub(c, &h, &u, &t)?;
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut report = Report::default();
    let up = Upstream::new(url, token, config.upstream.timeout_secs);
    pull_all(
        db,
        &up,
        &hub_id,
        config.upstream.batch_size,
        false,
        &mut report,
    )
    .await
    .map_err(|e| e.to_string())?;
    let h = hub_id.clone();
    db.read(move |c| {
        let count = |sql: &str| c.query_scalar::<i64>(sql, &[h.as_str().into()]);
        Ok::<_, DbError>(JoinSummary {
            hub_name: crate::delivery::store::find_hub(c, &h)?
                .map(|x| x.name)
                .unwrap_or_default(),
            orders: count("SELECT COUNT(*) FROM orders WHERE hub_id = $1")?,
            staff: count("SELECT COUNT(*) FROM hub_staff WHERE hub_id = $1")?,
            riders: count("SELECT COUNT(*) FROM delivery_partners WHERE hub_id = $1")?,
            hub_id: h,
        })
    })
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_back_off_to_the_cap_while_probes_stay_short() {
        let cfg = UpstreamConfig {
            sync_interval_ms: 15_000,
            max_backoff_ms: 60_000,
            probe_interval_ms: 5_000,
            ..UpstreamConfig::default()
        };
        let first = Backoff::first(&cfg);
        assert_eq!(first.retry_in, Duration::from_secs(15));
        assert_eq!(first.probe_every, Duration::from_secs(5));
        let later = first
            .after_failed_round(&cfg)
            .after_failed_round(&cfg)
            .after_failed_round(&cfg);
        assert_eq!(later.retry_in, Duration::from_secs(60), "capped");
        assert_eq!(
            later.probe_every,
            Duration::from_secs(5),
            "probes do not back off"
        );
        let slow = UpstreamConfig {
            probe_interval_ms: 60_000,
            ..cfg.clone()
        };
        assert_eq!(
            probe_interval(&slow),
            Duration::from_secs(10),
            "at most 10 s"
        );
        let quick = UpstreamConfig {
            sync_interval_ms: 200,
            ..cfg
        };
        assert_eq!(
            probe_interval(&quick),
            Duration::from_millis(200),
            "never slower than a round"
        );
    }

    #[test]
    fn only_a_centre_that_did_not_answer_is_probed_back_into_a_round() {
        assert!(SyncError::Unreachable("refused".into()).centre_unreachable());
        assert!(SyncError::Refused(503, "down".into()).centre_unreachable());
        assert!(!SyncError::Refused(401, "revoked".into()).centre_unreachable());
        assert!(!SyncError::Refused(409, "gap".into()).centre_unreachable());
    }
}
