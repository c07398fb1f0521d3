//! Sustained, retried publishing and the ledger checks every scenario ends with.
//!
//! A [`Publisher`] sends numbered batches to one dataset, each with the Idempotency-Key
//! `batch-<n>`, and retries a batch (same key, same body) until the server acknowledges it,
//! whatever happens to the server meanwhile: so every batch it started is acknowledged
//! exactly once when it stops. [`check_ledger`] then proves that the log holds exactly the
//! acknowledged batches, at the acknowledged seqs, gapless, and [`verify_proofs`] that
//! their proofs verify against the pinned key.

use civicproof_tests::support::TestApp;
use civicproof_verify::bundle::{Expect, Trust, verify_bundle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Statuses a retrying client waits out (the server restarting, overloaded or catching up).
fn retryable(status: u16) -> bool {
    matches!(status, 409 | 429 | 502 | 503 | 504)
}

/// What a publisher saw.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Acknowledged batches: their seqs, by batch number.
    pub acked: BTreeMap<u64, Vec<u64>>,
    /// Answers that were retried, by status (0: no answer at all).
    pub retried: BTreeMap<u16, u64>,
    /// Acknowledgements that were replays of an earlier commit (`Idempotent-Replayed`).
    pub replayed: u64,
}

pub struct Publisher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Ledger>,
    pub sent: Arc<AtomicU64>,
}

impl Publisher {
    /// Starts publishing batches `first, first + step, …` of `size` records to
    /// `institution/dataset` at `base`, one every `pace` (zero: as fast as acknowledgements
    /// come).
    pub fn start(
        base: String,
        token: String,
        dataset: &str,
        (first, step): (u64, u64),
        size: usize,
        pace: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let url = format!("{base}/v1/datasets/{dataset}/records");
        let (stop_flag, sent_count) = (stop.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut ledger = Ledger::default();
            let mut n = first;
            while !stop_flag.load(Ordering::SeqCst) {
                let body: Vec<Value> = (0..size)
                    .map(|i| json!({"key": format!("k{}", i % 5), "payload": {"batch": n, "i": i}}))
                    .collect();
                loop {
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("idempotency-key", format!("batch-{n}"))
                        .json(&body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 || r.status() == 200 => {
                            if r.headers().contains_key("idempotent-replayed") {
                                ledger.replayed += 1;
                            }
                            let v: Value = r.json().await.unwrap();
                            let seqs = v["entries"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|e| e["seq"].as_u64().unwrap())
                                .collect();
                            ledger.acked.insert(n, seqs);
                            sent_count.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(r) if retryable(r.status().as_u16()) => {
                            *ledger.retried.entry(r.status().as_u16()).or_default() += 1;
                        }
                        Ok(r) => {
                            let status = r.status();
                            panic!("batch {n}: {status} {}", r.text().await.unwrap_or_default());
                        }
                        Err(_) => *ledger.retried.entry(0).or_default() += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                n += step;
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
            }
            ledger
        });
        Self { stop, task, sent }
    }

    /// Finishes the batch in flight and returns what was acknowledged.
    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// The figures of a ledger check.
#[derive(Debug)]
pub struct Checked {
    pub entries: u64,
    pub lost: u64,
    pub duplicated: u64,
}

/// Reads the whole log and compares it with the acknowledgements of `ledgers`: every
/// acknowledged record present at its acknowledged seq (erased ones included: their seq
/// stays), every other record belonging to no acknowledged batch counted as a duplicate,
/// and the log gapless.
pub async fn check_ledger(app: &TestApp, dataset: &str, ledgers: &[&Ledger]) -> Checked {
    let text = app
        .get(
            &format!("/v1/datasets/{dataset}/records?format=ndjson"),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    // seq -> the batch its payload names (None: erased); erasure entries are left out.
    let mut records: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    let mut entries = 0u64;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let r: Value = serde_json::from_str(line).unwrap();
        let seq = r["envelope"]["seq"].as_u64().unwrap();
        assert_eq!(seq, entries, "the log has a gap or an order break");
        entries += 1;
        if r["envelope"]["kind"] == "record" {
            records.insert(seq, r["payload"]["batch"].as_u64());
        }
    }
    let mut lost = 0;
    for ledger in ledgers {
        for (batch, acked) in &ledger.acked {
            for seq in acked {
                match records.remove(seq) {
                    Some(None) => {}                   // erased since
                    Some(Some(b)) if b == *batch => {} // where it was acknowledged
                    Some(Some(_)) | None => lost += 1,
                }
            }
        }
    }
    // Records that no acknowledgement accounts for: a batch appended twice.
    let duplicated = records.len() as u64;
    Checked {
        entries,
        lost,
        duplicated,
    }
}

/// Fetches and verifies the proof bundle of each of `seqs` against the pinned `trust`
/// (retrying while an entry waits for its checkpoint); returns how many verified.
pub async fn verify_proofs(
    app: &TestApp,
    dataset: &str,
    origin: &str,
    trust: &Trust,
    seqs: impl IntoIterator<Item = u64>,
) -> u64 {
    let mut verified = 0;
    for seq in seqs {
        let path = format!("/v1/datasets/{dataset}/records/{seq}/proof");
        let bytes = loop {
            let r = app.get(&path, None).await;
            if r.status() == 200 {
                break r.bytes().await.unwrap();
            }
            assert!(retryable(r.status().as_u16()), "{path}: {}", r.status());
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let report = verify_bundle(
            &bytes,
            trust,
            &Expect {
                origin: origin.into(),
                seq: Some(seq),
            },
            None,
        );
        assert!(report.ok(), "seq {seq}: {report:?}");
        verified += 1;
    }
    verified
}

/// Every `n`-th seq below `entries`, and the last one.
pub fn sample(entries: u64, n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..entries).step_by(n.max(1) as usize).collect();
    if entries > 0 && v.last() != Some(&(entries - 1)) {
        v.push(entries - 1);
    }
    v
}
