//! Consistent copies of a live SQLite database (for backups) and their verification.
//!
//! The copy uses the SQLite online backup API from a dedicated read-only source connection
//! that first opens a read transaction. In WAL mode that transaction pins one snapshot of the
//! database: writers keep committing to the WAL, the source never sees their pages change, so
//! the stepped copy never restarts and always completes, while the server keeps serving reads
//! and writes. (A stepped backup from a connection without that transaction restarts whenever
//! another connection writes, and under steady writes never finishes.)

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::DbError;

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
