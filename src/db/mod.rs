//! Storage: the read pool, the writer thread, the checkpointer, the read/write helpers every
//! domain uses, migrations; with the `postgres` feature the same [`Db`] runs on PostgreSQL
//! (`pg.rs`) and `transfer.rs` copies an install from SQLite to PostgreSQL.
//!
//! Repositories (`store.rs` in each domain) receive a `&dyn Conn` and write portable SQL with
//! `$1, $2…` placeholders. [`Db::read`] runs that work on the blocking pool, [`Db::write`] on
//! the writer thread; never on the async executor. Every write is atomic: it runs inside a
//! `BEGIN IMMEDIATE` transaction (shared with other queued writes, each in its own savepoint)
//! and is kept when the closure returns `Ok`, rolled back when it returns `Err`, and reported
//! done only after the commit.

mod checkpointer;
mod migrate;
#[cfg(feature = "postgres")]
mod pg;
pub mod snapshot;
mod sqlite;
#[cfg(feature = "postgres")]
pub mod transfer;
mod value;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use migrate::{AppliedMigration, MigrationStatus, embedded_versions};
pub use value::{FromValue, Row, Value};

/// Which SQL dialect a connection speaks, for the few queries that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    /// Only with the `postgres` feature; named here so dialect matches stay exhaustive.
    Postgres,
}

/// Everything that can go wrong below the domain layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database stayed locked past the busy timeout (or the pool had no connection).
    #[error("database is busy")]
    Busy,
    #[error("column {0}: {1}")]
    Decode(usize, String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// Text PostgreSQL cannot store (a NUL character): bad input, not a server fault.
    #[error("text contains a character the database cannot store: {0}")]
    InvalidText(String),
    /// A statement Postgres refused: the message and the statement.
    #[error("{0} in: {1}")]
    Statement(String, String),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A database file whose schema or history this binary cannot run.
    #[error("{0}")]
    Schema(String),
    #[error("unsupported database url {0:?}: {1}")]
    Url(String, String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// True when a write broke a UNIQUE constraint or primary key (SQLite's extended codes,
    /// PostgreSQL's SQLSTATE 23505): the request asked for a duplicate.
    pub fn is_duplicate(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            DbError::Statement(message, _) => message.ends_with("(23505)"),
            #[cfg(feature = "postgres")]
            DbError::Postgres(e) => e.code().is_some_and(|c| c.code() == "23505"),
            _ => false,
        }
    }

    /// True for SQLITE_BUSY/SQLITE_LOCKED and pool exhaustion: retryable by the client.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Busy | DbError::Pool(_) => true,
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            #[cfg(feature = "postgres")]
            DbError::Postgres(e) => pg::is_busy(e),
            _ => false,
        }
    }
}

/// A connection (or an open transaction) that runs portable SQL.
pub trait Conn {
    fn dialect(&self) -> Dialect;
    /// Runs a statement and returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query and returns all its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// One page of `SELECT {columns} {from_where} ORDER BY {order_by}` and the number of rows
    /// `{from_where}` matches, both with the same parameters (`$1…$n`; LIMIT and OFFSET are
    /// appended as `$n+1`, `$n+2`). The page query is skipped when it cannot return rows.
    pub fn query_page(
        &self,
        columns: &str,
        from_where: &str,
        order_by: &str,
        params: &[Value],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Row>, i64), DbError> {
        let total: i64 = self.query_scalar(&format!("SELECT COUNT(*) {from_where}"), params)?;
        let rows = self.page_rows(columns, from_where, order_by, params, limit, offset, total)?;
        Ok((rows, total))
    }

    /// Like [`query_page`](Self::query_page), but counts at most `cap` rows, so the total stays
    /// cheap on large tables: returns `(rows, min(total, cap), total <= cap)`.
    #[allow(clippy::too_many_arguments)]
    pub fn query_page_capped(
        &self,
        columns: &str,
        from_where: &str,
        order_by: &str,
        params: &[Value],
        limit: i64,
        offset: i64,
        cap: i64,
    ) -> Result<(Vec<Row>, i64, bool), DbError> {
        let (counted, exact) = self.count_capped(from_where, params, cap)?;
        // Past the cap the real end is unknown: always try the page.
        let known_end = if exact { counted } else { i64::MAX };
        let rows = self.page_rows(
            columns, from_where, order_by, params, limit, offset, known_end,
        )?;
        Ok((rows, counted, exact))
    }

    /// `min(rows matched by {from_where}, cap)` and whether that is the exact count; stops
    /// reading at `cap + 1` rows.
    pub fn count_capped(
        &self,
        from_where: &str,
        params: &[Value],
        cap: i64,
    ) -> Result<(i64, bool), DbError> {
        let counted: i64 = self.query_scalar(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 {from_where} LIMIT {}) AS capped",
                cap + 1
            ),
            params,
        )?;
        Ok((counted.min(cap), counted <= cap))
    }

    /// One page of `SELECT {columns} {from_where} ORDER BY {order_by}` without counting.
    pub fn query_page_uncounted(
        &self,
        columns: &str,
        from_where: &str,
        order_by: &str,
        params: &[Value],
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Row>, DbError> {
        self.page_rows(
            columns,
            from_where,
            order_by,
            params,
            limit,
            offset,
            i64::MAX,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn page_rows(
        &self,
        columns: &str,
        from_where: &str,
        order_by: &str,
        params: &[Value],
        limit: i64,
        offset: i64,
        total: i64,
    ) -> Result<Vec<Row>, DbError> {
        if offset >= total {
            return Ok(Vec::new());
        }
        let n = params.len();
        let mut args = params.to_vec();
        args.push(limit.into());
        args.push(offset.into());
        self.query(
            &format!(
                "SELECT {columns} {from_where} ORDER BY {order_by} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &args,
        )
    }

    /// The first column of the first row, e.g. a `COUNT(*)`.
    pub fn query_scalar<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T, DbError> {
        match self.query_opt(sql, params)? {
            Some(row) => row.get(0),
            None => Err(DbError::Decode(0, "query returned no row".into())),
        }
    }
}

/// `$start, $start+1, …` for `count` parameters, e.g. inside `IN (…)`.
pub fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `WHERE a AND b …` from the conditions whose value is present (each condition names its
/// parameter `$?`, numbered here), with the arguments in order; empty when none applies.
pub fn where_present(conditions: Vec<(&str, Option<Value>)>) -> (String, Vec<Value>) {
    let mut args = Vec::new();
    let mut conds = Vec::new();
    for (cond, value) in conditions {
        if let Some(v) = value {
            args.push(v);
            conds.push(cond.replace("$?", &format!("${}", args.len())));
        }
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!("WHERE {}", conds.join(" AND ")), args)
    }
}

/// Where the database lives and how it is tuned; built from the config.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_read_connections: u32,
    pub busy_timeout_ms: u64,
    pub cache_size_kib: u64,
    pub mmap_size_mib: u64,
}

/// The database handle shared by the whole server (cheap to clone).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Backend>,
    /// One permit per read connection: reads queue here, asynchronously and in order, so a
    /// burst of requests never parks blocking threads on the pool.
    read_slots: Arc<tokio::sync::Semaphore>,
    /// Postgres only: writes of this instance queue here (one at a time) before they take a
    /// connection; SQLite's writer thread has its own queue.
    #[cfg(feature = "postgres")]
    write_slot: Arc<tokio::sync::Semaphore>,
}

enum Backend {
    Sqlite(sqlite::SqliteDb),
    #[cfg(feature = "postgres")]
    Postgres(pg::PgDb),
}

impl Db {
    /// Opens (creating if needed) the database, applies pending migrations and builds the
    /// pools. Blocking: call it from a blocking context or before the runtime serves.
    pub fn open(opts: &DbOptions) -> Result<(Db, MigrationStatus), DbError> {
        let (backend, status) = open_backend(opts)?;
        let slots = usize::try_from(opts.max_read_connections.max(1)).unwrap_or(1);
        Ok((
            Db {
                inner: Arc::new(backend),
                read_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
                #[cfg(feature = "postgres")]
                write_slot: Arc::new(tokio::sync::Semaphore::new(1)),
            },
            status,
        ))
    }

    /// Applies pending migrations without building the read pool (`markethub migrate`).
    pub fn migrate_only(opts: &DbOptions) -> Result<MigrationStatus, DbError> {
        #[cfg(feature = "postgres")]
        if is_postgres_url(&opts.url) {
            return pg::migrate(&opts.url);
        }
        let path = sqlite_path(&opts.url)?;
        sqlite::migrate_file(&path, opts)
    }

    /// Which SQL dialect this database speaks.
    pub fn dialect(&self) -> Dialect {
        match &*self.inner {
            Backend::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite database file (backups work on it); `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &*self.inner {
            Backend::Sqlite(db) => Some(db.path()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => None,
        }
    }

    /// Where the data lives, for logs: the file, or the URL without its password.
    pub fn location(&self) -> String {
        match &*self.inner {
            Backend::Sqlite(db) => db.path().display().to_string(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.url().to_owned(),
        }
    }

    /// Runs read-only work on a pooled read connection, off the async executor.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let inner = self.inner.clone();
        let slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| E::from(DbError::Task(e.to_string())))?;
        tokio::task::spawn_blocking(move || {
            let out = match &*inner {
                Backend::Sqlite(db) => db.read(f),
                #[cfg(feature = "postgres")]
                Backend::Postgres(db) => db.read(f),
            };
            drop(slot);
            out
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs `f` inside one write transaction: on SQLite a `BEGIN IMMEDIATE` transaction on the
    /// single writer connection (possibly together with other queued writes, each in its own
    /// savepoint: see `writer.rs`); on Postgres a transaction holding the write lock (see
    /// `postgres.rs`). `Ok` means committed; on `Err` none of `f`'s changes are kept. Waiting
    /// for the writer happens asynchronously, so queued writes hold no threads.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match &*self.inner {
            Backend::Sqlite(db) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                db.submit(Box::new(writer::Pending::new(f, reply)))?;
                answer.await.map_err(|_| E::from(writer_gone()))?
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => {
                let inner = self.inner.clone();
                let queued = std::time::Instant::now();
                let slot = self
                    .write_slot
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| E::from(DbError::Task(e.to_string())))?;
                tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    let out = match &*inner {
                        Backend::Postgres(db) => db.write(f),
                        Backend::Sqlite(_) => Err(E::from(writer_gone())),
                    };
                    crate::metrics::write_transaction(started - queued, started.elapsed());
                    drop(slot);
                    out
                })
                .await
                .map_err(|e| E::from(DbError::Task(e.to_string())))?
            }
        }
    }

    /// Connections: (open, idle), for metrics (SQLite: the read pool).
    pub fn read_pool_state(&self) -> (u32, u32) {
        match &*self.inner {
            Backend::Sqlite(db) => db.read_pool_state(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.pool_state(),
        }
    }

    /// Blocking variant of [`Db::write`] for the CLI (never call it on the async executor):
    /// one transaction of its own, on the calling thread, between the writer's batches.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        match &*self.inner {
            Backend::Sqlite(db) => db.with_writer(|conn| sqlite::write_tx(conn, f)),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.write(f),
        }
    }

    /// Blocking read for the CLI (never call it on the async executor).
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        match &*self.inner {
            Backend::Sqlite(db) => db.read(f),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.read(f),
        }
    }

    /// `SELECT 1` on both a read and the write connection: used by `/readyz`. On PostgreSQL
    /// a read only: a write would wait for the shared write lock, and one long write would
    /// make every instance look unready at once.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|c| c.query_scalar::<i64>("SELECT 1", &[]).map(|_| ()))
            .await?;
        if self.dialect() == Dialect::Postgres {
            return Ok(());
        }
        self.write(|c| c.query_scalar::<i64>("SELECT 1", &[]).map(|_| ()))
            .await
    }

    /// SQLite: checkpoints the WAL and runs `PRAGMA optimize`; called once at shutdown.
    pub async fn close(&self) -> Result<(), DbError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match &*inner {
            Backend::Sqlite(db) => db.with_writer(|conn| sqlite::checkpoint(conn)),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(()),
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }
}

fn open_backend(opts: &DbOptions) -> Result<(Backend, MigrationStatus), DbError> {
    #[cfg(feature = "postgres")]
    if is_postgres_url(&opts.url) {
        let (db, status) = pg::PgDb::open(opts)?;
        return Ok((Backend::Postgres(db), status));
    }
    let path = sqlite_path(&opts.url)?;
    let (db, status) = sqlite::SqliteDb::open(&path, opts)?;
    Ok((Backend::Sqlite(db), status))
}

/// True when `url` names a PostgreSQL database (whether or not this build supports it).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Versions of the PostgreSQL migrations compiled into this build.
#[cfg(feature = "postgres")]
pub fn embedded_postgres_versions() -> Vec<i64> {
    pg::embedded_versions()
}

fn writer_gone() -> DbError {
    DbError::Task("the writer thread stopped before answering".into())
}

/// Applies the embedded migrations on an open SQLite connection (a restored copy before it
/// is swapped in).
pub fn migrate_connection(conn: &mut rusqlite::Connection) -> Result<MigrationStatus, DbError> {
    migrate::run(conn)
}

/// A database file at an older schema version (tests of upgrades and restores).
#[cfg(test)]
pub(crate) fn old_database(path: &Path, version: i32) -> Result<MigrationStatus, DbError> {
    let mut conn = rusqlite::Connection::open(path)?;
    migrate::run_until(&mut conn, version)
}

/// Turns `sqlite://path`, `sqlite:path` or a plain path into a file path.
pub fn sqlite_path(url: &str) -> Result<PathBuf, DbError> {
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(DbError::Url(
            url.to_owned(),
            "only sqlite: urls are supported by this build (PostgreSQL needs the `postgres` feature)".into(),
        ));
    } else {
        url
    };
    if path.is_empty() || path == ":memory:" {
        return Err(DbError::Url(
            url.to_owned(),
            "a file path is required (an in-memory database is not shared between connections)"
                .into(),
        ));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_told_apart_from_other_failures() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, name TEXT NOT NULL);
             CREATE UNIQUE INDEX t_name_uq ON t (lower(name));
             INSERT INTO t VALUES ('a', 'x');",
        )
        .expect("schema");
        let fail = |sql: &str| DbError::from(conn.execute_batch(sql).expect_err(sql));
        assert!(
            fail("INSERT INTO t VALUES ('a', 'y')").is_duplicate(),
            "primary key"
        );
        assert!(
            fail("INSERT INTO t VALUES ('b', 'X')").is_duplicate(),
            "unique index"
        );
        assert!(
            !fail("INSERT INTO t VALUES ('c', NULL)").is_duplicate(),
            "not null"
        );
        assert!(!fail("SELECT * FROM nowhere").is_duplicate());
        let pg = DbError::Statement(
            "duplicate key value violates unique constraint \"t_name_uq\" (23505)".into(),
            "INSERT …".into(),
        );
        assert!(pg.is_duplicate());
        assert!(!DbError::Statement("syntax error (42601)".into(), String::new()).is_duplicate());
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/x.db").ok(),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///abs/x.db").ok(),
            Some(PathBuf::from("/abs/x.db"))
        );
        assert_eq!(sqlite_path("sqlite:x.db").ok(), Some(PathBuf::from("x.db")));
        assert_eq!(
            sqlite_path("plain.db").ok(),
            Some(PathBuf::from("plain.db"))
        );
        assert!(sqlite_path("postgres://localhost/x").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}

/// A migrated database in a fresh temporary directory, for unit tests.
#[cfg(test)]
pub(crate) fn temp_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DbOptions {
        url: format!("sqlite://{}", dir.path().join("t.db").display()),
        max_read_connections: 4,
        busy_timeout_ms: 5000,
        cache_size_kib: 1024,
        mmap_size_mib: 0,
    };
    let (db, _) = Db::open(&opts).expect("open");
    (dir, db)
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use crate::params;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit_without_busy_errors() {
        let (_dir, db) = temp_db();
        db.write(|c| {
            c.execute("CREATE TABLE counter (n INTEGER NOT NULL)", params![])?;
            c.execute("INSERT INTO counter (n) VALUES (0)", params![])
        })
        .await
        .expect("setup");
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(|c| {
                        // Read-then-write inside one immediate transaction: no lost updates.
                        let n: i64 = c.query_scalar("SELECT n FROM counter", params![])?;
                        c.execute("UPDATE counter SET n = $1", params![n + 1])
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("join").expect("write"), 1);
        }
        let n: i64 = db
            .read(|c| c.query_scalar("SELECT n FROM counter", params![]))
            .await
            .expect("read");
        assert_eq!(n, 64);
    }

    #[tokio::test]
    async fn an_error_rolls_the_whole_transaction_back() {
        let (_dir, db) = temp_db();
        db.write(|c| c.execute("CREATE TABLE t (x INTEGER)", params![]))
            .await
            .expect("setup");
        let result: Result<(), DbError> = db
            .write(|c| {
                c.execute("INSERT INTO t (x) VALUES (1)", params![])?;
                c.execute("INSERT INTO no_such_table (x) VALUES (1)", params![])?;
                Ok(())
            })
            .await;
        assert!(result.is_err());
        let n: i64 = db
            .read(|c| c.query_scalar("SELECT COUNT(*) FROM t", params![]))
            .await
            .expect("count");
        assert_eq!(n, 0, "the first insert was rolled back");
    }

    #[tokio::test]
    async fn read_connections_cannot_write() {
        let (_dir, db) = temp_db();
        let result = db
            .read(|c| c.execute("CREATE TABLE sneaky (x INTEGER)", params![]))
            .await;
        assert!(result.is_err());
    }
}
