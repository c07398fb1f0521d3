//! Proof bundles (PROTOCOL.md section 6), checkpoints by size and consistency proofs, built
//! from stored subtree hashes.

use crate::auth::Caller;
use crate::cluster::bundles::{BundleKey, CachedBundle};
use crate::db;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult};
use crate::log::witnessing::is_settled;
use crate::log::{nodes, tree};
use crate::services::datasets::load_visible;
use crate::services::records::envelope_of;
use crate::state::{AppState, DatasetRow};
use bytes::Bytes;
use civicproof_schema::Conn;
use civicproof_schema::models::Dataset;
use civicproof_schema::queries::checkpoints as q;
use civicproof_schema::queries::entries;
use civicproof_verify::bundle::{self, Bundle, Erasure, Inclusion};
use civicproof_verify::merkle::Hash;
use civicproof_verify::{json, tlog_proof};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A served bundle with what its response headers need.
pub struct ServedBundle {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub public: bool,
    /// The size of the checkpoint the bundle was built on.
    pub tree_size: u64,
    /// Its checkpoint is in a confirmed anchor batch: the bundle never changes again except
    /// by erasure.
    pub anchored: bool,
    /// Its checkpoint's note can no longer gain witness cosignatures (always, without
    /// witnesses); only such bundles may be cached.
    pub settled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFormat {
    Json,
    TlogProof,
}

/// Builds a bundle of a dataset the caller was authorized to see ([`bundle`] did).
async fn build(
    state: &AppState,
    dataset: DatasetRow,
    seq: i64,
    tree_size: Option<u64>,
    format: BundleFormat,
) -> ApiResult<ServedBundle> {
    let request = BundleRequest {
        dataset: Arc::new(dataset),
        seq,
        tree_size,
        format,
    };
    let deadline = Instant::now() + Duration::from_millis(state.config.checkpoint_interval_ms);
    loop {
        // Everything a bundle needs is read in one blocking hop (one pooled connection).
        let (st, req) = (state.clone(), request.clone());
        if let Some(served) = db::run(&state.pool, move |conn| assemble(&st, conn, &req)).await? {
            return Ok(served);
        }
        // Not yet in a signed checkpoint: nudge the signer and wait for its next round.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ApiError::NotYetCheckpointed);
        }
        state.signer_wake.notify_one();
        let _ = tokio::time::timeout(
            left.min(Duration::from_millis(100)),
            state.checkpoint_signed.notified(),
        )
        .await;
    }
}

#[derive(Debug, Clone)]
struct BundleRequest {
    dataset: Arc<DatasetRow>,
    seq: i64,
    tree_size: Option<u64>,
    format: BundleFormat,
}

/// Builds the bundle, or `None` when no signed checkpoint covers the entry yet.
fn assemble(
    state: &AppState,
    conn: &mut Conn,
    req: &BundleRequest,
) -> ApiResult<Option<ServedBundle>> {
    let (ds, inst) = &*req.dataset;
    // The checkpoint a proof will most likely use is known before reading anything (the one
    // asked for, or the cached newest), so the entry and the path nodes the cache lacks are
    // read together: a bundle costs one round trip.
    let likely_size = match req.tree_size {
        Some(n) => Some(n),
        None => state
            .latest_checkpoints
            .get(&ds.id)
            .map(|cp| cp.size as u64),
    };
    let entry = match likely_size {
        Some(size) => {
            nodes::entry_with_path_nodes(conn, &state.node_cache, ds.id, req.seq as u64, size)?
        }
        None => entries::get(conn, ds.id, req.seq)?,
    }
    .ok_or(ApiError::NotFound)?;
    // An erased record's bundle carries the erasure entry's proof in the same checkpoint.
    let erasure = if entry.is_erased() {
        entries::erasure_of(conn, ds.id, entry.seq)?
    } else {
        None
    };
    // A tlog-proof is the record's inclusion proof alone; a bundle of an erased record also
    // needs its erasure entry in the same checkpoint.
    let must_cover = match (&erasure, req.format) {
        (Some(e), BundleFormat::Json) => e.seq,
        _ => entry.seq,
    };
    let anchoring = crate::services::anchors::for_bundle(
        state,
        conn,
        ds.id,
        must_cover,
        req.tree_size.map(|n| n as i64),
    )?;
    let checkpoint = match (req.tree_size, anchoring.checkpoint_size) {
        // The earliest confirmed batch's checkpoint: this bundle never changes again.
        (None, Some(n)) => q::at_size(conn, ds.id, n)?.ok_or(ApiError::NotFound)?,
        (Some(n), _) => {
            let cp = q::at_size(conn, ds.id, n as i64)?.ok_or(ApiError::NotFound)?;
            if cp.size <= must_cover {
                return Err(ApiError::validation(
                    "/tree_size",
                    format!(
                        "checkpoint {n} does not cover entry {must_cover}; use a larger tree_size"
                    ),
                ));
            }
            cp
        }
        (None, None) => {
            let cached = state
                .latest_checkpoints
                .get(&ds.id)
                .filter(|cp| cp.size > must_cover);
            let newest = match cached {
                Some(cp) => Some(cp),
                None => q::latest(conn, ds.id)?
                    .inspect(|cp| state.latest_checkpoints.put(ds.id, cp.clone())),
            };
            match newest.filter(|cp| cp.size > must_cover) {
                Some(cp) => cp,
                None => return Ok(None),
            }
        }
    };
    let size = checkpoint.size as u64;
    let anchored = anchoring.anchor.is_some();
    let settled = is_settled(checkpoint.cosign_until);
    let mut exprs = tree::inclusion(entry.seq as u64, size);
    let split = exprs.len();
    if let (Some(e), BundleFormat::Json) = (&erasure, req.format) {
        exprs.extend(tree::inclusion(e.seq as u64, size));
    }
    let mut path = nodes::eval(conn, Some(state.node_cache.as_ref()), ds.id, &exprs)?;
    let erasure_path = path.split_off(split);
    let public = ds.is_public();
    if req.format == BundleFormat::TlogProof {
        return Ok(Some(ServedBundle {
            body: tlog_proof::format(entry.seq as u64, &path, &checkpoint.note).into_bytes(),
            content_type: "text/plain; charset=utf-8",
            public,
            tree_size: size,
            anchored,
            settled,
        }));
    }
    let origin = state.origin(&inst.slug, &ds.slug);
    let payload = match &entry.payload {
        Some(p) => Some(json::parse_strict(p.as_bytes()).map_err(ApiError::internal)?),
        None => None,
    };
    let erasure = match &erasure {
        Some(e) => Some(Erasure {
            envelope: envelope_of(&origin, e)?.to_value(),
            path: bundle::hex_hashes(&erasure_path),
        }),
        None => None,
    };
    let b = Bundle {
        format: bundle::FORMAT.to_owned(),
        envelope: envelope_of(&origin, &entry)?.to_value(),
        payload,
        salt: entry.salt.as_deref().map(hex::encode),
        leaf_hash: hex::encode(&entry.leaf_hash),
        inclusion: Inclusion {
            tree_size: size,
            path: bundle::hex_hashes(&path),
        },
        checkpoint: checkpoint.note,
        erasure,
        anchor: anchoring.anchor,
        anchor_pending: anchoring.pending,
    };
    Ok(Some(ServedBundle {
        body: b.to_json_bytes(),
        content_type: "application/vnd.civicproof.bundle+json",
        public,
        tree_size: size,
        anchored,
        settled,
    }))
}

/// Newest signed checkpoint of a visible dataset.
pub async fn latest_checkpoint(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
) -> ApiResult<(String, bool)> {
    let (ds, _) = load_visible(state, caller, institution, dataset).await?;
    let id = ds.id;
    let cp = db::run(&state.pool, move |conn| {
        q::latest(conn, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok((cp.note, ds.is_public()))
}

/// The checkpoint at `size`; 404 if never signed. Returns the note, whether the dataset is
/// public, and whether the note is settled (can gain no more cosignatures, so immutable).
pub async fn checkpoint_at(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    size: Seq,
) -> ApiResult<(String, bool, bool)> {
    let (ds, _) = load_visible(state, caller, institution, dataset).await?;
    let size = size.as_i64();
    let id = ds.id;
    let cp = db::run(&state.pool, move |conn| {
        q::at_size(conn, id, size)?.ok_or(ApiError::NotFound)
    })
    .await?;
    let settled = is_settled(cp.cosign_until);
    Ok((cp.note, ds.is_public(), settled))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Hex SHA-256 values, RFC 9162 section 2.1.4.1 order.
    pub path: Vec<String>,
    pub first_checkpoint: String,
    pub second_checkpoint: String,
}

/// PROTOCOL.md section 7, consistency: 400 for a missing or non-decimal parameter, 422 for
/// `first > second` or `first == 0`, 404 for a size never signed. Also returns whether the dataset
/// is public and whether both notes are settled.
pub async fn consistency(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    first: Option<&str>,
    second: Option<&str>,
) -> ApiResult<(ConsistencyProof, bool, bool)> {
    let parse = |name: &str, v: Option<&str>| -> ApiResult<u64> {
        let v = v.ok_or_else(|| ApiError::BadRequest(format!("{name} is required.")))?;
        if v.is_empty() || v.len() > 16 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::BadRequest(format!(
                "{name} must be a decimal integer."
            )));
        }
        v.parse::<u64>()
            .map_err(|_| ApiError::BadRequest(format!("{name} must be a decimal integer.")))
    };
    let (m, n) = (parse("first", first)?, parse("second", second)?);
    if m > n {
        return Err(ApiError::validation(
            "/first",
            "first must not exceed second",
        ));
    }
    if m == 0 {
        return Err(ApiError::validation(
            "/first",
            "a consistency proof from size 0 does not exist",
        ));
    }
    let (ds, _): (Dataset, _) = load_visible(state, caller, institution, dataset).await?;
    let (id, st) = (ds.id, state.clone());
    let (a, b, path) = db::run(&state.pool, move |conn| {
        let a = q::at_size(conn, id, m as i64)?.ok_or(ApiError::NotFound)?;
        let b = q::at_size(conn, id, n as i64)?.ok_or(ApiError::NotFound)?;
        let path: Vec<Hash> = nodes::eval(
            conn,
            Some(st.node_cache.as_ref()),
            id,
            &tree::consistency(m, n),
        )?;
        Ok((a, b, path))
    })
    .await?;
    let settled = is_settled(a.cosign_until) && is_settled(b.cosign_until);
    Ok((
        ConsistencyProof {
            first: m,
            second: n,
            path: bundle::hex_hashes(&path),
            first_checkpoint: a.note,
            second_checkpoint: b.note,
        },
        ds.is_public(),
        settled,
    ))
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
    served: &ServedBundle,
) -> Option<BundleKey> {
    if !served.settled {
        return None;
    }
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

/// A proof bundle through the caches (process memory, then Redis), else built by [`build`];
/// what REST and GraphQL both serve.
/// Returns the bundle and whether the dataset is public. A cached bundle is byte-identical
/// to a fresh one (same key, same inputs); only erasure changes one, and it purges them.
pub async fn bundle(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq: Seq,
    tree_size: Option<u64>,
    format: BundleFormat,
) -> ApiResult<(CachedBundle, bool)> {
    let seq = seq.as_i64();
    // Authorization first, always: a cached bundle is served only to who may see it.
    let row = load_visible(state, caller, institution, dataset).await?;
    let ds = &row.0;
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
    let ds_id = ds.id;
    let served = build(state, row, seq, tree_size, format).await?;
    let store = store_key(state, ds_id, seq, tree_size, format, &served);
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
            let marker = crate::cluster::bundles::erased_marker(&prefix, key.dataset_id, key.seq);
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
