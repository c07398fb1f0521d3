//! Erasures and token revocations reach every replica, even one that was restarting or cut
//! off from Redis when they happened. The writer records each in the `invalidations` outbox
//! in its own transaction and acts at once (its own caches, Redis, the bus); every replica
//! also reads the outbox every [`POLL`] and applies what it has not seen:
//! - an erasure purges the record's bundles and the dataset's feed pages from process
//!   memory, and, while a row is not marked purged, from Redis (then marks it);
//! - a revocation closes every live stream and WebSocket of that token in this process.
//!
//! So a cache can serve an erased payload, or a socket outlive its revoked token, for at
//! most one poll interval when the bus is down, and not at all when it is up.

use super::Cluster;
use civicproof_schema::queries::invalidations::{self as q, ERASURE, TOKEN};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// How often every replica reads the outbox.
pub const POLL: Duration = Duration::from_millis(500);
const BATCH: i64 = 1_000;

/// Revoked token ids, announced to every live stream and socket of this process.
#[derive(Debug)]
pub struct Revocations {
    tx: broadcast::Sender<Uuid>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Revocations {
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.tx.subscribe()
    }

    /// Tells this process's streams (no receivers is fine).
    pub fn announce(&self, token_id: Uuid) {
        let _ = self.tx.send(token_id);
    }
}

/// After a token was revoked here: close its streams here, tell the other replicas.
pub fn revoked(cluster: &Cluster, token_id: Uuid) {
    cluster.revocations.announce(token_id);
    cluster.send(super::bus::Outbound::Revoked { token_id });
}

/// Follows the outbox until `stop`.
pub async fn follow(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let mut seen = loop {
        match crate::db::run(&cluster.pool, |c| Ok(q::newest_id(c)?)).await {
            Ok(id) => break id,
            Err(_) => {
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(POLL) => {}
        }
        match crate::db::run(&cluster.pool, move |c| Ok(q::after(c, seen, BATCH)?)).await {
            Ok(rows) => {
                for row in &rows {
                    apply(&cluster, row);
                    seen = row.id;
                }
            }
            Err(e) => tracing::debug!(error = %e, "invalidations not read; next poll"),
        }
        purge_redis(&cluster).await;
    }
}

fn apply(cluster: &Cluster, row: &q::Invalidation) {
    match (row.kind.as_str(), row.dataset_id, row.seq, row.token_id) {
        (ERASURE, Some(dataset_id), Some(seq), _) => cluster.purge_local(dataset_id, seq),
        (TOKEN, _, _, Some(token_id)) => cluster.revocations.announce(token_id),
        _ => tracing::warn!(id = row.id, "malformed invalidation row"),
    }
}

/// Purges the Redis copies of erasures not yet marked purged (by whichever replica can).
async fn purge_redis(cluster: &Cluster) {
    if cluster.redis().is_none() {
        return;
    }
    let Ok(rows) = crate::db::run(&cluster.pool, |c| Ok(q::unpurged(c, 100)?)).await else {
        return;
    };
    let mut done = Vec::new();
    for row in rows {
        if let (Some(dataset_id), Some(seq)) = (row.dataset_id, row.seq)
            && super::purge_redis(cluster, dataset_id, seq).await
        {
            done.push(row.id);
        }
    }
    if !done.is_empty() {
        let _ = crate::db::run(&cluster.pool, move |c| Ok(q::mark_purged(c, &done)?)).await;
    }
}
