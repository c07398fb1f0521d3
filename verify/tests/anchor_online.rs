//! Step 8 (anchor-online) against a real anvil chain with the committed anchor contract: the
//! bundles are real (signed checkpoints, batches of three logs, anchored by a real transaction),
//! and each test breaks exactly one pinned value or claim.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use civicproof_verify::bundle::{
    ANCHOR_CONFIRMED, Bundle, Report, Step, StepStatus, VerifyOptions, iso_time, verify_bundle_with,
};
use civicproof_verify::chain::{AnchorTrust, ChainRpc, CodeHashCache, Finality, HttpRpc};
use serde_json::json;
use support::anvil::{ACCOUNT_0, ACCOUNT_1, Anvil, code_hash};
use support::{Batch, Log, OnChain, expect, trust};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A chain with the contract, three logs published a few minutes ago, batch 0 of their
/// checkpoints anchored and final.
struct Fixture {
    anvil: Anvil,
    contract: String,
    air: Log,
    batch: Batch,
    on_chain: OnChain,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::published_at(now_ms() - 300_000)
    }

    /// The city/air log's first entry published at `start_ms`.
    fn published_at(start_ms: i64) -> Fixture {
        let anvil = Anvil::manual();
        let contract = anvil.deploy();
        let air = Log::build_at("test.example/city/air", 37, Some(5), start_ms);
        let water = Log::build_at("test.example/city/water", 5, None, now_ms() - 300_000);
        let birds = Log::build_at("test.example/zoo/birds", 3, None, now_ms() - 300_000);
        let batch = Batch::of(&[&air, &water, &birds]);
        let on_chain = anvil.anchor(&contract, 0, &batch, &[0; 32]);
        Fixture {
            anvil,
            contract,
            air,
            batch,
            on_chain,
        }
    }

    fn bundle(&self, seq: u64) -> Bundle {
        self.air.bundle_in_batch(seq, &self.batch, &self.on_chain)
    }

    fn trust(&self) -> AnchorTrust {
        self.anvil.trust(&self.contract)
    }

    fn verify(&self, bundle: &Bundle, anchor: &AnchorTrust, finality: Finality) -> Report {
        verify_online(bundle, anchor, &self.anvil.rpc, finality)
    }
}

fn verify_online(
    bundle: &Bundle,
    anchor: &AnchorTrust,
    rpc: &dyn ChainRpc,
    finality: Finality,
) -> Report {
    let seq = bundle.envelope["seq"].as_f64().unwrap() as u64;
    verify_bundle_with(
        &bundle.to_json_bytes(),
        &trust(),
        &expect(seq),
        &VerifyOptions {
            anchor_trust: Some(anchor),
            rpc: Some(rpc),
            finality,
            ..VerifyOptions::default()
        },
    )
}

/// Asserts that only step 8 failed, with a reason containing `want`.
fn assert_step8_fails(report: &Report, want: &str) {
    assert_eq!(report.failed_step, Some(8), "{report}");
    let StepStatus::Fail(why) = &report.step(8).unwrap().status else {
        panic!("step 8 did not fail: {report}");
    };
    assert!(
        why.contains(want),
        "step 8 failed with {why:?}, not {want:?}"
    );
    assert!(!report.ok());
    assert!(report.anchor.is_none());
}

#[test]
fn anchored_bundle_passes_step_8_once_final_and_is_dated_by_its_block() {
    let f = Fixture::new();
    let bundle = f.bundle(17);

    // Mined but not final: rootOf holds batch_root only at latest.
    assert!(f.anvil.finalized() < f.on_chain.block_number);
    let report = f.verify(&bundle, &f.trust(), Finality::Finalized);
    assert_step8_fails(
        &report,
        "not-final: rootOf(anchorer, 0) holds batch_root only at latest",
    );
    assert_eq!(report.step(7).unwrap().status, StepStatus::Pass);

    f.anvil.finalize(f.on_chain.block_number);
    let report = f.verify(&bundle, &f.trust(), Finality::Finalized);
    assert!(report.ok(), "{report}");
    assert_eq!(
        report.step(7).unwrap().detail.as_deref(),
        Some(ANCHOR_CONFIRMED)
    );
    let found = report.anchor.clone().unwrap();
    assert_eq!(found.existed_no_later_than, f.on_chain.block_time);
    assert_eq!(found.endpoint, f.anvil.url);
    assert_eq!(found.policy, "finalized");
    assert_eq!(found.stale, None);
    assert!(found.final_block >= f.on_chain.block_number);
    let detail = report.step(8).unwrap().detail.clone().unwrap();
    assert!(
        detail.contains(&format!(
            "existed no later than {} (block {})",
            iso_time(f.on_chain.block_time),
            f.on_chain.block_number
        )),
        "{detail}"
    );
    assert!(detail.contains(&f.anvil.url), "{detail}");

    // The erased record's bundle (its erasure entry in the same checkpoint) passes too.
    let report = f.verify(&f.bundle(5), &f.trust(), Finality::Finalized);
    assert!(report.ok(), "{report}");
    assert!(report.erased_by.is_some());
}

#[test]
fn confirmations_policy_counts_the_head_as_one() {
    let f = Fixture::new();
    let bundle = f.bundle(3);
    // The anchor block is the head: one confirmation.
    assert_eq!(f.anvil.head(), f.on_chain.block_number);
    let report = f.verify(&bundle, &f.trust(), Finality::Confirmations(2));
    assert_step8_fails(&report, "not-final");
    assert_step8_fails(&report, "(2 confirmations)");
    let report = f.verify(&bundle, &f.trust(), Finality::Confirmations(1));
    assert!(report.ok(), "{report}");
    assert_eq!(report.anchor.unwrap().policy, "1 confirmations");
    // A depth beyond the chain's length cannot be met.
    let report = f.verify(&bundle, &f.trust(), Finality::Confirmations(10_000));
    assert_step8_fails(&report, "the chain has fewer than 10000 blocks");
}

#[test]
fn finality_under_anvil_block_time_arrives_by_itself() {
    // Interval mining stays on: the anchor becomes final within a few 1 s blocks.
    let anvil = Anvil::start();
    let contract = anvil.deploy();
    let air = Log::build_at("test.example/city/air", 37, Some(5), now_ms() - 60_000);
    let batch = Batch::of(&[&air]);
    let on_chain = anvil.anchor(&contract, 0, &batch, &[0; 32]);
    let bundle = air.bundle_in_batch(8, &batch, &on_chain);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let report = verify_online(
            &bundle,
            &anvil.trust(&contract),
            &anvil.rpc,
            Finality::Finalized,
        );
        if report.ok() {
            assert_eq!(
                report.anchor.unwrap().existed_no_later_than,
                on_chain.block_time
            );
            break;
        }
        // Until then the only acceptable failure is not-final.
        assert_step8_fails(&report, "not-final");
        assert!(
            std::time::Instant::now() < deadline,
            "never final: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn pinned_chain_id_contract_anchorer_and_code_hash_must_match() {
    let f = Fixture::new();
    f.anvil.finalize(f.on_chain.block_number);
    let bundle = f.bundle(17);
    let pinned = f.trust();

    // (a) The bundle's claims against the pinned values, before any RPC call.
    let other_chain = AnchorTrust {
        chain_id: 1,
        ..pinned.clone()
    };
    assert_step8_fails(
        &f.verify(&bundle, &other_chain, Finality::Finalized),
        "anchor.chain_id 31337 is not the pinned chain id 1",
    );
    let mut claims_chain_1 = bundle.clone();
    claims_chain_1.anchor.as_mut().unwrap().chain_id = 1;
    assert_step8_fails(
        &f.verify(&claims_chain_1, &other_chain, Finality::Finalized),
        "the endpoint's chain id 31337 is not the pinned 1",
    );

    let elsewhere = AnchorTrust {
        contract: [0x42; 20],
        ..pinned.clone()
    };
    assert_step8_fails(
        &f.verify(&bundle, &elsewhere, Finality::Finalized),
        &format!(
            "anchor.contract {} is not the pinned contract 0x4242",
            f.contract
        ),
    );
    // Pinned and claimed alike, an address without the code: its code hash is keccak256("").
    let mut claims_elsewhere = bundle.clone();
    claims_elsewhere.anchor.as_mut().unwrap().contract = format!("0x{}", "42".repeat(20));
    assert_step8_fails(
        &f.verify(&claims_elsewhere, &elsewhere, Finality::Finalized),
        "the contract's code hash 0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470 \
         is not the pinned",
    );

    let other_code = AnchorTrust {
        code_hash: [7; 32],
        ..pinned.clone()
    };
    assert_step8_fails(
        &f.verify(&bundle, &other_code, Finality::Finalized),
        &format!(
            "the contract's code hash {} is not the pinned 0x0707",
            code_hash()
        ),
    );

    let other_anchorer = AnchorTrust::parse(31337, &f.contract, &code_hash(), ACCOUNT_1).unwrap();
    assert_step8_fails(
        &f.verify(&bundle, &other_anchorer, Finality::Finalized),
        &format!("anchor.anchorer {ACCOUNT_0} is not the pinned anchorer {ACCOUNT_1}"),
    );
    // Claimed too: account 1 never anchored anything.
    let mut claims_account_1 = bundle.clone();
    claims_account_1.anchor.as_mut().unwrap().anchorer = ACCOUNT_1.to_owned();
    assert_step8_fails(
        &f.verify(&claims_account_1, &other_anchorer, Finality::Finalized),
        &format!(
            "rootOf(anchorer, 0) at block {} is 0x{}, not batch_root",
            f.anvil.finalized(),
            "0".repeat(64)
        ),
    );
}

#[test]
fn a_root_that_is_not_on_chain_fails() {
    let f = Fixture::new();
    f.anvil.finalize(f.on_chain.block_number);
    // A self-consistent batch (step 7 passes) that was never anchored: city/air one entry
    // shorter, so its checkpoint and the batch root differ.
    let shorter = Log::build_at("test.example/city/air", 36, None, now_ms() - 300_000);
    let forged_batch = Batch::of(&[&shorter]);
    let bundle = shorter.bundle_in_batch(3, &forged_batch, &f.on_chain);
    let report = verify_online(&bundle, &f.trust(), &f.anvil.rpc, Finality::Finalized);
    assert_eq!(report.step(7).unwrap().status, StepStatus::Pass, "{report}");
    assert_step8_fails(
        &report,
        &format!(
            "rootOf(anchorer, 0) at block {} is 0x{}, not batch_root",
            f.anvil.finalized(),
            hex::encode(f.batch.root)
        ),
    );
    // Another batch seq, never anchored.
    let mut later = f.bundle(17);
    later.anchor.as_mut().unwrap().batch_seq = 1;
    assert_step8_fails(
        &f.verify(&later, &f.trust(), Finality::Finalized),
        "rootOf(anchorer, 1)",
    );
}

#[test]
fn receipt_and_event_must_be_the_claimed_ones() {
    let f = Fixture::new();
    // Batch 1 and batch 2 in one block, with a reverted anchor and a plain transfer beside them.
    let air40 = Log::build_at("test.example/city/air", 40, None, now_ms() - 200_000);
    let batch1 = Batch::of(&[&air40]);
    let batch2 = Batch::of(&[&Log::build_at(
        "test.example/city/air",
        41,
        None,
        now_ms() - 200_000,
    )]);
    let t1 = f
        .anvil
        .send_anchor(&f.contract, ACCOUNT_0, 1, &batch1.root, 1, &f.batch.root);
    let t2 = f
        .anvil
        .send_anchor(&f.contract, ACCOUNT_0, 2, &batch2.root, 1, &batch1.root);
    // Wrong seq for account 1 (its next is 0): reverts.
    let reverted = f
        .anvil
        .send_anchor(&f.contract, ACCOUNT_1, 5, &[9; 32], 1, &[0; 32]);
    let transfer = f
        .anvil
        .send(json!({"from": ACCOUNT_1, "to": ACCOUNT_0, "value": "0x1"}));
    f.anvil.mine(1);
    let r1 = f.anvil.receipt(&t1);
    let r2 = f.anvil.receipt(&t2);
    assert_eq!(r1["blockHash"], r2["blockHash"], "one block");
    assert_eq!(f.anvil.receipt(&reverted)["status"], "0x0");
    let on_chain1 = f.anvil.on_chain(&f.contract, 1, &f.batch.root, &r1);
    let on_chain2 = f.anvil.on_chain(&f.contract, 2, &batch1.root, &r2);
    f.anvil.finalize(on_chain2.block_number);
    let good = air40.bundle_in_batch(4, &batch1, &on_chain1);
    let report = f.verify(&good, &f.trust(), Finality::Finalized);
    assert!(report.ok(), "{report}");

    let claim = |edit: &dyn Fn(&mut civicproof_verify::bundle::Anchor)| {
        let mut b = good.clone();
        edit(b.anchor.as_mut().unwrap());
        f.verify(&b, &f.trust(), Finality::Finalized)
    };
    // Batch 2's transaction: same block, but its event is for seq 2.
    let r = claim(&|a| a.tx_hash = on_chain2.tx_hash.clone());
    assert_step8_fails(
        &r,
        "the Anchored event has other topics than the bundle claims",
    );
    // A reverted transaction in the claimed block.
    let r = claim(&|a| a.tx_hash = reverted.to_ascii_lowercase());
    assert_step8_fails(
        &r,
        "the anchoring transaction did not succeed (receipt status is not 1)",
    );
    // A plain transfer in the claimed block: no log of the contract.
    let r = claim(&|a| a.tx_hash = transfer.to_ascii_lowercase());
    assert_step8_fails(
        &r,
        "the receipt has 0 logs of the contract, not exactly one",
    );
    // The event's data: prev_root is only checked here.
    let r = claim(&|a| a.prev_root = "ab".repeat(32));
    assert_step8_fails(
        &r,
        "the Anchored event has other data than the bundle claims",
    );
    let r = claim(&|a| a.block_number += 1);
    assert_step8_fails(
        &r,
        &format!(
            "the receipt's block number {} is not block_number {}",
            on_chain1.block_number,
            on_chain1.block_number + 1
        ),
    );
    let r = claim(&|a| a.block_time -= 1);
    assert_step8_fails(
        &r,
        &format!(
            "anchor.block_time {} is not the block's time {}",
            on_chain1.block_time - 1,
            on_chain1.block_time
        ),
    );

    // A successful transaction in a block above F, claimed with its own block.
    let late = f
        .anvil
        .send(json!({"from": ACCOUNT_1, "to": ACCOUNT_0, "value": "0x2"}));
    f.anvil.mine(1);
    let late = f
        .anvil
        .on_chain(&f.contract, 1, &f.batch.root, &f.anvil.receipt(&late));
    assert!(late.block_number > f.anvil.finalized());
    let r = claim(&|a| {
        a.tx_hash = late.tx_hash.clone();
        a.block_hash = late.block_hash.clone();
        a.block_number = late.block_number;
    });
    assert_step8_fails(
        &r,
        &format!(
            "block_number {} is above the final block {}",
            late.block_number,
            f.anvil.finalized()
        ),
    );

    // A receipt the node does not serve, or one in another block, does not fail (b) passed:
    // the transaction fields are stale and F's time bounds the checkpoint.
    let r = claim(&|a| a.tx_hash = format!("0x{}", "cd".repeat(32)));
    assert!(r.ok(), "{r}");
    let found = r.anchor.as_ref().unwrap();
    assert_eq!(
        found.stale.as_deref(),
        Some("the node no longer serves the receipt of tx_hash")
    );
    assert!(found.existed_no_later_than >= on_chain1.block_time);
    assert!(
        r.of(Step::AnchorOnline)
            .unwrap()
            .detail
            .as_ref()
            .unwrap()
            .contains("transaction fields are stale")
    );
    let r = claim(&|a| a.tx_hash = f.on_chain.tx_hash.clone());
    assert!(r.ok(), "{r}");
    assert_eq!(
        r.anchor.unwrap().stale.as_deref(),
        Some("the receipt of tx_hash is in another block than block_hash")
    );
}

#[test]
fn published_more_than_300_s_after_the_block_fails() {
    // city/air's entries claim to be published an hour from now: later than the anchor.
    let f = Fixture::published_at(now_ms() + 3_600_000);
    f.anvil.finalize(f.on_chain.block_number);
    let report = f.verify(&f.bundle(2), &f.trust(), Finality::Finalized);
    assert_step8_fails(
        &report,
        "(seq 2) is more than 300 s after the anchor block's time",
    );
    assert_eq!(report.step(7).unwrap().status, StepStatus::Pass);
}

#[test]
fn require_anchor_turns_skipped_anchor_steps_into_failures() {
    let f = Fixture::new();
    f.anvil.finalize(f.on_chain.block_number);
    let anchor = f.trust();
    let unanchored = f.air.bundle(17).to_json_bytes();
    let anchored = f.bundle(17).to_json_bytes();
    let run = |bytes: &[u8],
               anchor_trust: Option<&AnchorTrust>,
               rpc: Option<&dyn ChainRpc>,
               require: Option<bool>| {
        verify_bundle_with(
            bytes,
            &trust(),
            &expect(17),
            &VerifyOptions {
                anchor_trust,
                rpc,
                require_anchor: require,
                ..VerifyOptions::default()
            },
        )
    };
    let rpc: &dyn ChainRpc = &f.anvil.rpc;

    // Anchor trust pinned: required by default.
    let r = run(&unanchored, Some(&anchor), Some(rpc), None);
    assert_eq!(r.failed_step, Some(7), "{r}");
    assert_eq!(
        r.step(7).unwrap().status,
        StepStatus::Fail("bundle has no anchor, and an anchor is required".to_owned())
    );
    let r = run(&anchored, Some(&anchor), None, None);
    assert_eq!(r.failed_step, Some(8), "{r}");
    assert_eq!(
        r.step(8).unwrap().status,
        StepStatus::Fail("no RPC endpoint given, and an on-chain check is required".to_owned())
    );
    // Relaxed explicitly: skipped, and the bundle verifies.
    let r = run(&unanchored, Some(&anchor), Some(rpc), Some(false));
    assert!(r.ok(), "{r}");
    assert!(matches!(r.step(8).unwrap().status, StepStatus::Skipped(_)));
    // Nothing pinned: not required by default, required on request.
    let r = run(&anchored, None, Some(rpc), None);
    assert!(r.ok(), "{r}");
    assert_eq!(
        r.step(8).unwrap().status,
        StepStatus::Skipped("no anchor trust pinned".to_owned())
    );
    let r = run(&anchored, None, Some(rpc), Some(true));
    assert_eq!(
        r.step(8).unwrap().status,
        StepStatus::Fail("no anchor trust pinned, and an on-chain check is required".to_owned())
    );
    // And everything given: passes.
    assert!(run(&anchored, Some(&anchor), Some(rpc), None).ok());
}

#[test]
fn code_hash_is_checked_on_first_use_per_endpoint() {
    let f = Fixture::new();
    f.anvil.finalize(f.on_chain.block_number);
    let cache = CodeHashCache::new();
    let bytes = f.bundle(17).to_json_bytes();
    let trust_anchor = f.trust();
    let counting = Counting {
        inner: &f.anvil.rpc,
        calls: Default::default(),
    };
    let options = VerifyOptions {
        anchor_trust: Some(&trust_anchor),
        rpc: Some(&counting),
        code_hashes: Some(&cache),
        ..VerifyOptions::default()
    };
    for _ in 0..3 {
        assert!(verify_bundle_with(&bytes, &trust(), &expect(17), &options).ok());
    }
    let calls = counting.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().filter(|m| *m == "eth_getCode").count(),
        1,
        "{calls:?}"
    );
    assert_eq!(calls.iter().filter(|m| *m == "eth_chainId").count(), 3);
}

/// Passes calls through to the real endpoint, recording the methods.
struct Counting<'a> {
    inner: &'a HttpRpc,
    calls: std::sync::Mutex<Vec<String>>,
}

impl ChainRpc for Counting<'_> {
    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
    fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, civicproof_verify::chain::RpcError> {
        self.calls.lock().unwrap().push(method.to_owned());
        self.inner.call(method, params)
    }
}

#[test]
fn an_unreachable_endpoint_fails_step_8_naming_it() {
    let f = Fixture::new();
    let dead = HttpRpc::new("http://127.0.0.1:9");
    let report = verify_online(&f.bundle(17), &f.trust(), &dead, Finality::Finalized);
    assert_step8_fails(&report, "eth_chainId: ");
    assert_step8_fails(&report, "(RPC http://127.0.0.1:9)");
}

mod cli {
    //! The `civicproof-verify` binary with anchor trust, end to end against the real chain.

    use civicproof_verify::encoding::base64_encode;
    use serde_json::json;

    use super::Fixture;
    use super::support::anvil::{ACCOUNT_0, code_hash};
    use super::support::cli::{TempDir, assert_code, json, run, stderr, stdout};
    use super::support::http::{Server, not_found};
    use super::support::{ORIGIN, PREFIX, trust};

    fn key() -> String {
        base64_encode(&trust().public_key)
    }

    fn anchor_flags<'a>(f: &'a Fixture, hash: &'a str) -> Vec<&'a str> {
        vec![
            "--chain-id",
            "31337",
            "--contract",
            &f.contract,
            "--code-hash",
            hash,
            "--anchorer",
            ACCOUNT_0,
            "--rpc",
            &f.anvil.url,
        ]
    }

    #[test]
    fn json_output_shows_endpoint_and_existed_no_later_than() {
        let f = Fixture::new();
        let dir = TempDir::new("anchor-cli");
        let trust_file = dir.path("trust.json");
        let file = dir.write("b.json", &f.bundle(17).to_json_bytes());
        let hash = code_hash();
        let key = key();
        let mut args = vec![
            "bundle",
            &file,
            "--origin",
            ORIGIN,
            "--seq",
            "17",
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
        ];
        args.extend(anchor_flags(&f, &hash));

        // Not final yet: step 8 fails, exit 1.
        let mut with_json = args.clone();
        with_json.push("--json");
        let out = run(&trust_file, &with_json, b"");
        assert_code(&out, 1);
        let report = json(&out);
        assert_eq!(report["failed_step"], 8);
        assert!(
            report["steps"][8]["detail"]
                .as_str()
                .unwrap()
                .starts_with("not-final")
        );

        f.anvil.finalize(f.on_chain.block_number);
        let out = run(&trust_file, &with_json, b"");
        assert_code(&out, 0);
        let report = json(&out);
        assert_eq!(report["ok"], true);
        assert_eq!(report["steps"][8]["status"], "pass");
        let anchor = &report["anchor"];
        assert_eq!(anchor["rpc"], f.anvil.url.as_str());
        assert_eq!(anchor["endpoint"], f.anvil.url.as_str());
        assert_eq!(anchor["required"], true);
        assert_eq!(anchor["finality"], "finalized");
        assert_eq!(anchor["existed_no_later_than"], f.on_chain.block_time);
        assert_eq!(
            anchor["existed_no_later_than_utc"],
            civicproof_verify::bundle::iso_time(f.on_chain.block_time).as_str()
        );
        assert_eq!(anchor["trust"]["contract"], f.contract.as_str());
        assert_eq!(anchor["trust"]["source"], "command line");

        // Text output names the endpoint and the date.
        let out = run(&trust_file, &args, b"");
        assert_code(&out, 0);
        let text = stdout(&out);
        assert!(
            text.contains(&format!(
                "existed no later than: {} (block time on chain via {}",
                civicproof_verify::bundle::iso_time(f.on_chain.block_time),
                f.anvil.url
            )),
            "{text}"
        );
        assert!(
            text.contains("step 8 anchor-online: passed (rootOf(anchorer, 0) equals batch_root"),
            "{text}"
        );
        assert!(text.ends_with("result: verified\n"), "{text}");

        // A wrong pinned code hash fails at step 8.
        let wrong = format!("0x{}", "07".repeat(32));
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == hash { wrong.as_str() } else { a })
            .collect();
        let out = run(&trust_file, &args, b"");
        assert_code(&out, 1);
        assert!(stdout(&out).contains("result: NOT verified: step 8 anchor-online failed"));
    }

    #[test]
    fn tofu_pins_anchor_trust_and_then_requires_an_anchor() {
        let f = Fixture::new();
        f.anvil.finalize(f.on_chain.block_number);
        let dir = TempDir::new("anchor-tofu");
        let trust_file = dir.path("trust.json");
        let anchored = f.bundle(17).to_json_bytes();
        let unanchored = f.air.bundle(16).to_json_bytes();
        let contract = f.contract.clone();
        let key = key();
        let well_known = json!({
            "origin_prefix": PREFIX,
            "log_public_key": key,
            "anchor": {"chain_id": 31337, "contract": contract, "contract_code_hash": code_hash(),
                       "anchorer": ACCOUNT_0, "finality": "finalized"},
        })
        .to_string();
        let server = Server::start(move |target| match target {
            "/.well-known/civicproof.json" => (200, well_known.clone().into_bytes()),
            "/v1/datasets/city/air/records/17/proof" => (200, anchored.clone()),
            "/v1/datasets/city/air/records/16/proof" => (200, unanchored.clone()),
            _ => not_found(),
        });
        let url = |seq: u64| format!("{}/v1/datasets/city/air/records/{seq}/proof", server.base);

        let out = run(
            &trust_file,
            &[
                "bundle",
                &url(17),
                "--tofu",
                "--rpc",
                &f.anvil.url,
                "--json",
            ],
            b"",
        );
        assert_code(&out, 0);
        assert!(
            stderr(&out)
                .contains("TRUST ON FIRST USE: pinning anchor trust for prefix test.example")
        );
        assert_eq!(
            json(&out)["anchor"]["trust"]["source"],
            "trust on first use"
        );
        let stored: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
        assert_eq!(stored[PREFIX]["anchor"]["contract"], f.contract.as_str());
        assert_eq!(stored[PREFIX]["anchor"]["finality"], "finalized");

        // From now on the trust file's anchor trust applies, and an anchor is required.
        let url16 = url(16);
        let by_file = [
            "bundle",
            &url16,
            "--prefix",
            PREFIX,
            "--rpc",
            &f.anvil.url,
            "--json",
        ];
        let out = run(&trust_file, &by_file, b"");
        assert_code(&out, 1);
        let report = json(&out);
        assert_eq!(report["failed_step"], 7);
        assert_eq!(
            report["steps"][7]["detail"],
            "bundle has no anchor, and an anchor is required"
        );
        assert_eq!(report["anchor"]["trust"]["source"], "trust file");
        let mut relaxed = by_file.to_vec();
        relaxed.push("--no-require-anchor");
        assert_code(&run(&trust_file, &relaxed, b""), 0);
        // Without an RPC endpoint an anchored bundle cannot pass step 8.
        let url17 = url(17);
        let out = run(
            &trust_file,
            &["bundle", &url17, "--prefix", PREFIX, "--json"],
            b"",
        );
        assert_code(&out, 1);
        assert_eq!(
            json(&out)["steps"][8]["detail"],
            "no RPC endpoint given, and an on-chain check is required"
        );
        // Other anchor flags than the pinned ones are refused.
        let hash = code_hash();
        let out = run(
            &trust_file,
            &[
                "bundle",
                &url17,
                "--prefix",
                PREFIX,
                "--chain-id",
                "1",
                "--contract",
                &f.contract,
                "--code-hash",
                &hash,
                "--anchorer",
                ACCOUNT_0,
            ],
            b"",
        );
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("different anchor trust pinned"),
            "{}",
            stderr(&out)
        );
    }

    #[test]
    fn anchor_flags_come_all_together() {
        let dir = TempDir::new("anchor-partial");
        let out = run(
            &dir.path("trust.json"),
            &[
                "bundle",
                "x.json",
                "--origin",
                ORIGIN,
                "--seq",
                "1",
                "--prefix",
                PREFIX,
                "--public-key",
                &key(),
                "--chain-id",
                "31337",
            ],
            b"",
        );
        assert_code(&out, 2);
        assert!(stderr(&out).contains(
            "anchor trust needs all of --chain-id, --contract, --code-hash and --anchorer"
        ));
        let out = run(
            &dir.path("trust.json"),
            &[
                "bundle",
                "x.json",
                "--origin",
                ORIGIN,
                "--seq",
                "1",
                "--prefix",
                PREFIX,
                "--public-key",
                &key(),
                "--finality",
                "latest",
            ],
            b"",
        );
        assert_code(&out, 2);
    }
}
