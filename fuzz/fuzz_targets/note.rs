//! C2SP signed notes and tlog checkpoints (PROTOCOL.md sections 4 and 7, step 4):
//! - `note::parse`, `Checkpoint::parse_text` and `checkpoint::verify_note` never panic;
//! - every spelling is unique: a parsed note formats back to exactly its input, a parsed
//!   checkpoint text to exactly its text;
//! - `verify_note` (fixtures' key) succeeds only on a note that parses, returning that note and
//!   its checkpoint, and the verified-note cache agrees with it.
#![no_main]

use std::sync::LazyLock;

use civicproof_verify::checkpoint::{self, Checkpoint, VerifiedNoteCache};
use civicproof_verify::note;
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<[u8; 32]> = LazyLock::new(civicproof_fuzz::fixture_public_key);
static CACHE: LazyLock<VerifiedNoteCache> = LazyLock::new(|| VerifiedNoteCache::new(64));

fuzz_target!(|data: &[u8]| {
    // The checkpoint text parser on its own, whatever the note parser thinks.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = Checkpoint::parse_text(text)
    {
        assert_eq!(cp.to_text(), text, "checkpoint text has two spellings");
    }

    let parsed = note::parse(data);
    if let Ok(n) = &parsed {
        assert!(n.text.ends_with('\n'), "note text must end with a newline: {n:?}");
        assert!(!n.signatures.is_empty(), "a note without signatures parsed: {n:?}");
        assert_eq!(
            note::format(n).as_bytes(),
            data,
            "a parsed note does not format back to its bytes"
        );
        if let Ok(cp) = Checkpoint::parse_text(&n.text) {
            assert_eq!(cp.to_text(), n.text, "checkpoint text has two spellings");
        }
    }

    let verified = checkpoint::verify_note(data, &KEY);
    match (&verified, &parsed) {
        (Ok((cp, n)), Ok(p)) => {
            assert_eq!(n, p, "verify_note saw another note than note::parse");
            assert_eq!(cp.to_text(), n.text);
            assert!(
                n.signatures
                    .iter()
                    .any(|s| s.name == cp.origin && s.key_id == note::key_id(&cp.origin, &KEY)),
                "verified without a signature line of the pinned key"
            );
        }
        (Ok(_), Err(e)) => panic!("verify_note accepted a note that does not parse: {e}"),
        (Err(_), _) => {}
    }
    assert_eq!(
        verified,
        CACHE.verify(data, &KEY),
        "the note cache changed the verdict"
    );
});
