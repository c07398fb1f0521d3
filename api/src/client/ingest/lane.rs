//! A lane: records bound for one dataset, batched by count, bytes and a linger time, one
//! batch in flight, so records reach the log in the order they arrived. A batch is sent
//! until the server commits it: network errors and 409/429/5xx are retried with backoff
//! (nothing is acknowledged to the broker meanwhile), records the server refuses (422 at an
//! index) become dead letters and the rest is sent again, which per-record dedup keys make
//! safe. Only 401/403/404 stop the bridge: retrying cannot fix a token.

use super::config::DatasetRef;
use super::metrics::Metrics;
use super::transform::{Reason, Record};
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The longest request body a lane builds (the server's default limit is 32 MiB).
const MAX_BATCH_BYTES: usize = 8 << 20;

/// One message on its way into the log.
#[derive(Debug)]
pub struct Item {
    /// The connection it arrived on, and its place in that connection's arrival order.
    pub epoch: u64,
    pub ordinal: u64,
    pub received: Instant,
    pub topic: String,
    pub record: Record,
    /// The message as it arrived, for a dead letter if the server refuses the record.
    pub raw: Bytes,
    /// About what the record weighs in a request body (its message's size; a dead letter's
    /// own size once it is one), for the batch's byte bound.
    pub size: usize,
    /// Its share of the bridge's memory budget, given back when the item is dropped.
    pub _held: super::budget::Held,
}

/// Messages done with: committed, or dead-lettered and that committed.
#[derive(Debug)]
pub struct Done {
    pub epoch: u64,
    pub ordinals: Vec<u64>,
}

/// Why the bridge must stop.
#[derive(Debug)]
pub struct Fatal(pub String);

/// The server as a lane sees it.
pub struct Api {
    pub http: reqwest::Client,
    pub base: url::Url,
    pub token: String,
}

impl Api {
    pub fn records_url(&self, ds: &DatasetRef) -> String {
        format!(
            "{}/v1/datasets/{}/{}/records",
            self.base.as_str().trim_end_matches('/'),
            ds.institution,
            ds.dataset
        )
    }
}

pub struct Lane {
    pub dataset: DatasetRef,
    /// `Ingest-Source`: the topic filters feeding this dataset (the explorer shows it).
    pub source: String,
    pub api: Arc<Api>,
    pub batch_records: usize,
    pub linger: Duration,
    pub done: mpsc::UnboundedSender<Done>,
    pub fatal: mpsc::UnboundedSender<Fatal>,
    /// Where refused records go; `None` for the dead-letter lane itself.
    pub dead_letters: Option<mpsc::UnboundedSender<Item>>,
    pub metrics: Arc<Metrics>,
}

impl Lane {
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Item>) {
        while let Some(first) = rx.recv().await {
            let deadline = tokio::time::Instant::now() + self.linger;
            let mut bytes = estimate(&first);
            let mut batch = vec![first];
            while batch.len() < self.batch_records && bytes < MAX_BATCH_BYTES {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(item) => {
                            bytes += estimate(&item);
                            batch.push(item);
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            self.send(batch).await;
        }
    }

    /// Sends one batch until every record in it is committed or dead-lettered.
    ///
    /// A refusal of the request as a whole (a 413, a 400 or 415, or a 422 naming no record:
    /// the server's limits may be below the bridge's batch size) halves the records sent per
    /// request, down to one; only a single record the server will never take is given up.
    async fn send(&self, mut batch: Vec<Item>) {
        let mut backoff = Duration::from_millis(100);
        let mut limit = batch.len();
        while !batch.is_empty() {
            let n = limit.min(batch.len());
            let mut body = Vec::with_capacity(n * 256);
            for item in &batch[..n] {
                serde_json::to_writer(&mut body, &item.record.to_json()).expect("JSON");
                body.push(b'\n');
            }
            let started = Instant::now();
            let sent = self
                .api
                .http
                .post(self.api.records_url(&self.dataset))
                .bearer_auth(&self.api.token)
                .header("content-type", "application/x-ndjson")
                .header("ingest-channel", "mqtt")
                .header("ingest-source", &self.source)
                .body(body)
                .send()
                .await;
            let (status, retry_after, answer) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(60)));
                    match resp.bytes().await {
                        Ok(b) => (status, retry_after, b),
                        Err(e) => {
                            self.retry(&mut backoff, None, &format!("reading the answer: {e}"))
                                .await;
                            continue;
                        }
                    }
                }
                Err(e) => {
                    self.retry(&mut backoff, None, &format!("{e}")).await;
                    continue;
                }
            };
            if n > 1 && refuses_the_request(status, &answer) {
                limit = n / 2;
                self.metrics.splits.inc();
                tracing::warn!(status = %status, dataset = %self.dataset, records = n, problem = %problem_text(&answer),
                    "the server refused a batch as a whole; sending it in halves");
                continue;
            }
            let tail = batch.split_off(n);
            match status {
                StatusCode::OK | StatusCode::CREATED => {
                    self.metrics
                        .append_seconds
                        .observe(started.elapsed().as_secs_f64());
                    self.committed(std::mem::replace(&mut batch, tail), &answer);
                    backoff = Duration::from_millis(100);
                    continue;
                }
                StatusCode::UNPROCESSABLE_ENTITY if self.dead_letters.is_some() => {
                    batch = self.refused(batch, &answer);
                }
                StatusCode::UNPROCESSABLE_ENTITY => {
                    batch = self.dead_letters_refused(batch, &answer);
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    let _ = self.fatal.send(Fatal(format!(
                        "{} answered {status} for {}: {}",
                        self.api.base,
                        self.dataset,
                        problem_text(&answer)
                    )));
                    // Nothing more is sent; the bridge exits and nothing here is acknowledged.
                    std::future::pending::<()>().await;
                }
                s if s == StatusCode::CONFLICT
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s.is_server_error() =>
                {
                    self.metrics
                        .http_retries
                        .with_label_values(&[s.as_str()])
                        .inc();
                    self.retry(&mut backoff, retry_after, &problem_text(&answer))
                        .await;
                }
                s => {
                    // 400, 413 or 415 for a single record: the server will never take it.
                    // Dead-letter it (or, in the dead-letter lane, give up on it) rather than
                    // loop forever.
                    tracing::error!(status = %s, dataset = %self.dataset, problem = %problem_text(&answer),
                        "the server refused a record's request as a whole");
                    let detail = format!("HTTP {s}: {}", problem_text(&answer));
                    self.give_up(std::mem::take(&mut batch), &detail);
                }
            }
            batch.extend(tail);
        }
    }

    async fn retry(&self, backoff: &mut Duration, after: Option<Duration>, why: &str) {
        tracing::warn!(dataset = %self.dataset, error = %why, "append failed; retrying");
        let wait = after.unwrap_or(*backoff);
        tokio::time::sleep(wait).await;
        *backoff = (*backoff * 2).min(Duration::from_secs(5));
    }

    fn committed(&self, batch: Vec<Item>, answer: &[u8]) {
        let entries: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let replayed = entries["entries"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|e| e["replayed"] == Value::Bool(true))
                    .count()
            })
            .unwrap_or(0);
        let outcome = if self.dead_letters.is_some() {
            "appended"
        } else {
            "dead_letter"
        };
        self.metrics
            .messages
            .with_label_values(&[outcome])
            .inc_by((batch.len() - replayed) as u64);
        self.metrics
            .messages
            .with_label_values(&["replayed"])
            .inc_by(replayed as u64);
        self.metrics.batch_records.observe(batch.len() as f64);
        for item in &batch {
            self.metrics
                .commit_latency
                .observe(item.received.elapsed().as_secs_f64());
        }
        self.report(batch.into_iter().map(|i| (i.epoch, i.ordinal)).collect());
    }

    fn report(&self, done: Vec<(u64, u64)>) {
        // Grouped by connection; a batch usually holds one.
        let mut groups: Vec<Done> = Vec::new();
        for (epoch, ordinal) in done {
            match groups.last_mut() {
                Some(g) if g.epoch == epoch => g.ordinals.push(ordinal),
                _ => groups.push(Done {
                    epoch,
                    ordinals: vec![ordinal],
                }),
            }
        }
        for g in groups {
            let _ = self.done.send(g);
        }
    }

    /// A 422 to dead letters, record by record: a dead letter whose dedup key is held with
    /// other content was stored by an earlier delivery (acknowledged); one refused otherwise
    /// is counted as lost and acknowledged; the rest is returned to send again. A 422 naming
    /// no record gives up on the whole batch the same way.
    fn dead_letters_refused(&self, batch: Vec<Item>, answer: &[u8]) -> Vec<Item> {
        let problem: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let mut bad: std::collections::BTreeMap<usize, bool> = Default::default();
        for e in problem["errors"].as_array().into_iter().flatten() {
            if let Some(index) = e["index"].as_u64() {
                let held = e["pointer"].as_str().unwrap_or("").ends_with("/dedup_key");
                bad.entry(index as usize).or_insert(held);
            }
        }
        let whole = bad.is_empty();
        let mut rest = Vec::with_capacity(batch.len());
        let mut done = Vec::new();
        for (i, item) in batch.into_iter().enumerate() {
            match bad.get(&i) {
                Some(true) => done.push((item.epoch, item.ordinal)),
                Some(false) => {
                    self.lost(&item, &problem_text(answer));
                    done.push((item.epoch, item.ordinal));
                }
                None if whole => {
                    self.lost(&item, &problem_text(answer));
                    done.push((item.epoch, item.ordinal));
                }
                None => rest.push(item),
            }
        }
        self.report(done);
        rest
    }

    /// A batch the server will never take: each record becomes a dead letter, or, in the
    /// dead-letter lane, is counted lost and acknowledged.
    fn give_up(&self, batch: Vec<Item>, detail: &str) {
        match &self.dead_letters {
            Some(dead) => {
                for item in batch {
                    let _ = dead.send(dead_letter(
                        item,
                        Reason::PayloadRules,
                        detail,
                        &self.dataset,
                        &self.metrics,
                    ));
                }
            }
            None => {
                let mut done = Vec::with_capacity(batch.len());
                for item in &batch {
                    self.lost(item, detail);
                    done.push((item.epoch, item.ordinal));
                }
                self.report(done);
            }
        }
    }

    fn lost(&self, item: &Item, why: &str) {
        self.metrics.dead_letters_lost.inc();
        tracing::error!(topic = %item.topic, why, "the dead-letter dataset refused a dead letter; the message is acknowledged without one");
    }

    /// A 422: the records it names become dead letters; the rest is returned to send again.
    fn refused(&self, batch: Vec<Item>, answer: &[u8]) -> Vec<Item> {
        let problem: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let mut bad: std::collections::BTreeMap<usize, (Reason, String)> = Default::default();
        for e in problem["errors"].as_array().into_iter().flatten() {
            let Some(index) = e["index"].as_u64().map(|i| i as usize) else {
                continue;
            };
            let pointer = e["pointer"].as_str().unwrap_or("");
            let mut detail = e["detail"].as_str().unwrap_or("").to_owned();
            let reason = if pointer.ends_with("/dedup_key") {
                // The server's text names the other record by its place, which differs from
                // one delivery to the next; a dead letter must be the same every time.
                detail = "the message id names a record with other content".into();
                Reason::Dedup
            } else if detail.starts_with("schema") {
                Reason::Schema
            } else if pointer.ends_with("/key") {
                Reason::Key
            } else {
                Reason::PayloadRules
            };
            bad.entry(index).or_insert((reason, detail));
        }
        let dead = self.dead_letters.as_ref().expect("a records lane");
        if bad.is_empty() {
            // A 422 naming no record: the batch as a whole.
            self.give_up(batch, &problem_text(answer));
            return Vec::new();
        }
        let mut rest = Vec::with_capacity(batch.len());
        for (i, item) in batch.into_iter().enumerate() {
            match bad.remove(&i) {
                Some((reason, detail)) => {
                    let _ = dead.send(dead_letter(
                        item,
                        reason,
                        &detail,
                        &self.dataset,
                        &self.metrics,
                    ));
                }
                None => rest.push(item),
            }
        }
        rest
    }
}

/// A refusal of the request as a whole rather than of records in it: a 400, 413 or 415, or a
/// 422 whose errors name no record by index.
fn refuses_the_request(status: StatusCode, answer: &[u8]) -> bool {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE => true,
        StatusCode::UNPROCESSABLE_ENTITY => {
            let problem: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
            !problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["index"].is_u64())
        }
        _ => false,
    }
}

fn estimate(item: &Item) -> usize {
    item.size + 128
}

fn problem_text(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut text = v["detail"]
        .as_str()
        .or(v["title"].as_str())
        .unwrap_or("")
        .to_owned();
    if let Some(first) = v["errors"].as_array().and_then(|e| e.first()) {
        text.push_str(&format!(" ({})", first["detail"].as_str().unwrap_or("")));
    }
    text
}

/// The dead letter of a message: what it was, where it came from and why it was refused.
/// The dead letter's dedup key derives from the message's, so it is stored once too.
pub fn dead_letter(
    item: Item,
    reason: Reason,
    detail: &str,
    dataset: &DatasetRef,
    metrics: &Metrics,
) -> Item {
    metrics
        .dead_letters
        .with_label_values(&[reason.as_str()])
        .inc();
    tracing::warn!(topic = %item.topic, reason = reason.as_str(), detail, "dead letter");
    let payload = super::deadletter::payload(reason, detail, &item.topic, dataset, &item.raw);
    let size = serde_json::to_vec(&payload).map_or(item.size, |v| v.len());
    let dedup_key = item.record.dedup_key.as_ref().map(|k| format!("{k}:dead"));
    Item {
        record: Record {
            key: None,
            dedup_key,
            payload,
        },
        // The dead letter carries its own (cut) copy; the whole message need not wait in
        // memory for it to commit.
        raw: Bytes::new(),
        size,
        ..item
    }
}
