//! Ranked listings kept in memory: for a filtered listing or a search (match expression,
//! filters and sort), the keys of its first [`RANKS`] live products in order, and its total.
//!
//! Ranking a broad search (bm25 over thousands of matches) or counting a filtered listing
//! costs milliseconds; serving a page from a cached ranking costs one indexed lookup of 20
//! rows. Entries are tagged with the catalog generation, which triggers bump on every change
//! that can alter membership, order or totals (products added, removed, hidden, renamed,
//! re-priced, re-rated or moved; categories changed). A lookup under a newer generation
//! drops everything, so a stale ranking is never served. Stock is not part of it: pages are
//! always read fresh from the table, and `in_stock` listings are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many ranked keys an entry keeps: pages past this are read uncached.
pub const RANKS: usize = 1_000;

/// One cached ranking.
#[derive(Debug)]
pub struct Ranking {
    /// Product row keys (`products.pk`), best first; at most [`RANKS`].
    pub keys: Vec<i64>,
    pub total: i64,
    pub exact: bool,
}

/// The cache; `capacity` 0 disables it.
pub struct ListingCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: i64,
    entries: HashMap<String, Arc<Ranking>>,
}

impl ListingCache {
    pub fn new(capacity: usize) -> Self {
        ListingCache {
            capacity,
            inner: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The ranking for `key` computed at `generation`, if cached.
    pub fn get(&self, generation: i64, key: &str) -> Option<Arc<Ranking>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            if inner.generation < generation {
                inner.entries.clear();
                inner.generation = generation;
            }
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Keeps a ranking computed at `generation` (ignored if the catalog has moved on). When
    /// full, the cache starts over: simple, and cheap next to one miss.
    pub fn put(&self, generation: i64, key: String, ranking: Arc<Ranking>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if generation > inner.generation {
            inner.entries.clear();
            inner.generation = generation;
        }
        if generation < inner.generation {
            return;
        }
        if inner.entries.len() >= self.capacity {
            inner.entries.clear();
        }
        inner.entries.insert(key, ranking);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(n: i64) -> Arc<Ranking> {
        Arc::new(Ranking {
            keys: vec![n],
            total: 1,
            exact: true,
        })
    }

    #[test]
    fn a_newer_generation_drops_everything_and_old_results_are_refused() {
        let cache = ListingCache::new(8);
        cache.put(1, "q=a".into(), ranking(1));
        assert_eq!(cache.get(1, "q=a").map(|r| r.keys[0]), Some(1));
        assert!(cache.get(2, "q=a").is_none(), "stale after a change");
        cache.put(1, "q=a".into(), ranking(9));
        assert!(
            cache.get(2, "q=a").is_none(),
            "a ranking computed before the change is not kept"
        );
        cache.put(2, "q=a".into(), ranking(2));
        assert_eq!(cache.get(2, "q=a").map(|r| r.keys[0]), Some(2));
        assert!(cache.get(1, "q=a").is_none(), "an older reader misses");
    }

    #[test]
    fn capacity_bounds_memory_and_zero_disables() {
        let cache = ListingCache::new(2);
        for i in 0..5 {
            cache.put(1, format!("k{i}"), ranking(i));
        }
        let kept = (0..5)
            .filter(|i| cache.get(1, &format!("k{i}")).is_some())
            .count();
        assert!(kept <= 2);
        let off = ListingCache::new(0);
        off.put(1, "k".into(), ranking(1));
        assert!(off.get(1, "k").is_none());
        assert!(!off.enabled());
    }
}
