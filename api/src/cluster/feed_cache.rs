//! Feed pages keyed by the dataset head, so a cached page is never older than the newest
//! append this process has heard of. The head of each dataset is seeded once from
//! PostgreSQL and then advanced by every append announced here or over the bus; an erasure
//! drops the dataset's pages (it changes them without moving them to a new key anywhere
//! else). Only used while the bus is live (see `Cluster::local_caches_usable`).

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub dataset_id: i64,
    pub head: i64,
    /// The raw query string and the negotiated format: the page is a function of both.
    pub query: String,
    pub format: u8,
}

#[derive(Debug, Clone)]
pub struct CachedPage {
    pub body: Bytes,
    pub next_cursor: Option<String>,
}

pub struct FeedCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    heads: HashMap<i64, i64>,
    pages: HashMap<FeedKey, CachedPage>,
    bytes: usize,
}

impl FeedCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The known head of a dataset, if any.
    pub fn head(&self, dataset_id: i64) -> Option<i64> {
        self.inner
            .lock()
            .expect("cache lock")
            .heads
            .get(&dataset_id)
            .copied()
    }

    /// Records that `dataset_id` has at least `end_seq` entries.
    pub fn grown(&self, dataset_id: i64, end_seq: i64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.inner.lock().expect("cache lock");
        let head = inner.heads.entry(dataset_id).or_insert(end_seq);
        *head = (*head).max(end_seq);
    }

    pub fn get(&self, key: &FeedKey) -> Option<CachedPage> {
        self.inner
            .lock()
            .expect("cache lock")
            .pages
            .get(key)
            .cloned()
    }

    /// Stores a page computed at `key.head`, unless the head moved or the dataset was purged
    /// meanwhile (then the page may already be stale).
    pub fn put(&self, key: FeedKey, page: CachedPage) {
        let size = page.body.len() + key.query.len() + 64;
        if size > self.max_bytes / 8 {
            return;
        }
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.heads.get(&key.dataset_id) != Some(&key.head) {
            return;
        }
        if inner.bytes + size > self.max_bytes {
            inner.pages.clear();
            inner.bytes = 0;
        }
        inner.bytes += size;
        inner.pages.insert(key, page);
    }

    /// An erasure changed pages of this dataset: drop them, and forget its head so that it
    /// is read again (pages computed before the erasure then never match).
    pub fn purge_dataset(&self, dataset_id: i64) {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.heads.remove(&dataset_id);
        inner.pages.retain(|k, _| k.dataset_id != dataset_id);
        inner.bytes = inner
            .pages
            .iter()
            .map(|(k, p)| p.body.len() + k.query.len() + 64)
            .sum();
    }

    pub fn clear(&self) {
        let mut inner = self.inner.lock().expect("cache lock");
        *inner = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(head: i64) -> FeedKey {
        FeedKey {
            dataset_id: 7,
            head,
            query: "limit=10".into(),
            format: 0,
        }
    }

    #[test]
    fn pages_follow_the_head_and_purges() {
        let c = FeedCache::new(1 << 20);
        let page = CachedPage {
            body: Bytes::from_static(b"{}"),
            next_cursor: None,
        };
        c.put(key(5), page.clone());
        assert!(c.get(&key(5)).is_none(), "unknown head: not cached");
        c.grown(7, 5);
        c.put(key(5), page.clone());
        assert!(c.get(&key(5)).is_some());
        c.grown(7, 6);
        assert_eq!(c.head(7), Some(6));
        c.put(key(5), page.clone());
        c.purge_dataset(7);
        assert!(c.get(&key(5)).is_none());
        assert_eq!(c.head(7), None);
    }
}
