//! `civicproof monitor`: its pure checks over served batches, notes and consistency answers, and
//! the monitor itself following a real anvil chain and a canned server that tells the truth,
//! then lies in each of the ways the monitor must report.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use civicproof_verify::bundle::Trust;
use civicproof_verify::chain::AnchorTrust;
use civicproof_verify::chain::Finality;
use civicproof_verify::consistency::Signed;
use civicproof_verify::encoding::base64_encode;
use civicproof_verify::merkle::{self, Hash};
use civicproof_verify::monitor::command::{self, MonitorArgs};
use civicproof_verify::monitor::{
    AnchoredEvent, History, Monitor, MonitorConfig, MonitorError, Violation, check_batch,
    check_consistency, parse_batch,
};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use support::anvil::{ACCOUNT_0, Anvil};
use support::cli::consistency_response;
use support::http::{Answer, Server, not_found};
use support::{Batch, Log, PREFIX, key, trust};

const CONTRACT: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

fn anchor_trust(contract: &str) -> AnchorTrust {
    AnchorTrust::parse(
        31337,
        contract,
        &format!("0x{}", "00".repeat(32)),
        ACCOUNT_0,
    )
    .unwrap()
}

/// What `GET /v1/anchors/{seq}` answers for `batch`, with the origins in `hidden` hidden.
fn served(batch: &Batch, seq: u64, prev: &Hash, contract: &str, hidden: &[&str]) -> Value {
    let members: Vec<Value> = batch
        .checkpoints
        .iter()
        .zip(&batch.notes)
        .zip(&batch.leaves)
        .map(|((c, note), leaf)| {
            let visible = !hidden.contains(&c.origin.as_str());
            json!({"leaf_hash": hex::encode(leaf), "checkpoint": visible.then_some(note)})
        })
        .collect();
    json!({
        "batch_seq": seq, "batch_root": hex::encode(batch.root),
        "batch_size": batch.leaves.len(), "prev_root": hex::encode(prev),
        "chain_id": 31337, "contract": contract, "anchorer": ACCOUNT_0,
        "tx_hash": format!("0x{}", "11".repeat(32)), "block_number": 9,
        "block_hash": format!("0x{}", "22".repeat(32)), "block_time": 1_764_151_300,
        "status": "confirmed", "members": members,
    })
}

fn event(batch: &Batch, seq: u64, prev: &Hash) -> AnchoredEvent {
    AnchoredEvent {
        seq,
        root: batch.root,
        count: batch.leaves.len() as u64,
        prev_root: *prev,
        block_number: 9,
        log_index: 0,
        tx_hash: String::new(),
    }
}

fn check(batch: &Batch, served: &Value) -> Result<Vec<Signed>, Violation> {
    let parsed = parse_batch(served.to_string().as_bytes()).unwrap();
    check_batch(
        &event(batch, 0, &[0; 32]),
        &parsed,
        &trust(),
        &anchor_trust(CONTRACT),
    )
}

fn logs() -> (Log, Log, Log) {
    (
        Log::city_air(),
        Log::build("test.example/city/water", 5, None),
        Log::build("test.example/zoo/birds", 3, None),
    )
}

#[test]
fn a_truthful_batch_yields_its_visible_checkpoints() {
    let (air, water, birds) = logs();
    let batch = Batch::of(&[&air, &water, &birds]);
    let visible = check(
        &batch,
        &served(&batch, 0, &[0; 32], CONTRACT, &["test.example/city/water"]),
    )
    .unwrap();
    let seen: Vec<(&str, u64)> = visible
        .iter()
        .map(|s| (s.checkpoint.origin.as_str(), s.checkpoint.size))
        .collect();
    assert_eq!(
        seen,
        [("test.example/city/air", 37), ("test.example/zoo/birds", 3)]
    );
}

#[test]
fn a_rewritten_or_short_batch_is_reported() {
    let (air, water, birds) = logs();
    let batch = Batch::of(&[&air, &water, &birds]);
    let good = served(&batch, 0, &[0; 32], CONTRACT, &[]);

    let mut short = good.clone();
    short["members"].as_array_mut().unwrap().pop();
    assert!(matches!(
        check(&batch, &short),
        Err(Violation::LeafCount {
            seq: 0,
            served: 2,
            chain: 3
        })
    ));

    // A stored leaf changed: the leaves no longer rebuild the on-chain root.
    let mut tampered = good.clone();
    tampered["members"][1]["leaf_hash"] = json!(hex::encode(merkle::leaf_hash(b"other")));
    let err = check(&batch, &tampered).unwrap_err();
    assert!(matches!(err, Violation::BatchRoot { seq: 0, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("rewritten history: batch 0's served leaf hashes rebuild root")
    );

    let mut claims = good.clone();
    claims["prev_root"] = json!("ab".repeat(32));
    let err = check(&batch, &claims).unwrap_err();
    assert!(
        matches!(
            err,
            Violation::BatchField {
                field: "prev_root",
                ..
            }
        ),
        "{err}"
    );
    let mut claims = good.clone();
    claims["anchorer"] = json!(format!("0x{}", "12".repeat(20)));
    let err = check(&batch, &claims).unwrap_err();
    assert!(
        matches!(
            err,
            Violation::BatchField {
                field: "anchorer",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn each_visible_member_is_checked() {
    let (air, water, birds) = logs();
    // A note signed by another key.
    let batch = Batch::of(&[&air, &water, &birds]);
    let mut forged = served(&batch, 0, &[0; 32], CONTRACT, &[]);
    forged["members"][2]["checkpoint"] =
        json!(birds.checkpoint().sign(&SigningKey::from_bytes(&[8; 32])));
    let err = check(&batch, &forged).unwrap_err();
    assert!(
        matches!(err, Violation::MemberNote { index: 2, .. }),
        "{err}"
    );

    // A note that is not the member's leaf.
    let mut swapped = served(&batch, 0, &[0; 32], CONTRACT, &[]);
    swapped["members"][0]["checkpoint"] = json!(air.checkpoint_at(36).sign(&key()));
    let err = check(&batch, &swapped).unwrap_err();
    assert!(
        matches!(err, Violation::MemberLeaf { index: 0, .. }),
        "{err}"
    );

    // An origin of another instance.
    let stranger = Log::build("other.example/city/air", 4, None);
    let batch = Batch::of(&[&air, &stranger]);
    let err = check(&batch, &served(&batch, 0, &[0; 32], CONTRACT, &[])).unwrap_err();
    assert!(
        matches!(err, Violation::MemberOrigin { ref origin, .. } if origin == "other.example/city/air"),
        "{err}"
    );

    // Origins out of order (the chain holds the root of exactly this order).
    let batch = Batch::in_order(vec![birds.checkpoint(), air.checkpoint()]);
    let err = check(&batch, &served(&batch, 0, &[0; 32], CONTRACT, &[])).unwrap_err();
    assert!(
        matches!(err, Violation::MemberOrder { index: 1, .. }),
        "{err}"
    );
    // The same origin twice is not strictly increasing either.
    let batch = Batch::in_order(vec![air.checkpoint_at(20), air.checkpoint()]);
    let err = check(&batch, &served(&batch, 0, &[0; 32], CONTRACT, &[])).unwrap_err();
    assert!(matches!(err, Violation::MemberOrder { .. }), "{err}");

    // A size-0 checkpoint never qualifies.
    let batch = Batch::of_checkpoints(vec![air.checkpoint(), water.checkpoint_at(0)]);
    let err = check(&batch, &served(&batch, 0, &[0; 32], CONTRACT, &[])).unwrap_err();
    assert!(
        matches!(err, Violation::MemberEmpty { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn served_batches_are_read_strictly() {
    let (air, _, _) = logs();
    let batch = Batch::of(&[&air]);
    let good = served(&batch, 0, &[0; 32], CONTRACT, &[]);
    assert!(parse_batch(good.to_string().as_bytes()).is_ok());
    for (field, value) in [
        ("batch_root", json!("AB".repeat(32))),
        ("batch_size", json!(1.5)),
        (
            "contract",
            json!("0x5FBDB2315678afecb367f032d93f642f64180aa3"),
        ),
        ("status", json!("final")),
        ("members", json!({})),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(parse_batch(bad.to_string().as_bytes()).is_err(), "{field}");
    }
    let mut bad = good.clone();
    bad["members"][0]["checkpoint"] = json!(7);
    assert!(parse_batch(bad.to_string().as_bytes()).is_err());
    assert!(parse_batch(br#"{"batch_seq":1,"batch_seq":1}"#).is_err());
}

fn signed(log: &Log, size: u64) -> Signed {
    Signed {
        checkpoint: log.checkpoint_at(size),
        note: log.checkpoint_at(size).sign(&key()),
    }
}

#[test]
fn history_grows_by_consistency_proofs_and_reports_splits_and_rewrites() {
    let air = Log::city_air();
    let public = trust().public_key;
    let mut history = History::new();
    assert!(
        history
            .needs_proof_from(0, &signed(&air, 20))
            .unwrap()
            .is_none()
    );
    history.record(0, signed(&air, 20));

    // Grown, with a proof from the same log: consistent.
    let prev = history
        .needs_proof_from(1, &signed(&air, 37))
        .unwrap()
        .unwrap()
        .clone();
    check_consistency(
        &prev,
        1,
        &signed(&air, 37),
        &consistency_response(&air, 20, 37),
        &public,
    )
    .unwrap();

    // Another history of the same origin (every entry published 1 ms later).
    let fork = Log::build_at("test.example/city/air", 37, None, support::START_MS + 1);
    let forked = Signed {
        checkpoint: fork.checkpoint(),
        note: fork.checkpoint().sign(&key()),
    };
    let err = check_consistency(
        &prev,
        1,
        &forked,
        &consistency_response(&fork, 20, 37),
        &public,
    )
    .unwrap_err();
    // The fork's proof is for the fork's size-20 root, not the anchored one.
    assert!(
        matches!(
            err,
            Violation::SplitView { .. } | Violation::Inconsistent { .. }
        ),
        "{err}"
    );
    assert_eq!(err.evidence().len(), 2);
    // A proof that does not join the two anchored roots.
    let mut wrong_path: Value =
        serde_json::from_slice(&consistency_response(&air, 20, 37)).unwrap();
    wrong_path["path"][0] = json!("00".repeat(32));
    let err = check_consistency(
        &prev,
        1,
        &signed(&air, 37),
        wrong_path.to_string().as_bytes(),
        &public,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Violation::Inconsistent {
                first: 20,
                second: 37,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("rewritten history: test.example/city/air 20 → 37")
    );
    // An answer for other sizes, or no answer at all.
    let err = check_consistency(
        &prev,
        1,
        &signed(&air, 37),
        &consistency_response(&air, 21, 37),
        &public,
    )
    .unwrap_err();
    assert!(matches!(err, Violation::Unverifiable { .. }), "{err}");
    let err = check_consistency(&prev, 1, &signed(&air, 37), b"<html>", &public).unwrap_err();
    assert!(matches!(err, Violation::Unverifiable { .. }), "{err}");

    // Same size, other root: split view with both notes.
    let other20 = Signed {
        checkpoint: fork.checkpoint_at(20),
        note: fork.checkpoint_at(20).sign(&key()),
    };
    let err = history.needs_proof_from(1, &other20).unwrap_err();
    assert!(
        matches!(err, Violation::SplitView { size: 20, .. }),
        "{err}"
    );
    assert!(err.evidence()[1].1.contains("test.example/city/air\n20\n"));
    // Not grown, or shrunk: rewritten history.
    let err = history.needs_proof_from(1, &signed(&air, 20)).unwrap_err();
    assert!(
        matches!(
            err,
            Violation::NotGrown {
                earlier: 20,
                later: 20,
                ..
            }
        ),
        "{err}"
    );
    let err = history.needs_proof_from(1, &signed(&air, 10)).unwrap_err();
    assert!(
        matches!(
            err,
            Violation::NotGrown {
                earlier: 20,
                later: 10,
                ..
            }
        ),
        "{err}"
    );
}

/// A canned civicproof server: batches by seq and logs by origin (`institution/dataset`).
struct Canned {
    batches: Arc<Mutex<HashMap<u64, Value>>>,
    logs: Arc<Mutex<HashMap<String, Log>>>,
    server: Server,
}

impl Canned {
    fn start() -> Canned {
        let batches: Arc<Mutex<HashMap<u64, Value>>> = Arc::default();
        let logs: Arc<Mutex<HashMap<String, Log>>> = Arc::default();
        let (b, l) = (Arc::clone(&batches), Arc::clone(&logs));
        let server = Server::start(move |target| -> Answer {
            if let Some(seq) = target
                .strip_prefix("/v1/anchors/")
                .and_then(|s| s.parse::<u64>().ok())
            {
                return match b.lock().unwrap().get(&seq) {
                    Some(batch) => (200, batch.to_string().into_bytes()),
                    None => not_found(),
                };
            }
            let Some(rest) = target.strip_prefix("/v1/datasets/") else {
                return not_found();
            };
            let Some((ds, query)) = rest.split_once("/consistency?") else {
                return not_found();
            };
            let param = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            match (l.lock().unwrap().get(ds), param("first"), param("second")) {
                (Some(log), Some(m), Some(n)) => (200, consistency_response(log, m, n)),
                _ => not_found(),
            }
        });
        Canned {
            batches,
            logs,
            server,
        }
    }
}

fn config(contract: &str) -> MonitorConfig {
    MonitorConfig {
        trust: Trust {
            prefix: PREFIX.to_owned(),
            public_key: trust().public_key,
        },
        anchor: anvil_trust(contract),
        check_code_hash: true,
        finality: Finality::Finalized,
        from_block: 0,
    }
}

fn anvil_trust(contract: &str) -> AnchorTrust {
    AnchorTrust::parse(31337, contract, &support::anvil::code_hash(), ACCOUNT_0).unwrap()
}

/// A chain with two anchored batches and a server that serves them truthfully: batch 0 holds
/// city/air at 20 and city/water at 5; batch 1 city/air at 37 and zoo/birds at 3.
struct World {
    anvil: Anvil,
    contract: String,
    canned: Canned,
}

fn world() -> World {
    let anvil = Anvil::manual();
    let contract = anvil.deploy();
    let (air, water, birds) = logs();
    let batch0 = Batch::of_checkpoints(vec![air.checkpoint_at(20), water.checkpoint()]);
    let batch1 = Batch::of_checkpoints(vec![air.checkpoint(), birds.checkpoint()]);
    anvil.anchor(&contract, 0, &batch0, &[0; 32]);
    let last = anvil.anchor(&contract, 1, &batch1, &batch0.root);
    let canned = Canned::start();
    canned.batches.lock().unwrap().extend([
        (0, served(&batch0, 0, &[0; 32], &contract, &[])),
        (
            1,
            served(
                &batch1,
                1,
                &batch0.root,
                &contract,
                &["test.example/zoo/birds"],
            ),
        ),
    ]);
    canned
        .logs
        .lock()
        .unwrap()
        .insert("city/air".to_owned(), air);
    // Not final yet: nothing to check.
    let mut monitor = Monitor::new(config(&contract));
    assert_eq!(poll(&mut monitor, &anvil, &canned).unwrap(), 0);
    anvil.finalize(last.block_number);
    World {
        anvil,
        contract,
        canned,
    }
}

fn poll(monitor: &mut Monitor, anvil: &Anvil, canned: &Canned) -> Result<u64, MonitorError> {
    let server = civicproof_verify::monitor::HttpServer::new(&canned.server.base);
    monitor.poll(&anvil.rpc, &server, true, &mut |_| {})
}

#[test]
fn monitor_follows_a_real_chain_and_a_truthful_server() {
    let w = world();
    let mut monitor = Monitor::new(config(&w.contract));
    let mut seen = Vec::new();
    let server = civicproof_verify::monitor::HttpServer::new(&w.canned.server.base);
    let checked = monitor
        .poll(&w.anvil.rpc, &server, true, &mut |r| {
            seen.push(r.cloned().map_err(Clone::clone))
        })
        .unwrap();
    assert_eq!(checked, 2);
    let reports: Vec<_> = seen.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        reports[0].visible,
        [
            ("test.example/city/air".to_owned(), 20),
            ("test.example/city/water".to_owned(), 5)
        ]
    );
    assert_eq!(
        reports[1].visible,
        [("test.example/city/air".to_owned(), 37)]
    );
    assert_eq!(reports[1].proofs, 1);
    assert!(
        w.canned
            .server
            .requests()
            .contains(&"/v1/datasets/city/air/consistency?first=20&second=37".to_owned())
    );
    // Next round: nothing new.
    assert_eq!(poll(&mut monitor, &w.anvil, &w.canned).unwrap(), 0);
    assert_eq!(monitor.next_seq(), 2);

    // The command line with --once agrees (exit 0).
    let args = MonitorArgs {
        server: w.canned.server.base.clone(),
        rpc: Some(w.anvil.url.clone()),
        prefix: PREFIX.to_owned(),
        public_key: base64_encode(&trust().public_key),
        chain_id: Some(31337),
        contract: Some(w.contract.clone()),
        anchorer: Some(ACCOUNT_0.to_owned()),
        logs: Vec::new(),
        witnesses: Vec::new(),
        witness_threshold: None,
        audit_entries: false,
        code_hash: Some(support::anvil::code_hash()),
        finality: Finality::Finalized,
        from_block: 0,
        once: true,
        interval_secs: 1,
    };
    assert_eq!(command::run(&args), 0);
    // A tampered leaf: exit 1.
    w.canned.batches.lock().unwrap().get_mut(&1).unwrap()["members"][0]["leaf_hash"] =
        json!(hex::encode(merkle::leaf_hash(b"tampered")));
    assert_eq!(command::run(&args), 1);
}

#[test]
fn monitor_reports_a_tampered_leaf_a_missing_batch_and_a_forked_log() {
    let w = world();
    let expect_violation = |edit: &dyn Fn(&Canned)| -> Violation {
        let canned = Canned::start();
        canned
            .batches
            .lock()
            .unwrap()
            .extend(w.canned.batches.lock().unwrap().clone());
        canned
            .logs
            .lock()
            .unwrap()
            .insert("city/air".to_owned(), Log::city_air());
        edit(&canned);
        let mut monitor = Monitor::new(config(&w.contract));
        match poll(&mut monitor, &w.anvil, &canned) {
            Err(MonitorError::Violation(v)) => v,
            other => panic!("expected a violation, got {other:?}"),
        }
    };
    let v = expect_violation(&|c| {
        c.batches.lock().unwrap().get_mut(&1).unwrap()["members"][1]["leaf_hash"] =
            json!(hex::encode(merkle::leaf_hash(b"tampered")));
    });
    assert!(matches!(v, Violation::BatchRoot { seq: 1, .. }), "{v}");
    let v = expect_violation(&|c| {
        c.batches.lock().unwrap().remove(&1);
    });
    assert_eq!(v, Violation::MissingBatch { seq: 1 });
    // The server's log of city/air was rewritten after size 20: its proofs no longer join the
    // anchored checkpoints.
    let v = expect_violation(&|c| {
        c.logs.lock().unwrap().insert(
            "city/air".to_owned(),
            Log::build_at("test.example/city/air", 37, None, support::START_MS + 1),
        );
    });
    assert!(
        matches!(
            v,
            Violation::SplitView { .. } | Violation::Inconsistent { .. }
        ),
        "{v}"
    );
    // Batch 1 served with a member checkpoint of city/air that the chain never saw.
    let v = expect_violation(&|c| {
        let forged = Log::city_air().checkpoint_at(30).sign(&key());
        c.batches.lock().unwrap().get_mut(&1).unwrap()["members"][0]["checkpoint"] = json!(forged);
    });
    assert!(matches!(v, Violation::MemberLeaf { .. }), "{v}");
}

#[test]
fn monitor_refuses_another_chain_or_contract() {
    let w = world();
    let canned = &w.canned;
    let mut other_chain = config(&w.contract);
    other_chain.anchor.chain_id = 1;
    assert_eq!(
        poll(&mut Monitor::new(other_chain), &w.anvil, canned).unwrap_err(),
        MonitorError::Violation(Violation::ChainId {
            endpoint: 31337,
            pinned: 1
        })
    );
    let mut other_code = config(&w.contract);
    other_code.anchor.code_hash = [1; 32];
    assert!(matches!(
        poll(&mut Monitor::new(other_code), &w.anvil, canned),
        Err(MonitorError::Violation(Violation::CodeHash { .. }))
    ));
}
