//! The response cache for deterministic requests (greedy, or a fixed seed): the same
//! request gives the same text, so its answer is kept. Key: xxh3-128 of the canonical
//! request (model, prompt, every sampling field); least recently used out first, within a
//! byte budget; O(1) per lookup and insert.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lru::LruCache;

use super::service::Generation;

/// A cache key: 128 bits of xxh3 over the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub u128);

impl CacheKey {
    /// The key of `canonical` (the request serialised in a fixed field order).
    pub fn of(canonical: &[u8]) -> Self {
        Self(xxhash_rust::xxh3::xxh3_128(canonical))
    }
}

/// Deterministic answers by request, within a byte budget.
pub struct ResponseCache {
    entries: Mutex<(LruCache<CacheKey, Generation>, u64)>,
    budget: u64,
    /// Lookups answered from the cache.
    pub hits: AtomicU64,
    /// Lookups that were not.
    pub misses: AtomicU64,
    /// Entries let go to stay within the budget.
    pub evictions: AtomicU64,
}

/// What one entry costs against the budget: its text plus a fixed overhead.
fn cost(g: &Generation) -> u64 {
    g.text.len() as u64 + 128
}

impl ResponseCache {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self {
            entries: Mutex::new((LruCache::unbounded(), 0)),
            budget,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The answer kept for `key`, if any (and marks it recently used).
    pub fn get(&self, key: CacheKey) -> Option<Generation> {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = guard.0.get(&key).cloned();
        match found {
            Some(_) => self.hits.fetch_add(1, Relaxed),
            None => self.misses.fetch_add(1, Relaxed),
        };
        found
    }

    /// Keeps `answer` for `key`, letting the least recently used go past the budget.
    pub fn put(&self, key: CacheKey, answer: Generation) {
        let size = cost(&answer);
        if size > self.budget {
            return;
        }
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, bytes) = &mut *guard;
        if let Some(old) = entries.put(key, answer) {
            *bytes -= cost(&old);
        }
        *bytes += size;
        while *bytes > self.budget {
            let Some((_, old)) = entries.pop_lru() else {
                break;
            };
            *bytes -= cost(&old);
            self.evictions.fetch_add(1, Relaxed);
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{FinishReason, Usage};

    fn answer(text: &str) -> Generation {
        Generation {
            text: text.into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            cached: false,
        }
    }

    #[test]
    fn least_recently_used_goes_first_within_the_budget() {
        let cache = ResponseCache::new(3 * 129);
        let (a, b, c, d) = (
            CacheKey::of(b"a"),
            CacheKey::of(b"b"),
            CacheKey::of(b"c"),
            CacheKey::of(b"d"),
        );
        cache.put(a, answer("1"));
        cache.put(b, answer("2"));
        cache.put(c, answer("3"));
        assert!(cache.get(a).is_some()); // a is now the most recent
        cache.put(d, answer("4"));
        assert!(cache.get(b).is_none(), "b was least recently used");
        assert_eq!(cache.get(a).map(|g| g.text), Some("1".into()));
        assert_eq!(cache.evictions.load(Relaxed), 1);
        assert_eq!(cache.bytes(), 3 * 129);
        assert_ne!(CacheKey::of(b"a"), CacheKey::of(b"b"));
    }
}
