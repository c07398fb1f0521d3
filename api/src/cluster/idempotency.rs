//! The Idempotency-Key fast path across replicas. PostgreSQL keeps the durable record (see
//! `services::publish`); Redis holds, per (dataset, key), either the in-flight lock
//! (`SET NX PX`, so two replicas receiving the same key at once never both proceed) or the
//! final answer for fast replays. When Redis is down every request takes the PostgreSQL
//! path, which is correct on its own.

use crate::services::publish::Replayed;
use crate::state::AppState;

/// What Redis says about a key before the PostgreSQL path runs.
#[derive(Debug)]
pub enum Begin {
    /// Go on (with the lock held when Redis is up).
    Proceed,
    Replay(Replayed),
    Mismatch,
    InFlight,
}

fn redis_key(state: &AppState, dataset_id: i64, key: &str) -> String {
    format!("{}idem:{dataset_id}:{key}", state.cluster.prefix)
}

/// Takes the in-flight lock or reads the answer already given.
pub async fn begin(
    state: &AppState,
    dataset_id: i64,
    key: &str,
    fingerprint: &[u8],
    lease_ms: u64,
) -> Begin {
    let Some(link) = state.cluster.redis() else {
        return Begin::Proceed;
    };
    let rkey = redis_key(state, dataset_id, key);
    let fp = hex::encode(fingerprint);
    let lock = ::redis::cmd("SET")
        .arg(&rkey)
        .arg(format!("L {fp}"))
        .arg("NX")
        .arg("PX")
        .arg(lease_ms)
        .clone();
    match link.query::<Option<String>>(&lock).await {
        Some(Some(_)) => return Begin::Proceed,
        None => return Begin::Proceed,
        Some(None) => {}
    }
    let existing = link
        .query::<Option<String>>(&::redis::cmd("GET").arg(&rkey).clone())
        .await
        .flatten();
    let Some(value) = existing else {
        // Gone between the two commands: PostgreSQL decides.
        return Begin::Proceed;
    };
    let mut parts = value.splitn(4, ' ');
    match (parts.next(), parts.next()) {
        (_, Some(other)) if other != fp => Begin::Mismatch,
        (Some("L"), _) => Begin::InFlight,
        (Some("D"), _) => match (parts.next().and_then(|s| s.parse().ok()), parts.next()) {
            (Some(status), Some(body)) => Begin::Replay(Replayed {
                status,
                body: body.to_owned(),
            }),
            _ => Begin::Proceed,
        },
        _ => Begin::Proceed,
    }
}

/// Stores the final answer (replacing the lock), kept as long as PostgreSQL keeps it.
pub async fn complete(
    state: &AppState,
    dataset_id: i64,
    key: &str,
    fingerprint: &[u8],
    status: u16,
    body: &str,
    ttl_secs: u64,
) {
    let Some(link) = state.cluster.redis() else {
        return;
    };
    let cmd = ::redis::cmd("SET")
        .arg(redis_key(state, dataset_id, key))
        .arg(format!("D {} {status} {body}", hex::encode(fingerprint)))
        .arg("EX")
        .arg(ttl_secs)
        .clone();
    link.query::<()>(&cmd).await;
}

/// Frees the lock after a server-side failure, so a retry may run at once.
pub async fn release(state: &AppState, dataset_id: i64, key: &str, fingerprint: &[u8]) {
    let Some(link) = state.cluster.redis() else {
        return;
    };
    // Hashed once: the script's SHA is what EVALSHA sends.
    static RELEASE: std::sync::LazyLock<::redis::Script> = std::sync::LazyLock::new(|| {
        ::redis::Script::new(
            r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
    });
    let mut inv = RELEASE.prepare_invoke();
    inv.key(redis_key(state, dataset_id, key))
        .arg(format!("L {}", hex::encode(fingerprint)));
    link.invoke::<i64>(inv).await;
}
