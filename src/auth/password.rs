//! Passwords: the policy every new password must meet, and argon2id hashing on a few
//! dedicated threads (one per slot) behind a semaphore, so a login flood queues for hashing
//! slots instead of starving every other request of threads. Keeping hashing on the same few
//! threads also keeps its 19 MiB working buffers in a few places the allocator reuses, instead
//! of one per blocking-pool thread.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::http::AppError;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Checks a new password. `email` (already normalised) is refused as a password too.
pub fn check_policy(password: &str, email: Option<&str>) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if chars > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err("is too common; choose a less predictable password".into());
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err("is too predictable; use more different characters".into());
    }
    if let Some(email) = email {
        let local = email.split('@').next().unwrap_or(email);
        if lower == email || (local.chars().count() >= MIN_LEN && lower == local) {
            return Err("must not be your email address".into());
        }
    }
    Ok(())
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords with bounded concurrency.
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    jobs: Sender<HashJob>,
}

impl PasswordHasher {
    /// Starts `concurrency` hashing threads; they stop when the hasher is dropped.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Result<Self, String> {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = channel::<HashJob>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("markethub-hash-{i}"))
                .spawn(move || hash_worker(&queue))
                .map_err(|e| format!("starting a password-hashing thread: {e}"))?;
        }
        Ok(PasswordHasher {
            slots: Arc::new(Semaphore::new(concurrency)),
            queue_timeout,
            jobs,
        })
    }

    /// An argon2id PHC string for `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `phc`. With no hash (unknown account) a dummy hash is
    /// verified instead so the answer takes as long either way.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, AppError> {
        self.run(move || match phc {
            Some(phc) => verify_blocking(&password, &phc),
            None => {
                let _ = verify_blocking(&password, dummy_hash());
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                AppError::unavailable("busy", "too many sign-ins at once; retry shortly", 2)
            })?
            .map_err(AppError::internal)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A panic drops `reply`: the caller gets an internal error, the thread lives on.
                if let Ok(out) = catch_unwind(AssertUnwindSafe(f)) {
                    let _ = reply.send(out);
                }
                drop(permit);
            }))
            .map_err(|_| AppError::internal("the password-hashing threads have stopped"))?;
        answer
            .await
            .map_err(|_| AppError::internal("password hashing failed"))
    }
}

fn hash_worker(queue: &Mutex<Receiver<HashJob>>) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Hashes synchronously; for the CLI and the async wrapper above.
pub fn hash_blocking(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h: PasswordHash| h.to_string())
        .map_err(AppError::internal)
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&crate::auth::tokens::random_token(16)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        assert!(check_policy("short", None).is_err());
        assert!(check_policy(&"ab1".repeat(50), None).is_err(), "too long");
        assert!(
            check_policy("Password123", None).is_err(),
            "common, case-insensitive"
        );
        assert!(check_policy("1234567890", None).is_err(), "common");
        assert!(
            check_policy("abababababab", None).is_err(),
            "two distinct characters"
        );
        assert!(check_policy("jane.doe@example.com", Some("jane.doe@example.com")).is_err());
        assert!(check_policy("correct horse battery", Some("jane@example.com")).is_ok());
        assert!(check_policy("Zebra-Quilt-47", None).is_ok());
    }

    #[test]
    fn the_embedded_list_is_loaded() {
        assert!(COMMON.len() > 100);
        assert!(COMMON.iter().all(|p| p.chars().count() >= MIN_LEN));
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hasher = PasswordHasher::new(2, Duration::from_secs(5)).expect("hasher");
        let phc = hasher.hash("Zebra-Quilt-47".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify("Zebra-Quilt-47".into(), Some(phc.clone()))
                .await
                .unwrap_or(false)
        );
        assert!(
            !hasher
                .verify("zebra-quilt-47".into(), Some(phc))
                .await
                .unwrap_or(true)
        );
        assert!(!hasher.verify("anything".into(), None).await.unwrap_or(true));
        assert!(
            !hasher
                .verify("x".into(), Some("not a hash".into()))
                .await
                .unwrap_or(true)
        );
    }
}
