//! What makes several stateless API processes fast and coherent: Redis (when `REDIS_URL` is
//! set) for shared caches, rate limits, idempotency locks and a message bus, with in-process
//! equivalents for a single process.
//!
//! - [`link`]: the managed connection and its health flag;
//! - [`bus`]: cross-replica messages (appends for live feeds, erasure purges, revocations);
//! - [`invalidations`]: the outbox every replica follows, so erasures and revocations reach
//!   it even when the bus did not;
//! - [`bundles`]: the proof bundle cache;
//! - [`feed_cache`]: feed pages keyed by the dataset head;
//! - [`ratelimit`]: GCRA rate limits per token and client address;
//! - [`idempotency`]: the Idempotency-Key fast path and in-flight lock;
//! - [`stats`]: hit ratios and Redis state for `/metrics`;
//! - [`streams`]: live connections per client.

pub mod bundles;
pub mod bus;
pub mod config;
pub mod feed_cache;
pub mod idempotency;
pub mod invalidations;
pub mod link;
pub mod ratelimit;
pub mod stats;
pub mod streams;
pub mod tile_cache;

use civicproof_schema::Pool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

pub struct Cluster {
    /// This process, so that it skips its own bus messages.
    pub instance: String,
    /// Prefix of every Redis key and channel of this instance
    /// (`cp:<origin prefix>:<log key fingerprint>:`).
    pub prefix: String,
    pub link: Option<Arc<link::RedisLink>>,
    pub bundles: bundles::L1,
    pub feed: feed_cache::FeedCache,
    /// Full tlog tiles (immutable, never purged).
    pub tiles: tile_cache::TileCache,
    pub limiter: ratelimit::Limiter,
    pub stats: Arc<stats::CacheStats>,
    /// The database, for the outbox and for reading entries announced by other replicas.
    pub pool: Pool,
    /// This process's live followers.
    pub fanout: Arc<crate::fanout::Fanout>,
    /// Revoked tokens, for this process's live streams and sockets.
    pub revocations: invalidations::Revocations,
    /// Live connections per client on this replica.
    pub streams: Arc<streams::StreamSlots>,
    /// True while this process receives bus messages (always, without Redis): only then may
    /// it trust process-memory caches that other replicas purge.
    subscribed: AtomicBool,
    outbound: mpsc::Sender<bus::Outbound>,
    outbound_rx: std::sync::Mutex<Option<mpsc::Receiver<bus::Outbound>>>,
    pub bundle_ttl_secs: u64,
    pub put_script: ::redis::Script,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("instance", &self.instance)
            .field("link", &self.link)
            .finish()
    }
}

impl Cluster {
    /// Must run inside the Tokio runtime when Redis is configured (the link is lazy).
    /// `log_public_key` joins the key prefix: two deployments (or a database recreated)
    /// with the same origin prefix never share cached bundles.
    pub fn new(
        c: &config::ClusterConfig,
        origin_prefix: &str,
        log_public_key: &str,
        pool: Pool,
        fanout: Arc<crate::fanout::Fanout>,
    ) -> anyhow::Result<Self> {
        // An empty REDIS_URL (as `.env` files write "unset") means no Redis.
        let link = c
            .redis_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .map(link::RedisLink::new)
            .transpose()?;
        let stats = Arc::new(stats::CacheStats {
            redis_configured: link.is_some(),
            ..Default::default()
        });
        let (tx, rx) = mpsc::channel(bus::OUTBOUND_CAPACITY);
        let mut id = [0u8; 8];
        rand::fill(&mut id);
        Ok(Self {
            instance: hex::encode(id),
            prefix: format!(
                "cp:{}:{}:",
                origin_prefix,
                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(log_public_key)[..6])
            ),
            limiter: ratelimit::Limiter::new(c),
            subscribed: AtomicBool::new(link.is_none()),
            link,
            bundles: bundles::L1::new(c.bundle_cache_entries),
            feed: feed_cache::FeedCache::new(c.feed_cache_bytes),
            tiles: tile_cache::TileCache::new(c.tile_cache_bytes),
            stats,
            pool,
            fanout,
            revocations: invalidations::Revocations::default(),
            streams: streams::StreamSlots::new(c.max_streams_per_client),
            outbound: tx,
            outbound_rx: std::sync::Mutex::new(Some(rx)),
            bundle_ttl_secs: c.bundle_cache_ttl_secs,
            put_script: ::redis::Script::new(bundles::PUT_SCRIPT),
        })
    }

    /// The Redis link when Redis is configured *and* up.
    pub fn redis(&self) -> Option<&link::RedisLink> {
        self.link.as_deref().filter(|l| l.is_up())
    }

    /// [`Self::redis`], owned, for work that outlives the request.
    pub fn redis_owned(&self) -> Option<Arc<link::RedisLink>> {
        self.link.clone().filter(|l| l.is_up())
    }

    /// Drops one record's bundles and its dataset's feed pages from process memory (after
    /// an erasure here or announced by another replica).
    pub fn purge_local(&self, dataset_id: i64, seq: i64) {
        self.bundles.purge_record(dataset_id, seq);
        self.feed.purge_dataset(dataset_id);
    }

    /// Whether process-memory caches are trustworthy now (see `subscribed`).
    pub fn local_caches_usable(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    fn set_subscribed(&self, on: bool) {
        // Either way purges may have been missed: start from empty.
        self.bundles.clear();
        self.feed.clear();
        self.subscribed.store(on, Ordering::Release);
    }

    /// "cache" state for `/readyz`.
    pub fn describe(&self) -> serde_json::Value {
        match &self.link {
            None => serde_json::json!({"kind": "in-process"}),
            Some(l) => serde_json::json!({
                "kind": "redis",
                "redis": if l.is_up() { "up" } else { "down" },
                "subscribed": self.local_caches_usable(),
            }),
        }
    }

    /// Queues a message for the bus publisher (dropped, and resynchronised, when full).
    pub fn send(&self, msg: bus::Outbound) {
        if self.link.is_some() && self.outbound.try_send(msg).is_err() {
            tracing::warn!("bus queue full: a live-feed notice was dropped; followers resync");
        }
    }
}

/// Starts the outbox follower and, with Redis, the probe, the bus subscriber and the bus
/// publisher.
pub fn start(cluster: &Arc<Cluster>, stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(invalidations::follow(cluster.clone(), stop.clone()));
    let Some(link) = cluster.link.clone() else {
        return;
    };
    tokio::spawn(link.probe(stop.clone()));
    let rx = cluster
        .outbound_rx
        .lock()
        .expect("outbound lock")
        .take()
        .expect("the cluster starts once");
    tokio::spawn(bus::publisher(cluster.clone(), rx, stop.clone()));
    tokio::spawn(bus::subscriber(cluster.clone(), stop));
}

/// After an erasure commits (its outbox row `outbox_id` with it): purge the record's bundles
/// and the dataset's feed pages here, in Redis and (over the bus) on every replica, before
/// the erasure is answered. When Redis cannot take the purge now, whichever replica follows
/// the outbox next with Redis up does it ([`invalidations`]).
pub async fn erased(cluster: &Cluster, dataset_id: i64, seq: i64, outbox_id: i64) {
    cluster.purge_local(dataset_id, seq);
    if purge_redis(cluster, dataset_id, seq).await {
        let marked = crate::db::run(&cluster.pool, move |c| {
            Ok(civicproof_schema::queries::invalidations::mark_purged(
                c,
                &[outbox_id],
            )?)
        })
        .await;
        if let Err(e) = marked {
            tracing::debug!(error = %e, "erasure purged in Redis but not marked; purged again later");
        }
    }
}

/// Marks a record erased in Redis, deletes its cached bundles and tells the replicas, in one
/// atomic pipeline; false when Redis is not configured, down, or failed.
pub async fn purge_redis(cluster: &Cluster, dataset_id: i64, seq: i64) -> bool {
    match cluster.redis() {
        Some(link) => link
            .pipe::<::redis::Value>(&bus::purge_pipeline(cluster, dataset_id, seq))
            .await
            .is_some(),
        None => false,
    }
}

/// What the fan-out does with each local append besides telling local followers: advance
/// the dataset head (feed page keys) and tell the other replicas.
pub fn relay(cluster: Arc<Cluster>) -> crate::fanout::Relay {
    Box::new(move |a| {
        if a.dataset_id == crate::fanout::ANY_DATASET {
            return;
        }
        cluster.feed.grown(a.dataset_id, a.end_seq);
        cluster.send(bus::Outbound::Appended {
            dataset_id: a.dataset_id,
            first_seq: a.first_seq,
            end_seq: a.end_seq,
        });
    })
}
