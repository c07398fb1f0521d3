//! The mutation test, field by field: every change to a hash, path element, tree size, seq,
//! signature byte, payload value, envelope field or the checkpoint note of a real bundle is
//! rejected, at the step that owns the changed field (see also `bundle_byte_flips.rs`).

mod support;

use civicproof_verify::bundle::{Expect, StepStatus};
use civicproof_verify::checkpoint::{Checkpoint, VerifiedNoteCache};
use civicproof_verify::encoding;
use civicproof_verify::jcs;
use civicproof_verify::merkle;
use civicproof_verify::note;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use support::{ERASED, Log, ORIGIN, Subject, expect, key, subjects, verify};

/// Applies `mutate` to the subject's JSON and asserts rejection at exactly `step`.
fn rejects(s: &Subject, what: &str, step: u8, mutate: impl FnOnce(&mut Value)) {
    let mut value = s.value.clone();
    mutate(&mut value);
    assert_ne!(value, s.value, "{}: {what} changed nothing", s.name);
    let report = verify(
        &jcs::canonicalize(&value),
        &expect(s.seq),
        &VerifiedNoteCache::new(4),
    );
    assert_eq!(
        report.failed_step,
        Some(step),
        "{}: {what}\n{report}",
        s.name
    );
    assert!(!report.ok());
}

/// The member at JSON pointer `at`.
fn at<'a>(v: &'a mut Value, pointer: &str) -> &'a mut Value {
    v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no member {pointer}"))
}

/// `s` with hex digit `i` replaced by another lowercase hex digit.
fn bump_hex(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    b[i] = match b[i] {
        b'f' => b'0',
        b'9' => b'a',
        c => c + 1,
    };
    String::from_utf8(b).unwrap()
}

fn bump_hex_at(v: &mut Value, pointer: &str, i: usize) {
    let s = at(v, pointer).as_str().unwrap().to_owned();
    *at(v, pointer) = Value::String(bump_hex(&s, i));
}

fn string_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).unwrap().as_str().unwrap().to_owned()
}

/// Every scalar inside `v`, as JSON pointers.
fn scalar_pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| scalar_pointers(v, format!("{prefix}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| scalar_pointers(v, format!("{prefix}/{i}"), out)),
        _ => out.push(prefix),
    }
}

/// A different scalar of the same type.
fn other_scalar(v: &Value) -> Value {
    match v {
        Value::Null => json!(0),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_f64().unwrap() + 1.0),
        Value::String(s) => json!(format!("{s}x")),
        _ => unreachable!(),
    }
}

/// The subject's checkpoint note, parsed.
fn note_of(s: &Subject) -> note::Note {
    note::parse(string_at(&s.value, "/checkpoint").as_bytes()).unwrap()
}

#[test]
fn step_0_format() {
    let log = Log::city_air();
    for s in &subjects(&log) {
        rejects(s, "format v2", 0, |v| {
            v["format"] = json!("civicproof/bundle/v2")
        });
        for field in s.value.as_object().unwrap().keys() {
            rejects(s, &format!("{field} removed"), 0, |v| {
                v.as_object_mut().unwrap().remove(field);
            });
        }
        rejects(s, "unknown member", 0, |v| {
            v["signature"] = json!("trust me")
        });
        rejects(s, "unknown inclusion member", 0, |v| {
            v["inclusion"]["root"] = json!("")
        });
        rejects(s, "leaf_hash a number", 0, |v| v["leaf_hash"] = json!(5));
        rejects(s, "tree_size a string", 0, |v| {
            v["inclusion"]["tree_size"] = json!("37")
        });
        rejects(s, "tree_size fractional", 0, |v| {
            v["inclusion"]["tree_size"] = json!(37.5)
        });
        rejects(s, "tree_size negative", 0, |v| {
            v["inclusion"]["tree_size"] = json!(-37)
        });
        rejects(s, "tree_size 2^53", 0, |v| {
            v["inclusion"]["tree_size"] = json!(9_007_199_254_740_992.0)
        });
        rejects(s, "path not an array", 0, |v| {
            v["inclusion"]["path"] = json!("x")
        });
        rejects(s, "path element a number", 0, |v| {
            v["inclusion"]["path"][0] = json!(1)
        });
        rejects(s, "path of 65 elements", 0, |v| {
            v["inclusion"]["path"] = json!(vec![hex::encode([0u8; 32]); 65])
        });
        rejects(s, "payload an array", 0, |v| v["payload"] = json!([]));
        rejects(s, "salt a number", 0, |v| v["salt"] = json!(1));
        rejects(s, "checkpoint null", 0, |v| v["checkpoint"] = Value::Null);
        rejects(s, "envelope null", 0, |v| v["envelope"] = Value::Null);
        rejects(s, "erasure a string", 0, |v| v["erasure"] = json!(""));
        rejects(s, "anchor_pending bad tx", 0, |v| {
            v["anchor_pending"] = json!({"batch_seq": 1, "tx_hash": "0x12"})
        });
        rejects(
            s,
            "anchor_pending extra",
            0,
            |v| {
                v["anchor_pending"] =
                    json!({"batch_seq": 1, "tx_hash": format!("0x{}", "a".repeat(64)), "x": 1})
            },
        );
    }
    let anchored = &subjects(&log)[1];
    for (what, pointer, bad) in [
        ("batch_index = batch_size", "/anchor/batch_index", json!(3)),
        ("batch_size 0", "/anchor/batch_size", json!(0)),
        (
            "chain_id 2^53",
            "/anchor/chain_id",
            json!(9_007_199_254_740_992.0),
        ),
        (
            "contract uppercase",
            "/anchor/contract",
            json!("0x5FBDB2315678afecb367f032d93f642f64180aa3"),
        ),
        (
            "anchorer short",
            "/anchor/anchorer",
            json!("0xf39fd6e51aad88f6f4ce6ab8827279cfffb9226"),
        ),
        (
            "tx_hash without 0x",
            "/anchor/tx_hash",
            json!(hex::encode([1u8; 32])),
        ),
        (
            "block_hash as 0X",
            "/anchor/block_hash",
            json!(format!("0X{}", hex::encode([1u8; 32]))),
        ),
        (
            "block_number a string",
            "/anchor/block_number",
            json!("1234"),
        ),
        (
            "batch_path too long",
            "/anchor/batch_path",
            json!(vec![hex::encode([0u8; 32]); 65]),
        ),
    ] {
        rejects(anchored, what, 0, |v| *at(v, pointer) = bad);
    }
}

#[test]
fn step_0_rejects_non_i_json() {
    let log = Log::city_air();
    let bytes = log.bundle(17).to_json_bytes();
    let text = String::from_utf8(bytes).unwrap();
    let cache = VerifiedNoteCache::new(4);
    let duplicate = text.replacen(
        "{\"anchor\"",
        "{\"format\":\"civicproof/bundle/v1\",\"anchor\"",
        1,
    );
    let deep = text.replacen(
        "\"payload\":{",
        &format!(
            "\"payload\":{{\"deep\":{}0{},",
            "[".repeat(64),
            "]".repeat(64)
        ),
        1,
    );
    let lone_surrogate = text.replacen("sensor-", "sensor-\\ud800", 1);
    let big_integer = text.replacen("\"tree_size\":37", "\"tree_size\":9007199254740993", 1);
    for (what, bad) in [
        ("duplicate member", duplicate),
        // A payload nested 65 deep: one more than section 2 allows (the bundle adds a level).
        ("depth 66", deep),
        ("lone surrogate", lone_surrogate),
        ("integer beyond 2^53", big_integer),
        ("trailing data", format!("{text} x")),
        ("truncated", text[..text.len() - 1].to_owned()),
    ] {
        let report = verify(bad.as_bytes(), &expect(17), &cache);
        assert_eq!(report.failed_step, Some(0), "{what}\n{report}");
    }
}

#[test]
fn step_1_lengths() {
    let log = Log::city_air();
    let subjects = subjects(&log);
    for s in &subjects {
        let leaf = string_at(&s.value, "/leaf_hash");
        rejects(s, "leaf_hash uppercase", 1, |v| {
            v["leaf_hash"] = json!(leaf.to_uppercase())
        });
        rejects(s, "leaf_hash 31 bytes", 1, |v| {
            v["leaf_hash"] = json!(&leaf[2..])
        });
        rejects(s, "leaf_hash 33 bytes", 1, |v| {
            v["leaf_hash"] = json!(format!("{leaf}00"))
        });
        rejects(s, "leaf_hash with 0x", 1, |v| {
            v["leaf_hash"] = json!(format!("0x{}", &leaf[2..]))
        });
        rejects(s, "leaf_hash non-hex", 1, |v| {
            v["leaf_hash"] = json!(leaf.replacen(&leaf[..1], "g", 1))
        });
        rejects(s, "path element short", 1, |v| {
            let p = string_at(v, "/inclusion/path/0");
            v["inclusion"]["path"][0] = json!(&p[1..]);
        });
    }
    let record = &subjects[0];
    let salt = string_at(&record.value, "/salt");
    rejects(record, "salt 15 bytes", 1, |v| {
        v["salt"] = json!(&salt[2..])
    });
    rejects(record, "salt uppercase", 1, |v| {
        v["salt"] = json!(salt.to_uppercase())
    });
    let anchored = &subjects[1];
    for pointer in [
        "/anchor/batch_root",
        "/anchor/prev_root",
        "/anchor/batch_path/0",
    ] {
        rejects(anchored, pointer, 1, |v| {
            let h = string_at(v, pointer);
            *at(v, pointer) = json!(h.to_uppercase());
        });
    }
    let erased = &subjects[2];
    rejects(erased, "erasure path short", 1, |v| {
        let p = string_at(v, "/erasure/path/0");
        v["erasure"]["path"][0] = json!(&p[4..]);
    });
}

#[test]
fn step_2_payload() {
    let log = Log::city_air();
    let subjects = subjects(&log);
    for s in &subjects[..2] {
        let mut scalars = Vec::new();
        scalar_pointers(&s.value["payload"], "/payload".to_owned(), &mut scalars);
        assert!(scalars.len() >= 8);
        for pointer in &scalars {
            rejects(s, &format!("{pointer} changed"), 2, |v| {
                let other = other_scalar(at(v, pointer));
                *at(v, pointer) = other;
            });
        }
        rejects(s, "payload member added", 2, |v| {
            v["payload"]["extra"] = json!(1)
        });
        rejects(s, "payload member removed", 2, |v| {
            v["payload"].as_object_mut().unwrap().remove("pm10");
        });
        rejects(s, "payload emptied", 2, |v| v["payload"] = json!({}));
        rejects(s, "payload null", 2, |v| v["payload"] = Value::Null);
        rejects(s, "salt null", 2, |v| v["salt"] = Value::Null);
        rejects(s, "payload over 64 KiB", 2, |v| {
            v["payload"]["big"] = json!("x".repeat(64 * 1024))
        });
        for i in 0..32 {
            rejects(s, &format!("salt digit {i}"), 2, |v| {
                bump_hex_at(v, "/salt", i)
            });
        }
        for i in 0..64 {
            rejects(s, &format!("payload_digest digit {i}"), 2, |v| {
                bump_hex_at(v, "/envelope/payload_digest", i)
            });
        }
        rejects(s, "kind erasure", 2, |v| {
            v["envelope"]["kind"] = json!("erasure")
        });
        rejects(s, "an erasure attached", 2, |v| {
            v["erasure"] = subjects[2].value["erasure"].clone()
        });
    }

    let erased = &subjects[2];
    rejects(erased, "erasure null", 2, |v| v["erasure"] = Value::Null);
    rejects(erased, "payload restored", 2, |v| {
        v["payload"] = subjects[0].value["payload"].clone();
        v["salt"] = subjects[0].value["salt"].clone();
    });
    rejects(erased, "envelope seq", 2, |v| {
        v["envelope"]["seq"] = json!(6.0)
    });
    let changes = [
        ("erases", json!(4.0)),
        ("seq", json!(35.0)),
        ("reason", json!("court-order")),
        ("dataset", json!("test.example/city/water")),
        ("published_at", json!("2025-11-26T10:00:55.000Z")),
        ("kind", json!("record")),
        ("v", json!(2)),
        ("extra", json!(1)),
    ];
    for (field, value) in changes {
        rejects(erased, &format!("erasure entry {field}"), 2, |v| {
            v["erasure"]["envelope"][field] = value
        });
    }
    let path_len = erased.value["erasure"]["path"].as_array().unwrap().len();
    for i in 0..path_len {
        rejects(erased, &format!("erasure path {i}"), 2, |v| {
            bump_hex_at(v, &format!("/erasure/path/{i}"), 7)
        });
    }
    rejects(erased, "erasure path shortened", 2, |v| {
        v["erasure"]["path"].as_array_mut().unwrap().pop();
    });
    rejects(erased, "erasure path of the record", 2, |v| {
        v["erasure"]["path"] = v["inclusion"]["path"].clone()
    });

    let entry = &subjects[3];
    rejects(entry, "erasure entry with an erasure", 2, |v| {
        v["erasure"] = subjects[2].value["erasure"].clone()
    });
    rejects(entry, "erasure entry with a payload", 2, |v| {
        v["payload"] = subjects[0].value["payload"].clone();
        v["salt"] = subjects[0].value["salt"].clone();
    });
}

#[test]
fn step_3_leaf() {
    let log = Log::city_air();
    for s in &subjects(&log) {
        for i in 0..64 {
            rejects(s, &format!("leaf_hash digit {i}"), 3, |v| {
                bump_hex_at(v, "/leaf_hash", i)
            });
        }
        let fields: Vec<String> = s.value["envelope"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for field in fields {
            // Removing these fails where they are read first: step 2.
            let step2 = matches!(field.as_str(), "kind" | "payload_digest")
                || (s.seq == ERASED && matches!(field.as_str(), "seq" | "dataset"));
            if !step2 {
                rejects(s, &format!("envelope {field} removed"), 3, |v| {
                    v["envelope"].as_object_mut().unwrap().remove(&field);
                });
            }
            let changed = match field.as_str() {
                "kind" | "payload_digest" => continue,
                "seq" if s.seq == ERASED => continue,
                "dataset" if s.seq == ERASED => continue,
                "seq" => json!(s.seq as f64 + 1.0),
                "dataset" => json!("test.example/city/water"),
                "published_at" => json!("2025-11-26T10:00:00.001Z"),
                "key" | "supersedes" | "erases" | "v" | "reason" => {
                    match &s.value["envelope"][&field] {
                        Value::Null => json!(1),
                        Value::String(k) if field == "key" => json!(format!("{k}x")),
                        Value::String(_) => json!("other"),
                        Value::Number(_) if field == "v" => json!(2),
                        Value::Number(_) => Value::Null,
                        other => panic!("{field}: {other}"),
                    }
                }
                other => panic!("unexpected envelope field {other}"),
            };
            rejects(s, &format!("envelope {field} changed"), 3, |v| {
                v["envelope"][&field] = changed
            });
        }
        rejects(s, "envelope with an extra field", 3, |v| {
            v["envelope"]["x"] = json!(1)
        });
        rejects(s, "published_at not in milliseconds", 3, |v| {
            let t = string_at(v, "/envelope/published_at");
            v["envelope"]["published_at"] = json!(t.replace(".000Z", "Z").replace(".500Z", "Z"));
        });
    }
}

#[test]
fn step_4_checkpoint_signature() {
    let log = Log::city_air();
    for s in &subjects(&log) {
        let note = note_of(s);
        let sig_len = 4 + note.signatures[0].signature.len();
        assert_eq!(sig_len, 68);
        for i in 0..sig_len {
            rejects(s, &format!("signature byte {i}"), 4, |v| {
                let mut n = note.clone();
                let mut bytes = n.signatures[0].key_id.to_vec();
                bytes.extend_from_slice(&n.signatures[0].signature);
                bytes[i] ^= 0x01;
                n.signatures[0].key_id = bytes[..4].try_into().unwrap();
                n.signatures[0].signature = bytes[4..].to_vec();
                v["checkpoint"] = json!(note::format(&n));
            });
        }
        let text = note.text.clone();
        let lines: Vec<&str> = text.lines().collect();
        let edits = [
            ("origin", text.replacen(ORIGIN, "test.example/city/airs", 1)),
            (
                "size",
                text.replacen(&format!("\n{}\n", lines[1]), "\n38\n", 1),
            ),
            (
                "root",
                text.replacen(
                    lines[2],
                    &encoding::base64_encode(&merkle::leaf_hash(lines[2].as_bytes())),
                    1,
                ),
            ),
            ("extension line", format!("{text}extension\n")),
        ];
        for (what, edited) in edits {
            rejects(s, &format!("note {what} edited"), 4, |v| {
                let mut n = note.clone();
                n.text = edited;
                v["checkpoint"] = json!(note::format(&n));
            });
        }
        let original = string_at(&s.value, "/checkpoint");
        rejects(s, "hyphen for em dash", 4, |v| {
            v["checkpoint"] = json!(original.replace('\u{2014}', "-"))
        });
        rejects(s, "signature line dropped", 4, |v| {
            v["checkpoint"] = json!(format!("{text}\n"))
        });
        rejects(s, "carriage return", 4, |v| {
            v["checkpoint"] = json!(original.replacen('\n', "\r\n", 1))
        });
        rejects(s, "signed by another key", 4, |v| {
            v["checkpoint"] = json!(note::sign_ed25519(
                &text,
                ORIGIN,
                &SigningKey::from_bytes(&[9; 32])
            ))
        });
        rejects(s, "signed under the prefix", 4, |v| {
            v["checkpoint"] = json!(note::sign_ed25519(&text, "test.example", &key()))
        });
        rejects(s, "signed extension line", 4, |v| {
            v["checkpoint"] = json!(note::sign_ed25519(&format!("{text}x\n"), ORIGIN, &key()))
        });
    }
}

#[test]
fn cosignatures_are_ignored() {
    let log = Log::city_air();
    for s in &subjects(&log) {
        let mut n = note_of(s);
        let witness = SigningKey::from_bytes(&[3; 32]);
        let cosigned =
            note::parse(note::sign_ed25519(&n.text, "witness.example", &witness).as_bytes())
                .unwrap();
        n.signatures.extend(cosigned.signatures);
        let mut v = s.value.clone();
        v["checkpoint"] = json!(note::format(&n));
        let report = verify(
            &jcs::canonicalize(&v),
            &expect(s.seq),
            &VerifiedNoteCache::new(4),
        );
        assert!(report.ok(), "{}\n{report}", s.name);
    }
}

#[test]
fn step_5_binding() {
    let log = Log::city_air();
    let cache = VerifiedNoteCache::new(8);
    for s in &subjects(&log) {
        let bytes = jcs::canonicalize(&s.value);
        for wrong in [
            expect(s.seq + 1),
            Expect {
                origin: "test.example/city/water".to_owned(),
                seq: Some(s.seq),
            },
            Expect {
                origin: "other.example/city/air".to_owned(),
                seq: Some(s.seq),
            },
        ] {
            let report = verify(&bytes, &wrong, &cache);
            assert_eq!(
                report.failed_step,
                Some(5),
                "{}: {wrong:?}\n{report}",
                s.name
            );
        }
        rejects(s, "tree_size + 1", 5, |v| {
            v["inclusion"]["tree_size"] = json!(38)
        });
        rejects(s, "tree_size - 1", 5, |v| {
            v["inclusion"]["tree_size"] = json!(36)
        });
        rejects(s, "a genuine checkpoint of another dataset", 5, |v| {
            let other = Checkpoint {
                origin: "test.example/city/water".to_owned(),
                ..log.checkpoint()
            };
            v["checkpoint"] = json!(other.sign(&key()));
        });
        // For an erased record the erasure entry's inclusion (step 2, run right after step 4)
        // meets the foreign checkpoint first.
        let step = if s.seq == ERASED { 2 } else { 5 };
        rejects(s, "a genuine checkpoint of another size", step, |v| {
            v["checkpoint"] = json!(log.checkpoint_at(36).sign(&key()));
        });
    }
}

#[test]
fn step_6_inclusion() {
    let log = Log::city_air();
    for s in &subjects(&log) {
        let len = s.value["inclusion"]["path"].as_array().unwrap().len();
        assert!(len >= 1);
        for i in 0..len {
            for digit in [0, 31, 63] {
                rejects(s, &format!("path {i} digit {digit}"), 6, |v| {
                    bump_hex_at(v, &format!("/inclusion/path/{i}"), digit)
                });
            }
        }
        rejects(s, "path element dropped", 6, |v| {
            v["inclusion"]["path"].as_array_mut().unwrap().pop();
        });
        rejects(s, "path element added", 6, |v| {
            v["inclusion"]["path"]
                .as_array_mut()
                .unwrap()
                .push(json!(hex::encode([0; 32])));
        });
        if len >= 2 {
            rejects(s, "path elements swapped", 6, |v| {
                v["inclusion"]["path"].as_array_mut().unwrap().swap(0, 1);
            });
        }
        let step = if s.seq == ERASED { 2 } else { 6 };
        rejects(s, "a genuine checkpoint with another root", step, |v| {
            let c = Checkpoint {
                root: merkle::leaf_hash(b"another root"),
                ..log.checkpoint()
            };
            v["checkpoint"] = json!(c.sign(&key()));
        });
    }
}

#[test]
fn step_7_anchor_offline() {
    let log = Log::city_air();
    let subjects = subjects(&log);
    for s in &subjects[1..3] {
        rejects(s, "batch_root", 7, |v| {
            bump_hex_at(v, "/anchor/batch_root", 10)
        });
        let len = s.value["anchor"]["batch_path"].as_array().unwrap().len();
        for i in 0..len {
            rejects(s, &format!("batch_path {i}"), 7, |v| {
                bump_hex_at(v, &format!("/anchor/batch_path/{i}"), 0)
            });
        }
        let index = s.value["anchor"]["batch_index"].as_u64().unwrap();
        rejects(s, "batch_index", 7, |v| {
            v["anchor"]["batch_index"] = json!((index + 1) % 3)
        });
        // (Growing the batch to 4 keeps this leaf's path shape, so only step 8, which reads
        // batch_size from the chain, can catch that; shrinking it changes the shape.)
        rejects(s, "batch_size", 7, |v| v["anchor"]["batch_size"] = json!(2));
        // A one-leaf batch holding a checkpoint of the same origin and size with another root.
        rejects(s, "anchor of another checkpoint", 7, |v| {
            let mut c = log.checkpoint_at(36);
            c.size = 37;
            v["anchor"] = serde_json::to_value(log.anchored_bundle(0).anchor).unwrap();
            v["anchor"]["batch_root"] =
                json!(hex::encode(merkle::leaf_hash(c.to_text().as_bytes())));
            v["anchor"]["batch_size"] = json!(1);
            v["anchor"]["batch_index"] = json!(0);
            v["anchor"]["batch_path"] = json!([]);
        });
    }
}

/// Step 8 is the only check of these fields; offline they are reported as a claim, not hidden.
#[test]
fn unsigned_anchor_fields_are_a_claim_until_checked_on_chain() {
    let log = Log::city_air();
    let s = &subjects(&log)[1];
    for (pointer, value) in [
        ("/anchor/batch_seq", json!(13)),
        ("/anchor/prev_root", json!(hex::encode([9u8; 32]))),
        ("/anchor/chain_id", json!(1)),
        ("/anchor/contract", json!(format!("0x{}", "1".repeat(40)))),
        ("/anchor/anchorer", json!(format!("0x{}", "2".repeat(40)))),
        ("/anchor/tx_hash", json!(format!("0x{}", "3".repeat(64)))),
        ("/anchor/block_number", json!(1)),
        ("/anchor/block_hash", json!(format!("0x{}", "4".repeat(64)))),
        ("/anchor/block_time", json!(0)),
        (
            "/anchor_pending",
            json!({"batch_seq": 1, "tx_hash": format!("0x{}", "5".repeat(64))}),
        ),
    ] {
        let mut v = s.value.clone();
        *at(&mut v, pointer) = value;
        let report = verify(
            &jcs::canonicalize(&v),
            &expect(s.seq),
            &VerifiedNoteCache::new(4),
        );
        assert!(report.ok(), "{pointer}\n{report}");
        let step7 = report.step(7).unwrap();
        assert_eq!(step7.status, StepStatus::Pass);
        assert_eq!(
            step7.detail.as_deref(),
            Some("anchor claimed, not checked on chain")
        );
        assert!(matches!(
            &report.step(8).unwrap().status,
            StepStatus::Skipped(_)
        ));
    }
}
