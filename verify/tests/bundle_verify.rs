//! Real bundles verify, step by step, and bundles for something else fail step 5.

mod support;

use civicproof_verify::bundle::{
    ANCHOR_UNCHECKED, Bundle, Expect, Report, StepStatus, Trust, verify_bundle,
};
use civicproof_verify::checkpoint::VerifiedNoteCache;
use civicproof_verify::{jcs, json};
use ed25519_dalek::SigningKey;
use support::{ERASED, ERASURE, Log, ORIGIN, PREFIX, SIZE, expect, trust};

fn verify(bundle: &Bundle, expect: &Expect) -> Report {
    verify_bundle(&bundle.to_json_bytes(), &trust(), expect, None)
}

fn skipped(why: &str) -> StepStatus {
    StepStatus::Skipped(why.to_owned())
}

#[test]
fn every_entry_of_the_log_verifies() {
    let log = Log::city_air();
    for seq in 0..SIZE {
        let report = verify(&log.bundle(seq), &expect(seq));
        assert!(report.ok(), "seq {seq}:\n{report}");
        assert_eq!(report.failed_step, None);
        assert_eq!(report.checkpoint, Some(log.checkpoint()));
        let statuses: Vec<&StepStatus> = report.steps.iter().map(|s| &s.status).collect();
        let payload = if seq == ERASED {
            StepStatus::Erased {
                seq: ERASURE,
                reason: "legal-erasure".to_owned(),
            }
        } else {
            StepStatus::Pass
        };
        let pass = StepStatus::Pass;
        assert_eq!(
            statuses,
            [
                &pass,
                &pass,
                &payload,
                &pass,
                &pass,
                &pass,
                &pass,
                &skipped("bundle has no anchor"),
                // As web/verify.js says it: without an anchor there is nothing to check on chain.
                &skipped("bundle has no anchor"),
            ],
            "seq {seq}"
        );
        let erased_by = (seq == ERASED).then(|| (ERASURE, "legal-erasure".to_owned()));
        assert_eq!(report.erased_by, erased_by);
    }
}

#[test]
fn any_seq_verifies_when_none_is_expected() {
    let log = Log::city_air();
    let any = Expect {
        origin: ORIGIN.to_owned(),
        seq: None,
    };
    for seq in [0, ERASED, 17, ERASURE] {
        assert!(verify(&log.bundle(seq), &any).ok());
    }
}

#[test]
fn older_checkpoints_verify_too() {
    let log = Log::city_air();
    for size in [1, 2, 17, 36] {
        for seq in [0, size / 2, size - 1] {
            let report = verify(&log.bundle_at(seq, size), &expect(seq));
            assert!(report.ok(), "seq {seq} size {size}:\n{report}");
        }
    }
}

#[test]
fn anchored_bundles_pass_step_7_as_a_claim() {
    let log = Log::city_air();
    for seq in [0, ERASED, 17, ERASURE] {
        let report = verify(&log.anchored_bundle(seq), &expect(seq));
        assert!(report.ok(), "seq {seq}:\n{report}");
        let step7 = report.step(7).unwrap();
        assert_eq!(
            (step7.name, &step7.status),
            ("anchor-offline", &StepStatus::Pass)
        );
        assert_eq!(step7.detail.as_deref(), Some(ANCHOR_UNCHECKED));
        assert_eq!(
            report.step(8).unwrap().status,
            skipped("no anchor trust pinned")
        );
    }
}

#[test]
fn pending_anchor_is_only_a_hint() {
    let log = Log::city_air();
    let report = verify(&log.pending_bundle(17), &expect(17));
    assert!(report.ok(), "{report}");
    assert_eq!(
        report.step(7).unwrap().status,
        skipped("bundle has no anchor")
    );
}

#[test]
fn served_bytes_are_canonical_and_read_back_exactly() {
    let log = Log::city_air();
    for bundle in [
        log.bundle(ERASED),
        log.anchored_bundle(17),
        log.pending_bundle(1),
    ] {
        let bytes = bundle.to_json_bytes();
        assert_eq!(
            jcs::canonicalize(&json::parse_strict(&bytes).unwrap()),
            bytes
        );
        assert_eq!(Bundle::from_json_strict(&bytes).unwrap(), bundle);
        // Whitespace and member order do not matter to a verifier.
        let pretty = serde_json::to_vec_pretty(&bundle).unwrap();
        assert!(verify_bundle(&pretty, &trust(), &expect(bundle_seq(&bundle)), None).ok());
    }
}

fn bundle_seq(bundle: &Bundle) -> u64 {
    bundle.envelope["seq"].as_f64().unwrap() as u64
}

#[test]
fn a_shared_checkpoint_is_verified_once() {
    let log = Log::city_air();
    let cache = VerifiedNoteCache::default();
    for seq in 0..SIZE {
        let bytes = log.bundle(seq).to_json_bytes();
        assert!(verify_bundle(&bytes, &trust(), &expect(seq), Some(&cache)).ok());
    }
    assert_eq!(cache.len(), 1);
}

/// Asserts that `report` failed at `step` with a reason containing `reason`.
fn assert_fails(report: &Report, step: u8, reason: &str) {
    assert_eq!(report.failed_step, Some(step), "{report}");
    assert!(!report.ok());
    match &report.step(step).unwrap().status {
        StepStatus::Fail(why) => assert!(why.contains(reason), "{why:?} lacks {reason:?}"),
        other => panic!("step {step} is {other:?}"),
    }
    for later in &report.steps[usize::from(step) + 1..] {
        assert_eq!(later.status, skipped("earlier step failed"));
    }
}

#[test]
fn bundles_of_another_dataset_or_entry_fail_step_5() {
    let log = Log::city_air();
    let bundle = log.bundle(17);
    let other_origin = Expect {
        origin: "test.example/city/water".to_owned(),
        seq: Some(17),
    };
    assert_fails(
        &verify(&bundle, &other_origin),
        5,
        "not the expected origin",
    );
    assert_fails(&verify(&bundle, &expect(16)), 5, "not the expected seq 16");

    // A genuine bundle of a sibling dataset, signed by the same instance key.
    let water = Log::build("test.example/city/water", 5, None);
    assert!(
        verify(
            &water.bundle(3),
            &Expect {
                origin: water.origin.clone(),
                seq: Some(3)
            }
        )
        .ok()
    );
    assert_fails(
        &verify(&water.bundle(3), &expect(3)),
        5,
        "not the expected origin",
    );

    // The right dataset under another pinned prefix.
    let elsewhere = Trust {
        prefix: "other.example".to_owned(),
        ..trust()
    };
    let report = verify_bundle(&bundle.to_json_bytes(), &elsewhere, &expect(17), None);
    assert_fails(&report, 5, "pinned prefix");
    // `test.example` must not match `test.example.evil/...` or `test.ex`.
    for prefix in ["test.ex", "test.example/city"] {
        let t = Trust {
            prefix: prefix.to_owned(),
            ..trust()
        };
        let report = verify_bundle(&bundle.to_json_bytes(), &t, &expect(17), None);
        assert_eq!(report.ok(), prefix == "test.example/city", "{prefix}");
    }
    assert_eq!(PREFIX, "test.example");
}

#[test]
fn the_tree_size_comes_from_the_signed_note() {
    let log = Log::city_air();
    // Proof for size 36, checkpoint for size 37: step 5.
    let mut bundle = log.bundle_at(17, 36);
    bundle.checkpoint = log.bundle(17).checkpoint;
    assert_fails(
        &verify(&bundle, &expect(17)),
        5,
        "is not the checkpoint size 37",
    );
    // ... and claiming tree_size 37 with the size-36 path fails inclusion.
    bundle.inclusion.tree_size = 37;
    assert_fails(&verify(&bundle, &expect(17)), 6, "");
    // An entry beyond the checkpoint.
    let mut beyond = log.bundle_at(9, 10);
    let entry20 = log.bundle(20);
    beyond.envelope = entry20.envelope;
    beyond.payload = entry20.payload;
    beyond.salt = entry20.salt;
    beyond.leaf_hash = entry20.leaf_hash;
    assert_fails(
        &verify(&beyond, &expect(20)),
        5,
        "does not exceed envelope seq 20",
    );
}

#[test]
fn another_key_fails_step_4() {
    let log = Log::city_air();
    let other = Trust {
        public_key: SigningKey::from_bytes(&[8u8; 32])
            .verifying_key()
            .to_bytes(),
        ..trust()
    };
    let report = verify_bundle(&log.bundle(17).to_json_bytes(), &other, &expect(17), None);
    assert_fails(&report, 4, "no signature by test.example/city/air");
    assert_eq!(report.checkpoint, None);
}
