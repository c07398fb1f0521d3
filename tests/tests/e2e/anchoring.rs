//! On-chain anchoring against a real anvil chain (PROTOCOL.md sections 5 and 6): bundles gain a
//! confirmed anchor that the chain itself confirms; the worker survives a chain outage and a
//! reorg without skipping or repeating a batch seq; the identity is fixed once recorded.

use crate::chain::{Anvil, DEV_ADDRESS, RpcProxy, anchor_trust, anchoring, quantity};
use crate::support::TestApp;
use civicproof_verify::bundle::{Expect, Report, Step, StepStatus, Trust, verify_bundle};
use civicproof_verify::chain::{AnchorTrust, HttpRpc};
use civicproof_verify::monitor::{HttpServer, Monitor, MonitorConfig, MonitorError, Violation};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ORIGIN: &str = "test.civicproof.example/city/air";

async fn anchored_app(anvil: &Anvil, interval_ms: u64) -> (TestApp, String) {
    anchored_app_with(anchoring(anvil, interval_ms)).await
}

async fn anchored_app_with(
    settings: civicproof_api::anchor::settings::AnchorSettings,
) -> (TestApp, String) {
    let app = TestApp::spawn_with(|c| {
        c.checkpoint_interval_ms = 200;
        c.anchor = settings;
    })
    .await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    (app, token)
}

async fn publish(app: &TestApp, token: &str, ds: &str, from: usize, to: usize) {
    let batch: Vec<Value> = (from..to)
        .map(|i| json!({"key": format!("s{}", i % 3), "payload": {"i": i, "pm10": 10.5}}))
        .collect();
    app.publish_ok(token, "city", ds, &Value::from(batch)).await;
}

/// A record's bundle. One published a moment ago may not be under a signed checkpoint yet:
/// that 409 ("retry shortly", API.md) is waited out, for at most 10 s.
async fn bundle_json(app: &TestApp, path: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get(path, None).await;
        if r.status() == 409 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        return r.json().await.unwrap();
    }
}

/// Polls the bundle of `seq` until it carries a confirmed anchor.
async fn wait_anchored(app: &TestApp, seq: u64, within: Duration) -> Value {
    let until = Instant::now() + within;
    loop {
        let b = bundle_json(app, &format!("/v1/datasets/city/air/records/{seq}/proof")).await;
        if !b["anchor"].is_null() {
            return b;
        }
        assert!(
            Instant::now() < until,
            "record {seq} not anchored in {within:?}: {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Verifies a bundle of this file's dataset online (step 8 against `rpc`).
async fn verify_online(
    bytes: Vec<u8>,
    trust: Trust,
    anchor: AnchorTrust,
    rpc: String,
    seq: u64,
) -> Report {
    crate::chain::verify_online(bytes, trust, anchor, rpc, ORIGIN, seq).await
}

/// Anchors records 0-1, stops mining, publishes records 2-3 and returns their batch once it
/// is persisted and sent (waiting in the mempool).
async fn submitted_not_mined(anvil: &Anvil, app: &TestApp, token: &str) -> Value {
    publish(app, token, "air", 0, 2).await;
    wait_anchored(app, 1, Duration::from_secs(30)).await;
    let first = anchors(app).await.len();
    anvil.pause_mining(true).await;
    publish(app, token, "air", 2, 4).await;
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let all = anchors(app).await;
        if let Some(b) = all.get(first).filter(|b| b["status"] == "submitted") {
            return b.clone();
        }
        assert!(Instant::now() < until, "no submitted batch: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn anchors(app: &TestApp) -> Vec<Value> {
    let v: Value = app.get_json("/v1/anchors?limit=1000", None).await;
    v["anchors"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_record_gets_a_confirmed_anchor_that_the_chain_holds() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 1000).await;
    let started = Instant::now();
    publish(&app, &token, "air", 0, 5).await;
    let b = wait_anchored(&app, 3, Duration::from_secs(30)).await;
    eprintln!("publish to confirmed anchor: {:?}", started.elapsed());

    // /.well-known names the chain, contract, code hash, anchorer and finality.
    let wk: Value = app.get_json("/.well-known/civicproof.json", None).await;
    let a = &wk["anchor"];
    assert_eq!(a["chain_id"], 31337);
    assert_eq!(a["anchorer"], DEV_ADDRESS);
    assert_eq!(a["finality"], "finalized");
    let contract = a["contract"].as_str().unwrap().to_owned();
    let code = anvil.rpc("eth_getCode", json!([contract, "latest"])).await;
    let code = hex::decode(code.as_str().unwrap().trim_start_matches("0x")).unwrap();
    let artifact: Value = serde_json::from_str(include_str!(
        "../../../contracts/artifacts/CivicproofAnchor.json"
    ))
    .unwrap();
    assert_eq!(a["contract_code_hash"], artifact["deployedCodeHash"]);
    assert_eq!(
        artifact["deployedBytecode"].as_str().unwrap(),
        format!("0x{}", hex::encode(&code)),
        "the deployed code is the committed artifact"
    );

    // The bundle's anchor is what the chain holds at the finalized block.
    let anchor = &b["anchor"];
    assert_eq!(anchor["contract"], contract.as_str());
    assert_eq!(anchor["anchorer"], DEV_ADDRESS);
    assert_eq!(anchor["chain_id"], 31337);
    let seq = anchor["batch_seq"].as_u64().unwrap();
    let block = anchor["block_number"].as_u64().unwrap();
    assert!(block <= anvil.block_number("finalized").await);
    let root = anvil
        .root_of(&contract, DEV_ADDRESS, seq, "finalized")
        .await;
    assert_eq!(root, anchor["batch_root"].as_str().unwrap());
    let canonical = anvil
        .rpc(
            "eth_getBlockByNumber",
            json!([format!("0x{block:x}"), false]),
        )
        .await;
    assert_eq!(canonical["hash"], anchor["block_hash"]);
    assert_eq!(
        quantity(&canonical["timestamp"]),
        anchor["block_time"].as_u64().unwrap()
    );
    assert!(b["anchor_pending"].is_null());

    // The verify crate: every step up to the offline anchor check passes.
    let trust = crate::support::pinned_trust(&app).await;
    let bytes = serde_json::to_vec(&b).unwrap();
    let report = verify_bundle(
        &bytes,
        &trust,
        &Expect {
            origin: ORIGIN.into(),
            seq: Some(3),
        },
        None,
    );
    assert!(report.failed_step.is_none(), "{report:?}");
    assert_eq!(
        report.of(Step::AnchorOffline).unwrap().status,
        StepStatus::Pass,
        "{report:?}"
    );
    // ... and with pinned anchor trust and the client's own endpoint, step 8 too: the record
    // existed no later than the anchor block's time.
    let online = verify_online(
        bytes.clone(),
        trust.clone(),
        anchor_trust(&app).await,
        anvil.url.clone(),
        3,
    )
    .await;
    assert!(online.ok(), "{online:?}");
    assert_eq!(
        online.of(Step::AnchorOnline).unwrap().status,
        StepStatus::Pass,
        "{online:?}"
    );
    assert_eq!(
        online.anchor.as_ref().unwrap().existed_no_later_than,
        anchor["block_time"].as_u64().unwrap()
    );

    // The batch as /v1/anchors shows it, confirmed and immutable.
    let r = app.get(&format!("/v1/anchors/{seq}"), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let batch: Value = r.json().await.unwrap();
    assert_eq!(batch["status"], "confirmed");
    assert_eq!(batch["batch_root"], anchor["batch_root"]);
    assert_eq!(
        batch["members"][anchor["batch_index"].as_u64().unwrap() as usize]["checkpoint"],
        b["checkpoint"]
    );

    // A confirmed bundle never changes except by erasure: later growth leaves it alone.
    publish(&app, &token, "air", 5, 9).await;
    wait_anchored(&app, 8, Duration::from_secs(30)).await;
    let again = bundle_json(&app, "/v1/datasets/city/air/records/3/proof").await;
    assert_eq!(again, b);

    // GraphQL shows the same batches.
    let q = json!({"query": "{ anchors(first: 10) { totalCount edges { node { batchSeq batchRoot status members { leafHash checkpoint } } } } \
        dataset(institution: \"city\", slug: \"air\") { latestAnchor { batchSeq status } } }"});
    let g: Value = app
        .post_json("/graphql", None, &q)
        .await
        .json()
        .await
        .unwrap();
    assert!(g.get("errors").is_none(), "{g}");
    let node = &g["data"]["anchors"]["edges"][seq as usize]["node"];
    assert_eq!(node["batchRoot"], anchor["batch_root"], "{g}");
    assert_eq!(node["status"], "CONFIRMED");
    assert!(g["data"]["anchors"]["totalCount"].as_u64().unwrap() > seq);
    assert!(
        g["data"]["dataset"]["latestAnchor"]["batchSeq"]
            .as_u64()
            .unwrap()
            >= seq
    );

    // The dataset view names its newest anchor.
    let ds: Value = app.get_json("/v1/datasets/city/air", None).await;
    assert!(ds["anchor"]["batch_seq"].as_u64().unwrap() >= seq, "{ds}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_transaction_per_interval_whatever_the_number_of_datasets() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 3000).await;
    for i in 0..20 {
        app.dataset(&token, &format!("d{i:02}"), "public", json!({}))
            .await;
    }
    // Wait for a batch boundary, then let every dataset grow within one interval.
    let before = anchors(&app).await.len();
    for i in 0..20 {
        publish(&app, &token, &format!("d{i:02}"), 0, 2).await;
    }
    let until = Instant::now() + Duration::from_secs(40);
    let batches = loop {
        let all = anchors(&app).await;
        let confirmed: Vec<&Value> = all.iter().filter(|b| b["status"] == "confirmed").collect();
        let members: usize = confirmed
            .iter()
            .map(|b| b["members"].as_array().unwrap().len())
            .sum();
        if members >= 20 && confirmed.len() == all.len() {
            break all;
        }
        assert!(Instant::now() < until, "not all anchored: {all:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // 20 growing datasets fit in at most two batches (one interval may cut them).
    assert!(
        batches.len() - before <= 2,
        "{} batches",
        batches.len() - before
    );
    let biggest = batches
        .iter()
        .map(|b| b["batch_size"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(biggest >= 10, "batches of {biggest}");
    // Members are in strictly increasing origin order; seqs are gapless from 0.
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b["batch_seq"], i as u64);
        let origins: Vec<String> = b["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["checkpoint"]
                    .as_str()
                    .unwrap()
                    .lines()
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(origins.windows(2).all(|w| w[0] < w[1]), "{origins:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_outage_leaves_publishing_alone_and_anchors_catch_up_without_a_gap() {
    let mut anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 1000).await;
    publish(&app, &token, "air", 0, 3).await;
    wait_anchored(&app, 2, Duration::from_secs(30)).await;

    anvil.stop().await;
    // Publishing and reading keep working while the chain is away.
    for i in 0..5 {
        publish(&app, &token, "air", 3 + i * 2, 5 + i * 2).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["chain"], "unreachable", "{body}");
    let b = bundle_json(&app, "/v1/datasets/city/air/records/12/proof").await;
    assert!(b["anchor"].is_null());

    anvil.resume().await;
    let b = wait_anchored(&app, 12, Duration::from_secs(60)).await;
    assert!(b["anchor"]["batch_seq"].as_u64().unwrap() >= 1);
    let all = anchors(&app).await;
    let contract = all[0]["contract"].as_str().unwrap().to_owned();
    for (i, batch) in all.iter().enumerate() {
        assert_eq!(batch["batch_seq"], i as u64, "gapless batch seqs");
        if batch["status"] == "confirmed" {
            let root = anvil
                .root_of(&contract, DEV_ADDRESS, i as u64, "latest")
                .await;
            assert_eq!(root, batch["batch_root"].as_str().unwrap());
        }
    }
    let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["chain"], "up", "{ready}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_that_drops_a_submitted_anchor_is_resent_and_never_shown_confirmed_early() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    let pending = submitted_not_mined(&anvil, &app, &token).await;
    let seq = pending["batch_seq"].as_u64().unwrap();
    let b = bundle_json(&app, "/v1/datasets/city/air/records/3/proof").await;
    assert!(b["anchor"].is_null());
    assert_eq!(b["anchor_pending"]["batch_seq"], seq);
    assert_eq!(b["anchor_pending"]["tx_hash"], pending["tx_hash"]);

    // Mine it into one block, let the worker see it there (not final), then reorg it away.
    anvil.rpc("evm_mine", json!([])).await;
    let receipt = anvil
        .rpc("eth_getTransactionReceipt", json!([pending["tx_hash"]]))
        .await;
    assert_eq!(receipt["status"], "0x1");
    let dropped_block = receipt["blockHash"].clone();
    let until = Instant::now() + Duration::from_secs(10);
    while app.db.count(&format!(
        "SELECT count(*) FROM anchor_batches WHERE batch_seq = {seq} AND block_number IS NOT NULL"
    )) == 0
    {
        assert!(
            Instant::now() < until,
            "the worker did not see the mined transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = bundle_json(&app, "/v1/datasets/city/air/records/3/proof").await;
    assert!(b["anchor"].is_null(), "not final yet, so not shown: {b}");
    anvil.rpc("anvil_reorg", json!([1, []])).await;
    assert!(
        anvil
            .rpc("eth_getTransactionReceipt", json!([pending["tx_hash"]]))
            .await
            .is_null()
    );

    anvil.pause_mining(false).await;
    let b = wait_anchored(&app, 3, Duration::from_secs(30)).await;
    let anchor = &b["anchor"];
    assert_eq!(anchor["batch_seq"], seq, "the same batch seq");
    assert_eq!(
        anchor["tx_hash"], pending["tx_hash"],
        "re-sent unchanged, same nonce"
    );
    assert_ne!(anchor["block_hash"], dropped_block);
    let block = anchor["block_number"].as_u64().unwrap();
    let canonical = anvil
        .rpc(
            "eth_getBlockByNumber",
            json!([format!("0x{block:x}"), false]),
        )
        .await;
    assert_eq!(canonical["hash"], anchor["block_hash"]);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("civicproof_anchor_batches_total{event=\"reorged\"} 1"),
        "{metrics}"
    );
    let contract = anchor["contract"].as_str().unwrap();
    assert_eq!(anvil.next_seq(contract, DEV_ADDRESS).await, seq + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_anchoring_identity_is_fixed_once_recorded() {
    let anvil = Anvil::start().await;
    let (app, _) = anchored_app(&anvil, 1000).await;
    let wk: Value = app.get_json("/.well-known/civicproof.json", None).await;
    let contract = wk["anchor"]["contract"].as_str().unwrap().to_owned();
    // The server keeps running: each attempt below is a second process on its database.
    let config = app.config.clone();

    let try_with = |tweak: &dyn Fn(&mut civicproof_api::config::Config)| {
        let mut c = config.clone();
        tweak(&mut c);
        async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let healthz = format!("http://{}/healthz", listener.local_addr().unwrap());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(civicproof_api::run(listener, c, async {
                let _ = rx.await;
            }));
            // Either it refuses to start (the task ends with the error) or it serves (the
            // identity checks come before serving): then stop it.
            let client = reqwest::Client::new();
            let until = Instant::now() + Duration::from_secs(30);
            while !server.is_finished() {
                let up = client
                    .get(&healthz)
                    .timeout(Duration::from_millis(500))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if up {
                    let _ = tx.send(());
                    break;
                }
                assert!(Instant::now() < until, "neither refused nor served");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            server.await.unwrap().map_err(|e| e.to_string())
        }
    };
    let other_key = "11".repeat(32);
    let err = try_with(&|c| c.anchor.key = Some(other_key.clone()))
        .await
        .unwrap_err();
    assert!(err.contains("restore the original key"), "{err}");
    let err = try_with(&|c| c.anchor.contract = Some(format!("0x{}", "22".repeat(20))))
        .await
        .unwrap_err();
    assert!(err.contains("CIVICPROOF_ANCHOR_CONTRACT"), "{err}");
    let err = try_with(&|c| c.anchor.chain_id = Some(1))
        .await
        .unwrap_err();
    assert!(err.contains("CIVICPROOF_CHAIN_ID"), "{err}");
    let err = try_with(&|c| c.anchor.rpc_url = None).await.unwrap_err();
    assert!(err.contains("CIVICPROOF_CHAIN_RPC_URL"), "{err}");
    // The recorded contract is reused, never redeployed, even with the deploy flag still set.
    try_with(&|_| {}).await.unwrap();
    let id = app_contract(&config).await;
    assert_eq!(id, contract);
    app.stop().await;
}

/// The contract recorded in a database.
async fn app_contract(config: &civicproof_api::config::Config) -> String {
    let url = config.database_url.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        let mut conn = civicproof_schema::establish(&url).unwrap();
        let rows: Vec<Vec<u8>> = civicproof_schema::schema::anchor_identity::table
            .select(civicproof_schema::schema::anchor_identity::contract)
            .load(&mut conn)
            .unwrap();
        assert_eq!(rows.len(), 1);
        format!("0x{}", hex::encode(&rows[0]))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn civicproof_monitor_passes_an_honest_server_and_reports_a_tampered_stored_leaf() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 1000).await;
    app.dataset(&token, "trams", "public", json!({})).await;
    app.dataset(&token, "cards", "restricted", json!({})).await;
    for round in 0..2 {
        publish(&app, &token, "air", round * 3, round * 3 + 3).await;
        publish(&app, &token, "trams", round * 3, round * 3 + 3).await;
        publish(&app, &token, "cards", round * 3, round * 3 + 3).await;
        wait_anchored(&app, round as u64 * 3 + 2, Duration::from_secs(30)).await;
    }
    let trust = crate::support::pinned_trust(&app).await;
    let anchor = anchor_trust(&app).await;
    let monitor = |base: String, rpc: String| {
        let (trust, anchor) = (trust.clone(), anchor.clone());
        tokio::task::spawn_blocking(move || {
            let mut m = Monitor::new(MonitorConfig {
                trust,
                anchor,
                check_code_hash: true,
                finality: Default::default(),
                from_block: 0,
            });
            m.poll(
                &HttpRpc::new(&rpc),
                &HttpServer::new(&base),
                true,
                &mut |_| {},
            )
        })
    };
    let checked = monitor(app.base.clone(), anvil.url.clone()).await.unwrap();
    assert!(checked.unwrap() >= 2, "an honest server passes");

    // Someone with database access rewrites a stored batch leaf: the served batch no longer
    // rebuilds the root the chain holds.
    let n = app.db.execute(&format!(
        "UPDATE anchor_members SET leaf_hash = {} WHERE batch_seq = 0 AND idx = 0",
        app.db.blob(&[0x11; 32])
    ));
    assert_eq!(n, 1);
    match monitor(app.base.clone(), anvil.url.clone()).await.unwrap() {
        Err(MonitorError::Violation(Violation::BatchRoot { .. })) => {}
        other => panic!("expected a rewritten-history report, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn civicproof_monitor_finds_anchored_checkpoints_in_the_history_its_tiles_prove() {
    use civicproof_verify::checkpoint::Checkpoint;
    use civicproof_verify::consistency::Signed;
    use civicproof_verify::monitor::{Anchored, TileFollower, TileLogConfig};
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 300).await;
    publish(&app, &token, "air", 0, 5).await;
    wait_anchored(&app, 4, Duration::from_secs(30)).await;
    // The log grows past its anchored checkpoint before the monitor looks.
    publish(&app, &token, "air", 5, 9).await;
    crate::graphql::wait_checkpointed(&app, 8).await;
    let trust = crate::support::pinned_trust(&app).await;
    let anchor = anchor_trust(&app).await;
    let (base, rpc) = (app.base.clone(), anvil.url.clone());
    let log_key = civicproof_api::logkey::LogKey::load_or_create(&app.config.log_key_file).unwrap();
    let (matched, forged) = tokio::task::spawn_blocking(move || {
        let server = HttpServer::new(&base);
        let mut chain = Monitor::new(MonitorConfig {
            trust: trust.clone(),
            anchor,
            check_code_hash: true,
            finality: Default::default(),
            from_block: 0,
        });
        chain
            .poll(&HttpRpc::new(&rpc), &server, true, &mut |_| {})
            .unwrap();
        let config = TileLogConfig::for_dataset(&trust.prefix, "city", "air", trust.public_key);
        assert_eq!(config.origin, ORIGIN);
        let mut tiles = TileFollower::new(config.clone());
        let followed = tiles.poll(&server).unwrap().unwrap();
        assert!(followed.to >= 9, "{followed:?}");
        let anchored = chain.history().latest(ORIGIN).cloned().expect("anchored");
        assert!(anchored.signed.checkpoint.size < followed.to);
        let matched = tiles.compare_anchored(&server, &anchored).unwrap();
        // A checkpoint validly signed with the log key but of another history, as an operator
        // who anchored a fork would have: the tiles do not prove it.
        let size = anchored.signed.checkpoint.size;
        let note = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: [7; 32],
        }
        .sign(log_key.signing_key());
        let fork = Anchored {
            batch_seq: anchored.batch_seq + 1,
            signed: Signed {
                checkpoint: civicproof_verify::checkpoint::verify_note(
                    note.as_bytes(),
                    &config.public_key,
                )
                .unwrap()
                .0,
                note,
            },
        };
        let forged = tiles.compare_anchored(&server, &fork);
        (matched, forged)
    })
    .await
    .unwrap();
    let matched = matched.expect("compared");
    assert!(
        matched.anchored >= 5 && matched.followed >= 9,
        "{matched:?}"
    );
    match forged {
        Err(MonitorError::Violation(v @ Violation::AnchorMismatch { .. })) => {
            assert_eq!(v.evidence().len(), 2, "both notes are the evidence");
        }
        other => panic!("expected the anchored fork to be reported, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_persisting_and_sending_a_batch_neither_skips_nor_repeats_a_seq() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    let batch = submitted_not_mined(&anvil, &app, &token).await;
    // As if the process died after persisting the batch and before the node ever saw it:
    // the node forgets the transaction and the row is back to `pending`.
    anvil
        .rpc("anvil_dropTransaction", json!([batch["tx_hash"]]))
        .await;
    let seq = batch["batch_seq"].as_u64().unwrap();
    app.db.execute(&format!(
        "UPDATE anchor_batches SET status = 'pending', submitted_at = NULL WHERE batch_seq = {seq}"
    ));
    let app = app.restart().await;
    anvil.pause_mining(false).await;

    let b = wait_anchored(&app, 3, Duration::from_secs(30)).await;
    assert_eq!(b["anchor"]["batch_seq"], seq);
    assert_eq!(
        b["anchor"]["tx_hash"], batch["tx_hash"],
        "the persisted transaction, unchanged"
    );
    let all = anchors(&app).await;
    for (i, a) in all.iter().enumerate() {
        assert_eq!(a["batch_seq"], i as u64);
    }
    let contract = b["anchor"]["contract"].as_str().unwrap();
    let on_chain = anvil.next_seq(contract, DEV_ADDRESS).await;
    let confirmed = all.iter().filter(|a| a["status"] == "confirmed").count() as u64;
    assert!(
        on_chain >= confirmed && on_chain <= all.len() as u64,
        "{on_chain} vs {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_server_processes_share_one_anchoring_worker() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    let replica = app.replica().await;
    publish(&app, &token, "air", 0, 3).await;
    publish(&replica, &token, "air", 3, 6).await;
    wait_anchored(&replica, 5, Duration::from_secs(30)).await;
    publish(&replica, &token, "air", 6, 8).await;
    wait_anchored(&app, 7, Duration::from_secs(30)).await;
    let all = anchors(&app).await;
    for (i, a) in all.iter().enumerate() {
        assert_eq!(a["batch_seq"], i as u64, "{all:?}");
    }
    let mut states = Vec::new();
    for a in [&app, &replica] {
        let r: Value = a.get("/readyz", None).await.json().await.unwrap();
        states.push(r["chain"].as_str().unwrap().to_owned());
    }
    states.sort();
    assert_eq!(
        states,
        ["standby: another process anchors", "up"],
        "{states:?}"
    );
    let halts = app.db.count("SELECT count(*) FROM anchor_halts");
    assert_eq!(halts, 0);
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_that_lost_the_anchors_halts_anchoring_with_an_alert_and_publishing_goes_on() {
    let mut anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    publish(&app, &token, "air", 0, 2).await;
    wait_anchored(&app, 1, Duration::from_secs(30)).await;
    // The same endpoint now serves a fresh chain: no contract, no anchors.
    anvil.stop().await;
    anvil.forget_state();
    anvil.resume().await;
    publish(&app, &token, "air", 2, 4).await;
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r: Value = app.get("/readyz", None).await.json().await.unwrap();
        if r["chain"].as_str().unwrap().starts_with("halted: ") {
            assert_eq!(
                r["status"], "ready",
                "readiness depends on the database only: {r}"
            );
            break;
        }
        assert!(Instant::now() < until, "anchoring did not halt: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("civicproof_anchor_halted 1"), "{metrics}");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM anchor_halts WHERE cleared_at IS NULL"),
        1
    );
    // Nothing new was anchored on the impostor chain, and publishing still works.
    publish(&app, &token, "air", 4, 5).await;
    let b = bundle_json(&app, "/v1/datasets/city/air/records/4/proof").await;
    assert!(b["anchor"].is_null());
    assert!(b["anchor_pending"].is_null());
    let old = bundle_json(&app, "/v1/datasets/city/air/records/0/proof").await;
    assert!(
        !old["anchor"].is_null(),
        "confirmed anchors stay in bundles"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anchor_left_unmined_is_replaced_at_its_nonce_with_higher_fees_and_the_replacement_confirms()
 {
    let anvil = Anvil::start().await;
    let mut settings = anchoring(&anvil, 500);
    settings.fee_bump_secs = 2;
    let (app, token) = anchored_app_with(settings).await;
    let batch = submitted_not_mined(&anvil, &app, &token).await;
    let seq = batch["batch_seq"].as_u64().unwrap() as usize;
    let first_hash = batch["tx_hash"].as_str().unwrap().to_owned();
    let first = anvil
        .rpc("eth_getTransactionByHash", json!([first_hash]))
        .await;
    assert!(first["blockNumber"].is_null(), "mining is paused: {first}");

    // Past the wait, the batch names a new transaction: same nonce, fees 25% higher.
    let until = Instant::now() + Duration::from_secs(20);
    let bumped = loop {
        let b = anchors(&app).await[seq].clone();
        if b["tx_hash"] != first_hash.as_str() {
            break b;
        }
        assert!(Instant::now() < until, "no fee bump: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(bumped["status"], "submitted", "{bumped}");
    let second = anvil
        .rpc("eth_getTransactionByHash", json!([bumped["tx_hash"]]))
        .await;
    assert_eq!(second["nonce"], first["nonce"]);
    assert_eq!(second["input"], first["input"], "the same anchor call");
    for fee in ["maxFeePerGas", "maxPriorityFeePerGas"] {
        let (before, after) = (quantity(&first[fee]), quantity(&second[fee]));
        assert!(after >= before + before / 4, "{fee}: {before} then {after}");
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("fee_bumped") && !l.starts_with('#') && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Mining resumes: a replacement is what the chain includes, and the batch confirms.
    anvil.pause_mining(false).await;
    wait_anchored(&app, 3, Duration::from_secs(30)).await;
    let confirmed = anchors(&app).await[seq].clone();
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    assert_ne!(confirmed["tx_hash"], first_hash.as_str());
    let receipt = anvil
        .rpc("eth_getTransactionReceipt", json!([confirmed["tx_hash"]]))
        .await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let original = anvil
        .rpc("eth_getTransactionReceipt", json!([first_hash]))
        .await;
    assert!(
        original.is_null(),
        "the replaced transaction never mined: {original}"
    );
}

/// Waits until `/readyz` reports the chain state `pred` accepts; returns that state.
async fn wait_chain_state(app: &TestApp, within: Duration, pred: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + within;
    loop {
        let r: Value = app.get("/readyz", None).await.json().await.unwrap();
        let chain = r["chain"].as_str().unwrap_or_default().to_owned();
        if pred(&chain) {
            return chain;
        }
        assert!(Instant::now() < until, "chain state stayed {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `civicproof anchor …` against the test's database (and chain, for `resume`).
async fn anchor_command(app: &TestApp, args: &[&str], rpc: &str) -> std::process::Output {
    let mut cmd = crate::support::civicproof_command();
    cmd.arg("anchor")
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("CIVICPROOF_CHAIN_RPC_URL", rpc);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// The defect of a long demo run: a node whose account nonce moved before its log index
/// showed the block (a read seen once) made the worker halt although its transaction had
/// succeeded. The node's logs are hidden here for many rounds: the worker finds its events
/// in the receipts of its own transactions and never halts.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_index_lagging_behind_the_nonce_never_halts_anchoring() {
    let anvil = Anvil::start().await;
    let proxy = RpcProxy::start(&anvil.url).await;
    let mut settings = anchoring(&anvil, 500);
    settings.rpc_url = Some(proxy.url.clone());
    let (app, token) = anchored_app_with(settings).await;
    publish(&app, &token, "air", 0, 2).await;
    wait_anchored(&app, 1, Duration::from_secs(30)).await;
    let before = anchors(&app).await.len();

    proxy.hide_logs(true);
    for i in 0..3 {
        publish(&app, &token, "air", 2 + 2 * i, 4 + 2 * i).await;
        wait_anchored(&app, 3 + 2 * i as u64, Duration::from_secs(30)).await;
    }
    assert!(
        proxy.hidden.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the worker read the (hidden) logs"
    );
    let all = anchors(&app).await;
    assert!(all.len() >= before + 3, "{all:?}");
    assert!(all.iter().all(|a| a["status"] == "confirmed"), "{all:?}");
    assert_eq!(app.db.count("SELECT count(*) FROM anchor_halts"), 0);
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("civicproof_anchor_halted 0"), "{metrics}");
    proxy.stop().await;
}

/// A nonce really taken by another transaction is evidence once its block is final and it
/// is read again: then anchoring halts, quoting the transactions and blocks; `anchor status`
/// shows the halt and `anchor resume` refuses while the chain still disagrees.
#[tokio::test(flavor = "multi_thread")]
async fn a_nonce_taken_by_another_transaction_halts_with_its_evidence_and_resume_refuses() {
    let anvil = Anvil::start().await;
    let mut settings = anchoring(&anvil, 500);
    settings.fee_bump_secs = 3600;
    let (app, token) = anchored_app_with(settings).await;
    let batch = submitted_not_mined(&anvil, &app, &token).await;
    let our_tx = batch["tx_hash"].as_str().unwrap().to_owned();
    let ours = anvil.rpc("eth_getTransactionByHash", json!([our_tx])).await;
    // The same account (anvil unlocks its dev accounts) sends something else at that nonce,
    // paying more, so it replaces the anchor in the mempool and is mined instead.
    anvil
        .rpc(
            "eth_sendTransaction",
            json!([{"from": DEV_ADDRESS, "to": DEV_ADDRESS, "value": "0x0", "nonce": ours["nonce"],
                    "gas": "0x5208", "maxFeePerGas": "0x174876e800", "maxPriorityFeePerGas": "0xba43b7400"}]),
        )
        .await;
    anvil.pause_mining(false).await;
    let state =
        wait_chain_state(&app, Duration::from_secs(40), |s| s.starts_with("halted: ")).await;
    for quoted in [
        format!("nonce {}", quantity(&ours["nonce"])),
        our_tx.clone(),
        "final block".into(),
        "times over".into(),
    ] {
        assert!(state.contains(&quoted), "{quoted:?} not in {state}");
    }
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("civicproof_anchor_halted 1"), "{metrics}");

    let status = anchor_command(&app, &["status", "--json"], &anvil.url).await;
    assert_eq!(status.status.code(), Some(1), "status exits 1 while halted");
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["halted"], true, "{s}");
    assert!(
        s["halt"]["reason"].as_str().unwrap().contains(&our_tx),
        "{s}"
    );

    let resume = anchor_command(&app, &["resume", "--by", "test-operator"], &anvil.url).await;
    let err = String::from_utf8_lossy(&resume.stderr);
    assert_eq!(resume.status.code(), Some(1), "{err}");
    assert!(
        err.contains("still disagrees") && err.contains(&our_tx),
        "{err}"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM anchor_halts WHERE cleared_at IS NULL"),
        1,
        "the halt stays"
    );
}

/// `anchor resume` reads the chain and, when it agrees with the database, clears a halt
/// (here one recorded as the long demo run recorded its false one), saying who cleared it
/// and what the chain showed; the worker then anchors again.
#[tokio::test(flavor = "multi_thread")]
async fn anchor_resume_rechecks_the_chain_then_clears_a_halt_and_anchoring_goes_on() {
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    publish(&app, &token, "air", 0, 2).await;
    wait_anchored(&app, 1, Duration::from_secs(30)).await;
    app.db.execute(
        "INSERT INTO anchor_halts (reason) VALUES ('the anchoring account''s nonce 2 was used by a transaction that did not anchor batch 1')",
    );
    wait_chain_state(&app, Duration::from_secs(20), |s| s.starts_with("halted: ")).await;
    publish(&app, &token, "air", 2, 4).await;

    let resume = anchor_command(&app, &["resume", "--by", "test-operator"], &anvil.url).await;
    let out = String::from_utf8_lossy(&resume.stdout);
    assert_eq!(
        resume.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    assert!(
        out.contains("halt cleared") && out.contains("nextSeq"),
        "{out}"
    );
    assert_eq!(
        app.db.count(
            "SELECT count(*) FROM anchor_halts WHERE cleared_by = 'test-operator' \
             AND clear_evidence LIKE '%rootOf batch%matches%'"
        ),
        1
    );
    wait_anchored(&app, 3, Duration::from_secs(30)).await;
    let again = anchor_command(&app, &["resume"], &anvil.url).await;
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("not halted"));
    let status = anchor_command(&app, &["status"], &anvil.url).await;
    assert_eq!(status.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&status.stdout).contains("cleared"));
}

/// Sessions holding the anchoring worker's advisory lock in this test's database, by
/// `application_name` (`worker`: the worker's own session; `other`: any other).
fn anchoring_lock_holders(app: &TestApp, worker: bool) -> i64 {
    app.db.count(&format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1667855977 \
         AND l.objid = 1667329635 AND l.database = (SELECT oid FROM pg_database \
         WHERE datname = current_database()) AND a.application_name {} 'civicproof anchoring worker'",
        if worker { "=" } else { "<>" }
    ))
}

/// A database error on the worker's connection (here: its table renamed away for a moment)
/// used to send that connection back to the pool still holding the session advisory lock,
/// so that every replica stood by. The lock lives only in the worker's own session.
#[tokio::test(flavor = "multi_thread")]
async fn pg_only_a_database_error_never_leaves_the_anchoring_lock_in_a_pooled_connection() {
    crate::support::require_backend(civicproof_schema::Backend::Postgres);
    let anvil = Anvil::start().await;
    let (app, token) = anchored_app(&anvil, 500).await;
    publish(&app, &token, "air", 0, 2).await;
    wait_anchored(&app, 1, Duration::from_secs(30)).await;
    assert_eq!(anchoring_lock_holders(&app, true), 1);

    let failures = |text: String| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("civicproof_anchor_failures_total "))
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let before = failures(app.metrics_text().await);
    app.db
        .execute("ALTER TABLE anchor_batches RENAME TO anchor_batches_away");
    let until = Instant::now() + Duration::from_secs(20);
    while failures(app.metrics_text().await) <= before {
        assert!(Instant::now() < until, "the worker saw no database error");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.db
        .execute("ALTER TABLE anchor_batches_away RENAME TO anchor_batches");
    publish(&app, &token, "air", 2, 4).await;
    wait_anchored(&app, 3, Duration::from_secs(60)).await;
    assert_eq!(
        anchoring_lock_holders(&app, false),
        0,
        "a pooled session holds the lock"
    );
    assert_eq!(anchoring_lock_holders(&app, true), 1);
}

/// PROTOCOL.md section 1: the default prefix `localhost` is refused unless the anchor chain is
/// anvil's 31337.
#[tokio::test(flavor = "multi_thread")]
async fn the_localhost_prefix_is_refused_on_any_chain_but_31337() {
    let anvil = Anvil::start_with(&["--chain-id", "1337"]).await;
    let db = crate::support::TestDb::new();
    let mut config = civicproof_api::Config::for_database(db.url.clone());
    config.origin_prefix = "localhost".into();
    config.anchor = anchoring(&anvil, 1000);
    config.anchor.key = Some("11".repeat(32));
    let dir = std::env::temp_dir().join(format!("civicproof-localhost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    config.log_key_file = dir.join("log.key");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = civicproof_api::run(listener, config, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("localhost") && err.contains("31337"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
