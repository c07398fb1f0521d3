//! Load generator for the ingest and feed benchmarks. It only speaks HTTP to a running
//! server; `bench/ingest_and_feed.sh` starts one and PostgreSQL on this machine.

use clap::Parser;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    server: String,
    /// Publisher token for the dataset.
    #[arg(long)]
    token: String,
    /// `institution/dataset`.
    #[arg(long)]
    dataset: String,
    /// Records to ingest in total.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent publishing clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Skip ingest and only read the feed.
    #[arg(long)]
    feed_only: bool,
}

/// A plausible 1 KB sensor reading.
fn payload(i: usize) -> Value {
    json!({
        "sensor": format!("aq-{:03}", i % 20),
        "ts": format!("2026-11-26T{:02}:{:02}:00Z", (i / 60) % 24, i % 60),
        "pm10": (i % 97) as f64 * 0.7,
        "pm25": (i % 53) as f64 * 0.3,
        "no2": (i % 41) as f64 * 1.1,
        "note": "x".repeat(860),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/datasets/{}/records", args.server, args.dataset);
    if !args.feed_only {
        let batches = args.records.div_ceil(args.batch);
        let bodies: Vec<Vec<u8>> = (0..args.clients.min(batches))
            .map(|c| {
                let records: Vec<Value> = (0..args.batch)
                    .map(|i| json!({"payload": payload(c * args.batch + i)}))
                    .collect();
                serde_json::to_vec(&records).unwrap()
            })
            .collect();
        let size = bodies[0].len() / args.batch;
        let started = Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for body in &bodies {
            let (client, url, token, body, next) = (
                client.clone(),
                url.clone(),
                args.token.clone(),
                body.clone(),
                next.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < batches {
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await?;
                    anyhow::ensure!(
                        r.status() == 201,
                        "publish failed: {} {}",
                        r.status(),
                        r.text().await?
                    );
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let n = batches * args.batch;
        println!(
            "ingest: {n} records ({size} B JSON each, batches of {}, {} clients) in {secs:.2} s = {:.0} records/s",
            args.batch,
            bodies.len(),
            n as f64 / secs
        );
    }
    let started = Instant::now();
    let r = client.get(format!("{url}?format=ndjson")).send().await?;
    anyhow::ensure!(r.status() == 200, "feed failed: {}", r.status());
    let mut stream = r.bytes_stream();
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "feed: {lines} records as NDJSON ({:.0} MB) in {secs:.2} s = {:.0} records/s",
        bytes as f64 / 1e6,
        lines as f64 / secs
    );
    Ok(())
}
