//! Consistent copies of a live SQLite database (for backups) and their verification, and the
//! checks a file must pass before `markethub restore` puts it in place ([`check_restorable`]).
//!
//! The copy uses the SQLite online backup API from a dedicated read-only source connection
//! that first opens a read transaction. In WAL mode that transaction pins one snapshot of the
//! database: writers keep committing to the WAL, the source never sees their pages change, so
//! the stepped copy never restarts and always completes, while the server keeps serving reads
//! and writes. (A stepped backup from a connection without that transaction restarts whenever
//! another connection writes, and under steady writes never finishes.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::DbError;
use super::migrate;

/// Pages copied per step: progress stays smooth and no step holds the source for long.
const PAGES_PER_STEP: i32 = 1024;

/// Copies the database at `source` to a new file `dest` as one consistent snapshot and
/// checks the copy with `PRAGMA integrity_check`. `progress(done, total)` is called in pages.
pub fn copy(source: &Path, dest: &Path, progress: impl FnMut(u64, u64)) -> Result<(), DbError> {
    copy_in_steps(source, dest, PAGES_PER_STEP, progress)
}

fn copy_in_steps(
    source: &Path,
    dest: &Path,
    pages_per_step: i32,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), DbError> {
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(Duration::from_secs(30))?;
    // Open the read transaction that pins the snapshot.
    src.execute_batch("BEGIN")?;
    src.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    let mut dst = Connection::open(dest)?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        loop {
            let step = backup.step(pages_per_step)?;
            let p = backup.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            let left = u64::try_from(p.remaining).unwrap_or(0);
            progress(total.saturating_sub(left), total);
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                // Another process holds an exclusive lock on the source: wait a moment.
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {}
            }
        }
    }
    src.execute_batch("COMMIT")?;
    // The copy is a standalone file: no WAL beside it.
    dst.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })?;
    check_integrity(&dst)?;
    Ok(())
}

/// `PRAGMA integrity_check` must answer exactly "ok".
pub fn check_integrity(conn: &Connection) -> Result<(), DbError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let answers: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if answers == ["ok"] {
        Ok(())
    } else {
        Err(DbError::Migration(format!(
            "integrity check failed: {}",
            answers.join("; ")
        )))
    }
}

/// The newest migration applied to the database at `path`, or `None` when it has no
/// MarketHub schema history (not one of our databases).
pub fn schema_version(path: &Path) -> Result<Option<i64>, DbError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has_history: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
        [],
        |r| r.get(0),
    )?;
    if has_history == 0 {
        return Ok(None);
    }
    Ok(conn.query_row(
        "SELECT MAX(version) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )?)
}

/// Opens `path` read-only and checks its integrity.
pub fn verify_file(path: &Path) -> Result<(), DbError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_integrity(&conn)
}

/// Whether the SQLite file at `path` is a MarketHub database this binary can run, and its
/// schema version: intact (`integrity_check`), a migration history that is exactly this
/// binary's first migrations, every table, index, trigger and view of a database migrated
/// from scratch to that version and nothing else, and rows that keep their foreign keys.
pub fn check_restorable(path: &Path) -> Result<i64, DbError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_integrity(&conn)?;
    let version = migrate::version_of_history(&migrate::read_history(&conn)?)?;
    let mut reference = Connection::open_in_memory()?;
    let target = i32::try_from(version)
        .map_err(|_| DbError::Schema(format!("schema version {version} is out of range")))?;
    migrate::run_until(&mut reference, target)?;
    compare_schemas(&schema_of(&reference)?, &schema_of(&conn)?, version)?;
    check_foreign_keys(&conn)
        .map_err(|e| DbError::Schema(format!("the data breaks the schema: {e}")))?;
    Ok(version)
}

/// The migration library's own table.
const HISTORY_TABLE: &str = "refinery_schema_history";

/// One table, index, trigger or view as the schema describes it.
#[derive(Debug, PartialEq, Eq)]
struct SchemaObject {
    table: String,
    /// The statement that made it (none for the indexes behind UNIQUE constraints).
    sql: Option<String>,
    /// Columns of a table: name, declared type, NOT NULL, primary-key position.
    columns: Vec<(String, String, bool, i64)>,
    /// A full-text index's own table: its layout belongs to the SQLite version, so only its
    /// presence is compared.
    shadow: bool,
}

/// The schema of `conn`, by (kind, name). SQLite's own statistics tables are left out.
fn schema_of(conn: &Connection) -> Result<BTreeMap<(String, String), SchemaObject>, DbError> {
    let shadows: BTreeSet<String> = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_master
         WHERE substr(name, 1, 11) <> 'sqlite_stat' AND name <> 'sqlite_sequence'",
    )?;
    let rows: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for (kind, name, table, sql) in rows {
        let columns = if kind == "table" {
            conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?1)")?
                .query_map([&name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let shadow = shadows.contains(&name);
        out.insert(
            (kind, name),
            SchemaObject {
                table,
                sql,
                columns,
                shadow,
            },
        );
    }
    Ok(out)
}

/// Lists what is missing from, different in, or foreign to `got` against `want`.
fn compare_schemas(
    want: &BTreeMap<(String, String), SchemaObject>,
    got: &BTreeMap<(String, String), SchemaObject>,
    version: i64,
) -> Result<(), DbError> {
    let name = |(kind, name): &(String, String)| format!("{kind} {name}");
    let missing: Vec<String> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .map(name)
        .collect();
    let foreign: Vec<String> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(name)
        .collect();
    let different: Vec<String> = want
        .iter()
        .filter_map(|(k, w)| {
            let g = got.get(k)?;
            let same = if w.shadow {
                true
            } else if k.1 == HISTORY_TABLE {
                // Its DDL is the migration library's, not ours: its columns are what counts.
                let names =
                    |o: &SchemaObject| o.columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
                names(w) == names(g)
            } else {
                w.table == g.table && w.sql == g.sql && w.columns == g.columns
            };
            (!same).then(|| name(k))
        })
        .collect();
    if missing.is_empty() && foreign.is_empty() && different.is_empty() {
        return Ok(());
    }
    let list = |what: &str, names: &[String]| {
        (!names.is_empty()).then(|| {
            let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{what}: {}{tail}", shown.join(", "))
        })
    };
    let parts: Vec<String> = [
        list("missing", &missing),
        list("different", &different),
        list("not ours", &foreign),
    ]
    .into_iter()
    .flatten()
    .collect();
    Err(DbError::Schema(format!(
        "the schema is not MarketHub's at version {version} ({})",
        parts.join("; ")
    )))
}

/// `PRAGMA foreign_key_check` must find nothing.
fn check_foreign_keys(conn: &Connection) -> Result<(), DbError> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    if let Some(row) = rows.next()? {
        let table: String = row.get(0)?;
        let parent: String = row.get(2)?;
        return Err(DbError::Schema(format!(
            "rows of {table} refer to {parent} rows that do not exist"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    /// Another connection commits between every step of the copy. A backup that restarted on
    /// each foreign write would never finish; this one finishes with the rows that existed
    /// when it began, and nothing written after.
    #[test]
    fn a_stepped_copy_completes_while_another_connection_keeps_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("live.db");
        let writer = Connection::open(&source).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO t (payload) SELECT randomblob(1500) FROM n;",
            )
            .expect("seed");
        let before = count(&writer);
        let dest = dir.path().join("copy.db");
        let (mut steps, mut writes) = (0u32, 0u32);
        copy_in_steps(&source, &dest, 16, |_, _| {
            steps += 1;
            assert!(steps < 10_000, "the copy keeps restarting");
            writer
                .execute("INSERT INTO t (payload) VALUES (randomblob(1500))", [])
                .expect("concurrent write");
            writes += 1;
        })
        .expect("copy");
        assert!(
            steps > 50,
            "the copy took {steps} steps; the test needs many"
        );
        assert_eq!(count(&writer), before + i64::from(writes));
        let copy = Connection::open(&dest).expect("open copy");
        check_integrity(&copy).expect("integrity");
        assert_eq!(
            count(&copy),
            before,
            "the copy is the snapshot from when it began"
        );
        let mode: String = copy
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "delete");
    }

    #[test]
    fn a_file_that_is_not_a_database_fails_verification() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![7u8; 8192]).expect("write");
        assert!(verify_file(&path).is_err());
    }
}
