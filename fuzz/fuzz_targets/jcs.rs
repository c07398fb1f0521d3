//! Strict JSON parsing and RFC 8785 canonicalization (PROTOCOL.md section 2):
//! - whatever `json::parse_strict` accepts, serde_json (a plain RFC 8259 parser) accepts too;
//! - a parsed value passes `json::check_value` unchanged in canonical form;
//! - its canonical bytes parse again and canonicalize to themselves (idempotence).
#![no_main]

use civicproof_verify::{jcs, json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::parse_strict(data) else {
        return;
    };
    assert!(
        serde_json::from_slice::<serde_json::Value>(data).is_ok(),
        "parse_strict accepted text that is not RFC 8259 JSON: {:?}",
        String::from_utf8_lossy(data)
    );
    let canonical = jcs::canonicalize(&value);
    let checked = json::check_value(&value, json::MAX_DEPTH)
        .unwrap_or_else(|e| panic!("check_value refused a strictly parsed value: {e}"));
    assert!(
        jcs::canonicalize(&checked) == canonical,
        "check_value changed a strictly parsed value"
    );
    civicproof_fuzz::assert_canonical_fixpoint(&canonical);
});
