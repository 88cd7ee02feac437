//! The PostgreSQL backend (`postgres` feature): one pool of connections for reads and writes,
//! the value conversions between our [`Value`] and Postgres types, and the schema migrations.
//!
//! Writes keep SQLite's semantics across every instance that shares the database: each write
//! transaction first takes a transaction-scoped advisory lock named after the schema, so write
//! transactions run one at a time, whichever instance runs them, and read-then-write code
//! written for SQLite's single writer stays race-free. Within one instance writes queue on an
//! async semaphore before they take a connection, so waiting writes hold no thread.
//! Reads run as single statements (autocommit) on connections whose transactions default to
//! read-only, on the same pool, and never wait for writers. Each connection keeps its
//! prepared statements, so a query is parsed and planned once per connection, not per call
//! (without it every query paid an extra round trip and a fresh plan: 12× slower reads).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use super::migrate::MigrationStatus;
use super::{Conn, DbError, DbOptions, Dialect, Row, Value};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Advisory lock key (per schema) held by every write transaction.
const WRITE_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('markethub.write.' || current_schema()))";
/// Advisory lock key held while migrations run, so instances starting together migrate once.
/// Database-wide, not per schema: migrations also create a database-wide object (the
/// `unaccent` extension), which two schemas migrating at once would both try to create.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_lock(hashtext('markethub.migrate'))";
const MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext('markethub.migrate'))";

type Pool = r2d2::Pool<Manager>;

/// Prepared statements kept per connection (dynamic SQL — IN lists of varying length — could
/// grow it without bound: past this many it starts over).
const STATEMENT_CACHE: usize = 512;

/// A pooled connection and its prepared statements.
pub(super) struct PgClient {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// Opens pool connections: transactions read-only unless asked otherwise, lock waits bounded
/// like SQLite's busy timeout, UTC.
#[derive(Debug)]
struct Manager {
    config: postgres::Config,
    lock_timeout_ms: u64,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgClient, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!(
            "SET lock_timeout = {}; SET TIME ZONE 'UTC'; \
             SET default_transaction_read_only = on",
            self.lock_timeout_ms
        ))?;
        Ok(PgClient {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.client.is_closed()
    }
}

pub(super) struct PgDb {
    /// `None` only while being dropped.
    pool: Option<Pool>,
    url: String,
}

impl Drop for PgDb {
    /// Closing the client connections blocks on their own small runtimes, which panics on a
    /// runtime thread: the last handle may be dropped there (server shutdown), so the pool is
    /// closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(move || drop(pool)).join();
            } else {
                drop(pool);
            }
        }
    }
}

fn config_of(url: &str) -> Result<postgres::Config, DbError> {
    postgres::Config::from_str(url).map_err(|e| DbError::Url("postgres://…".into(), e.to_string()))
}

/// Where `url` points, without any secret (password, query options), for messages and logs.
pub(super) fn redact(url: &str) -> String {
    let Ok(cfg) = postgres::Config::from_str(url) else {
        return "postgres://(unparsable URL)".into();
    };
    let host = match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        cfg.get_user().unwrap_or(""),
        cfg.get_dbname().unwrap_or("")
    )
}

impl PgDb {
    /// Connects, applies pending migrations (once, even when instances start together) and
    /// builds the pool. Blocking.
    pub(super) fn open(opts: &DbOptions) -> Result<(Self, MigrationStatus), DbError> {
        let status = migrate(&opts.url)?;
        let manager = Manager {
            config: config_of(&opts.url)?,
            lock_timeout_ms: opts.busy_timeout_ms,
        };
        let pool = r2d2::Pool::builder()
            // Readers, one writer, and one for the CLI/jobs' blocking writes.
            .max_size(opts.max_read_connections.max(1) + 2)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_millis(opts.busy_timeout_ms.max(1000)))
            .build(manager)?;
        Ok((
            PgDb {
                pool: Some(pool),
                url: redact(&opts.url),
            },
            status,
        ))
    }

    /// The database URL without its password.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn pool_state(&self) -> (u32, u32) {
        self.pool.as_ref().map_or((0, 0), |p| {
            let st = p.state();
            (st.connections, st.idle_connections)
        })
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        match &self.pool {
            Some(pool) => Ok(pool.get()?),
            None => Err(DbError::Task("the database is closed".into())),
        }
    }

    /// Runs `f` with read-only statements, each in its own (read-only) transaction.
    pub(super) fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.connection().map_err(E::from)?;
        let PgClient { client, statements } = &mut *conn;
        f(&PgConn {
            runner: RefCell::new(Runner::Client(client)),
            statements: RefCell::new(statements),
        })
    }

    /// Runs `f` in a write transaction holding the schema's write lock; commits on `Ok`.
    pub(super) fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&dyn Conn) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.connection().map_err(E::from)?;
        let PgClient { client, statements } = &mut *conn;
        let mut tx = client
            .build_transaction()
            .read_only(false)
            .start()
            .map_err(|e| E::from(map_err(e)))?;
        tx.batch_execute(WRITE_LOCK)
            .map_err(|e| E::from(map_err(e)))?;
        let out = f(&PgConn {
            runner: RefCell::new(Runner::Transaction(&mut tx)),
            statements: RefCell::new(statements),
        })?;
        tx.commit().map_err(|e| E::from(map_err(e)))?;
        Ok(out)
    }
}

/// Applies pending migrations under the migration lock (`markethub migrate` and start-up).
pub(super) fn migrate(url: &str) -> Result<MigrationStatus, DbError> {
    let mut client = config_of(url)?.connect(NoTls).map_err(map_err)?;
    client.batch_execute(MIGRATION_LOCK).map_err(map_err)?;
    let result = run_migrations(&mut client);
    let unlocked = client.batch_execute(MIGRATION_UNLOCK).map_err(map_err);
    let status = result?;
    unlocked?;
    Ok(status)
}

fn run_migrations(client: &mut Client) -> Result<MigrationStatus, DbError> {
    super::migrate::apply(client, embedded::migrations::runner())
}

/// Versions of the embedded PostgreSQL migrations, in order.
pub(super) fn embedded_versions() -> Vec<i64> {
    let mut versions: Vec<i64> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect();
    versions.sort_unstable();
    versions
}

pub(super) fn map_err(e: postgres::Error) -> DbError {
    let err = DbError::Postgres(e);
    if err.is_busy() { DbError::Busy } else { err }
}

/// SQLSTATEs that mean "try again": serialization failure, deadlock, lock timeout, too many
/// connections.
pub(super) fn is_busy(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01" | "55P03" | "53300" | "57P03"))
}

/// What runs statements: the pooled client itself (reads) or an open transaction (writes).
enum Runner<'a, 'b> {
    Client(&'a mut Client),
    Transaction(&'a mut postgres::Transaction<'b>),
}

impl Runner<'_, '_> {
    fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        match self {
            Runner::Client(c) => c.prepare(sql),
            Runner::Transaction(t) => t.prepare(sql),
        }
    }

    fn query(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        match self {
            Runner::Client(c) => c.query(st, params),
            Runner::Transaction(t) => t.query(st, params),
        }
    }

    fn execute(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        match self {
            Runner::Client(c) => c.execute(st, params),
            Runner::Transaction(t) => t.execute(st, params),
        }
    }
}

/// A connection or open transaction, with its connection's prepared statements, seen through
/// the portable [`Conn`] trait.
struct PgConn<'a, 'b> {
    runner: RefCell<Runner<'a, 'b>>,
    statements: RefCell<&'a mut HashMap<String, Statement>>,
}

impl PgConn<'_, '_> {
    /// The prepared statement for `sql`, prepared on first use on this connection.
    fn statement(&self, sql: &str) -> Result<Statement, DbError> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .runner
            .borrow_mut()
            .prepare(sql)
            .map_err(|e| with_sql(e, sql))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    /// Forgets `sql`'s statement after an error (it may be what failed, e.g. a plan made
    /// stale by a schema change).
    fn forget(&self, sql: &str) {
        self.statements.borrow_mut().remove(sql);
    }
}

fn bind(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_, '_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let st = self.statement(sql)?;
        let result = self.runner.borrow_mut().execute(&st, &bind(params));
        result.map_err(|e| {
            self.forget(sql);
            with_sql(e, sql)
        })
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let st = self.statement(sql)?;
        let result = self.runner.borrow_mut().query(&st, &bind(params));
        let rows = result.map_err(|e| {
            self.forget(sql);
            with_sql(e, sql)
        })?;
        rows.iter().map(decode_row).collect()
    }
}

fn with_sql(e: postgres::Error, sql: &str) -> DbError {
    if is_busy(&e) {
        return DbError::Busy;
    }
    // Statement errors name the statement so a dialect slip is found at once in the logs.
    match e.as_db_error() {
        // character_not_in_repertoire / untranslatable_character: a NUL in user text.
        Some(db) if matches!(db.code().code(), "22021" | "22P05") => {
            DbError::InvalidText(db.message().to_owned())
        }
        Some(db) => DbError::Statement(
            format!("{} ({})", db.message(), db.code().code()),
            sql.split_whitespace().collect::<Vec<_>>().join(" "),
        ),
        None => DbError::Postgres(e),
    }
}

fn decode_row(row: &postgres::Row) -> Result<Row, DbError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let bad = |e: postgres::Error| DbError::Decode(i, e.to_string());
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map_err(bad)?
                .map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)
                .map_err(bad)?
                .map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map_err(bad)?
                .map(|v| Value::Real(f64::from(v)))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map_err(bad)?
                .map(Value::Blob)
        } else if matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME) {
            row.try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map(Value::Text)
        } else {
            return Err(DbError::Decode(
                i,
                format!(
                    "column {:?} has type {ty}, which the portable layer does not read \
                     (CAST it to BIGINT, DOUBLE PRECISION or TEXT)",
                    col.name()
                ),
            ));
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row::new(values))
}

/// Binds a [`Value`] as whatever type Postgres inferred for the parameter: integers also fit
/// smaller integer, floating-point and boolean parameters; text fits the text types.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => {
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*v != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    #[allow(clippy::cast_precision_loss)]
                    (*v as f64).to_sql(ty, out)
                } else if matches!(*ty, Type::TEXT | Type::VARCHAR) {
                    v.to_string().to_sql(ty, out)
                } else {
                    Err(format!("an integer cannot be bound to a {ty} parameter").into())
                }
            }
            Value::Real(v) => {
                if *ty == Type::FLOAT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    #[allow(clippy::cast_possible_truncation)]
                    (*v as f32).to_sql(ty, out)
                } else {
                    Err(format!("a real cannot be bound to a {ty} parameter").into())
                }
            }
            Value::Text(s) => {
                if matches!(
                    *ty,
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
                ) {
                    s.as_str().to_sql(&Type::TEXT, out)
                } else {
                    Err(format!("text cannot be bound to a {ty} parameter").into())
                }
            }
            Value::Blob(b) => {
                if *ty == Type::BYTEA {
                    b.as_slice().to_sql(ty, out)
                } else {
                    Err(format!("a blob cannot be bound to a {ty} parameter").into())
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db.local:5432/shop"),
            "postgres://app@db.local:5432/shop"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test?password=s3cret&options=-csearch_path%3Dx"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert!(crate::db::is_postgres_url("postgresql://x/y"));
        assert!(!crate::db::is_postgres_url("sqlite:x.db"));
    }
}
