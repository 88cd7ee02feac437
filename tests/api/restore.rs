//! `markethub restore` refuses what it cannot run, before touching anything: a file holding
//! only a (forged) migration history, a real backup with a table dropped or a trigger of
//! someone else's added, a history row the migration library would panic on, a gzip bomb of
//! zeros, a SQLite file larger than the cap. After every refusal the data directory is
//! exactly as it was, and a real backup still restores. A database with a malformed history
//! is a clear error at start, not a panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::cli::markethub;
use crate::common::PASSWORD;

/// Extra environment variables for one run.
type Env<'a> = &'a [(&'a str, &'a str)];

/// Runs `markethub ARGS` in `dir` with extra environment; (success, stdout + stderr).
fn run(dir: &Path, env: Env, args: &[&str]) -> (bool, String) {
    let mut cmd = markethub(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().expect("run markethub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file under `dir` with its content.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            for (inner, bytes) in tree(&path) {
                out.insert(format!("{name}/{inner}"), bytes);
            }
        } else if name != "markethub.lock" {
            // (The lock file holds the pid of whoever last took it.)
            out.insert(name, std::fs::read(&path).expect("read"));
        }
    }
    out
}

fn gzip(bytes: &[u8], to: &Path) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(to).expect("create"),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes).expect("compress");
    enc.finish().expect("finish");
}

/// A copy of the real backup `good` (a plain database file), changed by `sql`.
fn altered(good: &Path, to: &Path, sql: &str) {
    std::fs::copy(good, to).expect("copy");
    rusqlite::Connection::open(to)
        .and_then(|c| c.execute_batch(sql))
        .expect("alter the copy");
}

#[test]
fn restore_refuses_what_it_cannot_run_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (ok, out) = run(
        root,
        &[],
        &[
            "create-admin",
            "--email",
            "first@example.com",
            "--password",
            PASSWORD,
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(root, &[], &["backup", "--out", "good.db.gz"]);
    assert!(ok, "{out}");
    let scratch = tempfile::tempdir().expect("scratch");
    let good = scratch.path().join("good.db");
    markethub::backups::unpack(
        &root.join("good.db.gz"),
        &good,
        markethub::backups::SizeCap::NONE,
    )
    .expect("unpack");

    let hostile = scratch.path();
    // Only a migration history, copied from the real thing.
    let forged = hostile.join("history-only.db");
    rusqlite::Connection::open(&forged)
        .and_then(|c| {
            c.execute_batch(&format!(
                "ATTACH '{}' AS real;
                 CREATE TABLE refinery_schema_history AS SELECT * FROM real.refinery_schema_history;",
                good.display()
            ))
        })
        .expect("forge");
    altered(
        &good,
        &hostile.join("no-sync-node.db"),
        "DROP TABLE sync_node;",
    );
    altered(
        &good,
        &hostile.join("extra-trigger.db"),
        "CREATE TRIGGER grant_admin AFTER INSERT ON users BEGIN
             UPDATE users SET role = 'admin' WHERE id = NEW.id;
         END;",
    );
    altered(
        &good,
        &hostile.join("bad-history.db"),
        "UPDATE refinery_schema_history SET applied_on = 'yesterday' WHERE version = 1;",
    );
    altered(
        &good,
        &hostile.join("bad-checksum.db"),
        "UPDATE refinery_schema_history SET checksum = 'forty-two' WHERE version = 2;",
    );
    gzip(&vec![0u8; 64 * 1024 * 1024], &hostile.join("zeros.gz"));
    let mut big = std::fs::read(&good).expect("read");
    big.resize(big.len() + 4 * 1024 * 1024, 0);
    gzip(&big, &hostile.join("big.db.gz"));

    let before = tree(&root.join("data"));
    let cases: [(&str, Env, &str); 7] = [
        (
            "history-only.db",
            &[],
            "the schema is not MarketHub's at version",
        ),
        ("no-sync-node.db", &[], "table sync_node"),
        ("extra-trigger.db", &[], "not ours: trigger grant_admin"),
        (
            "bad-history.db",
            &[],
            "the migration history is malformed: version 1: time applied \"yesterday\"",
        ),
        (
            "bad-checksum.db",
            &[],
            "the migration history is malformed: version 2: checksum",
        ),
        ("zeros.gz", &[], "does not hold a SQLite database"),
        (
            "big.db.gz",
            &[("MARKETHUB_BACKUP__RESTORE_MAX_BYTES", "2097152")],
            "more than this restore allows (2097152 bytes",
        ),
    ];
    for (file, env, says) in cases {
        let path = hostile.join(file);
        let (ok, out) = run(root, env, &["restore", &path.to_string_lossy()]);
        assert!(!ok, "{file} was restored: {out}");
        assert!(out.contains(says), "{file}: expected {says:?} in: {out}");
        assert!(!out.contains("panicked"), "{file}: {out}");
        assert!(
            tree(&root.join("data")) == before,
            "{file}: the data directory changed after a refused restore"
        );
    }

    // A raw copy of a live database (WAL mode in its header) restores, with no side files
    // left behind.
    let raw = hostile.join("raw-wal.db");
    altered(&good, &raw, "PRAGMA journal_mode = WAL;");
    let (ok, out) = run(root, &[], &["restore", &raw.to_string_lossy()]);
    assert!(ok, "{out}");
    let strays: Vec<String> = tree(&root.join("data"))
        .into_keys()
        .filter(|n| n.starts_with(".restore-"))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");

    // The real backup still restores, and the server starts on it.
    let (ok, out) = run(root, &[], &["restore", "good.db.gz"]);
    assert!(ok, "{out}");
    let (ok, out) = run(root, &[], &["migrate"]);
    assert!(ok, "{out}");

    // A history the migration library cannot parse, in place: a clear error at start.
    let db = root.join("data").join("markethub.db");
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "UPDATE refinery_schema_history SET applied_on = 'soon' WHERE version = 3",
            )
        })
        .expect("damage the history");
    let (ok, out) = run(root, &[], &["migrate"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the migration history is malformed: version 3"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
}
