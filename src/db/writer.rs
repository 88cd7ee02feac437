//! The single writer: one thread owns the write connection and runs queued write jobs in
//! batches (group commit). Jobs that queue up while a transaction is running go into the
//! next one together, each inside its own savepoint: a job that fails is rolled back alone,
//! and nobody hears "done" before the batch has committed. Under load this turns many small
//! transactions into a few larger ones, so the pages they share (the right edge of every
//! time-ordered index, counters, the outbox) are written to the WAL once per batch rather
//! than once per request. With no load a batch is a single job, exactly as before.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rusqlite::Connection;

use super::checkpointer::{RESTART_AFTER_FRAMES, WalLength};
use super::sqlite::SqliteConn;
use super::{Conn, DbError};

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 64;

/// A write queued for the writer thread.
pub(super) trait WriteJob: Send {
    /// Runs the work inside the open transaction; true when it succeeded (keep its changes).
    fn run(&mut self, c: &dyn Conn) -> bool;
    /// Delivers the outcome: `None` once the batch committed, or the error that lost it.
    fn finish(self: Box<Self>, failure: Option<DbError>);
}

/// A closure and the channel its caller waits on.
pub(super) struct Pending<T, E, F> {
    work: Option<F>,
    result: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    queued: Instant,
}

impl<T, E, F> Pending<T, E, F> {
    pub(super) fn new(work: F, reply: tokio::sync::oneshot::Sender<Result<T, E>>) -> Self {
        Pending {
            work: Some(work),
            result: None,
            reply,
            queued: Instant::now(),
        }
    }
}

impl<T, E, F> WriteJob for Pending<T, E, F>
where
    F: FnOnce(&dyn Conn) -> Result<T, E> + Send,
    T: Send,
    E: From<DbError> + Send,
{
    fn run(&mut self, c: &dyn Conn) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let started = Instant::now();
        let out = work(c);
        crate::metrics::write_transaction(started - self.queued, started.elapsed());
        let ok = out.is_ok();
        self.result = Some(out);
        ok
    }

    fn finish(self: Box<Self>, failure: Option<DbError>) {
        let out = match (self.result, failure) {
            // A job's own error stands: its changes were rolled back either way.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(e)) => Err(E::from(e)),
            (None, None) => Err(E::from(DbError::Task("the write did not run".into()))),
        };
        let _ = self.reply.send(out);
    }
}

/// The handle: the thread stops when the handle is dropped.
pub(super) struct Writer {
    tx: Sender<Box<dyn WriteJob>>,
    conn: Arc<Mutex<Connection>>,
    wal_length: WalLength,
}

impl Writer {
    pub(super) fn start(conn: Connection, wal_length: WalLength) -> Result<Writer, DbError> {
        let (tx, rx) = channel();
        let conn = Arc::new(Mutex::new(conn));
        let shared = conn.clone();
        let length = wal_length.clone();
        std::thread::Builder::new()
            .name("markethub-writer".into())
            .spawn(move || serve(&shared, &rx, &length))
            .map_err(|e| DbError::Io("starting the writer thread".into(), e))?;
        Ok(Writer {
            tx,
            conn,
            wal_length,
        })
    }

    pub(super) fn submit(&self, job: Box<dyn WriteJob>) -> Result<(), DbError> {
        self.tx
            .send(job)
            .map_err(|_| DbError::Task("the writer thread has stopped".into()))
    }

    /// The connection for the calling thread alone (blocking writes of the CLI, the
    /// checkpoint at shutdown), taken between batches.
    pub(super) fn with_conn<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut conn);
        restart_long_wal(&conn, &self.wal_length);
        out
    }
}

fn serve(conn: &Mutex<Connection>, rx: &Receiver<Box<dyn WriteJob>>, wal_length: &AtomicI64) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        run_batch(&conn, batch);
        restart_long_wal(&conn, wal_length);
    }
}

/// Between writes: a log the checkpointer reports as long is finished, readers are waited
/// out, and the next commit starts it over (see `checkpointer.rs`).
fn restart_long_wal(conn: &Connection, wal_length: &AtomicI64) {
    if wal_length.load(Ordering::Relaxed) >= RESTART_AFTER_FRAMES {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "restarting the WAL failed; will retry");
        }
        wal_length.store(0, Ordering::Relaxed);
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), DbError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// One transaction for the whole batch; a savepoint per job when there is more than one.
fn run_batch(conn: &Connection, batch: Vec<Box<dyn WriteJob>>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let msg = e.to_string();
        for job in batch {
            job.finish(Some(retryable(&e, &msg)));
        }
        return;
    }
    let single = batch.len() == 1;
    let mut rolled_back = false;
    let mut done: Vec<(Box<dyn WriteJob>, Option<DbError>)> = Vec::with_capacity(batch.len());
    let mut pending = batch.into_iter();
    while let Some(mut job) = pending.next() {
        if !single && let Err(e) = exec(conn, "SAVEPOINT job") {
            done.push((job, Some(e)));
            continue;
        }
        let c = SqliteConn(conn);
        let outcome = catch_unwind(AssertUnwindSafe(|| job.run(&c)));
        let (ok, own) = match outcome {
            Ok(ok) => (ok, None),
            Err(_) => (
                false,
                Some(DbError::Task("a write panicked; it was rolled back".into())),
            ),
        };
        if single {
            if !ok {
                let _ = exec(conn, "ROLLBACK");
                rolled_back = true;
            }
            done.push((job, own));
            continue;
        }
        if !ok {
            let _ = exec(conn, "ROLLBACK TO job");
        }
        let _ = exec(conn, "RELEASE job");
        done.push((job, own));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back on its own (I/O error, disk full):
            // nothing of the jobs so far is kept, and they hear so. The rest start afresh
            // rather than run outside a transaction.
            for (job, own) in done {
                job.finish(Some(own.unwrap_or_else(lost)));
            }
            let rest: Vec<_> = pending.collect();
            if !rest.is_empty() {
                run_batch(conn, rest);
            }
            return;
        }
    }
    let failure = if rolled_back {
        None
    } else if conn.is_autocommit() {
        Some(lost())
    } else {
        exec(conn, "COMMIT").err().inspect(|_| {
            let _ = exec(conn, "ROLLBACK");
        })
    };
    for (job, own) in done {
        let err = own.or_else(|| failure.as_ref().map(copy_error));
        job.finish(err);
    }
}

fn lost() -> DbError {
    DbError::Task("the transaction was rolled back by the database".into())
}

/// A batch-wide error for each job (the originals are not `Clone`).
fn copy_error(e: &DbError) -> DbError {
    if e.is_busy() {
        DbError::Busy
    } else {
        DbError::Task(e.to_string())
    }
}

fn retryable(e: &DbError, msg: &str) -> DbError {
    if e.is_busy() {
        DbError::Busy
    } else {
        DbError::Task(msg.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{Conn, DbError, temp_db};
    use crate::params;

    fn insert(c: &dyn Conn, v: i64) -> Result<(), DbError> {
        c.execute("INSERT INTO t (v) VALUES ($1)", params![v])?;
        Ok(())
    }

    /// Jobs queued behind a running one share the next transaction: a job that fails or
    /// panics is rolled back alone, the others commit, and every caller hears its own outcome.
    #[tokio::test]
    async fn a_batch_keeps_each_jobs_outcome_apart() {
        let (_dir, db) = temp_db();
        db.write(|c| c.execute("CREATE TABLE t (v INTEGER NOT NULL)", params![]))
            .await
            .expect("setup");
        // Hold the writer inside a first job until the others are queued.
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |c| {
                    let _ = entered_tx.send(());
                    let _ = release_rx.recv();
                    insert(c, 0)
                })
                .await
            }
        });
        entered_rx.await.expect("the first job runs");
        let queued: Vec<_> = (1..=6)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |c| {
                        insert(c, i)?;
                        match i {
                            3 => Err(DbError::Task("refused".into())),
                            5 => panic!("job 5 panics after writing"),
                            _ => Ok(i),
                        }
                    })
                    .await
                })
            })
            .collect();
        // On this single-threaded runtime one yield lets every spawned task submit its job.
        tokio::task::yield_now().await;
        release_tx.send(()).expect("release");
        first.await.expect("join").expect("first job");
        let mut outcomes = Vec::new();
        for job in queued {
            outcomes.push(job.await.expect("join").is_ok());
        }
        assert_eq!(outcomes, [true, true, false, true, false, true]);
        let kept: Vec<i64> = db
            .read(|c| {
                c.query("SELECT v FROM t ORDER BY v", params![])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect::<Result<_, _>>()
            })
            .await
            .expect("read");
        assert_eq!(
            kept,
            [0, 1, 2, 4, 6],
            "the failed and the panicked job left nothing"
        );
        // The writer survived the panic.
        db.write(|c| insert(c, 7)).await.expect("writes go on");
    }

    #[tokio::test]
    async fn blocking_writes_share_the_connection_with_the_writer_thread() {
        let (_dir, db) = temp_db();
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || {
            db2.write_blocking(|c| c.execute("CREATE TABLE t (v INTEGER NOT NULL)", params![]))
        })
        .await
        .expect("join")
        .expect("create");
        db.write(|c| insert(c, 1)).await.expect("async write");
        let n: i64 = db
            .read(|c| c.query_scalar("SELECT COUNT(*) FROM t", params![]))
            .await
            .expect("count");
        assert_eq!(n, 1);
    }
}
