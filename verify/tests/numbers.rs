//! Number handling: PROTOCOL.md section 2's extra vectors and RFC 8785's examples.

use civicproof_verify::jcs::{canonicalize, number_to_string};
use civicproof_verify::json::{JsonError, parse_strict};

/// The canonical form of a number (or array of numbers). Values between 2^53 and 10^21 are
/// refused at parsing (their canonical form is an unsafe integer literal), so for those the
/// formatting alone is checked, from the double itself.
fn canonical(text: &str) -> String {
    match parse_strict(text.as_bytes()) {
        Ok(value) => String::from_utf8(canonicalize(&value)).unwrap(),
        Err(JsonError::IntegerTooLarge) => number_to_string(text.parse::<f64>().unwrap()),
        Err(e) => panic!("{text}: {e}"),
    }
}

#[test]
fn canonical_forms() {
    let cases = [
        // PROTOCOL.md section 2
        ("1e21", "1e+21"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("17.20", "17.2"),
        // project vectors
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        // As a bare integer literal this is above 2^53-1 and refused (see `rejected_numbers`).
        ("1.2345678901234568e20", "123456789012345680000"),
        ("123456789012345680000.0", "123456789012345680000"),
        ("9007199254740991", "9007199254740991"),
        ("-9007199254740991", "-9007199254740991"),
        ("9007199254740993.0", "9007199254740992"),
        // RFC 8785 section 3.2.2.3 and appendix B
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("0.000000000000000000000000001", "1e-27"),
        ("333333333.33333329", "333333333.3333333"),
        ("1E30", "1e+30"),
        ("1e20", "100000000000000000000"),
        ("9.999999999999999e20", "999999999999999900000"),
        ("5e-324", "5e-324"),
        ("-5e-324", "-5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("-1.7976931348623157e308", "-1.7976931348623157e+308"),
        ("2.2250738585072014e-308", "2.2250738585072014e-308"),
        ("2.9514790517935283e20", "295147905179352830000"),
        ("9.999999999999997e-7", "9.999999999999997e-7"),
        ("1e-400", "0"),
        ("0", "0"),
        ("1E+2", "100"),
        ("[1.0,-1.5e0,0.1]", "[1,-1.5,0.1]"),
    ];
    for (input, expected) in cases {
        assert_eq!(canonical(input), expected, "{input}");
    }
}

#[test]
fn ieee_bit_patterns() {
    // Sample lines of the cyberphone ES6 number test file.
    let cases = [
        (0x4340000000000001_u64, "9007199254740994"),
        (0x4340000000000002, "9007199254740996"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x8000000000000000, "0"),
        (0, "0"),
        (123456789012345680000_f64.to_bits(), "123456789012345680000"),
    ];
    for (bits, expected) in cases {
        assert_eq!(number_to_string(f64::from_bits(bits)), expected, "{bits:x}");
    }
}

#[test]
fn values_whose_canonical_form_is_a_safe_number_are_accepted() {
    for (input, canonical) in [
        ("9007199254740991.0", "9007199254740991"),
        ("1e21", "1e+21"),
        ("-1e21", "-1e+21"),
        ("1.5e300", "1.5e+300"),
    ] {
        let v = parse_strict(input.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(civicproof_verify::jcs::canonicalize(&v)).unwrap(),
            canonical
        );
    }
}

#[test]
fn rejected_numbers() {
    let cases = [
        ("9007199254740993", JsonError::IntegerTooLarge),
        ("9007199254740992", JsonError::IntegerTooLarge),
        ("-9007199254740992", JsonError::IntegerTooLarge),
        ("18446744073709551616", JsonError::IntegerTooLarge),
        ("123456789012345680000", JsonError::IntegerTooLarge),
        (
            "[123456789012345678901234567890]",
            JsonError::IntegerTooLarge,
        ),
        // Not integer literals, but their canonical forms would be (spec gap: see json.rs).
        ("1e16", JsonError::IntegerTooLarge),
        ("-1.5e16", JsonError::IntegerTooLarge),
        ("9007199254740992.0", JsonError::IntegerTooLarge),
        ("9.99e20", JsonError::IntegerTooLarge),
        ("1E400", JsonError::NotFinite),
        ("-1e400", JsonError::NotFinite),
        ("{\"a\":1.8e308}", JsonError::NotFinite),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_strict(input.as_bytes()), Err(expected), "{input}");
    }
}

#[test]
fn parsed_numbers_are_doubles() {
    let value = parse_strict(b"[0, 1, -1, 9007199254740991, 2.5]").unwrap();
    for n in value.as_array().unwrap() {
        assert!(n.as_number().unwrap().is_f64(), "{n}");
    }
}
