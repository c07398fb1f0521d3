//! The bridge's Prometheus metrics (`civicproof_ingest_*`), served at `ingest.metrics_bind`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;

pub struct Metrics {
    pub registry: Registry,
    /// Messages done with, by outcome: appended, replayed (a redelivery), dead_letter,
    /// skipped_retained, unmatched.
    pub messages: IntCounterVec,
    pub dead_letters: IntCounterVec,
    /// Dead letters the dead-letter dataset refused: logged and acknowledged.
    pub dead_letters_lost: IntCounter,
    pub http_retries: IntCounterVec,
    /// Batches the server refused as a whole, sent again in halves.
    pub splits: IntCounter,
    pub reconnects: IntCounter,
    /// Connections on which the broker had kept no session: messages queued for the bridge
    /// while it was away may be gone.
    pub sessions_lost: IntCounter,
    pub connected: IntGauge,
    pub unacked: IntGauge,
    /// Memory held by messages in flight (see `budget.rs`), and how often it ran out.
    pub pending_bytes: IntGauge,
    pub stalls: IntCounter,
    pub batch_records: Histogram,
    pub append_seconds: Histogram,
    /// From a message's arrival at the bridge to its record's commit.
    pub commit_latency: Histogram,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry =
            Registry::new_custom(Some("civicproof_ingest".into()), None).expect("valid prefix");
        let counter_vec = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("registered once");
            h
        };
        let seconds = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        Arc::new(Self {
            messages: counter_vec(
                "messages_total",
                "Messages done with, by outcome",
                "outcome",
            ),
            dead_letters: counter_vec("dead_letters_total", "Dead letters, by reason", "reason"),
            dead_letters_lost: counter(
                "dead_letters_lost_total",
                "Dead letters the dead-letter dataset refused",
            ),
            http_retries: counter_vec(
                "http_retries_total",
                "Appends retried, by HTTP status",
                "status",
            ),
            splits: counter(
                "batch_splits_total",
                "Batches refused as a whole and sent again in halves",
            ),
            reconnects: counter("reconnects_total", "Lost broker connections"),
            sessions_lost: counter(
                "sessions_lost_total",
                "Reconnections without the broker's session",
            ),
            connected: gauge("connected", "1 while connected to the broker"),
            unacked: gauge("unacked", "Messages received and not yet acknowledged"),
            pending_bytes: gauge(
                "pending_bytes",
                "Estimated memory held by messages received and not yet done with",
            ),
            stalls: counter(
                "stalls_total",
                "Times the bridge stopped reading from the broker for want of memory",
            ),
            batch_records: histogram(
                "batch_records",
                "Records per append",
                vec![1.0, 10.0, 100.0, 250.0, 500.0, 1000.0, 5000.0],
            ),
            append_seconds: histogram(
                "append_seconds",
                "Time of one append request",
                seconds.clone(),
            ),
            commit_latency: histogram(
                "commit_latency_seconds",
                "From a message's arrival to its record's commit",
                seconds,
            ),
            registry,
        })
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        out
    }
}

/// Serves `/metrics` (any path, really) on `bind` until the process ends.
pub async fn serve(bind: std::net::SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                        .await;
                let body = metrics.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    Ok(())
}
