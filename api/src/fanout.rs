//! In-process fan-out of appended entries: the publish and erasure services announce each
//! committed append here, and live readers follow it (`services::events`: Server-Sent Events
//! and GraphQL subscriptions over HTTP and WebSocket).
//!
//! A notice names the dataset and the seq range appended; small batches carry their entries
//! so that followers need no database read. A follower that lags behind the channel, or
//! sees a range start after the seq it expects, reads the missing entries from the database,
//! so nothing is ever skipped. With Redis, [`Fanout::notify`] also relays each notice to
//! the other replicas (`crate::cluster::bus`), which announce it to their own followers with
//! [`Fanout::notify_local`]; a [`Appended::resync`] notice tells every follower to read
//! the log from the database (after the bus may have lost notices).

use civicproof_schema::models::Entry;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Notices kept for slow followers before they lag (and fall back to the database).
const CAPACITY: usize = 1024;
/// Batches up to this many entries travel with their notice; larger ones are read back.
const INLINE_ENTRIES: usize = 100;

/// The dataset id of a notice meant for every follower.
pub const ANY_DATASET: i64 = -1;

/// Forwards a local notice to other replicas.
pub type Relay = Box<dyn Fn(&Appended) + Send + Sync>;

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

    /// "Notices may have been lost": every follower reads what it lacks from the database.
    pub fn resync() -> Self {
        Self::range(ANY_DATASET, 0, i64::MAX)
    }

    /// Whether this notice concerns `dataset_id`.
    pub fn concerns(&self, dataset_id: i64) -> bool {
        self.dataset_id == dataset_id || self.dataset_id == ANY_DATASET
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

pub struct Fanout {
    tx: broadcast::Sender<Appended>,
    relay: std::sync::OnceLock<Relay>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

impl Default for Fanout {
    fn default() -> Self {
        Self::new()
    }
}

impl Fanout {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            relay: std::sync::OnceLock::new(),
        }
    }

    /// Sets where local notices are relayed (once, at start).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// Announces a committed append of this process here and to other replicas.
    pub fn notify(&self, appended: Appended) {
        if let Some(relay) = self.relay.get() {
            relay(&appended);
        }
        self.notify_local(appended);
    }

    /// How many followers listen in this process now.
    pub fn followers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Announces a notice to this process's followers only.
    pub fn notify_local(&self, appended: Appended) {
        let _ = self.tx.send(appended);
    }

    /// Follows every append announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Appended> {
        self.tx.subscribe()
    }
}
