//! The WAL checkpointer: a thread with its own connection that copies committed pages from
//! the WAL back into the database file a few times a second (`PRAGMA wal_checkpoint(PASSIVE)`:
//! never blocks the writer or readers). The writer's own automatic checkpoints are off, so a
//! commit never pays for a checkpoint and its fsyncs, and a page changed by many transactions
//! in between is written back once. Stops when the database handle is dropped.
//!
//! The log only starts over when a writer finds it fully copied back, which writes that never
//! pause prevent; a RESTART checkpoint from this thread would starve behind them. So this
//! thread publishes the WAL's length ([`WalLength`]) and the writer thread, between batches,
//! restarts a log longer than [`RESTART_AFTER_FRAMES`] itself (see `writer.rs`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use rusqlite::Connection;

use super::DbError;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(200);
/// A WAL longer than this many frames (4 KiB pages: ~32 MiB) is restarted by the writer.
pub(super) const RESTART_AFTER_FRAMES: i64 = 8_192;

/// Frames in the WAL at the last checkpoint, shared with the writer thread.
pub(super) type WalLength = Arc<AtomicI64>;

/// Dropping it stops the thread.
pub(super) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub(super) fn start(
        path: &Path,
        busy_timeout: Duration,
        wal_length: WalLength,
    ) -> Result<Checkpointer, DbError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        let (stop, stopped) = channel();
        std::thread::Builder::new()
            .name("markethub-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &wal_length))
            .map_err(|e| DbError::Io("starting the checkpoint thread".into(), e))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: &Connection, stopped: &Receiver<()>, wal_length: &AtomicI64) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        // (busy, frames in the WAL, frames copied back)
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) => wal_length.store(frames, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::db::{Db, temp_db};
    use crate::params;

    async fn round(db: &Db, n: i64) {
        for i in 0..n {
            // 16 KiB rows: a few frames per commit, so a round passes the restart threshold.
            db.write(move |c| {
                c.execute(
                    "INSERT INTO t (v, pad) VALUES ($1, zeroblob(16384))",
                    params![i],
                )
            })
            .await
            .expect("write");
        }
    }

    /// The writer never checkpoints, so without this thread the WAL file would grow with every
    /// commit. With it, the WAL is copied back and restarted: a later round of the same writes
    /// fits in the file as it is.
    #[tokio::test]
    async fn the_wal_is_checkpointed_without_the_writer() {
        let (dir, db) = temp_db();
        db.write(|c| c.execute("CREATE TABLE t (v INTEGER NOT NULL, pad BLOB)", params![]))
            .await
            .expect("setup");
        let wal = dir.path().join("t.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        round(&db, 2_500).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let before = size();
            round(&db, 2_500).await;
            if size() == before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the WAL kept growing ({} bytes): nothing checkpoints it",
                size()
            );
        }
    }
}
