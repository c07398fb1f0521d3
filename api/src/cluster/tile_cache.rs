//! Full tlog tiles in process memory (PROTOCOL.md section 9). A full tile never changes: its
//! hashes are complete subtrees, its entries envelopes (never payloads, so an erasure changes
//! no tile). Nothing is ever stale and nothing purges it; the cache is bounded by bytes, a
//! shard simply starting over when it is full. Partial tiles are not kept: they are read
//! until their tile fills up.

use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

const SHARDS: usize = 16;

/// A full tile of a dataset: `level` is the tile level, or `None` for an entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub dataset_id: i64,
    pub level: Option<u8>,
    pub index: u64,
}

/// A tile body with its strong ETag.
#[derive(Debug, Clone)]
pub struct CachedTile {
    pub body: Bytes,
    pub etag: String,
}

pub struct TileCache {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
}

#[derive(Default)]
struct Shard {
    tiles: HashMap<TileKey, CachedTile>,
    bytes: usize,
}

impl TileCache {
    /// At most `max_bytes` of tile bodies; 0 turns the cache off.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_budget: max_bytes / SHARDS,
        }
    }

    fn shard(&self, key: &TileKey) -> &Mutex<Shard> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[h.finish() as usize % SHARDS]
    }

    pub fn get(&self, key: &TileKey) -> Option<CachedTile> {
        if self.shard_budget == 0 {
            return None;
        }
        self.shard(key)
            .lock()
            .expect("tile cache")
            .tiles
            .get(key)
            .cloned()
    }

    pub fn put(&self, key: TileKey, tile: CachedTile) {
        let size = tile.body.len() + tile.etag.len();
        if size > self.shard_budget {
            return;
        }
        let mut shard = self.shard(&key).lock().expect("tile cache");
        if shard.bytes + size > self.shard_budget {
            shard.tiles.clear();
            shard.bytes = 0;
        }
        if let Some(old) = shard.tiles.insert(key, tile) {
            shard.bytes -= old.body.len() + old.etag.len();
        }
        shard.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(n: usize) -> CachedTile {
        CachedTile {
            body: Bytes::from(vec![7u8; n]),
            etag: "\"e\"".into(),
        }
    }

    #[test]
    fn keeps_tiles_within_its_budget() {
        let cache = TileCache::new(SHARDS * 10_000);
        let key = |index| TileKey {
            dataset_id: 1,
            level: Some(0),
            index,
        };
        cache.put(key(0), tile(8192));
        assert_eq!(cache.get(&key(0)).unwrap().body.len(), 8192);
        // Entry bundles and hash tiles of the same index are different tiles.
        assert!(
            cache
                .get(&TileKey {
                    level: None,
                    ..key(0)
                })
                .is_none()
        );
        // Larger than a shard: never kept.
        cache.put(key(1), tile(20_000));
        assert!(cache.get(&key(1)).is_none());
        // Many tiles: every shard stays within its budget.
        for i in 2..200 {
            cache.put(key(i), tile(8192));
        }
        for shard in &cache.shards {
            assert!(shard.lock().unwrap().bytes <= 10_000);
        }
        assert!(TileCache::new(0).get(&key(0)).is_none());
    }
}
