//! `markethub restore FILE`: refuses while a server holds the data directory; unpacks the
//! backup beside the database under a size cap; checks the copy (intact, this binary's
//! migration history, the schema of a database migrated from scratch to that version, foreign
//! keys) and applies newer migrations to it — all before anything is touched, so a refused
//! restore leaves the install exactly as it was; then moves the current database (with its
//! WAL) aside rather than deleting it, and swaps the restored one in.

use std::path::{Path, PathBuf};

use super::{BackupError, file_name, free_space, unpack};
use crate::clock::now_ms;
use crate::config::Config;
use crate::db::{self, Db, DbError, snapshot};
use crate::server::DataDirLock;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub database: PathBuf,
    pub backup_version: i64,
    pub current_version: Option<i64>,
    /// Where the database that was replaced now lives, if there was one.
    pub previous: Option<PathBuf>,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The most a backup may unpack to: `backup.restore_max_bytes`, or the largest of 4 times the
/// database in place, 30 times the backup file and 256 MiB; never more than the free space
/// beside the database, less 64 MiB.
fn size_cap(config: &Config, backup: &Path, db_path: &Path, dir: &Path) -> super::SizeCap {
    const MIB: u64 = 1024 * 1024;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wanted = if config.backup.restore_max_bytes > 0 {
        config.backup.restore_max_bytes
    } else {
        let current = size(db_path) + size(&with_suffix(db_path, "-wal"));
        (current.saturating_mul(4))
            .max(size(backup).saturating_mul(30))
            .max(256 * MIB)
    };
    match free_space(dir).map(|free| free.saturating_sub(64 * MIB)) {
        Some(room) if room < wanted => super::SizeCap {
            bytes: room,
            why: "the free disk beside the database, less 64 MiB: free some space",
        },
        _ => super::SizeCap {
            bytes: wanted,
            why: "backup.restore_max_bytes, by default the largest of 4 times the database in \
                  place, 30 times the backup file and 256 MiB; set \
                  MARKETHUB_BACKUP__RESTORE_MAX_BYTES to allow more",
        },
    }
}

/// Removes a staged copy and whatever SQLite made beside it.
fn remove_staged(staged: &Path) {
    let _ = std::fs::remove_file(staged);
    for suffix in ["-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(staged, suffix));
    }
}

pub fn restore(config: &Config, backup: &Path) -> Result<Restored, BackupError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| BackupError::Io(format!("creating {}", config.data_dir.display()), e))?;
    let _lock = DataDirLock::acquire(&config.data_dir).map_err(|e| match e {
        crate::server::ServerError::Startup(_) => BackupError::Invalid(format!(
            "a markethub server is running on {}; stop it before restoring",
            config.data_dir.display()
        )),
        other => BackupError::Invalid(other.to_string()),
    })?;
    let db_path = db::sqlite_path(&config.database_url())?;
    let dir = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir)
        .map_err(|e| BackupError::Io(format!("creating {}", dir.display()), e))?;
    let staged = dir.join(format!(".restore-{}.db", now_ms()));
    let max_bytes = size_cap(config, backup, &db_path, &dir);
    let result = (|| -> Result<i64, BackupError> {
        unpack(backup, &staged, max_bytes)?;
        // A raw copy of a live database may say WAL in its header: make the copy standalone
        // before it is checked (and read without side files).
        rusqlite::Connection::open(&staged)
            .and_then(|c| {
                c.query_row("PRAGMA journal_mode = DELETE", [], |r| {
                    r.get::<_, String>(0)
                })
            })
            .map_err(|e| {
                BackupError::Invalid(format!("{} cannot be restored: {e}", backup.display()))
            })?;
        let version = snapshot::check_restorable(&staged).map_err(|e| {
            BackupError::Invalid(format!("{} cannot be restored: {e}", backup.display()))
        })?;
        // Newer migrations run on the copy, before the swap: if one fails, nothing changed.
        let mut conn = rusqlite::Connection::open(&staged).map_err(DbError::from)?;
        db::migrate_connection(&mut conn)?;
        drop(conn);
        Ok(version)
    })();
    let backup_version = match result {
        Ok(v) => v,
        Err(e) => {
            remove_staged(&staged);
            return Err(e);
        }
    };
    let previous = if db_path.exists() {
        let stamp = file_name(now_ms())
            .trim_start_matches("markethub-")
            .trim_end_matches(".db.gz")
            .to_owned();
        let aside = with_suffix(&db_path, &format!(".before-restore-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let from = with_suffix(&db_path, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&aside, suffix))
                    .map_err(|e| BackupError::Io(format!("moving {}", from.display()), e))?;
            }
        }
        std::fs::rename(&db_path, &aside)
            .map_err(|e| BackupError::Io(format!("moving {}", db_path.display()), e))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, &db_path)
        .map_err(|e| BackupError::Io(format!("installing {}", db_path.display()), e))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    let status = Db::migrate_only(&config.db_options())?;
    Ok(Restored {
        database: db_path,
        backup_version,
        current_version: status.current_version,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    #[test]
    fn a_backup_of_an_older_schema_is_restored_and_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.db");
        let status = db::old_database(&old, 5).expect("old database");
        assert_eq!(status.current_version, Some(5));
        let file = dir.path().join("old.db.gz");
        super::super::create(&old, dir.path(), Some(&file), |_, _| {}).expect("backup");

        let config = config_in(dir.path());
        // The database in place is a newer one with an order-free marker table.
        let current = config.data_dir.join("markethub.db");
        std::fs::create_dir_all(&config.data_dir).expect("mkdir");
        rusqlite::Connection::open(&current)
            .and_then(|c| c.execute_batch("CREATE TABLE marker (x INTEGER)"))
            .expect("current database");

        let restored = restore(&config, &file).expect("restore");
        assert_eq!(restored.backup_version, 5);
        assert_eq!(
            restored.current_version,
            db::embedded_versions().last().copied()
        );
        let previous = restored.previous.expect("the replaced database was kept");
        let kept = rusqlite::Connection::open(&previous).expect("open previous");
        let marker: i64 = kept
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'marker'",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(marker, 1, "the previous database is moved aside intact");
        assert_eq!(
            snapshot::schema_version(&current).expect("version"),
            db::embedded_versions().last().copied()
        );
    }

    #[test]
    fn files_that_are_not_markethub_backups_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_in(dir.path());
        std::fs::create_dir_all(&config.data_dir).expect("mkdir");
        let current = config.data_dir.join("markethub.db");
        std::fs::write(&current, b"placeholder").expect("write");

        let junk = dir.path().join("junk.gz");
        std::fs::write(&junk, b"not a database at all").expect("write");
        let foreign = dir.path().join("foreign.db");
        rusqlite::Connection::open(&foreign)
            .and_then(|c| c.execute_batch("CREATE TABLE notes (x TEXT)"))
            .expect("foreign database");
        for (file, says) in [
            (&junk, "not a MarketHub backup"),
            (&foreign, "not a MarketHub database"),
        ] {
            let err = restore(&config, file).expect_err("refused").to_string();
            assert!(err.contains(says), "{err}");
        }
        assert_eq!(std::fs::read(&current).expect("read"), b"placeholder");
        let leftovers: Vec<_> = std::fs::read_dir(&config.data_dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "markethub.db" && n != crate::server::LOCK_FILE)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_restore_is_refused_while_a_server_holds_the_data_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_in(dir.path());
        std::fs::create_dir_all(&config.data_dir).expect("mkdir");
        let _server = DataDirLock::acquire(&config.data_dir).expect("lock");
        let err = restore(&config, &dir.path().join("whatever.gz")).expect_err("refused");
        assert!(
            err.to_string().contains("stop it before restoring"),
            "{err}"
        );
    }
}
