//! The proof bundle cache: process memory (L1) in front of Redis (L2).
//!
//! A bundle is a pure function of its [`BundleKey`] until its record is erased, so entries
//! never expire for staleness; erasure purges every copy of the record's bundles (all sizes,
//! both formats) on every replica. Two races are closed explicitly:
//! - a bundle computed from a pre-erasure read must not enter a cache after the purge: the
//!   L1 insert is refused when a purge happened since the read began (`epoch`), and the L2
//!   insert is refused by a Lua script when the record's erasure marker exists;
//! - a replica that may have missed purge messages (its bus subscription was down) does not
//!   use its L1 at all until it resubscribes, and clears it then.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 16;

/// What a bundle is a function of. Built in one place, [`crate::cluster::bundle_key`]: when
/// bundles come to depend on more state (an anchor batch), that state joins this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleKey {
    pub dataset_id: i64,
    pub seq: i64,
    /// The size of the checkpoint the bundle is built on.
    pub tree_size: u64,
    /// 0 JSON bundle, 1 tlog-proof.
    pub format: u8,
}

impl BundleKey {
    /// The Redis hash holding every cached bundle of one record.
    pub fn redis_hash(&self, prefix: &str) -> String {
        record_hash(prefix, self.dataset_id, self.seq)
    }

    /// The field of this bundle in that hash.
    pub fn redis_field(&self) -> String {
        format!("{}:{}", self.tree_size, self.format)
    }
}

pub fn record_hash(prefix: &str, dataset_id: i64, seq: i64) -> String {
    format!("{prefix}bundle:{dataset_id}:{seq}")
}

pub fn erased_marker(prefix: &str, dataset_id: i64, seq: i64) -> String {
    format!("{prefix}erased:{dataset_id}:{seq}")
}

/// A bundle body with its strong ETag.
#[derive(Debug, Clone)]
pub struct CachedBundle {
    pub body: Bytes,
    pub etag: String,
    pub content_type: &'static str,
}

impl CachedBundle {
    pub fn new(body: Bytes, content_type: &'static str) -> Self {
        let etag = crate::cache::strong_etag(&body);
        Self {
            body,
            etag,
            content_type,
        }
    }

    /// The L2 encoding: one content-type byte, then the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 1);
        out.push(u8::from(self.content_type != JSON));
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&kind, body) = bytes.split_first()?;
        let ct = if kind == 0 { JSON } else { TLOG };
        Some(Self::new(Bytes::copy_from_slice(body), ct))
    }
}

pub const JSON: &str = "application/vnd.civicproof.bundle+json";
pub const TLOG: &str = "text/plain; charset=utf-8";

/// Bounded in-process bundle cache. Full shards drop an arbitrary entry.
pub struct L1 {
    shards: Vec<Mutex<HashMap<BundleKey, CachedBundle>>>,
    per_shard: usize,
    epoch: AtomicU64,
}

impl L1 {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            epoch: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &BundleKey) -> &Mutex<HashMap<BundleKey, CachedBundle>> {
        let h = (key.dataset_id as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(key.seq as u64);
        &self.shards[(h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS]
    }

    /// The purge epoch; read it before reading what a bundle is built from.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &BundleKey) -> Option<CachedBundle> {
        if self.per_shard == 0 {
            return None;
        }
        self.shard(key)
            .lock()
            .expect("cache lock")
            .get(key)
            .cloned()
    }

    /// Inserts unless a purge happened after `epoch` was read.
    pub fn insert(&self, key: BundleKey, value: CachedBundle, epoch: u64) {
        if self.per_shard == 0 {
            return;
        }
        let mut shard = self.shard(&key).lock().expect("cache lock");
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if shard.len() >= self.per_shard
            && let Some(victim) = shard.keys().next().copied()
        {
            shard.remove(&victim);
        }
        shard.insert(key, value);
    }

    /// Drops every bundle of one record.
    pub fn purge_record(&self, dataset_id: i64, seq: i64) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for shard in &self.shards {
            shard
                .lock()
                .expect("cache lock")
                .retain(|k, _| !(k.dataset_id == dataset_id && k.seq == seq));
        }
    }

    /// Drops everything (after possibly missed purges).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for shard in &self.shards {
            shard.lock().expect("cache lock").clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("cache lock").len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// L2 insert: refused once the record's erasure marker exists (KEYS[2]).
pub const PUT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: i64, size: u64) -> BundleKey {
        BundleKey {
            dataset_id: 1,
            seq,
            tree_size: size,
            format: 0,
        }
    }

    #[test]
    fn purge_drops_every_size_and_refuses_stale_inserts() {
        let c = L1::new(100);
        let b = CachedBundle::new(Bytes::from_static(b"{}"), JSON);
        let e = c.epoch();
        c.insert(key(1, 5), b.clone(), e);
        c.insert(key(1, 9), b.clone(), e);
        c.insert(key(2, 9), b.clone(), e);
        assert!(c.get(&key(1, 5)).is_some());
        c.purge_record(1, 1);
        assert!(c.get(&key(1, 5)).is_none() && c.get(&key(1, 9)).is_none());
        assert!(c.get(&key(2, 9)).is_some());
        // A bundle read before the purge is not cached after it.
        c.insert(key(1, 5), b, e);
        assert!(c.get(&key(1, 5)).is_none());
    }

    #[test]
    fn capacity_is_bounded_and_encoding_round_trips() {
        let c = L1::new(32);
        let b = CachedBundle::new(Bytes::from_static(b"x"), TLOG);
        for i in 0..1000 {
            c.insert(key(i, 1), b.clone(), c.epoch());
        }
        assert!(c.len() <= 32);
        let d = CachedBundle::decode(&b.encode()).unwrap();
        assert_eq!((d.body, d.etag, d.content_type), (b.body, b.etag, TLOG));
    }
}
