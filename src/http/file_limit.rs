//! The process's open-file limit (`RLIMIT_NOFILE`): raised from the soft to the hard limit at
//! start (every socket is a file; the soft default of 1,024 is a relic of `select()`, which we
//! do not use), reported in the start-up log, and the basis of the default connection cap.

/// The limit in force after start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// What the process may open now.
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before we raised it, if we did.
    pub raised_from: Option<u64>,
}

/// Files kept for things other than client connections: the database (each pooled SQLite
/// connection holds the file, its WAL and shared memory), logs, backups being written,
/// uploads, SMTP and outgoing HTTPS.
fn reserved(read_connections: u32) -> u64 {
    64 + 3 * (u64::from(read_connections) + 1)
}

/// Above this many open connections a single small instance would rather close idle ones.
const AUTO_CEILING: u64 = 4096;

/// The connection cap: `configured` when not 0, else what the file limit leaves after the
/// reserve (at least a quarter of the limit), at most [`AUTO_CEILING`]. 1,024 when the limit
/// is unknown.
pub fn connection_cap(configured: usize, limit: Option<FileLimit>, read_connections: u32) -> usize {
    if configured > 0 {
        return configured;
    }
    let Some(limit) = limit else {
        return 1024;
    };
    let room = limit
        .soft
        .saturating_sub(reserved(read_connections))
        .max(limit.soft / 4)
        .clamp(1, AUTO_CEILING);
    usize::try_from(room).unwrap_or(1024)
}

/// Raises the soft limit to the hard one and returns what is in force; `None` where the
/// platform has no such limit.
#[cfg(unix)]
pub fn raise() -> Option<FileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` we own; it has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let (soft, hard): (u64, u64) = (lim.rlim_cur, lim.rlim_max);
    if soft >= hard {
        return Some(FileLimit {
            soft,
            hard,
            raised_from: None,
        });
    }
    let wanted = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads one `rlimit` we own; raising the soft limit up to the hard one
    // needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        Some(FileLimit {
            soft: hard,
            hard,
            raised_from: Some(soft),
        })
    } else {
        Some(FileLimit {
            soft,
            hard,
            raised_from: None,
        })
    }
}

#[cfg(not(unix))]
pub fn raise() -> Option<FileLimit> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: u64) -> Option<FileLimit> {
        Some(FileLimit {
            soft,
            hard: soft,
            raised_from: None,
        })
    }

    #[test]
    fn the_cap_leaves_room_for_the_database_and_stays_bounded() {
        assert_eq!(connection_cap(50, limit(1024), 8), 50, "configured wins");
        assert_eq!(connection_cap(0, limit(1024), 8), 1024 - 64 - 27);
        assert_eq!(connection_cap(0, limit(128), 8), 37);
        assert_eq!(connection_cap(0, limit(64), 8), 16, "a quarter at least");
        assert_eq!(connection_cap(0, limit(1 << 20), 8), 4096);
        assert_eq!(connection_cap(0, None, 8), 1024);
    }
}
