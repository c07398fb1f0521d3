//! Witness cosigning, the log's side (C2SP tlog-witness; PROTOCOL.md section 10): every
//! checkpoint this process signs is submitted to each configured witness with a consistency
//! proof from the size that witness last cosigned, and the `cosignature/v1` lines it returns
//! are appended to the stored note, so every route that serves the note serves them.
//!
//! Witnesses never hold up publishing or signing: each witness has its own task and a queue that
//! keeps only the newest checkpoint per dataset, requests time out, and a witness that is down
//! just means fewer cosignatures. A refusal (a fork or rollback the witness saw, an unknown log,
//! a bad signature) is an `ALERT` log line and a metric, never a silent drop.

use crate::cache::TtlCache;
pub use crate::config::{WitnessEndpoint, parse_endpoints};
use crate::log::{nodes, tree};
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use civicproof_schema::Pool;
use civicproof_schema::queries::checkpoints::{self as q, Appended, CheckpointRow};
use civicproof_verify::cosignature;
use civicproof_verify::merkle::Hash;
use civicproof_verify::note;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Cosignatures are appended to a checkpoint only this long after it was signed; the signer
/// stores the end of the window with the checkpoint (`cosign_until`).
pub const COSIGN_WINDOW: Duration = Duration::from_secs(30);
/// How long after its window a note is taken as settled (never to change again, so bundles and
/// checkpoints built on it may be cached as immutable): room for clocks of replicas that
/// disagree by up to this much.
pub const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(60);
/// At most one alert line per witness and dataset in this interval (the metric counts all).
const ALERT_EVERY: Duration = Duration::from_secs(60);
/// Submissions in flight to one witness at a time: enough that a slow witness and many datasets
/// do not serialize behind each other's timeouts, few enough not to flood it.
const IN_FLIGHT_PER_WITNESS: usize = 4;

/// Whether a checkpoint's note can gain no more cosignatures, from its stored `cosign_until`
/// (set by whichever process signed it): every replica agrees, whatever its own witness
/// configuration.
pub fn is_settled(cosign_until: Option<DateTime<Utc>>) -> bool {
    match cosign_until {
        None => true,
        Some(until) => {
            Utc::now()
                .signed_duration_since(until)
                .to_std()
                .unwrap_or_default()
                > CLOCK_SKEW_MARGIN
        }
    }
}

/// The handle the signer hands new checkpoints to.
#[derive(Clone)]
pub struct Witnessing {
    queues: Arc<Vec<Arc<Queue>>>,
}

/// Newest unsubmitted checkpoint per dataset, for one witness.
#[derive(Default)]
struct Queue {
    pending: Mutex<HashMap<i64, (CheckpointRow, String)>>,
    ready: Notify,
}

/// What a witness task needs.
#[derive(Clone)]
pub struct Submitter {
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
    pub latest_checkpoints: Arc<TtlCache<i64, CheckpointRow>>,
    pub timeout: Duration,
}

impl Witnessing {
    /// Starts one task per witness; they stop when `shutdown` fires.
    pub fn start(
        endpoints: Vec<WitnessEndpoint>,
        submitter: Submitter,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Witnessing {
        let queues: Vec<Arc<Queue>> = endpoints
            .into_iter()
            .map(|endpoint| {
                let queue = Arc::new(Queue::default());
                tokio::spawn(run_witness(
                    endpoint,
                    queue.clone(),
                    submitter.clone(),
                    shutdown.clone(),
                ));
                queue
            })
            .collect();
        Witnessing {
            queues: Arc::new(queues),
        }
    }

    /// Queues freshly committed checkpoints (with their origins) for every witness.
    pub fn submit(&self, signed: &[(CheckpointRow, String)]) {
        for queue in self.queues.iter() {
            let mut pending = queue.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (row, origin) in signed.iter().filter(|(r, _)| r.size > 0) {
                pending.insert(row.dataset_id, (row.clone(), origin.clone()));
            }
            drop(pending);
            queue.ready.notify_one();
        }
    }
}

/// One witness's loop: drain its queue, a request per dataset (in no particular order).
async fn run_witness(
    endpoint: WitnessEndpoint,
    queue: Arc<Queue>,
    s: Submitter,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(s.timeout)
        .pool_max_idle_per_host(2)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(witness = %endpoint.witness.name, error = %e, "cannot build the witness HTTP client");
            return;
        }
    };
    let state = WitnessState::default();
    loop {
        tokio::select! {
            () = queue.ready.notified() => {}
            _ = shutdown.changed() => return,
        }
        let batch: Vec<(CheckpointRow, String)> = {
            let mut pending = queue.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().map(|(_, v)| v).collect()
        };
        // One dataset appears once in a batch, so concurrent submissions never race on the same
        // log's witness state.
        let (endpoint, client, s, state) = (&endpoint, &client, &s, &state);
        let stopping = shutdown.clone();
        futures_util::stream::iter(batch)
            .for_each_concurrent(IN_FLIGHT_PER_WITNESS, |(row, origin)| {
                let stopping = stopping.clone();
                async move {
                    if !*stopping.borrow() {
                        submit(endpoint, client, s, state, &row, &origin).await;
                    }
                }
            })
            .await;
        if *shutdown.borrow() {
            return;
        }
    }
}

/// What a witness task remembers between checkpoints.
#[derive(Default)]
struct WitnessState {
    /// The size this witness last cosigned, per dataset (learned from its answers).
    known: Mutex<HashMap<i64, u64>>,
    /// When an alert was last logged, per dataset.
    alerted: Mutex<HashMap<i64, Instant>>,
}

impl WitnessState {
    fn known(&self, dataset_id: i64) -> u64 {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(&dataset_id).copied().unwrap_or(0)
    }

    fn learn(&self, dataset_id: i64, size: u64) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(dataset_id, size);
    }

    /// The witness may now be anywhere: ask it again next time.
    fn forget(&self, dataset_id: i64) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(&dataset_id);
    }

    fn should_alert(&self, dataset_id: i64) -> bool {
        let now = Instant::now();
        let mut alerted = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        match alerted.get(&dataset_id) {
            Some(t) if now.duration_since(*t) < ALERT_EVERY => false,
            _ => {
                alerted.insert(dataset_id, now);
                true
            }
        }
    }
}

/// Submits one checkpoint; on a 409 learns the witness's size and retries once.
async fn submit(
    endpoint: &WitnessEndpoint,
    client: &reqwest::Client,
    s: &Submitter,
    state: &WitnessState,
    row: &CheckpointRow,
    origin: &str,
) {
    let size = row.size as u64;
    let name = endpoint.witness.name.as_str();
    for attempt in 0..2 {
        let old = state.known(row.dataset_id);
        if old > size {
            // The witness has seen a larger tree than this checkpoint: a newer one is (or was)
            // on its way; a rollback shows as the witness being ahead of our newest size.
            check_not_ahead(endpoint, s, state, row, origin, old).await;
            return;
        }
        let outcome = match request(endpoint, client, s, row, old).await {
            Ok(outcome) => outcome,
            Err(e) => {
                count(s, name, "unavailable");
                if state.should_alert(row.dataset_id) {
                    tracing::warn!(witness = name, origin, size, error = %e, "witness unavailable; the checkpoint goes without its cosignature");
                }
                return;
            }
        };
        match outcome {
            Answer::Cosigned(body) => {
                store_cosignature(endpoint, s, state, row, origin, &body).await;
                return;
            }
            // Learn the witness's size; try once more with a proof from it.
            Answer::Conflict(theirs) => {
                count(s, name, "conflict");
                state.learn(row.dataset_id, theirs);
                if attempt > 0 {
                    return;
                }
            }
            Answer::Refused(status, body) => {
                let outcome = match status {
                    422 => "refused_inconsistent",
                    404 => "refused_unknown_log",
                    403 => "refused_signature",
                    400 => "refused_bad_request",
                    _ => "unavailable",
                };
                count(s, name, outcome);
                state.forget(row.dataset_id);
                if state.should_alert(row.dataset_id) {
                    if outcome == "unavailable" {
                        tracing::warn!(
                            witness = name,
                            origin,
                            size,
                            status,
                            "witness answered an error; the checkpoint goes without its cosignature"
                        );
                    } else {
                        tracing::error!(witness = name, origin, size, old, status, answer = %body, "ALERT: witness refused to cosign a checkpoint");
                    }
                }
                return;
            }
        }
    }
}

/// What a witness answered.
enum Answer {
    Cosigned(String),
    Conflict(u64),
    Refused(u16, String),
}

async fn request(
    endpoint: &WitnessEndpoint,
    client: &reqwest::Client,
    s: &Submitter,
    row: &CheckpointRow,
    old: u64,
) -> anyhow::Result<Answer> {
    let size = row.size as u64;
    let proof: Vec<Hash> = if old == 0 || old == size {
        Vec::new()
    } else {
        let dataset_id = row.dataset_id;
        crate::db::run(&s.pool, move |conn| {
            nodes::eval(conn, None, dataset_id, &tree::consistency(old, size))
        })
        .await
        .map_err(|e| anyhow::anyhow!("consistency proof {old} → {size}: {e}"))?
    };
    let body = civicproof_witness::request::format(old, &proof, &row.note);
    let response = client
        .post(format!("{}/add-checkpoint", endpoint.url))
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    // Witness answers are a few lines; anything longer is not one.
    let text = read_limited(response, 16 * 1024).await?;
    Ok(match status {
        200 => Answer::Cosigned(text),
        409 => match cosignature::parse_size_line(&text) {
            Some(n) => Answer::Conflict(n),
            None => Answer::Refused(409, text),
        },
        other => Answer::Refused(other, text.chars().take(300).collect()),
    })
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> anyhow::Result<String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        out.extend_from_slice(&chunk);
        anyhow::ensure!(out.len() <= limit, "answer longer than {limit} bytes");
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Verifies the answer's lines of this witness and appends them to the stored note.
async fn store_cosignature(
    endpoint: &WitnessEndpoint,
    s: &Submitter,
    state: &WitnessState,
    row: &CheckpointRow,
    origin: &str,
    body: &str,
) {
    let name = endpoint.witness.name.as_str();
    // The answer's lines appended to our note must parse and verify as this witness's
    // cosignature; lines of other keys are ignored (tlog-witness).
    let joined = format!("{}{body}", row.note);
    let ours: Option<String> = note::parse(joined.as_bytes()).ok().and_then(|parsed| {
        let id = endpoint.witness.key_id();
        let line = parsed
            .signatures
            .iter()
            .find(|l| l.name == endpoint.witness.name && l.key_id == id)?;
        let only = note::Note {
            text: parsed.text.clone(),
            signatures: vec![line.clone()],
        };
        let verified = endpoint.witness.verify(&only).ok().flatten();
        verified.map(|_| note::signature_line(line))
    });
    let Some(line) = ours else {
        count(s, name, "invalid_cosignature");
        if state.should_alert(row.dataset_id) {
            tracing::error!(
                witness = name,
                origin,
                size = row.size,
                "ALERT: witness answered 200 without a valid cosignature by its pinned key"
            );
        }
        return;
    };
    state.learn(row.dataset_id, row.size as u64);
    let (dataset_id, size) = (row.dataset_id, row.size);
    let marker = format!("\u{2014} {name} ");
    let stored = crate::db::run(&s.pool, move |conn| {
        // The window is judged when the line is written, not when the answer arrived.
        Ok(q::append_cosignature(
            conn,
            dataset_id,
            size,
            &line,
            &marker,
            Utc::now(),
        )?)
    })
    .await;
    match stored {
        Ok(Appended::Appended) => {
            count(s, name, "cosigned");
            s.metrics
                .witness_last_cosigned
                .with_label_values(&[name])
                .set(Utc::now().timestamp());
            // The next reader loads the note with this line from the database.
            s.latest_checkpoints.remove(&dataset_id);
        }
        Ok(Appended::AlreadyThere) => count(s, name, "duplicate"),
        Ok(Appended::WindowClosed) => count(s, name, "late"),
        Ok(Appended::Contended) => count(s, name, "store_failed"),
        Err(e) => {
            count(s, name, "store_failed");
            tracing::warn!(witness = name, origin, size, error = %e, "could not store a cosignature");
        }
    }
}

/// The witness claims size `theirs` > the checkpoint we submit. If that is more than anything
/// this log ever signed, the log was rolled back (or forked) behind the witness's back.
async fn check_not_ahead(
    endpoint: &WitnessEndpoint,
    s: &Submitter,
    state: &WitnessState,
    row: &CheckpointRow,
    origin: &str,
    theirs: u64,
) {
    let dataset_id = row.dataset_id;
    let newest = crate::db::run(&s.pool, move |conn| Ok(q::latest(conn, dataset_id)?)).await;
    let newest = match newest {
        Ok(Some(cp)) => cp.size as u64,
        Ok(None) => 0,
        Err(_) => return,
    };
    if theirs > newest {
        let name = endpoint.witness.name.as_str();
        count(s, name, "witness_ahead");
        if state.should_alert(dataset_id) {
            tracing::error!(
                witness = name,
                origin,
                witness_size = theirs,
                newest_signed = newest,
                "ALERT: a witness has cosigned a larger tree than this log's newest checkpoint: the log was rolled back or forked"
            );
        }
        // Ask again next time: the witness's view is the one to learn.
        state.forget(dataset_id);
    }
}

fn count(s: &Submitter, witness: &str, outcome: &str) {
    s.metrics
        .witness_submissions
        .with_label_values(&[witness, outcome])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_refuse_what_they_must() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let vkey = cosignature::vkey("w.example/1", &key.verifying_key().to_bytes());
        let parsed = parse_endpoints(&format!(" {vkey} http://127.0.0.1:7380/ , ")).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].url, "http://127.0.0.1:7380");
        assert_eq!(parsed[0].witness.name, "w.example/1");
        assert!(parse_endpoints("").unwrap().is_empty());
        let renamed = cosignature::vkey("w.example/2", &key.verifying_key().to_bytes());
        for bad in [
            vkey.clone(),
            format!("{vkey} ftp://x"),
            format!("{vkey} http://a, {vkey} http://b"),
            format!("{vkey} http://a, {renamed} http://b"),
            "w+00000000+AAAA http://a".to_owned(),
        ] {
            assert!(parse_endpoints(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkpoints_settle_after_their_window_and_the_skew_margin() {
        let secs = chrono::Duration::seconds;
        assert!(is_settled(None));
        assert!(!is_settled(Some(Utc::now() + secs(30))));
        // Closed, but a replica whose clock is ahead might still have appended.
        assert!(!is_settled(Some(Utc::now() - secs(30))));
        assert!(is_settled(Some(Utc::now() - secs(61))));
    }
}
