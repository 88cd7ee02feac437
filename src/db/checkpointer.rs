//! The WAL checkpointer: a thread with its own connection that copies committed pages from
//! the WAL back into the database file a few times a second (`PRAGMA wal_checkpoint(PASSIVE)`:
//! never blocks the writer or readers). The writer's own automatic checkpoints are off, so a
//! commit never pays for a checkpoint and its fsyncs, and a page changed by many transactions
//! in between is written back once. Stops when the database handle is dropped.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use rusqlite::Connection;

use super::DbError;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(200);

/// Dropping it stops the thread.
pub(super) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, DbError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        let (stop, stopped) = channel();
        std::thread::Builder::new()
            .name("markethub-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| DbError::Io("starting the checkpoint thread".into(), e))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: &Connection, stopped: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}
