//! The MQTT bridge (`civicproof ingest mqtt`) against a real mosquitto and a real server:
//! every message once, in order per topic, bad ones in the dead-letter dataset; and the
//! faults of issue 15: the bridge killed between commit and acknowledgement, the network to
//! the broker cut, the server killed mid-batch, the broker restarted with messages queued.
//!
//! The oracle is always the whole log: per topic the readings `n = 0..N` once each, in order.

use crate::support::{
    Bridge, PrivateBroker, TcpCut, TestApp, bridge_config, publish_all, publish_all_with,
    shared_broker_port, unique,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// `count` readings on each topic, `{"n": i, "pm10": …}`, interleaved across topics.
fn readings(topics: &[String], count: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for n in 0..count {
        for t in topics {
            out.push((
                t.clone(),
                format!("{{\"n\":{n},\"pm10\":{}}}", n % 50).into_bytes(),
            ));
        }
    }
    out
}

/// The dataset's records (the whole feed).
async fn feed(app: &TestApp, token: &str, ds: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/datasets/city/{ds}/records?limit=1000&after={a}"),
            None => format!("/v1/datasets/city/{ds}/records?limit=1000"),
        };
        let page = app.get_json(&path, Some(token)).await;
        let items = page["records"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return out;
        }
        after = Some(items.last().unwrap()["envelope"]["seq"].to_string());
        out.extend(items);
    }
}

/// Waits until the dataset holds `n` entries (or panics with what it holds).
async fn until_count(app: &TestApp, ds: &str, n: i64, bridge: &mut Bridge) {
    for _ in 0..1200 {
        if app.entry_count(ds) >= n {
            return;
        }
        if let Some(code) = bridge.exited() {
            panic!("the bridge exited with {code}:\n{}", bridge.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{ds} holds {} entries, not {n}", app.entry_count(ds));
}

/// Per topic, the readings' `n` in log order; each must be 0..count exactly.
fn assert_once_each_in_order(records: &[Value], topics: &[String], count: usize) {
    let mut by_topic: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in records {
        by_topic
            .entry(r["envelope"]["key"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(r["payload"]["n"].as_u64().unwrap());
    }
    for t in topics {
        let sensor = t.split('/').nth(3).unwrap();
        let got = by_topic.get(sensor).cloned().unwrap_or_default();
        let want: Vec<u64> = (0..count as u64).collect();
        assert_eq!(got, want, "readings of {t}: once each, in order");
    }
    assert_eq!(records.len(), topics.len() * count, "no other records");
}

struct Setup {
    app: TestApp,
    token: String,
    prefix: String,
    topics: Vec<String>,
}

async fn setup(app: TestApp, sensors: usize) -> Setup {
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(
        &token,
        "air",
        "public",
        json!({"schema": {"type": "object", "properties": {"pm10": {"type": "number"}}}}),
    )
    .await;
    let prefix = unique("t");
    let topics = (0..sensors)
        .map(|i| format!("{prefix}/air/x/s{i}/reading"))
        .collect();
    Setup {
        app,
        token,
        prefix,
        topics,
    }
}

fn mapping(prefix: &str) -> String {
    format!(
        "[ingest]\nbatch_linger_ms = 10\n\n[[mapping]]\ntopic = \"{prefix}/air/+/+/reading\"\ndataset = \"city/air\"\nkey = {{ topic_level = 3 }}\n"
    )
}

#[tokio::test]
async fn messages_land_once_each_in_topic_order_and_bad_ones_become_dead_letters() {
    let s = setup(TestApp::spawn().await, 3).await;
    let port = shared_broker_port();
    let client = unique("bridge");
    let config = bridge_config(&s.app, &s.token, port, &client, &mapping(&s.prefix));
    let mut bridge = Bridge::start(&config);
    // The bridge subscribes before anything is published (a fresh session holds nothing).
    until_subscribed(&mut bridge).await;
    let mut messages = readings(&s.topics, 100);
    // A publisher's own QoS 1 resend: the same bytes again on the same topic.
    messages.insert(10, messages[3].clone());
    let bad_topic = format!("{}/air/x/bad/reading", s.prefix);
    for bad in [
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"pm10":"high"}"#.to_vec(),
        br#"{"a":1,"a":2}"#.to_vec(),
        vec![b' '; 70 * 1024],
    ] {
        messages.insert(50, (bad_topic.clone(), bad));
    }
    publish_all(port, &messages).await;
    until_count(&s.app, "air", 300, &mut bridge).await;
    until_count(&s.app, "ingest-errors", 5, &mut bridge).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 100);
    let dead = feed(&s.app, &s.token, "ingest-errors").await;
    let mut reasons: Vec<&str> = dead
        .iter()
        .map(|d| d["payload"]["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "non-json",
            "non-object",
            "oversized",
            "payload-rules",
            "schema"
        ]
    );
    for d in &dead {
        assert_eq!(d["payload"]["topic"], bad_topic.as_str());
        assert_eq!(d["payload"]["channel"], "mqtt");
    }
    // The dead letters are restricted: invisible without the institution's token.
    let r = s.app.get("/v1/datasets/city/ingest-errors", None).await;
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    // The institution's view of them: counts by reason, newest first, filtered.
    let view = s
        .app
        .get_json("/v1/institutions/city/ingest/errors", Some(&s.token))
        .await;
    for reason in [
        "non-json",
        "non-object",
        "oversized",
        "payload-rules",
        "schema",
    ] {
        assert_eq!(view["counts"]["last_hour"][reason], 1, "{reason}: {view}");
        assert_eq!(view["counts"]["last_day"][reason], 1, "{reason}: {view}");
    }
    let errors = view["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5, "{view}");
    assert!(
        errors[0]["seq"].as_u64() > errors[4]["seq"].as_u64(),
        "newest first"
    );
    let page = s
        .app
        .get_json(
            "/v1/institutions/city/ingest/errors?reason=schema&limit=1",
            Some(&s.token),
        )
        .await;
    assert_eq!(page["errors"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["errors"][0]["dead_letter"]["reason"], "schema");
    assert_eq!(
        page["next_before"],
        Value::Null,
        "one schema error: no more pages"
    );
    let r = s.app.get("/v1/institutions/city/ingest/errors", None).await;
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    // How the readings arrived, for the explorer: over MQTT, from the mapping's filter.
    let filter = format!("{}/air/+/+/reading", s.prefix);
    let arrivals = s.app.get_json("/v1/datasets/city/air/arrivals", None).await;
    let list = arrivals["arrivals"].as_array().unwrap();
    assert!(!list.is_empty(), "{arrivals}");
    for a in list {
        assert_eq!(a["channel"], "mqtt");
        assert_eq!(a["source"], filter.as_str());
    }
    let one = s
        .app
        .get_json("/v1/datasets/city/air/arrivals?seq=0", None)
        .await;
    assert_eq!(one["arrivals"][0]["first_seq"], 0, "{one}");
}

/// A free local port for the bridge's metrics.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The bridge's Prometheus metrics, as `name{labels}` → value.
async fn scrape(port: u16) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the bridge serves its metrics")
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Waits until the broker acknowledged the bridge's subscription (it logs each SUBACK), so
/// that what is published next reaches it.
async fn until_subscribed(bridge: &mut Bridge) {
    for _ in 0..200 {
        if bridge.log().contains("subscription acknowledged") {
            return;
        }
        if let Some(code) = bridge.exited() {
            panic!("the bridge exited with {code}:\n{}", bridge.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bridge did not connect:\n{}", bridge.log());
}

#[tokio::test]
async fn a_bridge_killed_mid_stream_and_a_cut_network_lose_and_duplicate_nothing() {
    let s = setup(TestApp::spawn().await, 4).await;
    let cut = TcpCut::start(shared_broker_port()).await;
    let client = unique("bridge");
    let config = bridge_config(&s.app, &s.token, cut.port, &client, &mapping(&s.prefix));
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    let all = readings(&s.topics, 200);
    let chunks: Vec<Vec<(String, Vec<u8>)>> = all.chunks(100).map(|c| c.to_vec()).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        publish_all(shared_broker_port(), chunk).await;
        match i % 4 {
            // Killed between commits and acknowledgements, whatever it held.
            1 => {
                tokio::time::sleep(Duration::from_millis(20 + 10 * i as u64)).await;
                bridge.kill9();
                bridge.start_again();
            }
            // The network to the broker cut for a while.
            3 => {
                cut.cut();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                cut.restore();
            }
            _ => {}
        }
    }
    until_count(&s.app, "air", 800, &mut bridge).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 200);
    assert_eq!(s.app.entry_count("ingest-errors"), 0, "no dead letters");
}

#[tokio::test]
async fn a_server_killed_mid_batch_loses_and_duplicates_nothing() {
    let s = setup(TestApp::spawn_process_with(|_| {}).await, 4).await;
    let mut app = s.app;
    let client = unique("bridge");
    let port = shared_broker_port();
    let config = bridge_config(&app, &s.token, port, &client, &mapping(&s.prefix));
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    let all = readings(&s.topics, 150);
    let publisher = tokio::spawn(async move { publish_all(port, &all).await });
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.kill9();
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.start_again().await;
    }
    publisher.await.unwrap();
    until_count(&app, "air", 600, &mut bridge).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_once_each_in_order(&feed(&app, &s.token, "air").await, &s.topics, 150);
}

#[tokio::test]
async fn a_broker_restart_keeps_the_session_and_delivers_what_it_queued() {
    let s = setup(TestApp::spawn().await, 2).await;
    let mut broker = PrivateBroker::start().await;
    let client = unique("bridge");
    let config = bridge_config(&s.app, &s.token, broker.port, &client, &mapping(&s.prefix));
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    let all = readings(&s.topics, 300);
    publish_all(broker.port, &all[..200]).await;
    // The bridge goes away; the broker queues for its session, then restarts.
    bridge.kill9();
    publish_all(broker.port, &all[200..]).await;
    broker.stop();
    broker.start_again().await;
    bridge.start_again();
    until_count(&s.app, "air", 600, &mut bridge).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 300);
    assert!(
        !bridge.log().contains("kept no session"),
        "the session survived the restart:\n{}",
        bridge.log()
    );
}

#[tokio::test]
async fn a_bridge_refuses_a_bad_configuration_or_an_admin_token_before_connecting() {
    let s = setup(TestApp::spawn().await, 1).await;
    let port = shared_broker_port();
    let run = |config: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            crate::support::civicproof_command()
                .args(["ingest", "mqtt", "--config"])
                .arg(&config)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let overlapping = format!(
        "{}\n[[mapping]]\ntopic = \"{}/air/x/s1/reading\"\ndataset = \"city/air\"\n",
        mapping(&s.prefix),
        s.prefix
    );
    let out = run(bridge_config(
        &s.app,
        &s.token,
        port,
        &unique("c"),
        &overlapping,
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("overlaps"), "{err}");
    let typo = mapping(&s.prefix).replace("batch_linger_ms", "batch_lingr_ms");
    let out = run(bridge_config(&s.app, &s.token, port, &unique("c"), &typo)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("batch_lingr_ms") && err.contains("line"),
        "{err}"
    );
    let admin = crate::support::ADMIN_TOKEN;
    let out = run(bridge_config(
        &s.app,
        admin,
        port,
        &unique("c"),
        &mapping(&s.prefix),
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("admin token"), "{err}");
    // Dead letters copy raw messages: a public dead-letter dataset is refused.
    s.app
        .dataset(&s.token, "open-errors", "public", json!({}))
        .await;
    let public_dl = mapping(&s.prefix).replace(
        "batch_linger_ms = 10",
        "batch_linger_ms = 10\ndead_letters = \"city/open-errors\"",
    );
    let out = run(bridge_config(
        &s.app,
        &s.token,
        port,
        &unique("c"),
        &public_dl,
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("must be restricted"), "{err}");
    let missing = mapping(&s.prefix).replace("city/air", "city/nothing");
    let out = run(bridge_config(
        &s.app,
        &s.token,
        port,
        &unique("c"),
        &missing,
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("city/nothing"), "{err}");
}

#[tokio::test]
async fn batches_above_the_server_s_limit_are_sent_in_halves_and_the_metrics_say_so() {
    // The server takes at most 16 records per request; the bridge gathers up to 1,000.
    let s = setup(
        TestApp::spawn_with(|c| c.limits.max_batch_records = 16).await,
        2,
    )
    .await;
    let port = shared_broker_port();
    let metrics = free_port();
    let client = unique("bridge");
    let rest = mapping(&s.prefix).replace(
        "batch_linger_ms = 10",
        &format!("batch_linger_ms = 300\nmetrics_bind = \"127.0.0.1:{metrics}\""),
    );
    let config = bridge_config(&s.app, &s.token, port, &client, &rest);
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    publish_all(port, &readings(&s.topics, 100)).await;
    until_count(&s.app, "air", 200, &mut bridge).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 100);
    assert_eq!(
        s.app.entry_count("ingest-errors"),
        0,
        "nothing was dead-lettered for the server's limit"
    );
    let m = scrape(metrics).await;
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    assert!(get("civicproof_ingest_batch_splits_total") >= 1.0, "{m:?}");
    assert_eq!(
        get("civicproof_ingest_messages_total{outcome=\"appended\"}"),
        200.0,
        "{m:?}"
    );
    assert_eq!(get("civicproof_ingest_connected"), 1.0);
    assert_eq!(get("civicproof_ingest_unacked"), 0.0, "all acknowledged");
    assert_eq!(
        get("civicproof_ingest_pending_bytes"),
        0.0,
        "all memory given back"
    );
    assert!(
        !m.keys()
            .any(|k| k.starts_with("civicproof_ingest_dead_letters_total{")),
        "no dead letters: {m:?}"
    );
    bridge.stop();
}

#[tokio::test]
async fn a_qos0_flood_larger_than_the_memory_budget_stalls_reading_and_loses_nothing() {
    let s = setup(TestApp::spawn().await, 2).await;
    let port = shared_broker_port();
    let metrics = free_port();
    let client = unique("bridge");
    // 256 KiB of budget; each 2 KB message costs about 6.5 KiB, so about 40 fit while the
    // lanes linger 300 ms over their batches.
    let rest = mapping(&s.prefix).replace(
        "batch_linger_ms = 10",
        &format!(
            "batch_linger_ms = 300\nmax_pending_bytes = 262144\nmetrics_bind = \"127.0.0.1:{metrics}\""
        ),
    );
    let config = bridge_config(&s.app, &s.token, port, &client, &rest);
    let config_text = std::fs::read_to_string(&config).unwrap().replace(
        "keep_alive_secs = 5\n",
        "keep_alive_secs = 5\nmax_packet_bytes = 131072\n",
    );
    std::fs::write(&config, config_text).unwrap();
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    let pad = "x".repeat(2000);
    let messages: Vec<(String, Vec<u8>)> = readings(&s.topics, 200)
        .into_iter()
        .map(|(t, p)| {
            let mut v: Value = serde_json::from_slice(&p).unwrap();
            v["pad"] = json!(pad);
            (t, serde_json::to_vec(&v).unwrap())
        })
        .collect();
    publish_all_with(port, &messages, rumqttc::QoS::AtMostOnce).await;
    until_count(&s.app, "air", 400, &mut bridge).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 200);
    let m = scrape(metrics).await;
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    assert!(
        get("civicproof_ingest_stalls_total") >= 1.0,
        "the budget ran out at least once: {m:?}"
    );
    assert_eq!(get("civicproof_ingest_pending_bytes"), 0.0, "{m:?}");
    bridge.stop();
}

#[tokio::test]
async fn over_mqtt_5_with_tls_a_client_certificate_and_a_password_messages_land_once_each() {
    let s = setup(TestApp::spawn().await, 2).await;
    // This broker takes nothing but TLS with a certificate of its CA, and a password.
    let broker = PrivateBroker::start_tls().await;
    let client = unique("bridge");
    let config = bridge_config(&s.app, &s.token, broker.port, &client, &mapping(&s.prefix));
    let plain = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &plain,
        &format!(
            "url = \"mqtts://127.0.0.1:{}\"\nprotocol = \"5\"\nusername = \"bridge\"\npassword_file = \"{}\"",
            broker.port,
            broker.tls_file("password").display()
        ),
    ) + &format!(
        "\n[broker.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        broker.tls_file("ca.crt").display(),
        broker.tls_file("client.crt").display(),
        broker.tls_file("client.key").display()
    );
    std::fs::write(&config, text).unwrap();
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    // mosquitto_pub over TLS, one message per line, one process per topic (its own order).
    for topic in &s.topics {
        let lines: String = (0..50)
            .map(|n| format!("{{\"n\":{n},\"pm10\":{n}}}\n"))
            .collect();
        let mut child = std::process::Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port.to_string(),
                "-q",
                "1",
                "-l",
            ])
            .args(["-u", "bridge", "-P", "secret", "-t", topic])
            .arg("--cafile")
            .arg(broker.tls_file("ca.crt"))
            .arg("--cert")
            .arg(broker.tls_file("client.crt"))
            .arg("--key")
            .arg(broker.tls_file("client.key"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("mosquitto_pub (apt-get install mosquitto-clients)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "mosquitto_pub over TLS");
    }
    until_count(&s.app, "air", 100, &mut bridge).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 50);
    assert!(
        bridge.log().contains("connected to the broker"),
        "{}",
        bridge.log()
    );
    bridge.stop();
}

#[tokio::test]
async fn a_message_committed_but_never_acknowledged_comes_again_and_is_replayed_not_appended() {
    let s = setup(TestApp::spawn().await, 2).await;
    let cut = TcpCut::start(shared_broker_port()).await;
    let metrics = free_port();
    let client = unique("bridge");
    let rest = mapping(&s.prefix).replace(
        "batch_linger_ms = 10",
        &format!("batch_linger_ms = 10\nmetrics_bind = \"127.0.0.1:{metrics}\""),
    );
    let config = bridge_config(&s.app, &s.token, cut.port, &client, &rest);
    let mut bridge = Bridge::start(&config);
    until_subscribed(&mut bridge).await;
    // The bridge's acknowledgements never reach the broker from now on.
    cut.mute_client();
    publish_all(shared_broker_port(), &readings(&s.topics, 10)).await;
    until_count(&s.app, "air", 20, &mut bridge).await;
    // Committed, never acknowledged: on the next connection the broker sends all 20 again.
    cut.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut.restore();
    let mut replayed = 0.0;
    for _ in 0..200 {
        let m = scrape(metrics).await;
        replayed = m
            .get("civicproof_ingest_messages_total{outcome=\"replayed\"}")
            .copied()
            .unwrap_or(0.0);
        if replayed >= 20.0 && m.get("civicproof_ingest_unacked") == Some(&0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        replayed, 20.0,
        "every redelivered message was answered as a replay"
    );
    assert_once_each_in_order(&feed(&s.app, &s.token, "air").await, &s.topics, 10);
    bridge.stop();
}
