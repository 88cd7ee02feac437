//! The large dataset: seeded once by `markethub demo` into a cache directory keyed by its
//! size, seed and schema version, then copied afresh for every run so runs compare.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Sizes of the seeded shop.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub products: u32,
    pub merchants: u32,
    pub customers: u32,
    pub orders: u32,
}

impl Size {
    fn key(&self) -> String {
        let schema = markethub::db::embedded_versions()
            .last()
            .copied()
            .unwrap_or(0);
        format!(
            "p{}-m{}-c{}-o{}-seed42-schema{schema}",
            self.products, self.merchants, self.customers, self.orders
        )
    }
}

/// The cached data directory for `size`, seeding it first when missing. Returns the directory
/// and, when it was seeded now, how long that took.
pub fn cached(bin: &Path, cache_root: &Path, size: Size) -> Result<(PathBuf, Option<f64>), String> {
    let dir = cache_root.join(size.key());
    if dir.join("markethub.db").exists() && dir.join("complete").exists() {
        return Ok((dir, None));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    eprintln!("seeding the dataset into {} (once)…", dir.display());
    let started = Instant::now();
    let status = Command::new(bin)
        .arg("demo")
        .args(["--products", &size.products.to_string()])
        .args(["--merchants", &size.merchants.to_string()])
        .args(["--customers", &size.customers.to_string()])
        .args(["--orders", &size.orders.to_string()])
        .env("MARKETHUB_DATA_DIR", &dir)
        .env("MARKETHUB_LOG__LEVEL", "warn")
        .status()
        .map_err(|e| format!("running markethub demo: {e}"))?;
    if !status.success() {
        return Err(format!("markethub demo failed: {status}"));
    }
    let took = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("complete"), b"").map_err(|e| e.to_string())?;
    Ok((dir, Some(took)))
}

/// A fresh copy of `from` at `to` (replacing what is there).
pub fn fresh_copy(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    copy_dir(from, to).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
