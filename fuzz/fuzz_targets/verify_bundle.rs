//! Proof bundle verification (PROTOCOL.md section 7, offline: steps 0-7) on arbitrary bytes,
//! with the fixtures' pinned key and origin so that seed bundles verify completely:
//! - never panics; the report always has steps 0-8 in order, and `failed_step` names the one
//!   failed step;
//! - the verified-note cache gives exactly the report of a direct verification;
//! - a bundle that step 0 accepts re-serializes (`Bundle::to_json_bytes`) to bytes that step 0
//!   reads back as the same bundle.
#![no_main]

use std::sync::LazyLock;

use civicproof_verify::bundle::{self, Bundle, Expect, STEP_NAMES, StepStatus, Trust};
use civicproof_verify::checkpoint::VerifiedNoteCache;
use libfuzzer_sys::fuzz_target;

static TRUST: LazyLock<Trust> = LazyLock::new(civicproof_fuzz::fixture_trust);
static EXPECT: LazyLock<Expect> = LazyLock::new(civicproof_fuzz::fixture_expect);
static CACHE: LazyLock<VerifiedNoteCache> = LazyLock::new(|| VerifiedNoteCache::new(64));

fuzz_target!(|data: &[u8]| {
    let report = bundle::verify_bundle(data, &TRUST, &EXPECT, None);
    assert_eq!(report.steps.len(), STEP_NAMES.len(), "{report:?}");
    for (i, s) in report.steps.iter().enumerate() {
        assert_eq!(usize::from(s.step), i, "{report:?}");
    }
    let fails: Vec<u8> = report
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Fail(_)))
        .map(|s| s.step)
        .collect();
    match report.failed_step {
        None => assert!(fails.is_empty(), "{report:?}"),
        Some(n) => assert_eq!(fails, [n], "{report:?}"),
    }
    if report.ok() {
        assert!(report.checkpoint.is_some(), "{report:?}");
    }

    let cached = bundle::verify_bundle(data, &TRUST, &EXPECT, Some(&CACHE));
    assert_eq!(report, cached, "the note cache changed the verdict");

    if let Ok(parsed) = Bundle::from_json_strict(data) {
        assert!(
            !matches!(report.steps[0].status, StepStatus::Fail(_)),
            "from_json_strict accepts what step 0 refuses: {report:?}"
        );
        let served = parsed.to_json_bytes();
        match Bundle::from_json_strict(&served) {
            Ok(again) => assert_eq!(parsed, again, "a bundle does not survive re-serialization"),
            Err(e) => panic!(
                "step 0 refuses a re-serialized bundle it accepted: {e}\n{}",
                String::from_utf8_lossy(&served)
            ),
        }
    } else {
        assert!(
            matches!(report.steps[0].status, StepStatus::Fail(_)),
            "step 0 accepts what from_json_strict refuses: {report:?}"
        );
    }
});
