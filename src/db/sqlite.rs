//! The SQLite backend: the writer thread (see `writer.rs`), a pool of read-only connections,
//! the pragmas of the design, and the `$N` → `?N` placeholder rewrite.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::checkpointer::{Checkpointer, WalLength};
use super::migrate::{self, MigrationStatus};
use super::writer::{WriteJob, Writer};
use super::{Conn, DbError, DbOptions, Dialect, Row, Value};

pub(super) struct SqliteDb {
    path: PathBuf,
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    _checkpointer: Checkpointer,
}

impl SqliteDb {
    pub(super) fn open(path: &Path, opts: &DbOptions) -> Result<(Self, MigrationStatus), DbError> {
        let mut writer = open_writer(path, opts)?;
        let status = migrate::run(&mut writer)?;
        writer.set_prepared_statement_cache_capacity(256);
        // Checkpoints run on their own thread (see `checkpointer.rs`), not inside commits.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
        let wal_length = WalLength::default();
        let checkpointer = Checkpointer::start(
            path,
            Duration::from_millis(opts.busy_timeout_ms),
            wal_length.clone(),
        )?;

        let init_opts = opts.clone();
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(move |c| {
                apply_connection_pragmas(c, &init_opts)?;
                c.set_prepared_statement_cache_capacity(256);
                Ok(())
            });
        let readers = r2d2::Pool::builder()
            .max_size(opts.max_read_connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_millis(opts.busy_timeout_ms.max(100)))
            .build(manager)?;
        Ok((
            SqliteDb {
                path: path.to_path_buf(),
                readers,
                writer: Writer::start(writer, wal_length)?,
                _checkpointer: checkpointer,
            },
            status,
        ))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read_pool_state(&self) -> (u32, u32) {
        let st = self.readers.state();
        (st.connections, st.idle_connections)
    }

    pub(super) fn submit(&self, job: Box<dyn WriteJob>) -> Result<(), DbError> {
        self.writer.submit(job)
    }

    /// The write connection for the calling thread alone, between batches.
    pub(super) fn with_writer<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        self.writer.with_conn(f)
    }

    pub(super) fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        let conn = self.readers.get().map_err(|e| E::from(DbError::Pool(e)))?;
        f(&SqliteConn(&conn))
    }
}

/// Opens the database file for writing, creating its directory, and applies all pragmas.
fn open_writer(path: &Path, opts: &DbOptions) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Io(format!("creating {}", dir.display()), e))?;
    }
    let conn = Connection::open(path)?;
    // WAL is a property of the file: set once by the writer, inherited by every reader.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::Migration(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    apply_connection_pragmas(&conn, opts)?;
    Ok(conn)
}

fn apply_connection_pragmas(conn: &Connection, opts: &DbOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_millis(opts.busy_timeout_ms))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -{};
         PRAGMA mmap_size = {};",
        opts.cache_size_kib,
        opts.mmap_size_mib * 1024 * 1024
    ))
}

/// Applies pending migrations to the file and returns (`markethub migrate`).
pub(super) fn migrate_file(path: &Path, opts: &DbOptions) -> Result<MigrationStatus, DbError> {
    let mut conn = open_writer(path, opts)?;
    migrate::run(&mut conn)
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction; commits on `Ok`, rolls back on `Err`.
pub(super) fn write_tx<T, E, F>(conn: &mut Connection, f: F) -> Result<T, E>
where
    F: FnOnce(&dyn Conn) -> Result<T, E>,
    E: From<DbError>,
{
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| E::from(map_err(e)))?;
    let out = f(&SqliteConn(&tx))?;
    tx.commit().map_err(|e| E::from(map_err(e)))?;
    Ok(out)
}

pub(super) fn checkpoint(conn: &Connection) -> Result<(), DbError> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")
        .map_err(map_err)
}

fn map_err(e: rusqlite::Error) -> DbError {
    let err = DbError::Sqlite(e);
    if err.is_busy() { DbError::Busy } else { err }
}

/// A borrowed SQLite connection or transaction seen through the portable [`Conn`] trait.
pub(super) struct SqliteConn<'a>(pub(super) &'a Connection);

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let sql = rewrite_placeholders(sql);
        let mut stmt = self.0.prepare_cached(&sql).map_err(map_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let sql = rewrite_placeholders(sql);
        let mut stmt = self.0.prepare_cached(&sql).map_err(map_err)?;
        let ncols = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut values = Vec::with_capacity(ncols);
            for i in 0..ncols {
                values.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row::new(values));
        }
        Ok(out)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Rewrites `$N` placeholders to SQLite's `?N`, leaving string literals and quoted
/// identifiers alone. (SQLite would accept `$1` but bind it by order of first appearance,
/// not by number, so the rewrite is required for queries that reuse or reorder parameters.)
fn rewrite_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    out.push(c);
                } else if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            rewrite_placeholders("SELECT $2, '$1', \"a$1\" FROM t WHERE a = $1 AND b = $10"),
            "SELECT ?2, '$1', \"a$1\" FROM t WHERE a = ?1 AND b = ?10"
        );
        assert_eq!(rewrite_placeholders("SELECT 1"), "SELECT 1");
        assert_eq!(
            rewrite_placeholders("SELECT 'it''s $1' || $1"),
            "SELECT 'it''s $1' || ?1"
        );
    }

    #[test]
    fn reused_and_reordered_parameters_bind_by_number() -> Result<(), DbError> {
        let conn = Connection::open_in_memory()?;
        let c = SqliteConn(&conn);
        let rows = c.query(
            "SELECT $2, $1, $2",
            &[Value::Int(1), Value::Text("b".into())],
        )?;
        let row = &rows[0];
        assert_eq!(row.get::<String>(0)?, "b");
        assert_eq!(row.get::<i64>(1)?, 1);
        assert_eq!(row.get::<String>(2)?, "b");
        Ok(())
    }
}
