//! Job leases: a background job that must run on one instance at a time (when several
//! instances share a PostgreSQL database) runs only while this instance holds its lease.
//! The holder renews the lease at every run; another instance takes over once it expires
//! (the holder stopped or died). On SQLite there is one instance, which always holds it.

use crate::db::{Conn, Db, DbError};
use crate::params;

/// Takes or renews lease `name` for `holder` until `now + ttl_ms`; true when `holder` has it.
pub fn acquire(
    c: &dyn Conn,
    name: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, DbError> {
    let rows = c.query(
        "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < $4
         RETURNING holder",
        params![name, holder, now + ttl_ms, now],
    )?;
    Ok(!rows.is_empty())
}

/// A job's lease as held by this instance.
#[derive(Clone)]
pub struct Lease {
    db: Db,
    name: &'static str,
    holder: String,
    ttl_ms: i64,
}

impl Lease {
    pub fn new(db: Db, name: &'static str, holder: &str, ttl: std::time::Duration) -> Self {
        Lease {
            db,
            name,
            holder: holder.to_owned(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
        }
    }

    /// True when this instance holds (now renewed) the lease and may run the job.
    pub async fn hold(&self) -> bool {
        let (name, holder, ttl) = (self.name, self.holder.clone(), self.ttl_ms);
        let result = self
            .db
            .write(move |c| acquire(c, name, &holder, crate::clock::now_ms(), ttl))
            .await;
        match result {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(job = name, error = %e, "could not renew the job lease");
                false
            }
        }
    }

    /// Gives the lease up (at shutdown): a restarted or other instance need not wait for it
    /// to expire.
    pub async fn release(&self) {
        let (name, holder) = (self.name, self.holder.clone());
        if let Err(e) = self.db.write(move |c| release(c, name, &holder)).await {
            tracing::warn!(job = name, error = %e, "could not release the job lease");
        }
    }
}

/// Gives lease `name` up if `holder` has it, so another instance (or this one, restarted)
/// takes the job over at once.
pub fn release(c: &dyn Conn, name: &str, holder: &str) -> Result<u64, DbError> {
    c.execute(
        "DELETE FROM job_leases WHERE name = $1 AND holder = $2",
        params![name, holder],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_takeover_after_expiry() {
        let (_dir, db) = crate::db::temp_db();
        let take = |holder: &'static str, now: i64| {
            db.write(move |c| acquire(c, "job", holder, now, 1_000))
        };
        assert!(take("a", 0).await.expect("a"));
        assert!(!take("b", 500).await.expect("b"), "a holds it");
        assert!(take("a", 900).await.expect("a renews"), "renewed to 1900");
        assert!(!take("b", 1_500).await.expect("b"), "still a's");
        assert!(take("b", 2_000).await.expect("b"), "expired: b takes over");
        assert!(!take("a", 2_100).await.expect("a"), "now b's");
        db.write(|c| release(c, "job", "b")).await.expect("release");
        assert!(
            take("a", 2_200).await.expect("a"),
            "released: a takes it at once"
        );
    }
}
