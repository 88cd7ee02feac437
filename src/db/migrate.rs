//! Embedded schema migrations (`migrations/sqlite/V<n>__<name>.sql`), applied at start-up and
//! by `markethub migrate`. All pending migrations run in ONE immediate transaction, so a
//! failing migration leaves the database exactly as it was.

use rusqlite::{Connection, TransactionBehavior};

use super::DbError;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// A migration applied by this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

/// What a migration run did and where the schema now stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<AppliedMigration>,
    pub current_version: Option<i64>,
}

/// Versions of the migrations compiled into this binary, in order.
pub fn embedded_versions() -> Vec<i64> {
    embedded_in_order()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect()
}

/// The embedded migrations by version (the macro lists them by file name, where V10 comes
/// before V2).
fn embedded_in_order() -> Vec<refinery::Migration> {
    let mut all = embedded::migrations::runner().get_migrations().clone();
    all.sort_by_key(refinery::Migration::version);
    all
}

pub(crate) fn run(conn: &mut Connection) -> Result<MigrationStatus, DbError> {
    // refinery panics on a history row it cannot parse (a forged or damaged file): read the
    // history ourselves first, so such a file is a clear error.
    read_history(conn)?;
    run_with(conn, embedded::migrations::runner())
}

/// One row of `refinery_schema_history`, checked for form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: i64,
    pub name: String,
    pub checksum: u64,
}

/// The migration history of a SQLite database, oldest first; empty when it has none. Every
/// row must be well formed (an integer version, a name, an RFC 3339 time, a numeric
/// checksum), or the answer is an error naming the row.
pub fn read_history(conn: &Connection) -> Result<Vec<HistoryRow>, DbError> {
    let malformed =
        |what: String| DbError::Schema(format!("the migration history is malformed: {what}"));
    let exists: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version")
        .map_err(|e| malformed(e.to_string()))?;
    let mut rows = stmt.query([]).map_err(|e| malformed(e.to_string()))?;
    let mut history = Vec::new();
    while let Some(row) = rows.next().map_err(|e| malformed(e.to_string()))? {
        use rusqlite::types::ValueRef;
        let at = history.len() + 1;
        let cell = |i: usize| {
            row.get_ref(i)
                .map_err(|e| malformed(format!("row {at}: {e}")))
        };
        let ValueRef::Integer(version) = cell(0)? else {
            return Err(malformed(format!(
                "row {at}: the version is not an integer"
            )));
        };
        let text = |i: usize, what: &str| -> Result<String, DbError> {
            match cell(i)? {
                ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
                _ => Err(malformed(format!(
                    "version {version}: the {what} is not text"
                ))),
            }
        };
        let name = text(1, "name")?;
        let applied_on = text(2, "time applied")?;
        time::OffsetDateTime::parse(&applied_on, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                malformed(format!(
                    "version {version}: time applied {applied_on:?}: {e}"
                ))
            })?;
        let checksum = text(3, "checksum")?
            .parse::<u64>()
            .map_err(|e| malformed(format!("version {version}: checksum: {e}")))?;
        history.push(HistoryRow {
            version,
            name,
            checksum,
        });
    }
    Ok(history)
}

/// The schema version of a database whose history is exactly the first migrations of this
/// binary (same versions, names and checksums, none missing, none unknown).
pub fn version_of_history(history: &[HistoryRow]) -> Result<i64, DbError> {
    let known = embedded_in_order();
    let Some(last) = history.last() else {
        return Err(DbError::Schema(
            "this file is not a MarketHub database (no schema history)".into(),
        ));
    };
    if history.len() > known.len() {
        return Err(DbError::Schema(format!(
            "the database is at schema version {}, which this markethub does not know (is it newer?)",
            last.version
        )));
    }
    for (row, m) in history.iter().zip(&known) {
        if row.version != i64::from(m.version()) || row.name != m.name() {
            return Err(DbError::Schema(format!(
                "the migration history lists V{}__{} where this markethub has V{}__{}",
                row.version,
                row.name,
                m.version(),
                m.name()
            )));
        }
        if row.checksum != m.checksum() {
            return Err(DbError::Schema(format!(
                "migration V{}__{} in the history has another checksum than this markethub's",
                row.version, row.name
            )));
        }
    }
    Ok(last.version)
}

/// Applies the embedded migrations up to `version` only (old databases for tests, and the
/// reference schema a restored file is compared with).
pub(crate) fn run_until(conn: &mut Connection, version: i32) -> Result<MigrationStatus, DbError> {
    run_with(
        conn,
        embedded::migrations::runner().set_target(refinery::Target::Version(version)),
    )
}

fn run_with(conn: &mut Connection, runner: refinery::Runner) -> Result<MigrationStatus, DbError> {
    // refinery opens its transactions with `Connection::transaction`; make those IMMEDIATE so
    // a migration never upgrades a read lock while a server writes to the same file.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    let result = apply(conn, runner);
    conn.set_transaction_behavior(TransactionBehavior::Deferred);
    result
}

/// Applies `runner`'s pending migrations in one transaction (either dialect) and reports what
/// it did and where the schema stands.
pub(super) fn apply<C: refinery::Migrate>(
    conn: &mut C,
    runner: refinery::Runner,
) -> Result<MigrationStatus, DbError> {
    let runner = runner.set_grouped(true).set_abort_divergent(true);
    let report = runner
        .run(conn)
        .map_err(|e| DbError::Migration(with_sources(&e)))?;
    let applied = report
        .applied_migrations()
        .iter()
        .map(|m| AppliedMigration {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
        })
        .collect();
    let current_version = runner
        .get_last_applied_migration(conn)
        .map_err(|e| DbError::Migration(with_sources(&e)))?
        .map(|m| i64::from(m.version()));
    Ok(MigrationStatus {
        applied,
        current_version,
    })
}

/// An error and its causes on one line (refinery's own message leaves the database's out).
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration_files(dialect: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn sqlite_and_postgres_migrations_stay_in_step() {
        let sqlite = migration_files("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite,
            migration_files("postgres"),
            "every migration exists for both dialects, with the same version and name"
        );
        #[cfg(feature = "postgres")]
        assert_eq!(embedded_versions(), crate::db::embedded_postgres_versions());
    }
    use refinery::{Migration, Runner};

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n == 1)
        .unwrap_or(false)
    }

    fn migration(name: &str, sql: &str) -> Migration {
        Migration::unapplied(name, sql).expect("valid migration name")
    }

    #[test]
    fn failing_migration_leaves_database_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("m.db")).expect("open");

        let first = Runner::new(&[migration("V1__a", "CREATE TABLE a (x INTEGER);")]);
        let status = run_with(&mut conn, first).expect("first migration applies");
        assert_eq!(status.current_version, Some(1));

        let second = Runner::new(&[
            migration("V1__a", "CREATE TABLE a (x INTEGER);"),
            migration(
                "V2__b",
                "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);",
            ),
            migration("V3__broken", "CREATE TABLE c (x INTEGER); THIS IS NOT SQL;"),
        ]);
        assert!(run_with(&mut conn, second).is_err());
        assert!(table_exists(&conn, "a"));
        assert!(!table_exists(&conn, "b"), "V2 must be rolled back with V3");
        assert!(!table_exists(&conn, "c"));
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 0);
        let version: i64 = conn
            .query_row(
                "SELECT max(version) FROM refinery_schema_history",
                [],
                |r| r.get(0),
            )
            .expect("history");
        assert_eq!(version, 1);
    }

    #[test]
    fn embedded_migrations_apply_and_are_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("e.db")).expect("open");
        let first = run(&mut conn).expect("migrate");
        assert_eq!(first.applied.len(), embedded_versions().len());
        let again = run(&mut conn).expect("migrate again");
        assert!(again.applied.is_empty());
        assert_eq!(again.current_version, embedded_versions().last().copied());
        assert!(table_exists(&conn, "users"));
    }
}
