//! In-process fan-out of appended entries: the publish and erasure services announce each
//! committed append here, and live readers (GraphQL subscriptions) follow it.
//!
//! A notice names the dataset and the seq range appended; small batches carry their entries
//! so that followers need no database read. A follower that lags behind the channel, or
//! sees a range start after the seq it expects, reads the missing entries from the database,
//! so nothing is ever skipped. Delivery is per process; the Redis issue makes it cross
//! replicas behind the same interface.

use civicproof_schema::models::Entry;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Notices kept for slow followers before they lag (and fall back to the database).
const CAPACITY: usize = 1024;
/// Batches up to this many entries travel with their notice; larger ones are read back.
const INLINE_ENTRIES: usize = 100;

/// One committed append: entries `first_seq..end_seq` of `dataset_id`.
#[derive(Debug, Clone)]
pub struct Appended {
    pub dataset_id: i64,
    pub first_seq: i64,
    /// One past the last appended seq: the new tree size.
    pub end_seq: i64,
    /// The entries themselves for small batches, in seq order.
    pub entries: Option<Arc<[Entry]>>,
}

impl Appended {
    /// A notice for `rows` (consecutive entries of one dataset, in seq order).
    pub fn of(dataset_id: i64, rows: Vec<Entry>) -> Option<Self> {
        let first_seq = rows.first()?.seq;
        let end_seq = rows.last()?.seq + 1;
        let entries = (rows.len() <= INLINE_ENTRIES).then(|| Arc::from(rows));
        Some(Self {
            dataset_id,
            first_seq,
            end_seq,
            entries,
        })
    }

    /// A notice that carries only the range (followers read the entries back).
    pub fn range(dataset_id: i64, first_seq: i64, end_seq: i64) -> Self {
        Self {
            dataset_id,
            first_seq,
            end_seq,
            entries: None,
        }
    }
}

#[derive(Debug)]
pub struct Fanout {
    tx: broadcast::Sender<Appended>,
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new()
    }
}

impl Fanout {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }

    /// Announces a committed append; a no-op without followers.
    pub fn notify(&self, appended: Appended) {
        let _ = self.tx.send(appended);
    }

    /// Follows every append announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Appended> {
        self.tx.subscribe()
    }
}
