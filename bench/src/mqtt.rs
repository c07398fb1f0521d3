//! MQTT ingest through the bridge (`bench/mqtt.sh`): publishers on several connections send
//! sensor readings with QoS 1 to a broker the bridge follows.
//!
//! - Throughput: `messages` as fast as the broker takes them; the figure is messages over the
//!   time from the first publish until the dataset holds them all.
//! - Latency (`--rate`): a steady rate; each reading carries its publish time, and an SSE
//!   follower of the dataset (events are sent after commit) notes its arrival, so the figure
//!   is publish → committed → observed.

use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub struct Load {
    pub broker_port: u16,
    pub prefix: String,
    pub messages: usize,
    pub topics: usize,
    pub connections: usize,
    /// Messages per second in all; 0 for as fast as possible.
    pub rate: u64,
}

/// Publishes `load.messages` readings, round-robin over topics, split over connections.
async fn publish(load: &Load) -> anyhow::Result<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let per_conn = load.messages.div_ceil(load.connections);
    let mut tasks = Vec::new();
    for c in 0..load.connections {
        let first = c * per_conn;
        let last = ((c + 1) * per_conn).min(load.messages);
        if first >= last {
            break;
        }
        let (prefix, topics, port) = (load.prefix.clone(), load.topics, load.broker_port);
        let rate = if load.rate == 0 {
            0
        } else {
            (load.rate / load.connections as u64).max(1)
        };
        tasks.push(tokio::spawn(async move {
            let mut opts = MqttOptions::new(format!("bench-pub-{c}-{}", now_us()), "127.0.0.1", port);
            opts.set_keep_alive(Duration::from_secs(60)).set_inflight(1000);
            let (client, mut events) = AsyncClient::new(opts, 10_000);
            let total = last - first;
            let poller = tokio::spawn(async move {
                let mut acked = 0;
                while acked < total {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("publisher {c}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                events
            });
            let started = Instant::now();
            for (k, i) in (first..last).enumerate() {
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(k as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let t = i % topics;
                let body = format!(
                    "{{\"n\":{},\"sensor\":\"s{t}\",\"pm10\":{}.{},\"pm25\":{}.{},\"no2\":{},\"t\":{}}}",
                    i / topics,
                    i % 90,
                    i % 10,
                    i % 40,
                    i % 7,
                    i % 120,
                    now_us()
                );
                client
                    .publish(format!("{prefix}/air/s{t}/reading"), QoS::AtLeastOnce, false, body)
                    .await
                    .expect("publish queued");
            }
            let events = poller.await.expect("poller");
            let _ = client.disconnect().await;
            drop(events);
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

async fn entry_count(http: &reqwest::Client, server: &str, dataset: &str) -> anyhow::Result<u64> {
    let v: Value = http
        .get(format!("{server}/v1/datasets/{dataset}"))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["entry_count"].as_u64().unwrap_or(0))
}

pub async fn run(server: &str, dataset: &str, load: Load) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let before = entry_count(&http, server, dataset).await?;
    let target = before + load.messages as u64;
    // The follower: one SSE stream of the dataset, noting each record's publish → arrival.
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<u64>();
    if load.rate > 0 {
        let url = format!("{server}/v1/datasets/{dataset}/events");
        let resp = http.get(&url).send().await?;
        tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buf.drain(..i + 2).collect();
                    let text = String::from_utf8_lossy(&block);
                    if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                        if let Some(t) = v["payload"]["t"].as_u64() {
                            let _ = lat_tx.send(now_us().saturating_sub(t));
                        }
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let started = Instant::now();
    publish(&load).await?;
    let published = started.elapsed();
    loop {
        let n = entry_count(&http, server, dataset).await?;
        if n >= target {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            anyhow::bail!(
                "only {} of {} records after 15 minutes",
                n - before,
                load.messages
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = started.elapsed();
    println!(
        "mqtt: {} messages on {} topics over {} connections{}: published in {:.2} s, all committed after {:.2} s = {:.0} messages/s",
        load.messages,
        load.topics,
        load.connections,
        if load.rate > 0 {
            format!(" at {} msg/s", load.rate)
        } else {
            String::new()
        },
        published.as_secs_f64(),
        all.as_secs_f64(),
        load.messages as f64 / all.as_secs_f64()
    );
    if load.rate > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lat: Vec<u64> = Vec::new();
        while let Ok(l) = lat_rx.try_recv() {
            lat.push(l);
        }
        lat.sort_unstable();
        if lat.is_empty() {
            anyhow::bail!("the follower saw no records");
        }
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        println!(
            "mqtt latency, publish -> committed -> SSE ({} records): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            q(0.5),
            q(0.99),
            q(1.0)
        );
    }
    Ok(())
}
