//! Strict JSON for everything civicproof hashes (PROTOCOL.md section 2, "JSON rules").
//!
//! serde_json's own parser is not enough: it silently keeps one of two duplicate member names and
//! reads integers exactly as `u64`/`i64`, while civicproof needs every implementation (server,
//! Rust and browser verifiers) to see the same value. So we parse ourselves, reject everything
//! I-JSON forbids, and hold every number as the IEEE-754 double an ECMAScript parser would see.

mod check;
mod parse;

pub use check::check_value;

use serde_json::Value;

/// Deepest nesting accepted anywhere (`{}` has depth 1, scalars depth 0).
pub const MAX_DEPTH: usize = 64;

/// Largest integer magnitude that survives a round trip through an IEEE-754 double (2^53−1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a JSON text or value was refused.
///
/// One variant per rule, so callers can map them to precise API errors; the messages contain no
/// internals and are safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("JSON text is not valid UTF-8")]
    InvalidUtf8,
    /// The text does not follow the RFC 8259 grammar at `offset` (a byte offset).
    #[error("invalid JSON at byte {offset}: expected {expected}")]
    Syntax {
        /// Byte offset of the first offending byte.
        offset: usize,
        /// What the grammar allows at that point.
        expected: &'static str,
    },
    /// An object has the same member name twice (compared after unescaping).
    #[error("duplicate member name {0:?}")]
    DuplicateName(String),
    /// A string or member name contains U+0000.
    #[error("strings must not contain the character U+0000")]
    NulCharacter,
    /// A `\u` escape encodes half of a surrogate pair without the other half.
    #[error("strings must not contain lone surrogates (unpaired \\uD800-\\uDFFF escapes)")]
    LoneSurrogate,
    /// Objects and arrays nest deeper than allowed.
    #[error("JSON nests deeper than {max} levels")]
    TooDeep {
        /// The limit that was exceeded.
        max: usize,
    },
    /// An integer beyond ±(2^53−1), where doubles stop being exact: a literal, or a value
    /// whose canonical form would be one (e.g. `1e16`).
    #[error("integer magnitude above 2^53-1 (9007199254740991); send it as a string")]
    IntegerTooLarge,
    /// A number is outside the range of an IEEE-754 double.
    #[error("number is out of the IEEE-754 double range")]
    NotFinite,
    /// Something other than whitespace follows the JSON value.
    #[error("unexpected data after the JSON value at byte {offset}")]
    TrailingData {
        /// Byte offset of the first byte after the value.
        offset: usize,
    },
}

/// Parses `bytes` as one JSON value under all rules of PROTOCOL.md section 2, with depth ≤ 64.
///
/// Every number in the result is an `f64` ([`serde_json::Number::from_f64`]).
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    parse_strict_with_depth(bytes, MAX_DEPTH)
}

/// Like [`parse_strict`] with a different depth limit.
///
/// The parser itself never recurses, but dropping a very deep [`Value`] does, so keep
/// `max_depth` moderate.
pub fn parse_strict_with_depth(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    parse::Parser::new(bytes, max_depth)?.document()
}

/// Turns a number literal's double into a [`serde_json::Number`], refusing what JSON cannot hold.
/// A number as its double, refusing non-finite values and doubles whose canonical form
/// (RFC 8785: plain digits below 10^21) would be an integer literal beyond 2^53−1.
///
/// PROTOCOL.md section 2 rejects such integer *literals*; a value like `1e16` or
/// `9007199254740992.0` is not one, yet canonicalizes to `10000000000000000` — which every
/// verifier must then reject at step 0. Rejecting the value at publishing keeps every
/// published record verifiable (reported as a spec gap).
fn finite_number(f: f64) -> Result<serde_json::Number, JsonError> {
    if f.abs() > MAX_SAFE_INTEGER as f64 && f.abs() < 1e21 {
        return Err(JsonError::IntegerTooLarge);
    }
    serde_json::Number::from_f64(f).ok_or(JsonError::NotFinite)
}
