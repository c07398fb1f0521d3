//! Shared application state, handed to every handler as `web::Data<AppState>`.

use crate::cache::TtlCache;
use crate::config::Config;
use crate::json_schemas::SchemaCache;
use crate::log::nodes::NodeCache;
use crate::logkey::LogKey;
use crate::metrics::Metrics;
use civicproof_schema::Pool;
use civicproof_schema::models::{Dataset, Institution};
use civicproof_schema::queries::checkpoints::CheckpointRow;
use std::sync::Arc;

/// A dataset row with its institution, as the hot read paths need it.
pub type DatasetRow = (Dataset, Institution);

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub log_key: Arc<LogKey>,
    pub metrics: Arc<Metrics>,
    pub schemas: Arc<SchemaCache>,
    /// Immutable subtree hashes, shared by proofs and the signer.
    pub node_cache: Arc<NodeCache>,
    /// Datasets by (institution, dataset) slug for hot read paths, misses included; 1 s TTL,
    /// invalidated at once by creations and metadata changes in this process.
    pub datasets: Arc<TtlCache<(String, String), Option<DatasetRow>>>,
    /// Newest checkpoint per dataset id; 1 s TTL, refreshed by this process's signer.
    pub latest_checkpoints: Arc<TtlCache<i64, CheckpointRow>>,
    /// Wakes the checkpoint signer after an append.
    pub signer_wake: Arc<tokio::sync::Notify>,
    /// Signalled after every signing round (proof requests wait on it).
    pub checkpoint_signed: Arc<tokio::sync::Notify>,
    /// Committed appends, for live followers (GraphQL subscriptions).
    pub fanout: Arc<crate::fanout::Fanout>,
    /// Redis (or its in-process stand-ins): shared caches, rate limits, idempotency locks
    /// and the cross-replica bus.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// SHA-256 of the configured admin token, compared in constant time.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Base URL for links, without a trailing slash.
    pub public_url: String,
    /// Becomes true when the server starts to shut down: live streams and sockets end then
    /// (clients reconnect elsewhere) instead of holding the drain to its timeout.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// On-chain anchoring, when configured (set by `anchor::setup::attach` at start).
    pub anchoring: Option<Arc<crate::anchor::setup::Anchoring>>,
}

impl AppState {
    /// `<prefix>/<institution>/<dataset>`: the dataset's log origin.
    pub fn origin(&self, institution: &str, dataset: &str) -> String {
        format!("{}/{institution}/{dataset}", self.config.origin_prefix)
    }
}
