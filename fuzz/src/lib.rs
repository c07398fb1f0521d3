//! Shared oracles of the civicproof fuzz targets (see README.md).
//!
//! Every check here is a property the project documents; a failed assertion is a finding,
//! exactly like a panic inside the code under test.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use civicproof_api::error::ApiError;
use civicproof_api::services::input::{self, BatchFormat, Caps, MAX_ERRORS};
use civicproof_verify::bundle::{Expect, Trust};
use civicproof_verify::{jcs, json};

/// The caps of the input targets: the server defaults scaled down so that a 256 KiB input can
/// hit every limit (record count, canonical payload size, element size).
pub const CAPS: Caps = Caps {
    max_records: 1000,
    max_payload_bytes: 65536,
    max_element_bytes: 1 << 20,
};

/// The log key of `web/test/fixtures/bundles.json` (`expect.publicKey`), so that the seed
/// bundles, notes and proofs verify and mutations start from fully valid inputs.
pub const FIXTURE_PUBLIC_KEY_B64: &str = "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=";
/// The fixtures' instance prefix and dataset origin.
pub const FIXTURE_PREFIX: &str = "test.example";
pub const FIXTURE_ORIGIN: &str = "test.example/city/air";

/// The fixtures' Ed25519 log public key.
pub fn fixture_public_key() -> [u8; 32] {
    STANDARD
        .decode(FIXTURE_PUBLIC_KEY_B64)
        .expect("fixture key is base64")
        .try_into()
        .expect("fixture key is 32 bytes")
}

/// The pinned trust of the bundle target.
pub fn fixture_trust() -> Trust {
    Trust {
        prefix: FIXTURE_PREFIX.to_owned(),
        public_key: fixture_public_key(),
    }
}

/// What the bundle target asks for: any entry of the fixtures' origin.
pub fn fixture_expect() -> Expect {
    Expect {
        origin: FIXTURE_ORIGIN.to_owned(),
        seq: None,
    }
}

/// `canonical` is a fixed point of strict parsing plus JCS: it parses under every rule of
/// PROTOCOL.md section 2 and canonicalizes to itself.
pub fn assert_canonical_fixpoint(canonical: &[u8]) {
    let reparsed = match json::parse_strict(canonical) {
        Ok(v) => v,
        Err(e) => panic!(
            "canonical bytes do not re-parse: {e}\ncanonical: {:?}",
            String::from_utf8_lossy(canonical)
        ),
    };
    let again = jcs::canonicalize(&reparsed);
    assert!(
        again == canonical,
        "JCS is not idempotent:\n first: {:?}\nsecond: {:?}",
        String::from_utf8_lossy(canonical),
        String::from_utf8_lossy(&again)
    );
}

/// One publishing body through `services::input::parse`: it must not panic, every accepted
/// record must be a canonical object within the caps, and every refusal must be a 400 or 422.
pub fn check_input(format: BatchFormat, data: &[u8]) {
    match input::parse(format, data, CAPS, None, None) {
        Ok(records) => {
            assert!(!records.is_empty(), "an accepted batch has records");
            assert!(records.len() <= CAPS.max_records, "record cap exceeded");
            for r in &records {
                assert!(
                    r.canonical.len() <= CAPS.max_payload_bytes,
                    "payload cap exceeded: {} bytes",
                    r.canonical.len()
                );
                assert!(
                    r.canonical.first() == Some(&b'{'),
                    "a payload is an object: {:?}",
                    String::from_utf8_lossy(&r.canonical)
                );
                if let Some(key) = &r.key {
                    assert!(
                        input::check_key_text(key).is_ok(),
                        "accepted key breaks the key rules: {key:?}"
                    );
                }
                assert_canonical_fixpoint(&r.canonical);
            }
        }
        Err(ApiError::BadRequest(_)) => {}
        Err(ApiError::Validation(errors)) => {
            assert!(
                (1..=MAX_ERRORS).contains(&errors.len()),
                "a 422 lists 1..={MAX_ERRORS} problems, not {}",
                errors.len()
            );
        }
        Err(other) => panic!("input parsing answered neither 400 nor 422: {other:?}"),
    }
}
