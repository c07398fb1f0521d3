//! Load generator for civicproof's benchmarks. It speaks HTTP to a running server (and, for
//! the in-process proof figures, reads that server's PostgreSQL database directly).
//! `bench/ingest_and_feed.sh`, `bench/proofs.sh` and `bench/graphql.sh` start the server
//! and call this.

mod events;
mod graphql;
mod mqtt;
mod proofs;
mod tiles;

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Instant;

#[derive(Parser)]
struct Cli {
    /// Server base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:18080")]
    server: String,
    /// `institution/dataset`.
    #[arg(long, global = true, default_value = "city/air")]
    dataset: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish records in batches from concurrent clients.
    Ingest {
        /// Publisher token for the dataset.
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 200_000)]
        records: usize,
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Approximate JSON size of each record (1 KB by default).
        #[arg(long, default_value_t = 1_000)]
        record_bytes: usize,
    },
    /// Read the whole feed as NDJSON.
    Feed,
    /// Proof generation in process and over HTTP, and verification throughput.
    Proofs {
        /// The server's database, for the in-process figures.
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 2_000)]
        count: usize,
        #[arg(long, default_value_t = 20_000)]
        http_count: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// SSE fan-out latency: CLIENTS event streams, RECORDS single-record publishes.
    Events {
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        #[arg(long, default_value_t = 200)]
        records: usize,
        #[arg(long, default_value_t = 20)]
        interval_ms: u64,
    },
    /// MQTT readings through a broker the bridge follows (`bench/mqtt.sh`): throughput, or
    /// with `--rate` the latency from publish to committed record.
    MqttLoad {
        #[arg(long, default_value_t = 1883)]
        broker_port: u16,
        /// Topics are `<prefix>/air/s<i>/reading`.
        #[arg(long, default_value = "bench")]
        prefix: String,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        topics: usize,
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Messages per second in all; 0 for as fast as possible.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Rebuild the dataset's log from its tlog tiles with an outside client (`tlog_tiles`).
    Tiles {
        /// Tile requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Records pages over REST and GraphQL (and PostGraphile's equivalent query, if given).
    Graphql {
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Timed requests per target.
        #[arg(long, default_value_t = 4_000)]
        requests: usize,
        /// Untimed requests per target first.
        #[arg(long, default_value_t = 400)]
        warmup: usize,
        /// Each pass stops after this many seconds even if requests remain.
        #[arg(long, default_value_t = 60.0)]
        max_secs: f64,
        #[arg(long, default_value_t = 100)]
        page: usize,
        /// PostGraphile's GraphQL endpoint, serving the same database.
        #[arg(long, requires = "dataset_id")]
        postgraphile: Option<String>,
        /// The dataset's row id (PostGraphile filters `entries` by it).
        #[arg(long)]
        dataset_id: Option<i64>,
        /// Measure civicproof's GraphQL only (for profiling).
        #[arg(long)]
        graphql_only: bool,
        /// Rounds, each measuring every target in turn; figures are the medians.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

/// A plausible sensor reading padded to about `bytes` of JSON.
fn payload(i: usize, bytes: usize) -> Value {
    json!({
        "sensor": format!("aq-{:03}", i % 20),
        "ts": format!("2026-11-26T{:02}:{:02}:00Z", (i / 60) % 24, i % 60),
        "pm10": (i % 97) as f64 * 0.7,
        "pm25": (i % 53) as f64 * 0.3,
        "no2": (i % 41) as f64 * 1.1,
        "note": "x".repeat(bytes.saturating_sub(140)),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let url = format!("{}/v1/datasets/{}/records", cli.server, cli.dataset);
    match cli.command {
        Command::Ingest {
            token,
            records,
            batch,
            clients,
            record_bytes,
        } => ingest(&url, &token, records, batch, clients, record_bytes).await,
        Command::Feed => feed(&url).await,
        Command::MqttLoad {
            broker_port,
            prefix,
            messages,
            topics,
            connections,
            rate,
        } => {
            let load = mqtt::Load {
                broker_port,
                prefix,
                messages,
                topics,
                connections: connections.max(1),
                rate,
            };
            mqtt::run(&cli.server, &cli.dataset, load).await
        }
        Command::Tiles { concurrency } => {
            tiles::rebuild(&cli.server, &cli.dataset, concurrency).await
        }
        Command::Events {
            token,
            clients,
            records,
            interval_ms,
        } => {
            events::run(
                &cli.server,
                &cli.dataset,
                &token,
                clients,
                records,
                interval_ms,
            )
            .await
        }
        Command::Graphql {
            clients,
            requests,
            warmup,
            max_secs,
            page,
            postgraphile,
            dataset_id,
            graphql_only,
            rounds,
        } => {
            let opts = graphql::Options {
                clients,
                requests,
                warmup,
                max_secs,
                page,
                graphql_only,
                rounds: rounds.max(1),
            };
            let pg = postgraphile.zip(dataset_id);
            graphql::run(&cli.server, &cli.dataset, pg, &opts).await
        }
        Command::Proofs {
            database_url,
            count,
            http_count,
            clients,
        } => {
            let client = reqwest::Client::new();
            let wk: Value = client
                .get(format!("{}/.well-known/civicproof.json", cli.server))
                .send()
                .await?
                .json()
                .await?;
            let ds: Value = client
                .get(format!("{}/v1/datasets/{}", cli.server, cli.dataset))
                .send()
                .await?
                .json()
                .await?;
            let size = ds["entry_count"].as_u64().unwrap_or(0);
            let origin = ds["origin"].as_str().unwrap_or_default().to_owned();
            let dataset_id = dataset_id(&database_url, &cli.dataset)?;
            proofs::in_process(&database_url, dataset_id, size, count)?;
            let bundles =
                proofs::http(&cli.server, &cli.dataset, size, http_count, clients).await?;
            use base64::Engine;
            let key = base64::engine::general_purpose::STANDARD
                .decode(wk["log_public_key"].as_str().unwrap_or_default())?;
            let trust = civicproof_verify::bundle::Trust {
                prefix: wk["origin_prefix"].as_str().unwrap_or_default().to_owned(),
                public_key: key.try_into().map_err(|_| anyhow::anyhow!("bad key"))?,
            };
            proofs::verification(&bundles, &trust, &origin, 50);
            Ok(())
        }
    }
}

fn dataset_id(database_url: &str, dataset: &str) -> anyhow::Result<i64> {
    let (inst, ds) = dataset
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--dataset is institution/dataset"))?;
    let mut conn = civicproof_schema::establish(database_url)?;
    let found = civicproof_schema::queries::datasets::find(
        &mut conn,
        inst,
        ds,
        civicproof_schema::queries::datasets::Visibility::All,
    )?;
    Ok(found
        .ok_or_else(|| anyhow::anyhow!("no dataset {dataset}"))?
        .0
        .id)
}

async fn ingest(
    url: &str,
    token: &str,
    records: usize,
    batch: usize,
    clients: usize,
    record_bytes: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let batches = records.div_ceil(batch);
    let bodies: Vec<Vec<u8>> = (0..clients.min(batches))
        .map(|c| {
            let records: Vec<Value> = (0..batch)
                .map(|i| json!({"payload": payload(c * batch + i, record_bytes)}))
                .collect();
            serde_json::to_vec(&records).expect("JSON")
        })
        .collect();
    let size = bodies[0].len() / batch;
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for body in &bodies {
        let (client, url, token, body, next) = (
            client.clone(),
            url.to_owned(),
            token.to_owned(),
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
    let n = batches * batch;
    println!(
        "ingest: {n} records ({size} B JSON each, batches of {batch}, {} clients) in {secs:.2} s = {:.0} records/s",
        bodies.len(),
        n as f64 / secs
    );
    Ok(())
}

async fn feed(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
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
