//! The checkpoint signer (PROTOCOL.md section 4): soon after a dataset's tree grows it signs a
//! new checkpoint, but only after verifying a consistency proof from that origin's newest
//! signed checkpoint to the new root. If that fails the origin is halted with an alert.
//! One signer at a time across server processes: each round runs under a transaction-level
//! PostgreSQL advisory lock.

use crate::cache::TtlCache;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::log::nodes;
use crate::log::tree;
use crate::logkey::LogKey;
use crate::metrics::Metrics;
use chrono::Utc;
use civicproof_schema::Conn;
use civicproof_schema::Pool;
use civicproof_schema::queries::checkpoints::{self as q, CheckpointRow, SigningCandidate};
use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::merkle;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What the signer works with (narrow handles, not the whole application state).
#[derive(Clone)]
pub struct Signer {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub log_key: Arc<LogKey>,
    /// Newest checkpoint per dataset, refreshed after each round.
    pub latest_checkpoints: Arc<TtlCache<i64, CheckpointRow>>,
    /// Rung after an append.
    pub wake: Arc<Notify>,
    /// Rung after every round (proof requests wait on it).
    pub signed: Arc<Notify>,
    /// Whether this instance anchors (the no-fork check then also covers the newest
    /// anchored checkpoint).
    pub anchoring: bool,
    pub metrics: Arc<Metrics>,
    /// Where committed checkpoints go to be cosigned, when witnesses are configured.
    pub witnessing: Option<crate::log::witnessing::Witnessing>,
}

/// Runs until `shutdown` fires: a round every interval, or sooner when woken by an append.
pub async fn run(state: Signer, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.config.checkpoint_interval_ms.max(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.wake.notified() => {
                // Coalesce a burst of appends into one round.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = shutdown.changed() => return,
        }
        let st = state.clone();
        let result = crate::db::run(&state.pool, move |conn| sign_round(&st, conn)).await;
        match result {
            Ok(n) if n > 0 => tracing::debug!(signed = n, "checkpoints signed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint round failed; retrying next interval"),
        }
        state.signed.notify_waiters();
    }
}

/// One round: signs a checkpoint for every grown, non-halted dataset. Returns how many.
pub fn sign_round(state: &Signer, conn: &mut Conn) -> ApiResult<usize> {
    let signed: Vec<(CheckpointRow, String)> = civicproof_schema::transaction(conn, |conn| {
        if !q::try_signer_lock(conn)? {
            return Ok(Vec::new());
        }
        let mut signed = Vec::new();
        for (candidate, previous) in q::grown(conn)? {
            // Each origin in its own savepoint: one that fails (a missing node, say) is
            // skipped this round without holding back every other origin.
            match civicproof_schema::transaction(conn, |conn| {
                sign_one(state, conn, &candidate, previous)
            }) {
                Ok(Some(row)) => signed.push(row),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(dataset_id = candidate.dataset_id, error = %e, "signing failed for this origin; retrying next round")
                }
            }
        }
        Ok::<_, ApiError>(signed)
    })?;
    // Only committed checkpoints may be served, so the cache learns them after commit.
    let n = signed.len();
    if let Some(w) = &state.witnessing {
        w.submit(&signed);
    }
    for (row, _) in signed {
        state.latest_checkpoints.put(row.dataset_id, row);
    }
    Ok(n)
}

/// Signs the checkpoint at the dataset's current size; `previous` is the newest signed size
/// (−1 when none). Returns `None` when the origin was halted instead.
fn sign_one(
    state: &Signer,
    conn: &mut Conn,
    c: &SigningCandidate,
    previous: i64,
) -> ApiResult<Option<(CheckpointRow, String)>> {
    let size = c.entry_count as u64;
    // The signer reads the database itself, never the cache: its consistency check is what
    // notices stored nodes that no longer match the signed history.
    let cache = None;
    let root = nodes::root(conn, cache, c.dataset_id, size)?;
    // Consistent with the newest signed checkpoint and, when anchoring, with the newest
    // anchored one (PROTOCOL.md section 4.4, "No forks").
    let mut from = Vec::new();
    if previous > 0 {
        from.push(previous);
    }
    if state.anchoring
        && let Some((_, member)) =
            civicproof_schema::queries::anchors::newest_confirmed_of(conn, c.dataset_id)?
        && member.size != previous
    {
        from.push(member.size);
    }
    for old in from {
        let prev = q::at_size(conn, c.dataset_id, old)?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("checkpoint {old} vanished")))?;
        let proof = nodes::eval(
            conn,
            cache,
            c.dataset_id,
            &tree::consistency(old as u64, size),
        )?;
        let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
        if let Err(e) = merkle::verify_consistency(old as u64, size, &prev.root, &root, &proof) {
            let reason =
                format!("tree at size {size} is not consistent with checkpoint {old}: {e}");
            tracing::error!(dataset_id = c.dataset_id, %reason, "ALERT: halting signing for this origin");
            state.metrics.signing_halts.inc();
            q::halt(conn, c.dataset_id, &reason)?;
            return Ok(None);
        }
    }
    let origin = format!(
        "{}/{}/{}",
        state.config.origin_prefix, c.institution_slug, c.dataset_slug
    );
    let note = Checkpoint {
        origin: origin.clone(),
        size,
        root,
    }
    .sign(state.log_key.signing_key());
    let signed_at = Utc::now();
    let row = CheckpointRow {
        dataset_id: c.dataset_id,
        size: size as i64,
        root: root.to_vec(),
        note,
        signed_at,
        // Witnesses may add cosignatures for a while when this process submits to them.
        cosign_until: state
            .witnessing
            .as_ref()
            .map(|_| signed_at + crate::log::witnessing::COSIGN_WINDOW),
    };
    q::insert(conn, &row)?;
    state.metrics.checkpoints_signed.inc();
    Ok(Some((row, origin)))
}
