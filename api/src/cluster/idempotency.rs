//! The Idempotency-Key fast path across replicas. PostgreSQL (or SQLite) keeps the durable
//! answer and decides (see `services::publish`: the key is taken inside the publishing
//! transaction); Redis holds, per (dataset, key), a copy of the final answer for fast
//! replays. When Redis is down every request takes the database path, which is correct on
//! its own.

use super::Cluster;

/// An answer to replay for an Idempotency-Key: status and exact body.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub status: u16,
    pub body: String,
}

/// What Redis knows of a key.
#[derive(Debug)]
pub enum Found {
    /// Nothing: the database decides.
    Nothing,
    Replay(Replayed),
    Mismatch,
}

fn redis_key(cluster: &Cluster, dataset_id: i64, key: &str) -> String {
    format!("{}idem:{dataset_id}:{key}", cluster.prefix)
}

/// The answer already given to `key`, if Redis has it.
pub async fn replay(cluster: &Cluster, dataset_id: i64, key: &str, fingerprint: &[u8]) -> Found {
    let Some(link) = cluster.redis() else {
        return Found::Nothing;
    };
    let rkey = redis_key(cluster, dataset_id, key);
    let Some(value) = link
        .query::<Option<String>>(&::redis::cmd("GET").arg(&rkey).clone())
        .await
        .flatten()
    else {
        return Found::Nothing;
    };
    let mut parts = value.splitn(4, ' ');
    match (parts.next(), parts.next()) {
        (Some("D"), Some(other)) if other != hex::encode(fingerprint) => Found::Mismatch,
        (Some("D"), Some(_)) => match (parts.next().and_then(|s| s.parse().ok()), parts.next()) {
            (Some(status), Some(body)) => Found::Replay(Replayed {
                status,
                body: body.to_owned(),
            }),
            _ => Found::Nothing,
        },
        _ => Found::Nothing,
    }
}

/// Stores the final answer, kept as long as the database keeps it.
pub async fn complete(
    cluster: &Cluster,
    dataset_id: i64,
    key: &str,
    fingerprint: &[u8],
    status: u16,
    body: &str,
    ttl_secs: u64,
) {
    let Some(link) = cluster.redis() else {
        return;
    };
    let cmd = ::redis::cmd("SET")
        .arg(redis_key(cluster, dataset_id, key))
        .arg(format!("D {} {status} {body}", hex::encode(fingerprint)))
        .arg("EX")
        .arg(ttl_secs)
        .clone();
    link.query::<()>(&cmd).await;
}
