//! The fixture catalogue: real bundles and a systematic sample of mutations, grouped by the step
//! that owns the mutated member (after `verify/tests/bundle_mutations.rs`), plus raw-text and
//! signature edge cases where two independent verifiers are most likely to drift apart.

use civicproof_verify::bundle::Expect;
use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::{encoding, jcs, json, merkle, note};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::Fixture;
use crate::crafted;
use crate::log::{self, ERASED, ERASURE, Log, ORIGIN, PREFIX};

/// A served bundle that mutations start from.
struct Subject {
    name: &'static str,
    seq: u64,
    value: Value,
}

impl Subject {
    fn new(name: &'static str, bundle: &civicproof_verify::bundle::Bundle) -> Subject {
        Subject {
            name,
            seq: bundle.envelope["seq"].as_f64().unwrap() as u64,
            value: serde_json::to_value(bundle).unwrap(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8(jcs::canonicalize(&self.value)).unwrap()
    }

    fn note(&self) -> note::Note {
        note::parse(self.value["checkpoint"].as_str().unwrap().as_bytes()).unwrap()
    }
}

struct Gen {
    fixtures: Vec<Fixture>,
    public_key: [u8; 32],
}

impl Gen {
    fn add_with(
        &mut self,
        name: String,
        bytes: Vec<u8>,
        expect: Expect,
        prefix: &str,
        public_key: [u8; 32],
    ) {
        self.fixtures.push(Fixture {
            name,
            bytes,
            expect,
            prefix: prefix.to_owned(),
            public_key,
            witnesses: None,
        });
    }

    /// `bytes` expected as entry `seq` of `origin` under the test trust.
    fn add_of(&mut self, name: String, bytes: Vec<u8>, origin: &str, seq: Option<u64>) {
        let expect = Expect {
            origin: origin.to_owned(),
            seq,
        };
        let key = self.public_key;
        self.add_with(name, bytes, expect, PREFIX, key);
    }

    fn add(&mut self, name: String, bytes: Vec<u8>, seq: u64) {
        self.add_of(name, bytes, ORIGIN, Some(seq));
    }

    fn subject(&mut self, s: &Subject) {
        self.add(
            format!("{}: as served", s.name),
            s.text().into_bytes(),
            s.seq,
        );
    }

    /// The subject's JSON changed by `f`, served canonically.
    fn mutate(&mut self, s: &Subject, what: &str, f: impl FnOnce(&mut Value)) {
        let mut v = s.value.clone();
        f(&mut v);
        assert_ne!(v, s.value, "{}: {what} changed nothing", s.name);
        self.add(format!("{}: {what}", s.name), jcs::canonicalize(&v), s.seq);
    }

    /// The subject's served text changed by `f` (raw-text mutations the JSON model cannot hold).
    fn text(&mut self, s: &Subject, what: &str, f: impl FnOnce(&str) -> String) {
        let original = s.text();
        let changed = f(&original);
        assert_ne!(changed, original, "{}: {what} changed nothing", s.name);
        self.add(
            format!("{}: text {what}", s.name),
            changed.into_bytes(),
            s.seq,
        );
    }

    /// Like [`Gen::text`] for raw bytes (invalid UTF-8).
    fn bytes(&mut self, s: &Subject, what: &str, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
        let original = s.text().into_bytes();
        let changed = f(original.clone());
        assert_ne!(changed, original, "{}: {what} changed nothing", s.name);
        self.add(format!("{}: bytes {what}", s.name), changed, s.seq);
    }

    /// The subject's bytes with another expectation or trust.
    fn expect(
        &mut self,
        s: &Subject,
        what: &str,
        origin: &str,
        seq: Option<u64>,
        prefix: &str,
        key: [u8; 32],
    ) {
        let expect = Expect {
            origin: origin.to_owned(),
            seq,
        };
        self.add_with(
            format!("{}: expect {what}", s.name),
            s.text().into_bytes(),
            expect,
            prefix,
            key,
        );
    }
}

/// Replaces the first `from` (which must occur) with `to`.
fn replace1(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found");
    text.replacen(from, to, 1)
}

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

fn other_scalar(v: &Value) -> Value {
    match v {
        Value::Null => json!(0),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_f64().unwrap() + 1.0),
        Value::String(s) => json!(format!("{s}x")),
        _ => unreachable!(),
    }
}

fn set_note(v: &mut Value, n: &note::Note) {
    v["checkpoint"] = json!(note::format(n));
}

pub fn all() -> Vec<Fixture> {
    let mut g = Gen {
        fixtures: Vec::new(),
        public_key: log::key().verifying_key().to_bytes(),
    };
    let log = Log::city_air();
    let subjects = [
        Subject::new("record 0", &log.bundle(0)),
        Subject::new("anchored record 17", &log.anchored_bundle(17)),
        Subject::new("erased record 5", &log.anchored_bundle(ERASED)),
        Subject::new("erasure entry 36", &log.bundle(ERASURE)),
    ];
    baselines(&mut g, &log, &subjects);
    step_0(&mut g, &subjects);
    raw_text(&mut g, &subjects);
    step_1(&mut g, &subjects);
    step_2(&mut g, &subjects);
    step_3(&mut g, &subjects);
    step_4(&mut g, &subjects);
    ed25519_edges(&mut g, &subjects);
    witness_policies(&mut g, &subjects);
    step_5(&mut g, &log, &subjects);
    step_6(&mut g, &log, &subjects);
    step_7(&mut g, &log, &subjects);
    unsigned_claims(&mut g, &subjects);
    edge_log(&mut g);
    g.fixtures
}

fn baselines(g: &mut Gen, log: &Log, subjects: &[Subject]) {
    for s in subjects {
        g.subject(s);
    }
    let pending = Subject::new("pending record 3", &log.pending_bundle(3));
    g.subject(&pending);
    let older = Subject::new("record 10 at size 20", &log.bundle_at(10, 20));
    g.subject(&older);
    let erased_anchored_free = Subject::new("erased record 5 unanchored", &log.bundle(ERASED));
    g.subject(&erased_anchored_free);
    let last = Subject::new("record 35", &log.bundle(35));
    g.subject(&last);
    for s in subjects {
        g.expect(s, "any seq", ORIGIN, None, PREFIX, g.public_key);
    }
}

fn step_0(g: &mut Gen, subjects: &[Subject]) {
    for (i, s) in subjects.iter().enumerate() {
        g.mutate(s, "format v2", |v| {
            v["format"] = json!("civicproof/bundle/v2")
        });
        if i < 2 {
            for field in s.value.as_object().unwrap().keys() {
                g.mutate(s, &format!("{field} removed"), |v| {
                    v.as_object_mut().unwrap().remove(field);
                });
            }
        }
        g.mutate(s, "unknown member", |v| v["signature"] = json!("trust me"));
        g.mutate(s, "unknown inclusion member", |v| {
            v["inclusion"]["root"] = json!("")
        });
        g.mutate(s, "leaf_hash a number", |v| v["leaf_hash"] = json!(5));
        g.mutate(s, "tree_size a string", |v| {
            v["inclusion"]["tree_size"] = json!("37")
        });
        g.mutate(s, "tree_size fractional", |v| {
            v["inclusion"]["tree_size"] = json!(37.5)
        });
        g.mutate(s, "tree_size negative", |v| {
            v["inclusion"]["tree_size"] = json!(-37)
        });
        g.mutate(s, "path not an array", |v| {
            v["inclusion"]["path"] = json!("x")
        });
        g.mutate(s, "path element a number", |v| {
            v["inclusion"]["path"][0] = json!(1)
        });
        g.mutate(s, "path of 65 elements", |v| {
            v["inclusion"]["path"] = json!(vec![hex::encode([0u8; 32]); 65])
        });
        g.mutate(s, "payload an array", |v| v["payload"] = json!([]));
        g.mutate(s, "salt a number", |v| v["salt"] = json!(1));
        g.mutate(s, "checkpoint null", |v| v["checkpoint"] = Value::Null);
        g.mutate(s, "envelope null", |v| v["envelope"] = Value::Null);
        g.mutate(s, "envelope an array", |v| v["envelope"] = json!([]));
        g.mutate(s, "erasure a string", |v| v["erasure"] = json!(""));
        g.mutate(s, "anchor_pending bad tx", |v| {
            v["anchor_pending"] = json!({"batch_seq": 1, "tx_hash": "0x12"})
        });
        g.mutate(
            s,
            "anchor_pending extra",
            |v| {
                v["anchor_pending"] =
                    json!({"batch_seq": 1, "tx_hash": format!("0x{}", "a".repeat(64)), "x": 1})
            },
        );
        g.mutate(s, "bundle an array", |v| *v = json!([v.clone()]));
    }
    let anchored = &subjects[1];
    let big = json!(9_007_199_254_740_992.0);
    for (what, pointer, bad) in [
        ("batch_index = batch_size", "/anchor/batch_index", json!(3)),
        ("batch_index beyond", "/anchor/batch_index", json!(7)),
        ("batch_size 0", "/anchor/batch_size", json!(0)),
        ("chain_id 2^53", "/anchor/chain_id", big.clone()),
        ("block_time fractional", "/anchor/block_time", json!(1.5)),
        ("block_number negative", "/anchor/block_number", json!(-1)),
        ("batch_seq a string", "/anchor/batch_seq", json!("12")),
        (
            "contract uppercase",
            "/anchor/contract",
            json!(format!("0x{}", "5FBDB2315678AFECB367F032D93F642F64180AA3")),
        ),
        (
            "contract short",
            "/anchor/contract",
            json!("0x5fbdb2315678afecb367f032d93f642f64180a"),
        ),
        (
            "anchorer without 0x",
            "/anchor/anchorer",
            json!(format!("00{}", "f39fd6e51aad88f6f4ce6ab8827279cfffb92266")),
        ),
        (
            "tx_hash uppercase X",
            "/anchor/tx_hash",
            json!(format!("0X{}", "a".repeat(64))),
        ),
        (
            "block_hash 63 digits",
            "/anchor/block_hash",
            json!(format!("0x{}", "b".repeat(63))),
        ),
        (
            "batch_path of 65",
            "/anchor/batch_path",
            json!(vec![hex::encode([0u8; 32]); 65]),
        ),
        ("batch_root a number", "/anchor/batch_root", json!(1)),
        ("anchor an array", "/anchor", json!([])),
    ] {
        g.mutate(anchored, what, |v| *at(v, pointer) = bad);
    }
    for field in ["batch_seq", "prev_root", "block_time"] {
        g.mutate(anchored, &format!("anchor {field} removed"), |v| {
            v["anchor"].as_object_mut().unwrap().remove(field);
        });
    }
    let erased = &subjects[2];
    g.mutate(erased, "erasure extra member", |v| {
        v["erasure"]["x"] = json!(1)
    });
    g.mutate(erased, "erasure path removed", |v| {
        v["erasure"].as_object_mut().unwrap().remove("path");
    });
    g.mutate(erased, "erasure envelope a string", |v| {
        v["erasure"]["envelope"] = json!("e")
    });
}

/// A change to a served bundle's text.
type TextEdit = Box<dyn Fn(&str) -> String>;

fn raw_text(g: &mut Gen, subjects: &[Subject]) {
    let s = &subjects[1];
    let payload_open = "\"payload\":{";
    let cases: Vec<(&str, TextEdit)> = vec![
        (
            "duplicate top member",
            Box::new(|t| {
                replace1(
                    t,
                    "{\"anchor\"",
                    "{\"format\":\"civicproof/bundle/v1\",\"anchor\"",
                )
            }),
        ),
        (
            "duplicate payload member",
            Box::new(move |t| replace1(t, payload_open, "\"payload\":{\"valid\":false,")),
        ),
        (
            "duplicate name after unescaping",
            Box::new(move |t| replace1(t, payload_open, "\"payload\":{\"v\\u0061lid\":false,")),
        ),
        (
            "payload 64 deep (bundle depth 65)",
            Box::new(move |t| {
                replace1(
                    t,
                    payload_open,
                    &format!(
                        "\"payload\":{{\"deep\":{}0{},",
                        "[".repeat(63),
                        "]".repeat(63)
                    ),
                )
            }),
        ),
        (
            "payload 65 deep (bundle depth 66)",
            Box::new(move |t| {
                replace1(
                    t,
                    payload_open,
                    &format!(
                        "\"payload\":{{\"deep\":{}0{},",
                        "[".repeat(64),
                        "]".repeat(64)
                    ),
                )
            }),
        ),
        (
            "empty containers 65 deep",
            Box::new(move |t| {
                replace1(
                    t,
                    payload_open,
                    &format!(
                        "\"payload\":{{\"deep\":{}{},",
                        "[".repeat(64),
                        "]".repeat(64)
                    ),
                )
            }),
        ),
        (
            "empty containers 64 deep",
            Box::new(move |t| {
                replace1(
                    t,
                    payload_open,
                    &format!(
                        "\"payload\":{{\"deep\":{}{},",
                        "[".repeat(63),
                        "]".repeat(63)
                    ),
                )
            }),
        ),
        (
            "lone high surrogate",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\ud800")),
        ),
        (
            "lone low surrogate",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\udc00")),
        ),
        (
            "high surrogate then non-low escape",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\ud800\\u0041")),
        ),
        (
            "high surrogate at string end",
            Box::new(|t| replace1(t, "sensor-1\"", "sensor-1\\ud83d\"")),
        ),
        (
            "surrogate pair in key",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\ud83d\\ude00")),
        ),
        (
            "escaped U+0000",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\u0000")),
        ),
        (
            "raw U+0000",
            Box::new(|t| replace1(t, "sensor-", "sensor-\u{0}")),
        ),
        (
            "raw tab in a string",
            Box::new(|t| replace1(t, "sensor-", "sensor-\t")),
        ),
        (
            "raw DEL in key",
            Box::new(|t| replace1(t, "sensor-", "sensor-\u{7f}")),
        ),
        (
            "escaped C1 control in key",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\u0085")),
        ),
        (
            "raw U+2028 in key",
            Box::new(|t| replace1(t, "sensor-", "sensor-\u{2028}")),
        ),
        (
            "bad escape \\x",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\x41")),
        ),
        (
            "short \\u escape",
            Box::new(|t| replace1(t, "sensor-", "sensor-\\u41\"")),
        ),
        (
            "uppercase \\u escape (same value)",
            Box::new(|t| replace1(t, "za\u{017c}", "za\\u017C")),
        ),
        (
            "escaped payload text (same value)",
            Box::new(|t| {
                replace1(
                    t,
                    "za\u{017c}\u{f3}\u{142}\u{107}",
                    "za\\u017c\\u00f3\\u0142\\u0107",
                )
            }),
        ),
        (
            "escaped member name (same value)",
            Box::new(|t| replace1(t, "\"pm10\"", "\"pm\\u0031\\u0030\"")),
        ),
        (
            "escaped solidus (same value)",
            Box::new(|t| {
                replace1(
                    t,
                    "\"checkpoint\":\"test.example/",
                    "\"checkpoint\":\"test.example\\/",
                )
            }),
        ),
        (
            "tree_size 2^53+1",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":9007199254740993")),
        ),
        (
            "tree_size 2^53",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":9007199254740992")),
        ),
        (
            "tree_size 37.0 (same value)",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":37.0")),
        ),
        (
            "tree_size 3.7e1 (same value)",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":3.7e1")),
        ),
        (
            "tree_size 37E0 (same value)",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":37E0")),
        ),
        (
            "tree_size 370e-1 (same value)",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":370e-1")),
        ),
        (
            "tree_size 0037",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":0037")),
        ),
        (
            "tree_size 1e400",
            Box::new(|t| replace1(t, "\"tree_size\":37", "\"tree_size\":1e400")),
        ),
        (
            "pm10 2.77e1 (same value)",
            Box::new(|t| replace1(t, "\"pm10\":27.7", "\"pm10\":2.77e1")),
        ),
        (
            "pm10 27.70000 (same value)",
            Box::new(|t| replace1(t, "\"pm10\":27.7", "\"pm10\":27.70000")),
        ),
        (
            "pm10 27.7000000000000001 (same double)",
            Box::new(|t| replace1(t, "\"pm10\":27.7", "\"pm10\":27.7000000000000001")),
        ),
        (
            "pm10 27.700000000000003 (next double)",
            Box::new(|t| replace1(t, "\"pm10\":27.7", "\"pm10\":27.700000000000003")),
        ),
        (
            "flags 1.7e4 (same value)",
            Box::new(|t| replace1(t, "[null,17000]", "[null,1.7E+4]")),
        ),
        (
            "flags 17000.0 (same value)",
            Box::new(|t| replace1(t, "[null,17000]", "[null,17000.0]")),
        ),
        (
            "flags -2^53",
            Box::new(|t| replace1(t, "[null,17000]", "[null,-9007199254740992]")),
        ),
        (
            "flags -(2^53-1)",
            Box::new(|t| replace1(t, "[null,17000]", "[null,-9007199254740991]")),
        ),
        (
            "flags 1e400",
            Box::new(|t| replace1(t, "[null,17000]", "[null,1e400]")),
        ),
        (
            "flags -1e400",
            Box::new(|t| replace1(t, "[null,17000]", "[null,-1e400]")),
        ),
        (
            "flags 1e-400 (underflows to 0)",
            Box::new(|t| replace1(t, "[null,17000]", "[null,1e-400]")),
        ),
        (
            "flags -0",
            Box::new(|t| replace1(t, "[null,17000]", "[null,-0]")),
        ),
        (
            "flags NaN",
            Box::new(|t| replace1(t, "[null,17000]", "[null,NaN]")),
        ),
        (
            "flags Infinity",
            Box::new(|t| replace1(t, "[null,17000]", "[null,Infinity]")),
        ),
        (
            "flags +1",
            Box::new(|t| replace1(t, "[null,17000]", "[null,+1]")),
        ),
        (
            "flags .5",
            Box::new(|t| replace1(t, "[null,17000]", "[null,.5]")),
        ),
        (
            "flags 1.",
            Box::new(|t| replace1(t, "[null,17000]", "[null,1.]")),
        ),
        (
            "flags 1e",
            Box::new(|t| replace1(t, "[null,17000]", "[null,1e]")),
        ),
        (
            "flags -",
            Box::new(|t| replace1(t, "[null,17000]", "[null,-]")),
        ),
        (
            "flags 0x10",
            Box::new(|t| replace1(t, "[null,17000]", "[null,0x10]")),
        ),
        (
            "flags trailing comma",
            Box::new(|t| replace1(t, "[null,17000]", "[null,17000,]")),
        ),
        (
            "literal nul",
            Box::new(|t| replace1(t, "\"anchor_pending\":null", "\"anchor_pending\":nul")),
        ),
        (
            "literal False",
            Box::new(|t| replace1(t, "\"valid\":false", "\"valid\":False")),
        ),
        (
            "single quotes",
            Box::new(|t| replace1(t, "\"valid\":false", "'valid':false")),
        ),
        ("trailing data", Box::new(|t| format!("{t} x"))),
        ("two documents", Box::new(|t| format!("{t}{t}"))),
        (
            "trailing whitespace (same value)",
            Box::new(|t| format!("{t} \n\t\r")),
        ),
        (
            "leading whitespace (same value)",
            Box::new(|t| format!("\r\n\t {t}")),
        ),
        (
            "inner whitespace (same value)",
            Box::new(|t| replace1(t, "\"format\":", "\"format\" :\n ")),
        ),
        (
            "vertical tab as whitespace",
            Box::new(|t| format!("\u{b}{t}")),
        ),
        (
            "no-break space as whitespace",
            Box::new(|t| format!("\u{a0}{t}")),
        ),
        ("truncated", Box::new(|t| t[..t.len() - 1].to_owned())),
        ("byte order mark", Box::new(|t| format!("\u{feff}{t}"))),
        (
            "v 1.0 (same value)",
            Box::new(|t| replace1(t, "\"v\":1}", "\"v\":1.0}")),
        ),
        (
            "v 1e0 (same value)",
            Box::new(|t| replace1(t, "\"v\":1}", "\"v\":1e0}")),
        ),
        (
            "seq 17.0 (same value)",
            Box::new(|t| replace1(t, "\"seq\":17,", "\"seq\":17.0,")),
        ),
        (
            "seq 1.7e1 (same value)",
            Box::new(|t| replace1(t, "\"seq\":17,", "\"seq\":1.7e1,")),
        ),
        (
            "block_time with tiny fraction (same double)",
            Box::new(|t| {
                replace1(
                    t,
                    "\"block_time\":1764151300",
                    "\"block_time\":1764151300.0000000001",
                )
            }),
        ),
        (
            "batch_seq 12.5",
            Box::new(|t| replace1(t, "\"batch_seq\":12", "\"batch_seq\":12.5")),
        ),
    ];
    for (what, f) in cases {
        g.text(s, what, |t| f(t));
    }
    let pretty = serde_json::to_string_pretty(&s.value).unwrap();
    g.text(s, "pretty-printed (same value)", |_| pretty);
    let record0 = &subjects[0];
    g.text(record0, "seq -0 (same value)", |t| {
        replace1(t, "\"seq\":0,", "\"seq\":-0,")
    });
    g.text(record0, "seq -0.0 (same value)", |t| {
        replace1(t, "\"seq\":0,", "\"seq\":-0.0,")
    });
    g.text(record0, "seq 0e5 (same value)", |t| {
        replace1(t, "\"seq\":0,", "\"seq\":0e5,")
    });
    g.text(&subjects[3], "erases 5.0 (same value)", |t| {
        replace1(t, "\"erases\":5,", "\"erases\":5.0,")
    });
    g.text(&subjects[2], "erasure envelope member duplicated", |t| {
        replace1(t, "\"erases\":5,", "\"erases\":5,\"erases\":5,")
    });
    // Invalid UTF-8.
    let note_at = |b: &[u8]| {
        b.windows(14)
            .position(|w| w == b"\"checkpoint\":\"")
            .unwrap()
            + 14
    };
    g.bytes(s, "0xff in a string", |mut b| {
        let i = note_at(&b);
        b.insert(i, 0xff);
        b
    });
    g.bytes(s, "overlong encoding of '/'", |mut b| {
        let i = note_at(&b);
        b.splice(i..i, [0xc0, 0xaf]);
        b
    });
    g.bytes(s, "UTF-8 encoded surrogate", |mut b| {
        let i = note_at(&b);
        b.splice(i..i, [0xed, 0xa0, 0x80]);
        b
    });
    g.bytes(s, "truncated multibyte sequence", |mut b| {
        let i = note_at(&b);
        b.splice(i..i, [0xc5]);
        b
    });
    g.bytes(s, "code point beyond U+10FFFF", |mut b| {
        let i = note_at(&b);
        b.splice(i..i, [0xf4, 0x90, 0x80, 0x80]);
        b
    });
}

fn step_1(g: &mut Gen, subjects: &[Subject]) {
    for s in subjects {
        let leaf = string_at(&s.value, "/leaf_hash");
        g.mutate(s, "leaf_hash uppercase", |v| {
            v["leaf_hash"] = json!(leaf.to_uppercase())
        });
        g.mutate(s, "leaf_hash 31 bytes", |v| {
            v["leaf_hash"] = json!(&leaf[2..])
        });
        g.mutate(s, "leaf_hash 33 bytes", |v| {
            v["leaf_hash"] = json!(format!("{leaf}00"))
        });
        g.mutate(s, "leaf_hash with 0x", |v| {
            v["leaf_hash"] = json!(format!("0x{}", &leaf[2..]))
        });
        g.mutate(s, "leaf_hash non-hex", |v| {
            v["leaf_hash"] = json!(leaf.replacen(&leaf[..1], "g", 1))
        });
        g.mutate(s, "leaf_hash odd length", |v| {
            v["leaf_hash"] = json!(&leaf[1..])
        });
        g.mutate(s, "path element short", |v| {
            let p = string_at(v, "/inclusion/path/0");
            v["inclusion"]["path"][0] = json!(&p[1..]);
        });
        g.mutate(s, "path element empty", |v| {
            v["inclusion"]["path"][0] = json!("")
        });
    }
    let record = &subjects[0];
    let salt = string_at(&record.value, "/salt");
    g.mutate(record, "salt 15 bytes", |v| v["salt"] = json!(&salt[2..]));
    g.mutate(record, "salt 32 bytes", |v| {
        v["salt"] = json!(format!("{salt}{salt}"))
    });
    g.mutate(record, "salt uppercase", |v| {
        v["salt"] = json!(salt.to_uppercase())
    });
    let anchored = &subjects[1];
    for pointer in [
        "/anchor/batch_root",
        "/anchor/prev_root",
        "/anchor/batch_path/0",
    ] {
        g.mutate(anchored, &format!("{pointer} uppercase"), |v| {
            let h = string_at(v, pointer);
            *at(v, pointer) = json!(h.to_uppercase());
        });
        g.mutate(anchored, &format!("{pointer} short"), |v| {
            let h = string_at(v, pointer);
            *at(v, pointer) = json!(&h[2..]);
        });
    }
    let erased = &subjects[2];
    g.mutate(erased, "erasure path short", |v| {
        let p = string_at(v, "/erasure/path/0");
        v["erasure"]["path"][0] = json!(&p[4..]);
    });
    // A payload_digest that is not hex is step 2's finding (it reads it first), not step 1's.
    g.mutate(record, "payload_digest uppercase", |v| {
        let d = string_at(v, "/envelope/payload_digest");
        v["envelope"]["payload_digest"] = json!(d.to_uppercase());
    });
}

fn step_2(g: &mut Gen, subjects: &[Subject]) {
    for s in &subjects[..2] {
        let mut scalars = Vec::new();
        scalar_pointers(&s.value["payload"], "/payload".to_owned(), &mut scalars);
        for pointer in &scalars {
            g.mutate(s, &format!("{pointer} changed"), |v| {
                let other = other_scalar(at(v, pointer));
                *at(v, pointer) = other;
            });
        }
        g.mutate(s, "payload member added", |v| {
            v["payload"]["extra"] = json!(1)
        });
        g.mutate(s, "payload member removed", |v| {
            v["payload"].as_object_mut().unwrap().remove("pm10");
        });
        g.mutate(s, "payload emptied", |v| v["payload"] = json!({}));
        g.mutate(s, "payload null", |v| v["payload"] = Value::Null);
        g.mutate(s, "salt null", |v| v["salt"] = Value::Null);
        g.mutate(s, "payload over 64 KiB", |v| {
            v["payload"]["big"] = json!("x".repeat(64 * 1024))
        });
        for i in [0, 17, 31] {
            g.mutate(s, &format!("salt digit {i}"), |v| {
                bump_hex_at(v, "/salt", i)
            });
        }
        for i in [0, 40, 63] {
            g.mutate(s, &format!("payload_digest digit {i}"), |v| {
                bump_hex_at(v, "/envelope/payload_digest", i)
            });
        }
        g.mutate(s, "kind erasure", |v| {
            v["envelope"]["kind"] = json!("erasure")
        });
        g.mutate(s, "kind missing", |v| {
            v["envelope"].as_object_mut().unwrap().remove("kind");
        });
        g.mutate(s, "payload_digest missing", |v| {
            v["envelope"]
                .as_object_mut()
                .unwrap()
                .remove("payload_digest");
        });
        g.mutate(s, "an erasure attached", |v| {
            v["erasure"] = subjects[2].value["erasure"].clone()
        });
    }
    let erased = &subjects[2];
    g.mutate(erased, "erasure null", |v| v["erasure"] = Value::Null);
    g.mutate(erased, "payload restored", |v| {
        v["payload"] = subjects[0].value["payload"].clone();
        v["salt"] = subjects[0].value["salt"].clone();
    });
    g.mutate(erased, "salt restored only", |v| {
        v["salt"] = subjects[0].value["salt"].clone()
    });
    g.mutate(erased, "envelope seq 6", |v| {
        v["envelope"]["seq"] = json!(6.0)
    });
    g.mutate(erased, "envelope seq a string", |v| {
        v["envelope"]["seq"] = json!("5")
    });
    g.mutate(erased, "envelope dataset other", |v| {
        v["envelope"]["dataset"] = json!("test.example/city/water")
    });
    let changes = [
        ("erases", json!(4.0)),
        ("erases 36", json!(36.0)),
        ("seq", json!(35.0)),
        ("seq 37", json!(37.0)),
        ("reason", json!("court-order")),
        ("reason unknown", json!("gdpr")),
        ("dataset", json!("test.example/city/water")),
        ("published_at", json!("2025-11-26T10:00:55.000Z")),
        ("published_at bad", json!("2025-11-26T10:00:55Z")),
        ("kind", json!("record")),
        ("v", json!(2)),
        ("extra", json!(1)),
    ];
    for (what, value) in changes {
        let field = what.split(' ').next().unwrap();
        g.mutate(erased, &format!("erasure entry {what}"), |v| {
            v["erasure"]["envelope"][field] = value
        });
    }
    let path_len = erased.value["erasure"]["path"].as_array().unwrap().len();
    for i in 0..path_len {
        g.mutate(erased, &format!("erasure path {i}"), |v| {
            bump_hex_at(v, &format!("/erasure/path/{i}"), 7)
        });
    }
    g.mutate(erased, "erasure path shortened", |v| {
        v["erasure"]["path"].as_array_mut().unwrap().pop();
    });
    g.mutate(erased, "erasure path of the record", |v| {
        v["erasure"]["path"] = v["inclusion"]["path"].clone()
    });
    let entry = &subjects[3];
    g.mutate(entry, "erasure entry with an erasure", |v| {
        v["erasure"] = subjects[2].value["erasure"].clone()
    });
    g.mutate(entry, "erasure entry with a payload", |v| {
        v["payload"] = subjects[0].value["payload"].clone();
        v["salt"] = subjects[0].value["salt"].clone();
    });
    g.mutate(entry, "erasure entry with a salt only", |v| {
        v["salt"] = subjects[0].value["salt"].clone()
    });
}

fn step_3(g: &mut Gen, subjects: &[Subject]) {
    for s in subjects {
        for i in [0, 33, 63] {
            g.mutate(s, &format!("leaf_hash digit {i}"), |v| {
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
            g.mutate(s, &format!("envelope {field} removed"), |v| {
                v["envelope"].as_object_mut().unwrap().remove(&field);
            });
            let changed = match field.as_str() {
                "kind" => json!("recorded"),
                "payload_digest" => json!("00".repeat(32)),
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
            g.mutate(s, &format!("envelope {field} changed"), |v| {
                v["envelope"][&field] = changed
            });
        }
        g.mutate(s, "envelope with an extra field", |v| {
            v["envelope"]["x"] = json!(1)
        });
        g.mutate(s, "published_at not in milliseconds", |v| {
            let t = string_at(v, "/envelope/published_at");
            v["envelope"]["published_at"] = json!(t.replace(".000Z", "Z").replace(".500Z", "Z"));
        });
    }
    let record = &subjects[1];
    for (what, pointer, bad) in [
        ("seq fractional", "/envelope/seq", json!(17.5)),
        ("seq negative", "/envelope/seq", json!(-17)),
        (
            "seq 2^53 as a double",
            "/envelope/seq",
            json!(9_007_199_254_740_992.0),
        ),
        ("supersedes = seq", "/envelope/supersedes", json!(17)),
        ("supersedes a string", "/envelope/supersedes", json!("13")),
        ("v true", "/envelope/v", json!(true)),
        ("kind a number", "/envelope/kind", json!(1)),
        ("key a number", "/envelope/key", json!(1)),
        (
            "dataset with uppercase",
            "/envelope/dataset",
            json!("test.example/City/air"),
        ),
        (
            "dataset too short",
            "/envelope/dataset",
            json!("test.example/air"),
        ),
        (
            "published_at lowercase t",
            "/envelope/published_at",
            json!("2025-11-26t10:00:25.500Z"),
        ),
        (
            "published_at offset",
            "/envelope/published_at",
            json!("2025-11-26T10:00:25.500+00:00"),
        ),
        (
            "published_at hour 24",
            "/envelope/published_at",
            json!("2025-11-26T24:00:25.500Z"),
        ),
        (
            "payload_digest short",
            "/envelope/payload_digest",
            json!("ab".repeat(31)),
        ),
    ] {
        g.mutate(record, what, |v| *at(v, pointer) = bad);
    }
}

fn step_4(g: &mut Gen, subjects: &[Subject]) {
    let other_key = SigningKey::from_bytes(&[9; 32]);
    for (n, s) in subjects.iter().enumerate() {
        let note = s.note();
        let sig_bytes: Vec<usize> = if n < 2 {
            vec![0, 3, 4, 20, 35, 36, 50, 67]
        } else {
            vec![1, 40]
        };
        for i in sig_bytes {
            g.mutate(s, &format!("signature byte {i}"), |v| {
                let mut n = note.clone();
                let mut bytes = n.signatures[0].key_id.to_vec();
                bytes.extend_from_slice(&n.signatures[0].signature);
                bytes[i] ^= 0x01;
                n.signatures[0].key_id = bytes[..4].try_into().unwrap();
                n.signatures[0].signature = bytes[4..].to_vec();
                set_note(v, &n);
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
            g.mutate(s, &format!("note {what} edited"), |v| {
                let mut n = note.clone();
                n.text = edited;
                set_note(v, &n);
            });
        }
        let original = string_at(&s.value, "/checkpoint");
        g.mutate(s, "hyphen for em dash", |v| {
            v["checkpoint"] = json!(original.replace('\u{2014}', "-"))
        });
        g.mutate(s, "signature line dropped", |v| {
            v["checkpoint"] = json!(format!("{text}\n"))
        });
        g.mutate(s, "carriage return", |v| {
            v["checkpoint"] = json!(original.replacen('\n', "\r\n", 1))
        });
        g.mutate(s, "signed by another key", |v| {
            v["checkpoint"] = json!(note::sign_ed25519(&text, ORIGIN, &other_key))
        });
        g.mutate(s, "signed under the prefix", |v| {
            v["checkpoint"] = json!(note::sign_ed25519(&text, PREFIX, &log::key()))
        });
        g.mutate(s, "signed extension line", |v| {
            v["checkpoint"] = json!(note::sign_ed25519(
                &format!("{text}x\n"),
                ORIGIN,
                &log::key()
            ))
        });
        if n > 1 {
            continue;
        }
        // Note syntax around the signature block.
        for (what, changed) in [
            (
                "no final newline",
                original.strip_suffix('\n').unwrap().to_owned(),
            ),
            ("blank line after the signatures", format!("{original}\n")),
            ("empty signature line", format!("{original}\n")),
            ("no blank line", original.replacen("\n\n", "\n", 1)),
            (
                "two spaces after the name",
                original.replacen(&format!("{ORIGIN} "), &format!("{ORIGIN}  "), 1),
            ),
            ("tab in the note", original.replacen('\n', "\t\n", 1)),
            (
                "DEL in the note text",
                original.replacen(ORIGIN, &format!("{ORIGIN}\u{7f}"), 1),
            ),
        ] {
            if changed != original {
                g.mutate(s, &format!("note {what}"), |v| {
                    v["checkpoint"] = json!(changed)
                });
            }
        }
    }
    // Signed texts that break the checkpoint's own rules (the signature is fine).
    let s = &subjects[0];
    let note = s.note();
    let lines: Vec<String> = note.text.lines().map(str::to_owned).collect();
    let root_b64 = &lines[2];
    let root = encoding::base64_decode(root_b64).unwrap();
    let bad_pad = {
        // 32 bytes → 43 symbols and one '='; the last symbol carries two pad bits.
        let mut b = root_b64.as_bytes().to_vec();
        let last = b[42];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let idx = alphabet.iter().position(|c| *c == last).unwrap();
        b[42] = alphabet[idx ^ 1];
        String::from_utf8(b).unwrap()
    };
    let texts = [
        (
            "size with a leading zero",
            format!("{}\n0{}\n{}\n", lines[0], lines[1], lines[2]),
        ),
        (
            "size with a plus",
            format!("{}\n+{}\n{}\n", lines[0], lines[1], lines[2]),
        ),
        (
            "size 2^53",
            format!("{}\n9007199254740992\n{}\n", lines[0], lines[2]),
        ),
        (
            "root with nonzero pad bits",
            format!("{}\n{}\n{}\n", lines[0], lines[1], bad_pad),
        ),
        (
            "root unpadded",
            format!(
                "{}\n{}\n{}\n",
                lines[0],
                lines[1],
                root_b64.trim_end_matches('=')
            ),
        ),
        (
            "root of 31 bytes",
            format!(
                "{}\n{}\n{}\n",
                lines[0],
                lines[1],
                encoding::base64_encode(&root[1..])
            ),
        ),
        (
            "root base64url",
            format!(
                "{}\n{}\n{}\n",
                lines[0],
                lines[1],
                root_b64.replace('+', "-").replace('/', "_")
            ),
        ),
        (
            "empty origin line",
            format!("\n{}\n{}\n", lines[1], lines[2]),
        ),
        ("two lines", format!("{}\n{}\n", lines[0], lines[1])),
    ];
    for (what, text) in texts {
        if text == note.text {
            continue; // e.g. a root without '+' or '/' has no base64url respelling
        }
        let name = if what == "empty origin line" {
            ORIGIN
        } else {
            lines[0].as_str()
        };
        g.mutate(s, &format!("signed text: {what}"), |v| {
            v["checkpoint"] = json!(note::sign_ed25519(&text, name, &log::key()))
        });
    }
}

/// Cosignatures, key names, base64 and Ed25519 encodings: where parsers and curve libraries drift.
/// Step 4 with a pinned witness policy (PROTOCOL.md section 10.4): cosignature/v1 lines by
/// three test witnesses, valid, mutated, duplicated, or by keys nobody pinned.
fn witness_policies(g: &mut Gen, subjects: &[Subject]) {
    use civicproof_verify::cosignature;
    let s = &subjects[1];
    let note = s.note();
    let ours = note.signatures[0].clone();
    let key = |i: u8| SigningKey::from_bytes(&[40 + i; 32]);
    let name = |i: u8| format!("witness.test/{}", (b'a' + i) as char);
    let vkey = |i: u8| cosignature::vkey(&name(i), &key(i).verifying_key().to_bytes());
    let line = |i: u8, time: u64| cosignature::sign(&note.text, &name(i), &key(i), time);
    let pinned = |n: u8| (0..n).map(vkey).collect::<Vec<_>>();
    let mut flipped = line(0, 1_764_150_000);
    flipped.signature[20] ^= 1;
    let mut other_time = line(0, 1_764_150_000);
    other_time.signature[..8].copy_from_slice(&1_764_150_001u64.to_be_bytes());
    let mut short = line(0, 1_764_150_000);
    short.signature.pop();
    let mut other_text = cosignature::sign("other\n1\nAAAA\n", &name(0), &key(0), 1_764_150_000);
    other_text.name = name(0);
    let plain = note::NoteSignature {
        name: name(0),
        key_id: note::key_id(&name(0), &key(0).verifying_key().to_bytes()),
        signature: key(0).sign(note.text.as_bytes()).to_bytes().to_vec(),
    };
    let t = 1_764_150_000;
    let cases: Vec<(&str, Vec<note::NoteSignature>, Vec<String>, usize)> = vec![
        ("2 of 3, cosigned by a and b", vec![line(0, t), line(1, t)], pinned(3), 2),
        ("2 of 3, cosigned by a only", vec![line(0, t)], pinned(3), 2),
        ("2 of 2, a twice", vec![line(0, t), line(0, t + 1)], pinned(2), 2),
        ("1 of 1, cosigned before the log", vec![line(0, t)], pinned(1), 1),
        ("1 of 1, no cosignature", vec![], pinned(1), 1),
        ("1 of 1, a signature bit flipped", vec![flipped], pinned(1), 1),
        ("1 of 1, another timestamp", vec![other_time], pinned(1), 1),
        ("1 of 1, 71 bytes", vec![short], pinned(1), 1),
        ("1 of 1, over another text", vec![other_text], pinned(1), 1),
        ("1 of 1, a signed-note signature by the witness key", vec![plain], pinned(1), 1),
        ("1 of 1, a valid and a forged line", vec![line(0, t), {
            let mut f = line(0, t + 5);
            f.signature[70] ^= 4;
            f
        }], pinned(1), 1),
        ("1 of 1 (a), cosigned by unpinned c and a", vec![line(2, t), line(0, t)], pinned(1), 1),
        ("3 of 3, all cosigned", vec![line(2, t), line(1, t), line(0, t)], pinned(3), 3),
    ];
    for (what, lines, keys, k) in cases {
        let mut signatures = if what.contains("before the log") {
            Vec::new()
        } else {
            vec![ours.clone()]
        };
        signatures.extend(lines);
        if what.contains("before the log") {
            signatures.push(ours.clone());
        }
        let mut v = s.value.clone();
        set_note(
            &mut v,
            &note::Note {
                text: note.text.clone(),
                signatures,
            },
        );
        g.add(
            format!("{}: witnesses {what}", s.name),
            jcs::canonicalize(&v),
            s.seq,
        );
        g.fixtures.last_mut().expect("just added").witnesses = Some((keys, k));
    }
}

fn ed25519_edges(g: &mut Gen, subjects: &[Subject]) {
    let s = &subjects[0];
    let note = s.note();
    let ours = note.signatures[0].clone();
    let witness = SigningKey::from_bytes(&[3; 32]);
    // Built directly (not parsed back), so that invalid key names can be written too.
    let cosign = |name: &str| -> note::NoteSignature {
        note::NoteSignature {
            name: name.to_owned(),
            key_id: note::key_id(name, &witness.verifying_key().to_bytes()),
            signature: witness.sign(note.text.as_bytes()).to_bytes().to_vec(),
        }
    };
    let with_sigs = |sigs: Vec<note::NoteSignature>| note::Note {
        text: note.text.clone(),
        signatures: sigs,
    };
    let cases: Vec<(&str, note::Note)> = vec![
        (
            "cosigned after",
            with_sigs(vec![ours.clone(), cosign("witness.example")]),
        ),
        (
            "cosigned before",
            with_sigs(vec![cosign("witness.example"), ours.clone()]),
        ),
        (
            "cosigner name with DEL",
            with_sigs(vec![ours.clone(), cosign("w\u{7f}x")]),
        ),
        (
            "cosigner name with U+FEFF",
            with_sigs(vec![ours.clone(), cosign("w\u{feff}x")]),
        ),
        (
            "cosigner name with U+0085",
            with_sigs(vec![ours.clone(), cosign("w\u{85}x")]),
        ),
        (
            "cosigner name with U+00A0",
            with_sigs(vec![ours.clone(), cosign("w\u{a0}x")]),
        ),
        (
            "cosigner name with U+3000",
            with_sigs(vec![ours.clone(), cosign("w\u{3000}x")]),
        ),
        (
            "cosigner name with U+200B",
            with_sigs(vec![ours.clone(), cosign("w\u{200b}x")]),
        ),
        (
            "cosigner name with +",
            with_sigs(vec![ours.clone(), cosign("w+x")]),
        ),
        ("cosigner with a 10-byte signature", {
            let mut c = cosign("witness.example");
            c.signature.truncate(10);
            with_sigs(vec![ours.clone(), c])
        }),
        ("cosigner under our name, other key id", {
            let mut c = cosign(ORIGIN);
            c.key_id[0] ^= 1;
            with_sigs(vec![ours.clone(), c])
        }),
        (
            "our signature twice",
            with_sigs(vec![ours.clone(), ours.clone()]),
        ),
        ("our signature twice, second broken", {
            let mut bad = ours.clone();
            bad.signature[40] ^= 1;
            with_sigs(vec![ours.clone(), bad])
        }),
        ("our signature 63 bytes", {
            let mut bad = ours.clone();
            bad.signature.truncate(63);
            with_sigs(vec![bad])
        }),
        ("our signature 65 bytes", {
            let mut bad = ours.clone();
            bad.signature.push(0);
            with_sigs(vec![bad])
        }),
        ("R is the identity (small order)", {
            let mut bad = ours.clone();
            bad.signature[..32].copy_from_slice(&identity());
            with_sigs(vec![bad])
        }),
        ("R of order 2", {
            let mut bad = ours.clone();
            let mut p = [0xffu8; 32];
            p[0] = 0xec;
            p[31] = 0x7f; // y = -1
            bad.signature[..32].copy_from_slice(&p);
            with_sigs(vec![bad])
        }),
        ("R with y = p (non-canonical)", {
            let mut bad = ours.clone();
            bad.signature[..32].copy_from_slice(&y_is_p());
            with_sigs(vec![bad])
        }),
        ("R not on the curve", {
            let mut bad = ours.clone();
            let mut p = [0u8; 32];
            p[0] = 2; // y = 2 has no x
            bad.signature[..32].copy_from_slice(&p);
            with_sigs(vec![bad])
        }),
        ("S + L (unreduced)", {
            let mut bad = ours.clone();
            let s: [u8; 32] = bad.signature[32..].try_into().unwrap();
            bad.signature[32..].copy_from_slice(&crafted::unreduced_s(&s));
            with_sigs(vec![bad])
        }),
        ("S all ones", {
            let mut bad = ours.clone();
            bad.signature[32..].copy_from_slice(&[0xff; 32]);
            with_sigs(vec![bad])
        }),
    ];
    for (what, n) in cases {
        g.mutate(s, &format!("note {what}"), |v| set_note(v, &n));
    }
    // Base64 of the signature line spelled non-canonically.
    let original = string_at(&s.value, "/checkpoint");
    let sig_b64 = original.trim_end().rsplit(' ').next().unwrap().to_owned();
    let mut flipped = sig_b64.clone().into_bytes();
    let pad_at = flipped
        .iter()
        .position(|c| *c == b'=')
        .expect("68 bytes need padding")
        - 1;
    flipped[pad_at] = if flipped[pad_at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    if encoding::base64_decode(&flipped).is_none() {
        g.mutate(s, "note signature base64 with nonzero pad bits", |v| {
            v["checkpoint"] = json!(original.replace(&sig_b64, &flipped))
        });
    }
    g.mutate(s, "note signature base64 unpadded", |v| {
        v["checkpoint"] = json!(original.replace(&sig_b64, sig_b64.trim_end_matches('=')))
    });
    g.mutate(s, "note signature base64 with a space", |v| {
        v["checkpoint"] =
            json!(original.replace(&sig_b64, &format!("{} {}", &sig_b64[..8], &sig_b64[8..])))
    });
    // Size limit: cosignatures up to just under and just over 128 KiB.
    for (what, target) in [
        ("just under 128 KiB", 131_072usize),
        ("over 128 KiB", 131_073),
    ] {
        let mut n = with_sigs(vec![ours.clone()]);
        let filler = cosign("w");
        while note::format(&n).len() + 1000 < target {
            n.signatures.push(filler.clone());
        }
        let mut text = note::format(&n);
        // Pad to the exact size with a last cosignature line whose name absorbs the rest.
        let line_len = |name_len: usize| {
            let mut c = filler.clone();
            c.name = "x".repeat(name_len);
            note::format(&note::Note {
                text: String::new(),
                signatures: vec![c],
            })
            .len()
                - 1
        };
        let fixed = line_len(0);
        let name_len = target - text.len() - fixed;
        let mut c = filler.clone();
        c.name = "x".repeat(name_len);
        n.signatures.push(c);
        text = note::format(&n);
        assert_eq!(text.len(), target, "{what}");
        g.mutate(s, &format!("note {what}"), |v| {
            v["checkpoint"] = json!(text)
        });
    }
    // Pinned keys that are not usable.
    g.expect(
        s,
        "pinned key is the identity",
        ORIGIN,
        Some(s.seq),
        PREFIX,
        identity(),
    );
    g.expect(
        s,
        "pinned key with y = p",
        ORIGIN,
        Some(s.seq),
        PREFIX,
        y_is_p(),
    );
    g.expect(
        s,
        "pinned key of another signer",
        ORIGIN,
        Some(s.seq),
        PREFIX,
        SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes(),
    );
    // A key with a torsion component: the cofactored equation accepts, the cofactorless refuses
    // unless k ≡ 0 (mod 8).
    for (what, k_multiple_of_8) in [
        ("k not a multiple of 8", false),
        ("k a multiple of 8", true),
    ] {
        let (public, sig) = crafted::torsion_key_signature(&note.text, k_multiple_of_8);
        let id = note::key_id(ORIGIN, &public);
        let crafted_note = crafted::note_with(&note.text, ORIGIN, id, sig.to_vec());
        let mut v = s.value.clone();
        v["checkpoint"] = json!(crafted_note);
        let expect = Expect {
            origin: ORIGIN.to_owned(),
            seq: Some(s.seq),
        };
        g.add_with(
            format!("{}: torsion key, {what}", s.name),
            jcs::canonicalize(&v),
            expect,
            PREFIX,
            public,
        );
    }
}

/// The encoding of the identity point (y = 1).
fn identity() -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
}

/// y = p = 2^255 − 19: a non-canonical encoding of y = 0.
fn y_is_p() -> [u8; 32] {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
}

fn step_5(g: &mut Gen, log: &Log, subjects: &[Subject]) {
    let key = g.public_key;
    for s in subjects {
        g.expect(s, "seq + 1", ORIGIN, Some(s.seq + 1), PREFIX, key);
        g.expect(
            s,
            "another dataset",
            "test.example/city/water",
            Some(s.seq),
            PREFIX,
            key,
        );
        g.expect(
            s,
            "another instance",
            "other.example/city/air",
            Some(s.seq),
            PREFIX,
            key,
        );
        g.mutate(s, "tree_size + 1", |v| {
            v["inclusion"]["tree_size"] = json!(38)
        });
        g.mutate(s, "tree_size - 1", |v| {
            v["inclusion"]["tree_size"] = json!(36)
        });
        g.mutate(s, "a genuine checkpoint of another dataset", |v| {
            let other = Checkpoint {
                origin: "test.example/city/water".to_owned(),
                ..log.checkpoint()
            };
            v["checkpoint"] = json!(other.sign(&log::key()));
        });
        g.mutate(s, "a genuine checkpoint of another size", |v| {
            v["checkpoint"] = json!(log.checkpoint_at(36).sign(&log::key()));
        });
    }
    let s = &subjects[0];
    for (what, origin, prefix) in [
        (
            "prefix with a path (origin under it)",
            ORIGIN,
            "test.example/city",
        ),
        ("prefix cut short", ORIGIN, "test.exampl"),
        ("prefix with a trailing slash", ORIGIN, "test.example/"),
        ("empty prefix", ORIGIN, ""),
        (
            "origin with a trailing slash",
            "test.example/city/air/",
            PREFIX,
        ),
        (
            "origin under the prefix, other dataset",
            "test.example/city/air2",
            PREFIX,
        ),
    ] {
        g.expect(s, what, origin, Some(s.seq), prefix, key);
    }
    // Envelope and checkpoint of another dataset, consistently (only the binding can tell).
    let water = Log::build("test.example/city/water", 5, None);
    let b = water.bundle(2);
    g.add_of(
        "water record 2: expected as city/air".to_owned(),
        jcs::canonicalize(&serde_json::to_value(&b).unwrap()),
        ORIGIN,
        Some(2),
    );
    g.add_of(
        "water record 2: as served".to_owned(),
        jcs::canonicalize(&serde_json::to_value(&b).unwrap()),
        "test.example/city/water",
        Some(2),
    );
    // Prefixes with a port and a path.
    let ported = Log::build("test.example:8443/v1.x/city/air", 3, None);
    let bytes = jcs::canonicalize(&serde_json::to_value(ported.bundle(1)).unwrap());
    for prefix in [
        "test.example:8443/v1.x",
        "test.example:8443",
        "test.example",
    ] {
        let expect = Expect {
            origin: "test.example:8443/v1.x/city/air".to_owned(),
            seq: Some(1),
        };
        g.add_with(
            format!("port and path prefix, pinned {prefix}"),
            bytes.clone(),
            expect,
            prefix,
            key,
        );
    }
}

fn step_6(g: &mut Gen, log: &Log, subjects: &[Subject]) {
    for s in subjects {
        let len = s.value["inclusion"]["path"].as_array().unwrap().len();
        for i in 0..len {
            let digit = [0, 31, 63][i % 3];
            g.mutate(s, &format!("path {i} digit {digit}"), |v| {
                bump_hex_at(v, &format!("/inclusion/path/{i}"), digit)
            });
        }
        g.mutate(s, "path element dropped", |v| {
            v["inclusion"]["path"].as_array_mut().unwrap().pop();
        });
        g.mutate(s, "path element added", |v| {
            v["inclusion"]["path"]
                .as_array_mut()
                .unwrap()
                .push(json!(hex::encode([0; 32])));
        });
        g.mutate(s, "path emptied", |v| v["inclusion"]["path"] = json!([]));
        if len >= 2 {
            g.mutate(s, "path elements swapped", |v| {
                v["inclusion"]["path"].as_array_mut().unwrap().swap(0, 1);
            });
        }
        g.mutate(s, "a genuine checkpoint with another root", |v| {
            let c = Checkpoint {
                root: merkle::leaf_hash(b"another root"),
                ..log.checkpoint()
            };
            v["checkpoint"] = json!(c.sign(&log::key()));
        });
    }
    // A record proved at index of another record: the leaf is right but the position is not.
    let s = &subjects[1];
    g.mutate(s, "path of record 16", |v| {
        v["inclusion"]["path"] = serde_json::to_value(log.bundle(16).inclusion.path).unwrap()
    });
}

fn step_7(g: &mut Gen, log: &Log, subjects: &[Subject]) {
    for s in &subjects[1..3] {
        g.mutate(s, "batch_root", |v| {
            bump_hex_at(v, "/anchor/batch_root", 10)
        });
        let len = s.value["anchor"]["batch_path"].as_array().unwrap().len();
        for i in 0..len {
            g.mutate(s, &format!("batch_path {i}"), |v| {
                bump_hex_at(v, &format!("/anchor/batch_path/{i}"), 0)
            });
        }
        let index = s.value["anchor"]["batch_index"].as_u64().unwrap();
        g.mutate(s, "batch_index", |v| {
            v["anchor"]["batch_index"] = json!((index + 1) % 3)
        });
        g.mutate(s, "batch_size 2", |v| v["anchor"]["batch_size"] = json!(2));
        // Growing the batch to 4 keeps this leaf's path shape: only step 8 can catch it.
        g.mutate(s, "batch_size 4", |v| v["anchor"]["batch_size"] = json!(4));
        g.mutate(s, "batch_path emptied", |v| {
            v["anchor"]["batch_path"] = json!([])
        });
        g.mutate(s, "anchor of another checkpoint", |v| {
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
    // The anchor of record 17's bundle moved to the unanchored record 0: same checkpoint, passes.
    let anchor = subjects[1].value["anchor"].clone();
    g.mutate(
        &subjects[0],
        "anchor of the same checkpoint attached",
        |v| v["anchor"] = anchor,
    );
}

/// Step 8 is the only check of these fields; offline they pass as a claim.
fn unsigned_claims(g: &mut Gen, subjects: &[Subject]) {
    let s = &subjects[1];
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
        g.mutate(s, &format!("unsigned claim {pointer}"), |v| {
            *at(v, pointer) = value
        });
    }
}

/// A log whose entries sit on the edges of sections 1 and 2: numbers, strings, member order,
/// depth, size limits, keys and timestamps. Each entry's leaf is right, so only the rule (or
/// the canonical form) decides.
fn edge_log(g: &mut Gen) {
    const EDGE: &str = "test.example/city/edge";
    let parse = |text: &str| json::parse_strict(text.as_bytes()).unwrap();
    let ok_time = log::published_at(0);
    let nested = format!("{{\"d\":{}0{}}}", "[".repeat(63), "]".repeat(63));
    let sized = |n: usize| json!({ "big": "x".repeat(n - 10) });
    let mut specs: Vec<(&str, Option<String>, String, Value)> = vec![
        (
            "numbers",
            None,
            ok_time.clone(),
            parse(
                "{\"n\":[0,-0,1e21,1e-7,5e-324,1.7976931348623157e308,0.1,0.3333333333333333,\
                 1.2345678901234568e21,9007199254740991,-9007199254740991,4.35,1e+300,2.5e-8,100,1e2,\
                 123e-2,2.2250738585072014e-308,4.9406564584124654e-324,1e-6,1e-5,1.2345678901234567e-300,\
                 0.000001234,-1.5e-9,333333333.33333329]}",
            ),
        ),
        (
            "strings and member order",
            None,
            ok_time.clone(),
            parse(
                "{\"\\ue000\":1,\"\\ud83d\\ude00\":2,\"a\":\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/ \\u2028\\u2029\\u007f\\u0080é✓\",\
                 \"é\":4,\"A\":5,\"\":6,\"10\":7,\"9\":8,\"aa\":9}",
            ),
        ),
        (
            "names inherited in JS",
            None,
            ok_time.clone(),
            parse(
                "{\"__proto__\":{\"x\":1},\"constructor\":2,\"toString\":3,\"hasOwnProperty\":4}",
            ),
        ),
        ("payload 64 deep", None, ok_time.clone(), parse(&nested)),
        (
            "payload of 65536 canonical bytes",
            None,
            ok_time.clone(),
            sized(65_536),
        ),
        (
            "payload of 65537 canonical bytes",
            None,
            ok_time.clone(),
            sized(65_537),
        ),
        (
            "payload 1e16 (canonical form is an integer literal above 2^53-1)",
            None,
            ok_time.clone(),
            json!({"x": 1e16}),
        ),
        (
            "payload 2^53 as 9007199254740992.0",
            None,
            ok_time.clone(),
            json!({"x": 9007199254740992.0}),
        ),
        (
            "payload 1e21 (canonical 1e+21)",
            None,
            ok_time.clone(),
            parse("{\"x\":1e21}"),
        ),
        (
            "payload 999999999999999900000 (canonical 999999999999999900000)",
            None,
            ok_time.clone(),
            json!({"x": 9.999999999999999e20}),
        ),
        (
            "key of 256 bytes",
            Some("\u{17c}".repeat(128)),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key of 257 bytes",
            Some(format!("{}x", "\u{17c}".repeat(128))),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with U+0085",
            Some("a\u{85}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with U+007F",
            Some("a\u{7f}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with U+009F",
            Some("a\u{9f}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with U+00A0",
            Some("a\u{a0}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with U+2028",
            Some("a\u{2028}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        (
            "key with an emoji",
            Some("a\u{1f600}b".to_owned()),
            ok_time.clone(),
            json!({}),
        ),
        ("empty key", Some(String::new()), ok_time.clone(), json!({})),
        (
            "published_at 2024-02-29",
            None,
            "2024-02-29T23:59:59.999Z".to_owned(),
            json!({}),
        ),
        (
            "published_at 2025-02-29",
            None,
            "2025-02-29T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at 2100-02-29",
            None,
            "2100-02-29T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at 2000-02-29",
            None,
            "2000-02-29T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at year 0000",
            None,
            "0000-01-01T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at second 60",
            None,
            "2026-01-01T00:00:60.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at month 13",
            None,
            "2026-13-01T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at day 00",
            None,
            "2026-01-00T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at April 31",
            None,
            "2026-04-31T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at full-width digit",
            None,
            "２026-01-01T00:00:00.000Z".to_owned(),
            json!({}),
        ),
        (
            "published_at microseconds",
            None,
            "2026-01-01T00:00:00.000000Z".to_owned(),
            json!({}),
        ),
    ];
    specs.push((
        "1000 pseudo-random doubles",
        None,
        ok_time.clone(),
        json!({ "r": random_doubles(1000) }),
    ));
    specs.push((
        "doubles around the smallest normal",
        None,
        ok_time.clone(),
        json!({ "r": boundary_doubles() }),
    ));
    let mut names = Vec::new();
    let mut entries = Vec::new();
    for (seq, (what, key, time, payload)) in specs.into_iter().enumerate() {
        names.push(what);
        entries.push(log::record(
            EDGE,
            seq as u64,
            key.as_deref(),
            &time,
            payload,
        ));
    }
    let edge = Log::from_entries(EDGE, entries, Default::default());
    for (seq, what) in names.iter().enumerate() {
        let bundle = edge.bundle(seq as u64);
        g.add_of(
            format!("edge {seq}: {what}"),
            jcs::canonicalize(&serde_json::to_value(&bundle).unwrap()),
            EDGE,
            Some(seq as u64),
        );
    }
    // The same bundles, each a little differently spelled than JCS (must not matter).
    let numbers = jcs::canonicalize(&serde_json::to_value(edge.bundle(0)).unwrap());
    let respelled = String::from_utf8(numbers)
        .unwrap()
        .replace("1.2345678901234568e+21", "1234567890123456800000.0");
    g.add_of(
        "edge 0: numbers respelled".to_owned(),
        respelled.into_bytes(),
        EDGE,
        Some(0),
    );
}

/// Doubles from a SHA-256 chain (as in the RFC 8785 ES6 number test file), finite, and leaving
/// out magnitudes in [2^53, 1e21): JCS writes those as integer literals above 2^53-1, which the
/// JSON rules then refuse (see the "payload 1e16" edge case).
fn random_doubles(n: usize) -> Vec<Value> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(n);
    let mut block: [u8; 32] = Sha256::digest(b"civicproof doubles").into();
    while out.len() < n {
        for chunk in block.chunks(8) {
            let f = f64::from_bits(u64::from_le_bytes(chunk.try_into().unwrap()));
            let excluded = !f.is_finite() || (9_007_199_254_740_992.0..1e21).contains(&f.abs());
            if !excluded && out.len() < n {
                out.push(json!(f));
            }
        }
        block = Sha256::digest(block).into();
    }
    out
}

/// The smallest normal double and its neighbours, and the largest subnormals.
fn boundary_doubles() -> Vec<Value> {
    (0..200u64)
        .flat_map(|i| {
            [
                f64::from_bits(0x0010_0000_0000_0000 + i),
                f64::from_bits(0x000f_ffff_ffff_ffff - i),
            ]
        })
        .map(|f| json!(f))
        .collect()
}

/// Every byte of the four served subjects flipped three ways (as `verify/tests/bundle_byte_flips.rs`
/// does): too many for the committed fixture file, written on request for a one-off comparison.
pub fn byte_flips() -> Vec<Fixture> {
    let mut g = Gen {
        fixtures: Vec::new(),
        public_key: log::key().verifying_key().to_bytes(),
    };
    let log = Log::city_air();
    let subjects = [
        Subject::new("record 0", &log.bundle(0)),
        Subject::new("anchored record 17", &log.anchored_bundle(17)),
        Subject::new("erased record 5", &log.anchored_bundle(ERASED)),
        Subject::new("erasure entry 36", &log.bundle(ERASURE)),
    ];
    for s in &subjects {
        let bytes = s.text().into_bytes();
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x20, 0x80] {
                let mut flipped = bytes.clone();
                flipped[i] ^= mask;
                g.add(
                    format!("{}: byte {i} ^ {mask:#04x}", s.name),
                    flipped,
                    s.seq,
                );
            }
        }
    }
    g.fixtures
}
