//! RFC 8785 details beyond the shared vectors: UTF-16 member order and string escaping.

use civicproof_verify::jcs::canonicalize;
use serde_json::{Value, json};

fn text(v: &Value) -> String {
    String::from_utf8(canonicalize(v)).unwrap()
}

#[test]
fn members_sort_by_utf16_code_units() {
    // UTF-8 byte order would put U+E000 before U+1F602; UTF-16 puts the surrogate 0xD83D first.
    let v = json!({"\u{e000}": 1, "\u{1f602}": 2, "z": 3, "": 4, "é": 5});
    assert_eq!(text(&v), "{\"\":4,\"z\":3,\"é\":5,\"😂\":2,\"\u{e000}\":1}");
}

#[test]
fn strings_escape_minimally() {
    let v = json!("\"\\/\u{8}\u{9}\u{a}\u{c}\u{d}\u{0}\u{1}\u{1f}\u{7f}\u{2028}\u{2029}<>&'é😂");
    assert_eq!(
        text(&v),
        "\"\\\"\\\\/\\b\\t\\n\\f\\r\\u0000\\u0001\\u001f\u{7f}\u{2028}\u{2029}<>&'é😂\""
    );
}

#[test]
fn nested_structures() {
    let v = json!({"b": [1, {"d": null, "c": [true, false]}], "a": {}});
    assert_eq!(text(&v), r#"{"a":{},"b":[1,{"c":[true,false],"d":null}]}"#);
    assert_eq!(text(&json!([])), "[]");
    assert_eq!(text(&json!([[], {}, ""])), r#"[[],{},""]"#);
}

#[test]
fn exact_integers_are_formatted_as_doubles() {
    // Values built elsewhere may hold u64/i64; JCS still sees doubles.
    assert_eq!(
        text(&json!([1_u64, -5_i64, 100_000_000_000_000_000_000.0])),
        "[1,-5,100000000000000000000]"
    );
}

#[test]
fn very_deep_values_do_not_overflow_the_stack() {
    let mut v = json!(0);
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    let out = canonicalize(&v);
    // Dropping a deep serde_json value recurses, so dismantle it before anything can panic.
    let mut next = Some(v);
    while let Some(Value::Array(mut items)) = next {
        next = items.pop();
    }
    assert_eq!(out.len(), 200_001);
    assert_eq!(out[100_000], b'0');
    assert!(out[..100_000].iter().all(|&b| b == b'['));
    assert!(out[100_001..].iter().all(|&b| b == b']'));
}
