//! The in-process baselines: R, exactly the order flow of the checkout scenario (the same
//! cart and checkout transactions on the same single writer) with no HTTP in front; and the
//! time of one password hash.

use std::path::Path;
use std::time::{Duration, Instant};

use markethub::db::{Db, DbOptions};
use markethub::orders::PaymentMethod;
use markethub::orders::service::{CheckoutInput, checkout};

/// Orders per second, run back to back for `seconds`, and how many were placed.
pub fn checkout_rate(
    db_path: &Path,
    customers: &[String],
    merchant_products: &[Vec<String>],
    hub_id: &str,
    seconds: u32,
) -> Result<(f64, u64), String> {
    let (db, _) = Db::open(&DbOptions {
        url: db_path.display().to_string(),
        max_read_connections: 1,
        busy_timeout_ms: 5000,
        cache_size_kib: 8192,
        mmap_size_mib: 64,
    })
    .map_err(|e| format!("opening {}: {e}", db_path.display()))?;
    let input = CheckoutInput {
        payment_method: PaymentMethod::Cod,
        hub_id: hub_id.to_owned(),
        delivery_address: "Moi Avenue 1, Nairobi".into(),
        phone: "+254712345678".into(),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let deadline = Duration::from_secs(u64::from(seconds));
    let started = Instant::now();
    let mut placed = 0u64;
    while started.elapsed() < deadline {
        let customer = &customers[rng.below(customers.len())];
        let lines = 1 + rng.below(3);
        let mut merchants: Vec<usize> = Vec::new();
        while merchants.len() < lines {
            let m = rng.below(merchant_products.len());
            if !merchants.contains(&m) {
                merchants.push(m);
            }
        }
        for m in merchants {
            let group = &merchant_products[m];
            let product = group[rng.below(group.len())].clone();
            let who = customer.clone();
            db.write_blocking(move |c| markethub::cart::add_item(c, &who, &product, 1))
                .map_err(|e| format!("cart: {}", e.message))?;
        }
        db.write_blocking(|c| checkout(c, customer, &input, None))
            .map_err(|e| format!("checkout: {}", e.message))?;
        placed += 1;
    }
    let rate = placed as f64 / started.elapsed().as_secs_f64();
    // Leave the file as a stopped server would: WAL checkpointed and truncated, so the cold
    // start measured next does not replay this run's WAL.
    drop(db);
    rusqlite::Connection::open(db_path)
        .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
        .map_err(|e| format!("checkpointing after R: {e}"))?;
    Ok((rate, placed))
}

/// Median wall time of one argon2id hash with the server's parameters.
pub fn hash_time() -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        markethub::auth::password::hash_blocking("correct horse battery staple")
            .map_err(|e| e.message)?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// A small xorshift generator: reproducible and dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
