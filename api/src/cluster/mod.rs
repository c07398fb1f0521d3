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

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::log::proofs::{self, BundleFormat};
use crate::services::datasets::load_visible;
use crate::state::AppState;
use bundles::{BundleKey, CachedBundle};
use bytes::Bytes;
use std::future::Future;
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
    pub limiter: ratelimit::Limiter,
    pub stats: Arc<stats::CacheStats>,
    /// Revoked tokens, for this process's live streams and sockets.
    pub revocations: invalidations::Revocations,
    /// Live connections per client on this replica.
    pub streams: Arc<streams::StreamSlots>,
    /// True while this process receives bus messages (always, without Redis): only then may
    /// it trust process-memory caches that other replicas purge.
    subscribed: AtomicBool,
    outbound: mpsc::Sender<bus::Outbound>,
    outbound_rx: std::sync::Mutex<Option<mpsc::Receiver<bus::Outbound>>>,
    bundle_ttl_secs: u64,
    put_script: ::redis::Script,
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
    pub fn new(config: &crate::Config, log_public_key: &str) -> anyhow::Result<Self> {
        let c = &config.cluster;
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
                config.origin_prefix,
                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(log_public_key)[..6])
            ),
            limiter: ratelimit::Limiter::new(c),
            subscribed: AtomicBool::new(link.is_none()),
            link,
            bundles: bundles::L1::new(c.bundle_cache_entries),
            feed: feed_cache::FeedCache::new(c.feed_cache_bytes),
            stats,
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
pub fn start(state: &AppState, stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(invalidations::follow(state.clone(), stop.clone()));
    let cluster = state.cluster.clone();
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
    tokio::spawn(bus::publisher(state.clone(), rx, stop.clone()));
    tokio::spawn(bus::subscriber(state.clone(), stop));
}

/// Where a bundle request's cache key is built: the dataset, the seq, the checkpoint size
/// the bundle will be built on (the one asked for, or the newest this process knows of)
/// and the format. `None` when that size is unknown or does not cover `seq` yet.
///
/// With anchoring, a bundle changes when its checkpoint's batch confirms (the `anchor`
/// section appears; a default request also moves to the earliest confirmed checkpoint and
/// loses its `anchor_pending` hint), so only bundles with a confirmed anchor are cached, and a
/// default request is keyed by [`ANCHORED_DEFAULT`] rather than a size: once anchored, it never
/// changes except by erasure, which purges it.
pub fn bundle_key(
    state: &AppState,
    dataset_id: i64,
    seq: i64,
    tree_size: Option<u64>,
    format: BundleFormat,
) -> Option<BundleKey> {
    if state.anchoring.is_some() {
        return Some(BundleKey {
            dataset_id,
            seq,
            tree_size: tree_size.unwrap_or(ANCHORED_DEFAULT),
            format: format_code(format),
        });
    }
    let size = match tree_size {
        Some(n) => n,
        None => state.latest_checkpoints.get(&dataset_id)?.size as u64,
    };
    (size > seq as u64).then_some(BundleKey {
        dataset_id,
        seq,
        tree_size: size,
        format: format_code(format),
    })
}

/// The key size of a default (no `tree_size`) bundle whose checkpoint is anchored.
pub const ANCHORED_DEFAULT: u64 = u64::MAX;

/// The key a freshly built bundle is cached under, if it may be cached at all.
fn store_key(
    state: &AppState,
    dataset_id: i64,
    seq: i64,
    tree_size: Option<u64>,
    format: BundleFormat,
    served: &proofs::ServedBundle,
) -> Option<BundleKey> {
    let size = match (state.anchoring.is_some(), served.anchored) {
        (true, false) => return None,
        (true, true) => tree_size.unwrap_or(ANCHORED_DEFAULT),
        (false, _) => served.tree_size,
    };
    Some(BundleKey {
        dataset_id,
        seq,
        tree_size: size,
        format: format_code(format),
    })
}

fn format_code(format: BundleFormat) -> u8 {
    match format {
        BundleFormat::Json => 0,
        BundleFormat::TlogProof => 1,
    }
}

/// A proof bundle through the caches: process memory, then Redis, then `log::proofs`.
/// Returns the bundle and whether the dataset is public. A cached bundle is byte-identical
/// to a fresh one (same key, same inputs); only erasure changes one, and it purges them.
pub async fn cached_bundle(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq_text: &str,
    tree_size: Option<u64>,
    format: BundleFormat,
) -> ApiResult<(CachedBundle, bool)> {
    let seq = crate::services::records::parse_seq(seq_text).ok_or(ApiError::NotFound)?;
    // Authorization first, always: a cached bundle is served only to who may see it.
    let (ds, _) = load_visible(state, caller, institution, dataset).await?;
    let public = ds.is_public();
    let cluster = &state.cluster;
    let local = cluster.local_caches_usable();
    let epoch = cluster.bundles.epoch();
    let counters = &cluster.stats.bundles;
    let key = bundle_key(state, ds.id, seq, tree_size, format);
    if let Some(key) = key {
        if local && let Some(hit) = cluster.bundles.get(&key) {
            counters.hit_local();
            return Ok((hit, public));
        }
        if let Some(link) = cluster.redis() {
            let cmd = ::redis::cmd("HGET")
                .arg(key.redis_hash(&cluster.prefix))
                .arg(key.redis_field())
                .clone();
            if let Some(Some(bytes)) = link.query::<Option<Vec<u8>>>(&cmd).await
                && let Some(hit) = CachedBundle::decode(&bytes)
            {
                counters.hit_redis();
                if local {
                    cluster.bundles.insert(key, hit.clone(), epoch);
                }
                return Ok((hit, public));
            }
        }
    }
    counters.missed();
    let served = proofs::bundle(
        state,
        caller,
        institution,
        dataset,
        seq_text,
        tree_size,
        format,
    )
    .await?;
    let store = store_key(state, ds.id, seq, tree_size, format, &served);
    let fresh = CachedBundle::new(Bytes::from(served.body), served.content_type);
    let Some(key) = store else {
        return Ok((fresh, public));
    };
    if local {
        cluster.bundles.insert(key, fresh.clone(), epoch);
    }
    if let Some(link) = cluster.redis_owned() {
        let (script, prefix, ttl) = (
            cluster.put_script.clone(),
            cluster.prefix.clone(),
            cluster.bundle_ttl_secs,
        );
        let value = fresh.encode();
        tokio::spawn(async move {
            let hash = key.redis_hash(&prefix);
            let marker = bundles::erased_marker(&prefix, key.dataset_id, key.seq);
            let mut inv = script.prepare_invoke();
            inv.key(hash)
                .key(marker)
                .arg(key.redis_field())
                .arg(value)
                .arg(ttl);
            link.invoke::<i64>(inv).await;
        });
    }
    Ok((fresh, public))
}

/// After an erasure commits (its outbox row `outbox_id` with it): purge the record's bundles
/// and the dataset's feed pages here, in Redis and (over the bus) on every replica, before
/// the erasure is answered. When Redis cannot take the purge now, whichever replica follows
/// the outbox next with Redis up does it ([`invalidations`]).
pub async fn erased(state: &AppState, dataset_id: i64, seq: i64, outbox_id: i64) {
    state.cluster.purge_local(dataset_id, seq);
    if purge_redis(state, dataset_id, seq).await {
        let marked = crate::db::run(&state.pool, move |c| {
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
pub async fn purge_redis(state: &AppState, dataset_id: i64, seq: i64) -> bool {
    let cluster = &state.cluster;
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

/// One feed page through the page cache: keyed by the dataset head this process knows (read
/// once from PostgreSQL, then advanced by every announced append), the raw query string and
/// the format. `compute` renders the page body and its next cursor on a miss.
pub async fn feed_page(
    state: &AppState,
    dataset: &civicproof_schema::models::Dataset,
    institution: &str,
    query: &str,
    format: crate::services::feed::FeedFormat,
    compute: impl Future<Output = ApiResult<(Vec<u8>, Option<String>)>>,
) -> ApiResult<(Bytes, Option<String>)> {
    let cluster = &state.cluster;
    let counters = &cluster.stats.feed_pages;
    if !cluster.feed.enabled() || !cluster.local_caches_usable() {
        let (body, next) = compute.await?;
        return Ok((Bytes::from(body), next));
    }
    let head = match cluster.feed.head(dataset.id) {
        Some(h) => h,
        None => {
            let (inst, slug) = (institution.to_owned(), dataset.slug.clone());
            let row = crate::db::run(&state.pool, move |conn| {
                Ok(civicproof_schema::queries::datasets::find_any(
                    conn, &inst, &slug,
                )?)
            })
            .await?;
            let Some((d, _)) = row else {
                return Err(ApiError::NotFound);
            };
            cluster.feed.grown(d.id, d.entry_count);
            cluster.feed.head(d.id).unwrap_or(d.entry_count)
        }
    };
    let key = feed_cache::FeedKey {
        dataset_id: dataset.id,
        head,
        query: query.to_owned(),
        format: format as u8,
    };
    if let Some(hit) = cluster.feed.get(&key) {
        counters.hit_local();
        return Ok((hit.body, hit.next_cursor));
    }
    counters.missed();
    let (body, next) = compute.await?;
    let body = Bytes::from(body);
    cluster.feed.put(
        key,
        feed_cache::CachedPage {
            body: body.clone(),
            next_cursor: next.clone(),
        },
    );
    Ok((body, next))
}
