//! The strict text encodings of PROTOCOL.md section 1, shared by every check that decodes one.
//!
//! Each value must have exactly one accepted spelling: if two spellings decoded to the same bytes,
//! signed or hashed text could be altered without changing what it means, and verifiers that
//! disagree on leniency would disagree on verdicts. So base64 is RFC 4648 section 4 with padding
//! and zero pad bits, hex is lowercase only, decimals have no leading zeros.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::json::MAX_SAFE_INTEGER;

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes canonical standard base64: padding required, pad bits zero, no whitespace.
///
/// The round trip check makes "exactly one spelling" explicit instead of relying on the
/// decoder's configuration.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(s).ok()?;
    (STANDARD.encode(&bytes) == s).then_some(bytes)
}

/// Decodes exactly `2 * N` lowercase hex digits (no `0x`, no uppercase).
pub fn decode_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !is_lower_hex(s) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Whether `s` consists only of the digits `0-9a-f` (possibly empty).
pub fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses a decimal in [0, 2^53−1] without sign or leading zeros (`0` itself is allowed).
pub fn parse_decimal(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits_only || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n <= MAX_SAFE_INTEGER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_refuses_every_other_spelling() {
        assert_eq!(base64_decode("AAE=").unwrap(), [0, 1]);
        for bad in ["AAE", "AAF=", "AA E=", "AAE=\n", "AAE==", "AA-_", "AA_E"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        assert_eq!(base64_decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn hex_is_lowercase_and_exact_length() {
        assert_eq!(decode_lower_hex::<2>("0aff"), Some([0x0a, 0xff]));
        for bad in ["0aFF", "0af", "0aff00", "0x0a", "0agf"] {
            assert_eq!(decode_lower_hex::<2>(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decimals_have_one_spelling() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("9007199254740991"), Some(MAX_SAFE_INTEGER));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-0",
            " 1",
            "1 ",
            "9007199254740992",
            "1e3",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
