//! The mutation test, byte by byte: every byte of several real served bundles is flipped (three
//! ways) and each result must be rejected, at step 0 when it is no longer I-JSON and otherwise at
//! a step that owns the member the byte belongs to. Only the unsigned anchor claims, which step 8
//! checks on chain, may pass offline.

mod support;

use std::ops::Range;

use civicproof_verify::checkpoint::VerifiedNoteCache;
use civicproof_verify::{jcs, json};
use serde_json::Value;
use support::{Log, expect, subjects, verify};

/// Byte ranges of the members of `v` in its canonical form, as (JSON pointer, range), with
/// nested objects' members too. The range of a member covers its name and its value.
fn member_spans(v: &Value, base: usize, prefix: &str, out: &mut Vec<(String, Range<usize>)>) {
    let Value::Object(map) = v else { return };
    let mut members: Vec<_> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    let mut offset = base + 1; // '{'
    for (name, member) in members {
        let name_len = jcs::canonicalize(&Value::String(name.clone())).len() + 1; // ':'
        let value_len = jcs::canonicalize(member).len();
        let pointer = format!("{prefix}/{name}");
        out.push((pointer.clone(), offset..offset + name_len + value_len));
        member_spans(member, offset + name_len, &pointer, out);
        offset += name_len + value_len + 1; // ','
    }
}

/// The steps at which a flipped byte inside the member at `pointer` may be caught, and whether
/// a flip there can go unnoticed offline (unsigned anchor claims, which only step 8 can check).
fn allowed_steps(pointer: &str) -> (&'static [u8], bool) {
    let unchecked_anchor = [
        "/anchor/batch_seq",
        "/anchor/prev_root",
        "/anchor/chain_id",
        "/anchor/contract",
        "/anchor/anchorer",
        "/anchor/tx_hash",
        "/anchor/block_number",
        "/anchor/block_hash",
        "/anchor/block_time",
    ];
    if pointer.starts_with("/anchor_pending") {
        return (&[0], true);
    }
    if unchecked_anchor.iter().any(|p| pointer.starts_with(p)) {
        return (&[0, 1], true);
    }
    let top = pointer.split('/').nth(1).unwrap_or("");
    let steps: &'static [u8] = match top {
        "format" => &[0],
        "envelope" => &[0, 2, 3],
        "payload" => &[0, 2],
        "salt" => &[0, 1, 2],
        "leaf_hash" => &[0, 1, 3],
        "inclusion" => &[0, 1, 5, 6],
        "checkpoint" => &[0, 4],
        "erasure" => &[0, 1, 2],
        "anchor" => &[0, 1, 7],
        _ => &[0],
    };
    (steps, false)
}

#[test]
fn every_flipped_byte_is_rejected_at_its_fields_step() {
    let log = Log::city_air();
    let cache = VerifiedNoteCache::new(8);
    let mut flips = 0;
    let mut unnoticed_claims = 0;
    let mut failed_at = [0usize; 9];
    for s in &subjects(&log) {
        let bytes = jcs::canonicalize(&s.value);
        assert!(
            verify(&bytes, &expect(s.seq), &cache).ok(),
            "{} baseline",
            s.name
        );
        let mut spans = Vec::new();
        member_spans(&s.value, 0, "", &mut spans);
        for i in 0..bytes.len() {
            // The innermost member containing byte i (spans are listed outer before inner).
            let pointer = spans
                .iter()
                .rev()
                .find(|(_, r)| r.contains(&i))
                .map_or("", |(p, _)| p.as_str());
            let (steps, may_pass) = allowed_steps(pointer);
            for mask in [0x01u8, 0x20, 0x80] {
                let mut mutated = bytes.clone();
                mutated[i] ^= mask;
                let report = verify(&mutated, &expect(s.seq), &cache);
                flips += 1;
                if let Some(step) = report.failed_step {
                    failed_at[usize::from(step)] += 1;
                }
                let what = format!(
                    "{}: byte {i} ({:?} in {pointer}) ^ {mask:#04x}",
                    s.name, bytes[i] as char
                );
                if json::parse_strict(&mutated).is_err() {
                    assert_eq!(report.failed_step, Some(0), "{what}\n{report}");
                    continue;
                }
                match report.failed_step {
                    None if may_pass => {
                        assert!(report.ok(), "{what}\n{report}");
                        unnoticed_claims += 1;
                    }
                    Some(step) if steps.contains(&step) => {}
                    _ => panic!("{what}: expected a failure at one of {steps:?}\n{report}"),
                }
            }
        }
    }
    assert!(flips > 15_000, "{flips} flips");
    // Flips reach every offline step, not just the parser.
    eprintln!("{flips} flips; failed at steps 0-8: {failed_at:?}; unnoticed: {unnoticed_claims}");
    assert!(failed_at[..8].iter().all(|n| *n > 0), "{failed_at:?}");
    // Only the unsigned anchor claims (2 anchored subjects) and the pending hint can pass offline.
    assert!(
        unnoticed_claims < flips / 20,
        "{unnoticed_claims} of {flips}"
    );
}
