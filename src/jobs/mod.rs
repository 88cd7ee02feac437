//! Background jobs that run beside the HTTP server until shutdown: the mail sender, M-Pesa
//! reconciliation (stale pushes queried, failed payments' orders released), and
//! housekeeping (forgetting idle rate-limit keys, purging expired tokens and sessions, and
//! delivered mail older than 90 days), the daily backup (`backups::run_schedule`), and on a
//! hub instance the sync with the centre (`sync::client::run_job`).
//!
//! With several instances on one PostgreSQL database, reconciliation and housekeeping run
//! on the instance that holds their lease (`lease.rs`); the mail sender may run everywhere,
//! because each message is claimed by one sender for the length of its send.

pub mod lease;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::store;
use crate::clock::now_ms;
use crate::mail::sender;
use crate::mail::store as mail_store;
use crate::state::AppState;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Revoked and expired auth records are kept this long before they are deleted.
const KEEP_EXPIRED_MS: i64 = 30 * DAY_MS;
/// Delivered mail is kept this long for support questions ("did the mail go out?").
const KEEP_DELIVERED_MAIL_MS: i64 = 90 * DAY_MS;
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);
const PURGE_EVERY_TICKS: u32 = 60;

/// Starts every job; each stops when `shutdown` is cancelled.
pub fn spawn(state: &AppState, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    let instance = uuid::Uuid::now_v7().to_string();
    let reconcile_every = Duration::from_secs(state.config.payments.reconcile_interval_secs);
    let mut jobs = vec![
        tokio::spawn(sender::run(
            state.db.clone(),
            sender::SenderSetup {
                cfg: state.config.mail.clone(),
                signer: (*state.signer).clone(),
                log_links: state.config.environment != crate::config::Environment::Production,
            },
            state.mail.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(housekeeping(
            state.clone(),
            lease::Lease::new(
                state.db.clone(),
                "housekeeping",
                &instance,
                // Longer than the purge period, or every instance would purge in turn.
                HOUSEKEEPING_EVERY * PURGE_EVERY_TICKS * 3,
            ),
            shutdown.clone(),
        )),
        tokio::spawn(crate::backups::run_schedule(
            state.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(crate::sync::client::run_job(
            state.db.clone(),
            state.sync.clone(),
            state.config.upstream.clone(),
            shutdown.clone(),
        )),
    ];
    // A hub's payments are the centre's (mirrored): releasing orders here would cancel
    // parcels behind the centre's back.
    if !state.sync.role.is_hub() {
        jobs.push(tokio::spawn(crate::payments::mpesa::run(
            state.clone(),
            lease::Lease::new(
                state.db.clone(),
                "mpesa_reconciliation",
                &instance,
                // Longer than a slow run (up to 50 STK queries with HTTP timeouts).
                (reconcile_every * 3).max(Duration::from_secs(600)),
            ),
            shutdown.clone(),
        )));
    }
    jobs
}

async fn housekeeping(state: AppState, lease: lease::Lease, shutdown: CancellationToken) {
    let mut ticks: u32 = 0;
    let mut interval = tokio::time::interval(HOUSEKEEPING_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        state.limits.retain_recent();
        if ticks.is_multiple_of(PURGE_EVERY_TICKS) && lease.hold().await {
            let purge = state
                .db
                .write(|c| {
                    let now = now_ms();
                    let auth = store::purge_expired(c, now, KEEP_EXPIRED_MS)?;
                    let mail = mail_store::purge_delivered(c, now - KEEP_DELIVERED_MAIL_MS)?;
                    Ok::<_, crate::db::DbError>(auth + mail)
                })
                .await;
            match purge {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
            }
        }
        ticks = ticks.wrapping_add(1);
    }
    lease.release().await;
}
