//! Backups of the SQLite database: consistent online snapshots (see `db::snapshot`), written
//! to a temporary file, checked, gzip-compressed, fsynced, then renamed into
//! `<data_dir>/backups/markethub-YYYYMMDDTHHMMSSZ.db.gz` (UTC). Also the listing, the
//! retention rule, the daily schedule and `markethub restore` (`restore.rs`). Handlers are in
//! `routes.rs`.

pub mod restore;
pub mod routes;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::macros::format_description;

use crate::clock::{now_ms, serde_rfc3339};
use crate::db::{DbError, snapshot};

const PREFIX: &str = "markethub-";
const SUFFIX: &str = ".db.gz";
/// A temporary backup file not written to for this long belongs to a backup that died.
const STALE_PARTIAL: std::time::Duration = std::time::Duration::from_secs(600);

/// One backup file.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BackupInfo {
    /// The file name (UTC time stamp), as used in `GET /admin/backups/{name}`.
    #[schema(example = "markethub-20261130T020000Z.db.gz")]
    pub name: String,
    /// Size of the compressed file.
    #[schema(example = 1048576)]
    pub size_bytes: u64,
    /// When the backup was taken (to the second, from its name).
    #[serde(serialize_with = "serde_rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T02:00:00.000Z")]
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |e| BackupError::Io(what, e)
}

/// `markethub-20261130T020000Z.db.gz` for an instant.
pub fn file_name(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = t
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| ms.to_string());
    format!("{PREFIX}{stamp}{SUFFIX}")
}

/// The instant encoded in a backup file name, if it is one of ours.
pub fn parse_name(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = stamp.split('-').next()?; // a "-2" suffix tells apart two backups in one second
    let t = time::PrimitiveDateTime::parse(
        stamp,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .ok()?;
    Some(t.assume_utc().unix_timestamp() * 1000)
}

/// Backups in `dir`, newest first.
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::Io(format!("reading {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(created_at) = parse_name(&name) {
            let size_bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(BackupInfo {
                name,
                size_bytes,
                created_at,
            });
        }
    }
    out.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    Ok(out)
}

/// Takes a backup of the database at `db_path` into `dest` (a file path) or, when `dest` is
/// `None`, into `dir` under a timestamped name. Blocking. `progress(done, total)` in pages.
pub fn create(
    db_path: &Path,
    dir: &Path,
    dest: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<BackupInfo, BackupError> {
    let now = now_ms();
    let parent = match dest {
        Some(p) => p
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        None => {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            dir.to_path_buf()
        }
    };
    // Unique per process and call: the CLI and the server's schedule may run at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stem = format!(".{PREFIX}{}-{call}", std::process::id());
    let tmp_db = parent.join(format!("{stem}.partial.db"));
    let tmp_gz = parent.join(format!("{stem}.partial.gz"));
    let result = (|| -> Result<PathBuf, BackupError> {
        snapshot::copy(db_path, &tmp_db, progress)?;
        gzip(&tmp_db, &tmp_gz)?;
        let final_path = match dest {
            // An explicit --out replaces what is there.
            Some(p) => {
                std::fs::rename(&tmp_gz, p).map_err(io(format!("renaming to {}", p.display())))?;
                p.to_path_buf()
            }
            None => publish(&tmp_gz, &parent, now)?,
        };
        sync_dir(&parent);
        Ok(final_path)
    })();
    let _ = std::fs::remove_file(&tmp_db);
    let _ = std::fs::remove_file(&tmp_gz);
    let final_path = result?;
    let size_bytes = std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupInfo {
        name: final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size_bytes,
        created_at: now,
    })
}

/// Gives the finished file its timestamped name without ever replacing another backup: a
/// hard link fails when the name is taken (two backups in one second), and the next suffix
/// is tried.
fn publish(tmp: &Path, dir: &Path, now: i64) -> Result<PathBuf, BackupError> {
    for n in 1..1000 {
        let name = if n == 1 {
            file_name(now)
        } else {
            file_name(now).replace(SUFFIX, &format!("-{n}{SUFFIX}"))
        };
        let path = dir.join(name);
        match std::fs::hard_link(tmp, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A file system without hard links: check, then rename.
            Err(_) if !path.exists() => {
                std::fs::rename(tmp, &path)
                    .map_err(io(format!("renaming to {}", path.display())))?;
                return Ok(path);
            }
            Err(_) => {}
        }
    }
    Err(BackupError::Invalid(
        "too many backups in one second".into(),
    ))
}

/// Compresses `src` into `dst` and flushes it to disk. Level 2: on the 540 MB benchmark
/// database it takes 3.8 s instead of 12.3 s at the default level 6, for a 6 % larger file
/// (level 1 is faster still but 30 % larger); the CPU it spares is the live server's
/// (docs/BENCHMARKS.md).
fn gzip(src: &Path, dst: &Path) -> Result<(), BackupError> {
    let input = File::open(src).map_err(io(format!("opening {}", src.display())))?;
    let output = File::create(dst).map_err(io(format!("creating {}", dst.display())))?;
    let mut encoder =
        flate2::write::GzEncoder::new(BufWriter::new(output), flate2::Compression::new(2));
    std::io::copy(&mut BufReader::new(input), &mut encoder)
        .map_err(io("compressing the backup"))?;
    let writer = encoder.finish().map_err(io("compressing the backup"))?;
    let file = writer
        .into_inner()
        .map_err(|e| BackupError::Io("flushing the backup".into(), e.into_error()))?;
    file.sync_all().map_err(io("syncing the backup"))?;
    Ok(())
}

/// How much a restore may unpack, and what sets that bound (said when it is hit).
#[derive(Debug, Clone, Copy)]
pub struct SizeCap {
    pub bytes: u64,
    pub why: &'static str,
}

impl SizeCap {
    /// No bound (tests, tools).
    pub const NONE: SizeCap = SizeCap {
        bytes: u64::MAX,
        why: "",
    };
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Decompresses a `.gz` backup (or copies a plain database file) to `dst`, writing at most
/// `max_bytes`: the content must start as a SQLite database, and neither the size its header
/// declares nor what actually comes out may pass the cap. Returns the size written. On an
/// error `dst` may hold a partial file: the caller removes it.
pub fn unpack(src: &Path, dst: &Path, cap: SizeCap) -> Result<u64, BackupError> {
    let max_bytes = cap.bytes;
    use std::io::{Read, Seek, Write};
    let mut input = File::open(src).map_err(io(format!("opening {}", src.display())))?;
    let mut magic = [0u8; 2];
    let gz = input.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    input.rewind().map_err(io("reading the backup"))?;
    let mut reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(input)))
    } else {
        Box::new(BufReader::new(input))
    };
    let not_sqlite = || {
        BackupError::Invalid(format!(
            "{} is not a MarketHub backup: it does not hold a SQLite database",
            src.display()
        ))
    };
    let mut header = [0u8; 100];
    reader.read_exact(&mut header).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => not_sqlite(),
        _ => BackupError::Io("reading the backup".into(), e),
    })?;
    if &header[..16] != SQLITE_MAGIC {
        return Err(not_sqlite());
    }
    let too_large = |size: String| {
        BackupError::Invalid(format!(
            "the backup unpacks to {size}, more than this restore allows ({max_bytes} bytes: {})",
            cap.why
        ))
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let declared = page_size.saturating_mul(pages);
    if declared > max_bytes {
        return Err(too_large(format!("{declared} bytes by its header")));
    }
    let mut output =
        BufWriter::new(File::create(dst).map_err(io(format!("creating {}", dst.display())))?);
    output
        .write_all(&header)
        .map_err(io("writing the backup"))?;
    let room = max_bytes.saturating_sub(100);
    let copied = std::io::copy(&mut reader.take(room.saturating_add(1)), &mut output).map_err(
        io(if gz {
            "decompressing the backup"
        } else {
            "copying the backup"
        }),
    )?;
    if copied > room {
        return Err(too_large("more bytes".into()));
    }
    let file = output
        .into_inner()
        .map_err(|e| BackupError::Io("flushing".into(), e.into_error()))?;
    file.sync_all().map_err(io("syncing"))?;
    Ok(copied + 100)
}

/// Bytes free for us on the file system that holds `dir`; `None` where it cannot be told.
#[cfg(unix)]
pub fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value for the call to overwrite.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `st` a statvfs we own.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::useless_conversion)]
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

#[cfg(not(unix))]
pub fn free_space(_dir: &Path) -> Option<u64> {
    None
}

/// Makes a rename durable: fsync the directory that holds it (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Deletes backups older than `keep_days`, and beyond the newest `keep_files`. Returns the
/// names removed.
pub fn prune(
    dir: &Path,
    keep_days: u64,
    keep_files: usize,
    now: i64,
) -> Result<Vec<String>, BackupError> {
    let cutoff = now - i64::try_from(keep_days).unwrap_or(i64::MAX / 86_400_000) * 86_400_000;
    let mut removed = Vec::new();
    for (i, b) in list(dir)?.into_iter().enumerate() {
        if i >= keep_files || b.created_at < cutoff {
            std::fs::remove_file(dir.join(&b.name)).map_err(io(format!("removing {}", b.name)))?;
            removed.push(b.name);
        }
    }
    Ok(removed)
}

/// The most recent scheduled instant at or before `now`: today's `HH:MM` in the zone, or
/// yesterday's when today's is still ahead.
pub fn last_slot(now: i64, daily_at_minutes: i64, offset_ms: i64) -> i64 {
    let day = crate::analytics::day_of(now, offset_ms);
    let today = crate::analytics::day_start_ms(day, offset_ms) + daily_at_minutes * 60_000;
    if today <= now {
        today
    } else {
        today - 86_400_000
    }
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_daily_at(s: &str) -> Option<i64> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// The backups directory of an install.
pub fn dir_of(config: &crate::config::Config) -> PathBuf {
    if config.backup.dir.trim().is_empty() {
        config.data_dir.join("backups")
    } else {
        PathBuf::from(config.backup.dir.trim())
    }
}

/// Deletes leftovers of backups that were interrupted (a crash or kill mid-copy): temporary
/// files untouched for `idle`. A backup in progress keeps writing to its file, so it is
/// never mistaken for one.
pub fn remove_stale_partials(dir: &Path, idle: std::time::Duration) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&format!(".{PREFIX}")) && name.contains(".partial")) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= idle);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Runs the daily backup: at start-up (catching a slot missed while the server was down)
/// and then at every slot, followed by pruning.
pub async fn run_schedule(
    state: crate::state::AppState,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let cfg = state.config.backup.clone();
    let Some(at) = parse_daily_at(&cfg.daily_at) else {
        return;
    };
    if !cfg.enabled {
        return;
    }
    if state.db.sqlite_file().is_none() {
        tracing::info!(
            "scheduled backups are off: the data is in PostgreSQL, back it up with pg_dump \
             (docs/OPERATIONS.md)"
        );
        return;
    }
    let offset = state.config.analytics.utc_offset_minutes * 60_000;
    let dir = dir_of(&state.config);
    let d = dir.clone();
    if let Ok(removed) =
        tokio::task::spawn_blocking(move || remove_stale_partials(&d, STALE_PARTIAL)).await
        && !removed.is_empty()
    {
        tracing::info!(?removed, "removed files of interrupted backups");
    }
    loop {
        let now = now_ms();
        let slot = last_slot(now, at, offset);
        let d = dir.clone();
        let newest =
            tokio::task::spawn_blocking(move || list(&d).map(|l| l.first().map(|b| b.created_at)))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
        if newest.is_none_or(|t| t < slot) {
            match routes::take_backup(&state).await {
                Ok(b) => {
                    tracing::info!(name = %b.name, size = b.size_bytes, "scheduled backup written")
                }
                Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
            }
            let (d, days, files) = (dir.clone(), cfg.keep_days, cfg.keep_files);
            match tokio::task::spawn_blocking(move || prune(&d, days, files, now_ms())).await {
                Ok(Ok(removed)) if !removed.is_empty() => {
                    tracing::info!(?removed, "old backups removed")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "pruning backups failed"),
                _ => {}
            }
        }
        let next = last_slot(now_ms(), at, offset) + 86_400_000;
        let wait = std::time::Duration::from_millis(
            u64::try_from(next - now_ms()).unwrap_or(0).max(1_000),
        );
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_utc_time() {
        let ms = 1_796_012_712_000; // 2026-11-30T04:25:12Z
        assert_eq!(file_name(ms), "markethub-20261130T042512Z.db.gz");
        assert_eq!(parse_name(&file_name(ms)), Some(ms));
        assert_eq!(parse_name("markethub-20261130T042512Z-2.db.gz"), Some(ms));
        assert_eq!(parse_name("notes.txt"), None);
        assert_eq!(parse_name("markethub-garbage.db.gz"), None);
    }

    #[test]
    fn the_schedule_catches_the_last_slot() {
        let eat = 3 * 3_600_000;
        let two_am = parse_daily_at("02:00").expect("time");
        // 2026-11-30T04:25:12Z is 07:25 in Nairobi: today's 02:00 (EAT) is the last slot.
        let now = 1_796_012_712_000;
        assert_eq!(last_slot(now, two_am, eat), 1_795_993_200_000); // 2026-11-29T23:00:00Z
        // At 01:00 in Nairobi the last slot is yesterday's.
        let one_am = 1_795_989_600_000; // 2026-11-29T22:00:00Z
        assert_eq!(
            last_slot(one_am, two_am, eat),
            1_795_993_200_000 - 86_400_000
        );
        assert_eq!(parse_daily_at("24:00"), None);
        assert_eq!(parse_daily_at("2"), None);
    }

    #[test]
    fn leftovers_of_interrupted_backups_are_removed_once_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dead = dir.path().join(".markethub-4242-0.partial.db");
        let live = dir.path().join(".markethub-4243-0.partial.gz");
        let other = dir.path().join(".hidden-notes.partial");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"x").expect("write");
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in [&dead, &other] {
            File::options()
                .write(true)
                .open(f)
                .and_then(|h| h.set_modified(hour_ago))
                .expect("mtime");
        }
        let removed = remove_stale_partials(dir.path(), STALE_PARTIAL);
        assert_eq!(removed, [".markethub-4242-0.partial.db"]);
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn backups_in_the_same_second_never_replace_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("live.db");
        rusqlite::Connection::open(&db)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"))
            .expect("database");
        let out = dir.path().join("backups");
        let a = create(&db, &out, None, |_, _| {}).expect("first");
        let b = create(&db, &out, None, |_, _| {}).expect("second");
        assert_ne!(a.name, b.name);
        let names: Vec<String> = std::fs::read_dir(&out)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }

    #[test]
    fn retention_keeps_recent_and_few() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = 1_796_012_712_000;
        for days_ago in [0, 1, 2, 40] {
            std::fs::write(
                dir.path().join(file_name(now - days_ago * 86_400_000)),
                b"x",
            )
            .expect("write");
        }
        std::fs::write(dir.path().join("keep-me.txt"), b"x").expect("write");
        let removed = prune(dir.path(), 30, 2, now).expect("prune");
        assert_eq!(removed.len(), 2, "{removed:?}");
        let left: Vec<String> = list(dir.path())
            .expect("list")
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(left, [file_name(now), file_name(now - 86_400_000)]);
        assert!(dir.path().join("keep-me.txt").exists());
    }
}
