//! The cross-replica bus over Redis pub/sub (one channel per instance prefix).
//!
//! Messages are short text lines tagged with the sending process, which skips its own:
//! - `A <from> <dataset id> <first seq> <end seq>`: entries were appended (live feeds);
//! - `P <from> <dataset id> <seq>`: a record was erased (purge its bundles and the
//!   dataset's feed pages);
//! - `R <from> <token id>`: a token was revoked (close its live streams and sockets).
//!
//! Delivery is at most once. What covers a lost message: erasures and revocations are also
//! in the database outbox every replica follows (`invalidations`); live followers read the log from
//! PostgreSQL whenever they see a gap or a resync notice, and a replica whose subscription
//! drops clears its process-memory caches and ignores them until it has resubscribed (so a
//! purge it never heard of cannot leave a stale bundle behind). While unsubscribed it sends
//! followers a resync notice every second, so live feeds keep flowing from PostgreSQL.

use super::Cluster;
use crate::fanout::Appended;
use civicproof_schema::queries::entries::{self, FeedFilter};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub const OUTBOUND_CAPACITY: usize = 16_384;
/// Appends up to this many entries are read back once per replica and handed to followers.
const READ_BACK_ENTRIES: i64 = 100;
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);
/// How long Redis may stay unreachable before a subscription that did not end is dropped.
const HUNG_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum Outbound {
    Appended {
        dataset_id: i64,
        first_seq: i64,
        end_seq: i64,
    },
    Revoked {
        token_id: uuid::Uuid,
    },
}

pub fn channel(prefix: &str) -> String {
    format!("{prefix}bus")
}

/// Sends queued messages in order; they are dropped while Redis is down (followers resync
/// from the database, and the outbox carries revocations).
pub async fn publisher(
    cluster: Arc<Cluster>,
    mut rx: mpsc::Receiver<Outbound>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(link) = cluster.link.clone() else {
        return;
    };
    let chan = channel(&cluster.prefix);
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => return,
            m = rx.recv() => m,
        };
        let line = match msg {
            Some(Outbound::Appended {
                dataset_id,
                first_seq,
                end_seq,
            }) => format!("A {} {dataset_id} {first_seq} {end_seq}", cluster.instance),
            Some(Outbound::Revoked { token_id }) => format!("R {} {token_id}", cluster.instance),
            None => return,
        };
        let cmd = ::redis::cmd("PUBLISH").arg(&chan).arg(line).clone();
        link.query::<i64>(&cmd).await;
    }
}

/// Follows the bus while Redis is reachable; see the module comment for what happens when
/// it is not.
pub async fn subscriber(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let Some(link) = cluster.link.clone() else {
        return;
    };
    let chan = channel(&cluster.prefix);
    loop {
        let connected =
            tokio::time::timeout(Duration::from_secs(1), link.client().get_async_pubsub()).await;
        if let Ok(Ok(mut pubsub)) = connected
            && pubsub.subscribe(&chan).await.is_ok()
        {
            cluster.set_subscribed(true);
            // Whatever was announced while we were away is read from the database.
            cluster.fanout.notify_local(Appended::resync());
            let mut messages = pubsub.into_on_message();
            let mut health = tokio::time::interval(Duration::from_millis(250));
            let mut down_since: Option<std::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    m = messages.next() => match m {
                        Some(m) => {
                            let payload: Vec<u8> = m.get_payload_bytes().to_vec();
                            handle(&cluster, &String::from_utf8_lossy(&payload)).await;
                        }
                        None => break,
                    },
                    // A killed Redis closes the stream at once; a hung one is given up
                    // after it stayed unreachable a while (a slow command under load
                    // must not throw away every process-memory cache).
                    _ = health.tick() => match (link.is_up(), down_since) {
                        (true, _) => down_since = None,
                        (false, None) => down_since = Some(std::time::Instant::now()),
                        (false, Some(t)) if t.elapsed() >= HUNG_AFTER => break,
                        (false, Some(_)) => {}
                    },
                }
            }
            tracing::warn!("bus subscription lost");
        }
        if cluster.local_caches_usable() {
            cluster.set_subscribed(false);
        }
        cluster.fanout.notify_local(Appended::resync());
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

async fn handle(cluster: &Cluster, line: &str) {
    let mut parts = line.split(' ');
    let (Some(kind), Some(from)) = (parts.next(), parts.next()) else {
        return;
    };
    if from == cluster.instance {
        return;
    }
    if kind == "R" {
        match parts.next().map(uuid::Uuid::parse_str) {
            Some(Ok(token_id)) => cluster.revocations.announce(token_id),
            _ => tracing::warn!(line, "bad revocation message"),
        }
        return;
    }
    let nums: Vec<i64> = parts.filter_map(|p| p.parse().ok()).collect();
    match (kind, nums.as_slice()) {
        ("A", &[dataset_id, first_seq, end_seq]) => {
            appended_elsewhere(cluster, dataset_id, first_seq, end_seq).await
        }
        ("P", &[dataset_id, seq]) => {
            cluster.purge_local(dataset_id, seq);
        }
        _ => tracing::warn!(line, "unknown bus message"),
    }
}

/// Another replica appended: read small batches back once for every local follower.
async fn appended_elsewhere(cluster: &Cluster, dataset_id: i64, first_seq: i64, end_seq: i64) {
    cluster.feed.grown(dataset_id, end_seq);
    let n = end_seq - first_seq;
    let notice = if n > 0 && n <= READ_BACK_ENTRIES {
        let read = crate::db::run(&cluster.pool, move |conn| {
            Ok(entries::page(
                conn,
                dataset_id,
                (first_seq > 0).then_some(first_seq - 1),
                &FeedFilter::default(),
                n,
            )?)
        })
        .await;
        match read {
            Ok(rows) if rows.len() as i64 == n => Appended::of(dataset_id, rows),
            _ => None,
        }
    } else {
        None
    };
    cluster
        .fanout
        .notify_local(notice.unwrap_or_else(|| Appended::range(dataset_id, first_seq, end_seq)));
}

/// Marks a record erased, deletes its cached bundles and tells the replicas, atomically.
/// The marker comes first: a bundle computed before the erasure cannot be stored after the
/// delete (the store script checks the marker).
pub fn purge_pipeline(cluster: &Cluster, dataset_id: i64, seq: i64) -> ::redis::Pipeline {
    let prefix = &cluster.prefix;
    let mut pipe = ::redis::pipe();
    pipe.atomic()
        .cmd("SET")
        .arg(super::bundles::erased_marker(prefix, dataset_id, seq))
        .arg(1)
        .arg("EX")
        .arg(3600)
        .ignore()
        .cmd("DEL")
        .arg(super::bundles::record_hash(prefix, dataset_id, seq))
        .ignore()
        .cmd("PUBLISH")
        .arg(channel(prefix))
        .arg(format!("P {} {dataset_id} {seq}", cluster.instance));
    pipe
}
