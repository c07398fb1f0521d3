//! C2SP tlog-proof@v1 text (PROTOCOL.md section 6, `?format=tlog-proof`):
//! - `tlog_proof::parse` never panics and every spelling is unique: a parsed proof formats
//!   back to exactly its input;
//! - the path is at most 64 hashes;
//! - the embedded checkpoint goes through `verify_note` (fixtures' key), and the inclusion
//!   arithmetic (`merkle::verify_inclusion`) runs on the proof's index and path against the
//!   checkpoint's size and root, signed or not, for the fixture leaf of record 0 (so the seed
//!   proof of record 0 verifies): neither may panic.
#![no_main]

use std::sync::LazyLock;

use civicproof_verify::checkpoint::{self, Checkpoint};
use civicproof_verify::{merkle, note, tlog_proof};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<[u8; 32]> = LazyLock::new(civicproof_fuzz::fixture_public_key);

/// `leaf_hash` of "record 0" in web/test/fixtures/bundles.json (its seed proofs verify).
const LEAF_HEX: &str = "9ccd5d2fdeefd18521aed0e631ff37db7038bd1af50af1933b0087c21085353c";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((index, path, note_text)) = tlog_proof::parse(text) else {
        return;
    };
    assert!(path.len() <= tlog_proof::MAX_PATH_LEN);
    assert!(!note_text.is_empty());
    assert_eq!(
        tlog_proof::format(index, &path, &note_text),
        text,
        "a parsed tlog-proof does not format back to its text"
    );

    let leaf: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&LEAF_HEX[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let path: Vec<Vec<u8>> = path.iter().map(|h| h.to_vec()).collect();
    // Unsigned: the arithmetic on any size the text claims.
    if let Ok(n) = note::parse(note_text.as_bytes())
        && let Ok(cp) = Checkpoint::parse_text(&n.text)
    {
        let _ = merkle::verify_inclusion(&leaf, index, cp.size, &path, &cp.root);
    }
    let _ = checkpoint::verify_note(note_text.as_bytes(), &KEY);
});
