//! Every rejection rule of `json::parse_strict` and `json::check_value`, with accepted neighbours.

use civicproof_verify::json::{
    JsonError, MAX_DEPTH, check_value, parse_strict, parse_strict_with_depth,
};
use serde_json::{Value, json};

fn syntax_error(input: &[u8]) -> bool {
    matches!(parse_strict(input), Err(JsonError::Syntax { .. }))
}

#[test]
fn accepts_valid_json() {
    let cases: &[&[u8]] = &[
        b"null",
        b"true",
        b"false",
        b"0",
        b"-0",
        b"\"\"",
        b" \t\r\n{ \"a\" : [ 1 , 2.5e-3 , -1E+2 , true , null ] } \t\r\n",
        b"{\"a\":{\"a\":1}}",
        b"[{\"a\":1},{\"a\":2}]",
        b"\"\\ud83d\\ude02 \\u00e9 \\/ \\b\\f\\n\\r\\t \\\" \\\\\"",
        "\"żółw 😂 \u{2028} \u{7f}\"".as_bytes(),
        b"{\"\":0}",
    ];
    for input in cases {
        assert!(
            parse_strict(input).is_ok(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn unescapes_strings() {
    let v = parse_strict(b"[\"\\ud83d\\ude02\", \"\\u0041\\u00e9\", \"a\\/b\"]").unwrap();
    assert_eq!(v, json!(["😂", "Aé", "a/b"]));
}

#[test]
fn rejects_invalid_utf8() {
    for input in [
        &b"\"\xff\""[..],
        b"\"\xc0\x80\"",     // overlong NUL
        b"\"\xed\xa0\x80\"", // UTF-8-encoded surrogate
        b"\"\xe2\x82\"",     // truncated sequence
    ] {
        assert_eq!(
            parse_strict(input),
            Err(JsonError::InvalidUtf8),
            "{input:?}"
        );
    }
}

#[test]
fn rejects_byte_order_mark() {
    assert!(syntax_error(b"\xef\xbb\xbf{}"));
}

#[test]
fn rejects_bad_syntax() {
    let cases: &[&[u8]] = &[
        b"",
        b"   ",
        b"007",
        b"01",
        b"-01",
        b"+1",
        b"1.",
        b".5",
        b"-",
        b"1e",
        b"1e+",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{'a':1}",
        b"{\"a\":1",
        b"[",
        b"\"abc",
        b"\"tab\there\"",
        b"\"\\x41\"",
        b"\"\\u12\"",
        b"\"\\u12G4\"",
        b"\"\\U0041\"",
        b"tru",
        b"True",
        b"nul",
        b"\x0b1",             // vertical tab is not JSON whitespace
        "\u{a0}1".as_bytes(), // nor is NO-BREAK SPACE
    ];
    for input in cases {
        assert!(syntax_error(input), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn syntax_errors_carry_offsets() {
    assert_eq!(
        parse_strict(b"[1,]"),
        Err(JsonError::Syntax {
            offset: 3,
            expected: "a JSON value"
        })
    );
    let Err(JsonError::Syntax { offset, .. }) = parse_strict(b"007") else {
        panic!("007 accepted");
    };
    assert_eq!(offset, 1);
}

#[test]
fn rejects_trailing_data() {
    assert_eq!(
        parse_strict(b"1 2"),
        Err(JsonError::TrailingData { offset: 2 })
    );
    assert_eq!(
        parse_strict(b"{} x"),
        Err(JsonError::TrailingData { offset: 3 })
    );
    assert_eq!(
        parse_strict(b"\"a\"\"b\""),
        Err(JsonError::TrailingData { offset: 3 })
    );
    assert_eq!(
        parse_strict(b"0x10"),
        Err(JsonError::TrailingData { offset: 1 })
    );
    // Form feed is not JSON whitespace.
    assert_eq!(
        parse_strict(b"[1]\x0c"),
        Err(JsonError::TrailingData { offset: 3 })
    );
    assert_eq!(
        parse_strict(b"[]\x00"),
        Err(JsonError::TrailingData { offset: 2 })
    );
}

#[test]
fn rejects_duplicate_names() {
    let cases: &[(&[u8], &str)] = &[
        (b"{\"a\":1,\"a\":2}", "a"),
        (b"{\"a\":1,\"\\u0061\":2}", "a"),
        (b"{\"a\":1,\"b\":2,\"a\":1}", "a"),
        (b"[{\"x\":{\"\":1,\"\":1}}]", ""),
        ("{\"é\":1,\"\\u00e9\":2}".as_bytes(), "é"),
    ];
    for (input, name) in cases {
        assert_eq!(
            parse_strict(input),
            Err(JsonError::DuplicateName((*name).to_owned())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Equal names in different objects are fine, and so is U+0065 U+0301 next to U+00E9.
    assert!(parse_strict(b"{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}").is_ok());
    assert!(parse_strict("{\"e\u{301}\":1,\"\u{e9}\":2}".as_bytes()).is_ok());
}

#[test]
fn rejects_nul() {
    let cases: &[&[u8]] = &[
        b"\"\\u0000\"",
        b"\"a\x00b\"",
        b"{\"\\u0000\":1}",
        b"{\"a\x00\":1}",
        b"[\"ok\",[\"\\u0000\"]]",
    ];
    for input in cases {
        assert_eq!(
            parse_strict(input),
            Err(JsonError::NulCharacter),
            "{input:?}"
        );
    }
}

#[test]
fn rejects_lone_surrogates() {
    let cases: &[&[u8]] = &[
        b"\"\\ud800\"",
        b"\"\\udbff\"",
        b"\"\\udc00\"",
        b"\"\\udfff\\ud800\"",
        b"\"\\ud800x\"",
        b"\"\\ud800\\u0041\"",
        b"\"\\ud800\\ud800\"",
        b"{\"\\ud83d\":1}",
    ];
    for input in cases {
        assert_eq!(
            parse_strict(input),
            Err(JsonError::LoneSurrogate),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn nested(depth: usize) -> Vec<u8> {
    let mut text = vec![b'['; depth];
    text.extend(std::iter::repeat_n(b']', depth));
    text
}

#[test]
fn limits_depth() {
    assert!(parse_strict(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        parse_strict(&nested(MAX_DEPTH + 1)),
        Err(JsonError::TooDeep { max: 64 })
    );
    assert_eq!(parse_strict_with_depth(b"{}", 1), Ok(json!({})));
    assert!(parse_strict_with_depth(b"{\"a\":{}}", 2).is_ok());
    assert_eq!(
        parse_strict_with_depth(b"{\"a\":{}}", 1),
        Err(JsonError::TooDeep { max: 1 })
    );
    assert_eq!(
        parse_strict_with_depth(b"[[1],{\"a\":[]}]", 2),
        Err(JsonError::TooDeep { max: 2 })
    );
    assert!(parse_strict_with_depth(b"[[1],{\"a\":2}]", 2).is_ok());
    assert!(parse_strict_with_depth(b"\"scalar\"", 0).is_ok());
    assert_eq!(
        parse_strict_with_depth(b"[]", 0),
        Err(JsonError::TooDeep { max: 0 })
    );
}

#[test]
fn hostile_nesting_does_not_overflow_the_stack() {
    let mut text = b"{\"a\":".repeat(500_000);
    text.extend(b"[".repeat(500_000));
    assert_eq!(parse_strict(&text), Err(JsonError::TooDeep { max: 64 }));
    // Even without a useful limit the parser keeps its frames on the heap.
    let open = vec![b'['; 200_000];
    assert!(matches!(
        parse_strict_with_depth(&open, usize::MAX),
        Err(JsonError::Syntax {
            offset: 200_000,
            ..
        })
    ));
}

#[test]
fn messages_are_readable() {
    assert_eq!(
        JsonError::DuplicateName("a".into()).to_string(),
        "duplicate member name \"a\""
    );
    assert_eq!(
        JsonError::TooDeep { max: 64 }.to_string(),
        "JSON nests deeper than 64 levels"
    );
    assert!(
        JsonError::IntegerTooLarge
            .to_string()
            .contains("send it as a string")
    );
}

#[test]
fn check_value_normalises_numbers() {
    let input =
        json!({"a": [1, -2, 9007199254740991_u64, -9007199254740991_i64, 2.5], "b": {"c": 0}});
    let checked = check_value(&input, MAX_DEPTH).unwrap();
    let mut numbers = Vec::new();
    collect_numbers(&checked, &mut numbers);
    assert_eq!(numbers.len(), 6);
    assert!(numbers.iter().all(serde_json::Number::is_f64));
    assert_eq!(
        checked,
        parse_strict(br#"{"a":[1,-2,9007199254740991,-9007199254740991,2.5],"b":{"c":0}}"#)
            .unwrap()
    );
}

fn collect_numbers(v: &Value, out: &mut Vec<serde_json::Number>) {
    match v {
        Value::Number(n) => out.push(n.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_numbers(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_numbers(i, out)),
        _ => {}
    }
}

#[test]
fn check_value_applies_the_rules() {
    let cases = [
        (json!(9007199254740992_u64), JsonError::IntegerTooLarge),
        (json!([u64::MAX]), JsonError::IntegerTooLarge),
        (
            json!({"a": -9007199254740992_i64}),
            JsonError::IntegerTooLarge,
        ),
        (json!({"a": i64::MIN}), JsonError::IntegerTooLarge),
        (json!("a\u{0}b"), JsonError::NulCharacter),
        (json!({"a\u{0}": 1}), JsonError::NulCharacter),
        (json!([[["\u{0}"]]]), JsonError::NulCharacter),
    ];
    for (input, expected) in cases {
        assert_eq!(check_value(&input, MAX_DEPTH), Err(expected), "{input}");
    }
    assert!(check_value(&json!(1e300), MAX_DEPTH).is_ok());
    assert_eq!(check_value(&json!([[1]]), 2), Ok(json!([[1.0]])));
    assert_eq!(
        check_value(&json!([[1]]), 1),
        Err(JsonError::TooDeep { max: 1 })
    );
    assert_eq!(
        check_value(&json!({}), 0),
        Err(JsonError::TooDeep { max: 0 })
    );
    assert_eq!(check_value(&json!("x"), 0), Ok(json!("x")));
    let deep = parse_strict(&nested(MAX_DEPTH)).unwrap();
    assert!(check_value(&deep, MAX_DEPTH).is_ok());
    assert!(check_value(&json!([deep]), MAX_DEPTH).is_err());
}
