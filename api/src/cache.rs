//! A small in-process cache with a time-to-live, for hot lookups that are safe to serve
//! slightly stale across processes (a writer in this process invalidates at once): dataset
//! lookups (1 s), latest checkpoints, anchor batch paths (immutable once confirmed). Nothing
//! that must disappear at once everywhere lives here: erased payloads and bundles are in
//! `cluster`'s caches, which the bus and the invalidation outbox purge on every replica.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().expect("cache lock");
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.map.lock().expect("cache lock");
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    pub fn remove(&self, key: &K) {
        self.map.lock().expect("cache lock").remove(key);
    }
}

/// The strong ETag of a response body: the first 16 bytes of its SHA-256, quoted. One
/// formula for bodies served fresh and from any cache, so a revalidation matches either.
pub fn strong_etag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_removed() {
        let c = TtlCache::new(Duration::from_millis(30), 10);
        c.put("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.remove(&"a");
        assert_eq!(c.get(&"a"), None);
        c.put("b", 2);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"b"), None);
    }

    #[test]
    fn capacity_is_bounded() {
        let c = TtlCache::new(Duration::from_secs(60), 4);
        for i in 0..100 {
            c.put(i, i);
        }
        assert!(c.map.lock().unwrap().len() <= 4);
        assert_eq!(c.get(&99), Some(99));
    }
}
