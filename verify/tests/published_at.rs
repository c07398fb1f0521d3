//! `format_published_at` / `parse_published_at`, checked against dates computed independently.

use civicproof_verify::envelope::{format_published_at, parse_published_at};

/// (Unix milliseconds, timestamp), from Python's `datetime` (proleptic Gregorian, UTC).
const KNOWN: [(i64, &str); 11] = [
    (0, "1970-01-01T00:00:00.000Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (951_782_400_000, "2000-02-29T00:00:00.000Z"),
    (1_795_687_201_123, "2026-11-26T10:00:01.123Z"),
    (-2_203_845_903_211, "1900-03-01T12:34:56.789Z"),
    (-11_670_912_000_001, "1600-02-29T23:59:59.999Z"),
    (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
    (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    (-14_182_940_000, "1969-07-20T20:17:40.000Z"),
    (1_709_208_000_500, "2024-02-29T12:00:00.500Z"),
    (-310_499_571_991, "1960-02-29T06:07:08.009Z"),
];

#[test]
fn known_instants() {
    for (millis, text) in KNOWN {
        assert_eq!(format_published_at(millis), text, "{millis}");
        assert_eq!(parse_published_at(text), Some(millis), "{text}");
    }
}

#[test]
fn round_trips_across_the_four_digit_years() {
    let first = -62_167_219_200_000; // 0000-01-01
    let last = 253_402_300_799_999; // 9999-12-31T23:59:59.999
    // A step that is not a multiple of a second, minute or day visits varied fields.
    let mut millis = first;
    let mut count = 0;
    while millis <= last {
        let text = format_published_at(millis);
        assert_eq!(text.len(), 24, "{text}");
        assert_eq!(parse_published_at(&text), Some(millis), "{text}");
        millis += 3_155_760_001_237;
        count += 1;
    }
    assert!(count > 90);
    for millis in [first, last, -86_400_000, 86_399_999, 68_169_600_000] {
        assert_eq!(
            parse_published_at(&format_published_at(millis)),
            Some(millis)
        );
    }
}

#[test]
fn leap_years() {
    for year in [1600, 1904, 1964, 1968, 2000, 2024, 2400] {
        assert!(
            parse_published_at(&format!("{year:04}-02-29T00:00:00.000Z")).is_some(),
            "{year}"
        );
    }
    for year in [1700, 1800, 1900, 1969, 2100, 2025, 2026] {
        assert!(
            parse_published_at(&format!("{year:04}-02-29T00:00:00.000Z")).is_none(),
            "{year}"
        );
    }
    // The day after Feb 28 of a common year is Mar 1; of a leap year it is Feb 29.
    let feb28 = parse_published_at("1900-02-28T00:00:00.000Z").unwrap();
    assert_eq!(
        format_published_at(feb28 + 86_400_000),
        "1900-03-01T00:00:00.000Z"
    );
    let feb28 = parse_published_at("1968-02-28T00:00:00.000Z").unwrap();
    assert_eq!(
        format_published_at(feb28 + 86_400_000),
        "1968-02-29T00:00:00.000Z"
    );
}

#[test]
fn outside_four_digit_years_does_not_parse() {
    let before = format_published_at(-62_167_219_200_001);
    assert!(parse_published_at(&before).is_none(), "{before}");
    let after = format_published_at(253_402_300_800_000);
    assert_eq!(after, "10000-01-01T00:00:00.000Z");
    assert!(parse_published_at(&after).is_none());
}
