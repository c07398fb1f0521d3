//! SSE fan-out latency: `clients` streams follow one dataset while records are published one
//! at a time; each record carries its send time, each client notes when it arrived.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub async fn run(
    server: &str,
    dataset: &str,
    token: &str,
    clients: usize,
    records: usize,
    interval_ms: u64,
) -> anyhow::Result<()> {
    let events_url = format!("{server}/v1/datasets/{dataset}/events");
    let records_url = format!("{server}/v1/datasets/{dataset}/records");
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<u64>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    for _ in 0..clients {
        let (url, lat_tx, ready_tx) = (events_url.clone(), lat_tx.clone(), ready_tx.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let Ok(resp) = client.get(&url).send().await else {
                return;
            };
            let mut stream = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            let mut ready = false;
            let mut seen = 0;
            while let Some(Ok(chunk)) = stream.next().await {
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buf.drain(..i + 2).collect();
                    let text = String::from_utf8_lossy(&block);
                    if !ready {
                        ready = true;
                        let _ = ready_tx.send(());
                    }
                    if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                        let arrived = now_us();
                        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                        if let Some(t) = v["payload"]["t"].as_u64() {
                            let _ = lat_tx.send(arrived.saturating_sub(t));
                        }
                        seen += 1;
                        if seen == records {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(lat_tx);
    for _ in 0..clients {
        ready_rx
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("a client failed to connect"))?;
    }
    println!(
        "{clients} clients connected; publishing {records} records, one every {interval_ms} ms"
    );
    let http = reqwest::Client::new();
    for i in 0..records {
        let body = json!([{"payload": {"i": i, "t": now_us()}}]);
        let r = http
            .post(&records_url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().as_u16() == 201, "publish: {}", r.status());
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    let mut lat = Vec::with_capacity(clients * records);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lat.len() < clients * records {
        match tokio::time::timeout_at(deadline, lat_rx.recv()).await {
            Ok(Some(l)) => lat.push(l),
            _ => break,
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    anyhow::ensure!(!lat.is_empty(), "no deliveries");
    println!(
        "SSE fan-out, {clients} clients: {} of {} deliveries, publish→delivery p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        clients * records,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
