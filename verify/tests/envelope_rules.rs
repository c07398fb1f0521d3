//! Envelope encoding, leaf hashes and the strictness of `Envelope::from_value`.

use civicproof_verify::envelope::{self, Envelope, EnvelopeError, ErasureReason, payload_digest};
use civicproof_verify::{jcs, json};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DIGEST_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn record() -> Envelope {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(DIGEST_HEX, &mut digest).unwrap();
    Envelope::Record {
        dataset: "localhost/city/air".into(),
        seq: 41,
        key: Some("czujnik-ż/1".into()),
        published_at: "2026-11-26T10:00:01.123Z".into(),
        payload_digest: digest,
        supersedes: Some(17),
    }
}

fn erasure() -> Envelope {
    Envelope::Erasure {
        dataset: "localhost/city/air".into(),
        seq: 42,
        erases: 41,
        published_at: "2026-11-27T08:00:00.000Z".into(),
        reason: ErasureReason::LegalErasure,
    }
}

/// `SHA-256(0x00 || text)` computed without the crate.
fn independent_leaf_hash(text: &str) -> String {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(text.as_bytes());
    hex::encode(h.finalize())
}

#[test]
fn record_leaf_hash_known_answer() {
    let canonical = format!(
        "{{\"dataset\":\"localhost/city/air\",\"key\":\"czujnik-ż/1\",\"kind\":\"record\",\
         \"payload_digest\":\"{DIGEST_HEX}\",\"published_at\":\"2026-11-26T10:00:01.123Z\",\
         \"seq\":41,\"supersedes\":17,\"v\":1}}"
    );
    let env = record();
    assert_eq!(String::from_utf8(env.canonical_bytes()).unwrap(), canonical);
    assert_eq!(
        hex::encode(env.leaf_hash()),
        independent_leaf_hash(&canonical)
    );
    assert_eq!(
        envelope::leaf_hash(canonical.as_bytes()),
        env.leaf_hash(),
        "free function and method agree"
    );
}

#[test]
fn erasure_leaf_hash_known_answer() {
    let canonical = "{\"dataset\":\"localhost/city/air\",\"erases\":41,\"kind\":\"erasure\",\
                     \"published_at\":\"2026-11-27T08:00:00.000Z\",\"reason\":\"legal-erasure\",\
                     \"seq\":42,\"v\":1}";
    let env = erasure();
    assert_eq!(String::from_utf8(env.canonical_bytes()).unwrap(), canonical);
    assert_eq!(
        hex::encode(env.leaf_hash()),
        independent_leaf_hash(canonical)
    );
}

#[test]
fn null_fields_stay_present() {
    let Envelope::Record {
        dataset,
        published_at,
        payload_digest,
        ..
    } = record()
    else {
        unreachable!()
    };
    let env = Envelope::Record {
        dataset,
        seq: 0,
        key: None,
        published_at,
        payload_digest,
        supersedes: None,
    };
    let text = String::from_utf8(env.canonical_bytes()).unwrap();
    assert!(text.contains("\"key\":null"), "{text}");
    assert!(text.contains("\"supersedes\":null"), "{text}");
    assert_eq!(env.kind(), "record");
    assert_eq!(env.seq(), 0);
    assert_eq!(env.dataset(), "localhost/city/air");
}

#[test]
fn payload_digest_is_salted_sha256() {
    let salt = [7u8; 16];
    let payload = json::parse_strict(br#"{"pm10": 17.20, "station": "A"}"#).unwrap();
    let canonical = jcs::canonicalize(&payload);
    assert_eq!(canonical, br#"{"pm10":17.2,"station":"A"}"#);
    let mut h = Sha256::new();
    h.update(salt);
    h.update(&canonical);
    let expected: [u8; 32] = h.finalize().into();
    assert_eq!(payload_digest(&salt, &canonical), expected);
}

#[test]
fn round_trips_through_canonical_bytes() {
    for env in [record(), erasure()] {
        let parsed = json::parse_strict(&env.canonical_bytes()).unwrap();
        assert_eq!(parsed, env.to_value());
        assert_eq!(Envelope::from_value(&parsed), Ok(env.clone()));
        // Integers held exactly (as from serde_json) are accepted too.
        let exact: Value = serde_json::from_slice(&env.canonical_bytes()).unwrap();
        assert_eq!(Envelope::from_value(&exact), Ok(env));
    }
}

#[test]
fn erasure_reasons() {
    for (reason, code) in ErasureReason::ALL.into_iter().zip([
        "legal-erasure",
        "court-order",
        "publisher-error",
        "other",
    ]) {
        assert_eq!(reason.as_str(), code);
        assert_eq!(reason.to_string(), code);
        assert_eq!(code.parse::<ErasureReason>(), Ok(reason));
    }
    assert_eq!(
        "Other".parse::<ErasureReason>(),
        Err(EnvelopeError::UnknownReason("Other".into()))
    );
}

/// Applies `mutate` to the JSON of `base` and returns what `from_value` says.
fn mutated(
    base: &Envelope,
    mutate: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<Envelope, EnvelopeError> {
    let mut v = base.to_value();
    mutate(v.as_object_mut().unwrap());
    Envelope::from_value(&v)
}

fn set(field: &'static str, value: Value) -> impl FnOnce(&mut serde_json::Map<String, Value>) {
    move |m| {
        m.insert(field.to_owned(), value);
    }
}

#[test]
fn accepted_variants() {
    let ok: Vec<(&str, Value)> = vec![
        ("key", Value::Null),
        ("key", json!("")),
        ("key", json!("ż".repeat(128))),
        ("key", json!("sensor-17/2026-11-26T10:00Z")),
        ("supersedes", Value::Null),
        ("supersedes", json!(0)),
        ("supersedes", json!(40)),
        ("published_at", json!("2024-02-29T23:59:59.999Z")),
        ("published_at", json!("1969-12-31T00:00:00.000Z")),
        ("published_at", json!("2000-02-29T00:00:00.000Z")),
        (
            "dataset",
            json!("data.katowice.example:8443/city-hall/budget"),
        ),
        ("seq", json!(9007199254740991_u64)),
    ];
    for (field, value) in ok {
        assert!(
            mutated(&record(), set(field, value.clone())).is_ok(),
            "{field} = {value}"
        );
    }
}

#[test]
fn record_mutations_are_rejected() {
    use EnvelopeError::*;
    let wrong_type = |field| WrongType {
        field,
        expected: if field == "seq" || field == "supersedes" {
            "an integer"
        } else {
            "a string"
        },
    };
    let cases: Vec<(&str, Value, EnvelopeError)> = vec![
        ("extra", json!(null), UnknownField("extra".into())),
        ("erases", json!(1), UnknownField("erases".into())),
        ("reason", json!("other"), UnknownField("reason".into())),
        ("V", json!(1), UnknownField("V".into())),
        ("v", json!(2), UnsupportedVersion),
        ("v", json!(0), UnsupportedVersion),
        ("v", json!("1"), UnsupportedVersion),
        ("v", json!(1.5), UnsupportedVersion),
        ("v", json!(null), UnsupportedVersion),
        ("kind", json!("Record"), UnknownKind("Record".into())),
        ("kind", json!(""), UnknownKind(String::new())),
        ("kind", json!(1), wrong_type("kind")),
        ("dataset", json!(7), wrong_type("dataset")),
        ("dataset", json!("localhost/air"), InvalidDataset),
        ("dataset", json!("LOCALHOST/city/air"), InvalidDataset),
        ("dataset", json!(""), InvalidDataset),
        ("seq", json!("41"), wrong_type("seq")),
        ("seq", json!(null), wrong_type("seq")),
        ("seq", json!(-1), IntegerOutOfRange("seq")),
        ("seq", json!(41.5), IntegerOutOfRange("seq")),
        ("seq", json!(9007199254740992_u64), IntegerOutOfRange("seq")),
        ("seq", json!(1e300), IntegerOutOfRange("seq")),
        ("key", json!(5), wrong_type("key")),
        ("key", json!(["a"]), wrong_type("key")),
        ("key", json!("ż".repeat(129)), KeyTooLong(258)),
        ("key", json!("x".repeat(257)), KeyTooLong(257)),
        ("key", json!("a\nb"), KeyControlCharacter),
        ("key", json!("a\u{7f}"), KeyControlCharacter),
        ("key", json!("a\u{85}"), KeyControlCharacter),
        ("key", json!("\t"), KeyControlCharacter),
        (
            "published_at",
            json!(1764151201123_u64),
            wrong_type("published_at"),
        ),
        (
            "payload_digest",
            json!(DIGEST_HEX.to_uppercase()),
            InvalidDigest,
        ),
        ("payload_digest", json!(&DIGEST_HEX[..63]), InvalidDigest),
        (
            "payload_digest",
            json!(format!("{DIGEST_HEX}0")),
            InvalidDigest,
        ),
        (
            "payload_digest",
            json!(format!("0x{}", &DIGEST_HEX[2..])),
            InvalidDigest,
        ),
        (
            "payload_digest",
            json!(format!("g{}", &DIGEST_HEX[1..])),
            InvalidDigest,
        ),
        ("payload_digest", json!(""), InvalidDigest),
        ("payload_digest", json!(null), wrong_type("payload_digest")),
        ("supersedes", json!(41), NotBeforeSeq("supersedes")),
        ("supersedes", json!(42), NotBeforeSeq("supersedes")),
        ("supersedes", json!(-1), IntegerOutOfRange("supersedes")),
        ("supersedes", json!("17"), wrong_type("supersedes")),
    ];
    for (field, value, expected) in cases {
        assert_eq!(
            mutated(&record(), set(field, value.clone())),
            Err(expected),
            "{field} = {value}"
        );
    }
}

#[test]
fn bad_timestamps_are_rejected() {
    for ts in [
        "2026-11-26T10:00:01Z",
        "2026-11-26T10:00:01.12Z",
        "2026-11-26T10:00:01.1234Z",
        "2026-11-26 10:00:01.123Z",
        "2026-11-26t10:00:01.123Z",
        "2026-11-26T10:00:01.123z",
        "2026-11-26T10:00:01.123+00:00",
        "2026-11-26T10:00:01.123",
        "+2026-11-26T10:00:01.123Z",
        "2026-11-26T10:00:01,123Z",
        "2026-1-26T10:00:01.123Z",
        "2026-02-29T10:00:01.123Z",
        "1900-02-29T10:00:01.123Z",
        "2026-13-01T10:00:01.123Z",
        "2026-00-10T10:00:01.123Z",
        "2026-11-31T10:00:01.123Z",
        "2026-11-00T10:00:01.123Z",
        "2026-11-26T24:00:00.000Z",
        "2026-11-26T10:60:01.123Z",
        "2026-12-31T23:59:60.000Z",
        "2026-11-26T1a:00:01.123Z",
        "2026-11-26T10:00:01.-12Z",
        "２０２６-11-26T10:00:01.123Z",
        "",
    ] {
        assert_eq!(
            mutated(&record(), set("published_at", json!(ts))),
            Err(EnvelopeError::InvalidTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn missing_fields_are_rejected() {
    for base in [record(), erasure()] {
        let fields: Vec<String> = base
            .to_value()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for field in fields {
            let result = mutated(&base, |m| {
                m.remove(&field);
            });
            assert!(
                matches!(&result, Err(EnvelopeError::MissingField(f)) if *f == field),
                "{} without {field}: {result:?}",
                base.kind()
            );
        }
    }
}

#[test]
fn erasure_mutations_are_rejected() {
    use EnvelopeError::*;
    let cases: Vec<(&str, Value, EnvelopeError)> = vec![
        ("erases", json!(42), NotBeforeSeq("erases")),
        ("erases", json!(43), NotBeforeSeq("erases")),
        (
            "erases",
            json!(null),
            WrongType {
                field: "erases",
                expected: "an integer",
            },
        ),
        ("erases", json!(-1), IntegerOutOfRange("erases")),
        (
            "reason",
            json!("legal_erasure"),
            UnknownReason("legal_erasure".into()),
        ),
        ("reason", json!("Other"), UnknownReason("Other".into())),
        (
            "reason",
            json!(null),
            WrongType {
                field: "reason",
                expected: "a string",
            },
        ),
        (
            "payload_digest",
            json!(DIGEST_HEX),
            UnknownField("payload_digest".into()),
        ),
        ("key", json!(null), UnknownField("key".into())),
        ("supersedes", json!(null), UnknownField("supersedes".into())),
        ("kind", json!("record"), UnknownField("erases".into())),
        (
            "published_at",
            json!("2026-11-27T08:00:00Z"),
            InvalidTimestamp,
        ),
    ];
    for (field, value, expected) in cases {
        assert_eq!(
            mutated(&erasure(), set(field, value.clone())),
            Err(expected),
            "{field} = {value}"
        );
    }
    // seq 0 cannot erase anything.
    assert_eq!(
        mutated(&erasure(), |m| {
            m.insert("seq".into(), json!(0));
            m.insert("erases".into(), json!(0));
        }),
        Err(NotBeforeSeq("erases"))
    );
}

#[test]
fn non_objects_are_rejected() {
    for v in [json!([]), json!(null), json!("record"), json!(1)] {
        assert_eq!(
            Envelope::from_value(&v),
            Err(EnvelopeError::NotAnObject),
            "{v}"
        );
    }
}
