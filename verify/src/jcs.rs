//! RFC 8785 JSON Canonicalization Scheme: the exact bytes civicproof hashes.
//!
//! Server, Rust and browser verifiers must produce identical bytes for the same value, so this
//! follows the RFC literally: members sorted by UTF-16 code units, minimal string escaping and
//! ECMAScript number formatting. Feed it values from [`crate::json::parse_strict`] or
//! [`crate::json::check_value`]; it does not re-check the JSON rules.

use serde_json::Value;

/// Returns the canonical form of `v`.
pub fn canonicalize(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

/// Pending output while walking a value; an explicit stack keeps deep values off the call stack.
enum Item<'a> {
    Value(&'a Value),
    Name(&'a str),
    Byte(u8),
}

/// Appends the canonical form of `v` to `out`.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    let mut todo = vec![Item::Value(v)];
    while let Some(item) = todo.pop() {
        match item {
            Item::Byte(b) => out.push(b),
            Item::Name(name) => {
                write_string(name, out);
                out.push(b':');
            }
            Item::Value(Value::Null) => out.extend_from_slice(b"null"),
            Item::Value(Value::Bool(b)) => {
                out.extend_from_slice(if *b { b"true" } else { b"false" })
            }
            Item::Value(Value::Number(n)) => {
                // serde_json always yields a double here unless `arbitrary_precision` is on, and
                // then only for out-of-range literals, which the JSON rules already refuse.
                let f = n.as_f64().unwrap_or(f64::NAN);
                out.extend_from_slice(number_to_string(f).as_bytes());
            }
            Item::Value(Value::String(s)) => write_string(s, out),
            Item::Value(Value::Array(items)) => {
                out.push(b'[');
                todo.push(Item::Byte(b']'));
                for (i, item) in items.iter().enumerate().rev() {
                    todo.push(Item::Value(item));
                    if i > 0 {
                        todo.push(Item::Byte(b','));
                    }
                }
            }
            Item::Value(Value::Object(map)) => {
                out.push(b'{');
                todo.push(Item::Byte(b'}'));
                let mut members: Vec<_> = map.iter().collect();
                members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
                for (i, (name, member)) in members.into_iter().enumerate().rev() {
                    todo.push(Item::Value(member));
                    todo.push(Item::Name(name));
                    if i > 0 {
                        todo.push(Item::Byte(b','));
                    }
                }
            }
        }
    }
}

/// Formats `f` like ECMAScript `Number.prototype.toString` (RFC 8785 section 3.2.2.3).
///
/// `-0` becomes `"0"`. Non-finite values give ECMAScript's `NaN`/`Infinity`, which are not JSON;
/// the JSON rules refuse them before canonicalization.
pub fn number_to_string(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    ryu_js::Buffer::new().format(f).to_owned()
}

/// Writes `s` as a JSON string with RFC 8785's minimal escaping; all else stays literal UTF-8.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut literal_from = 0;
    for (i, c) in s.char_indices() {
        let escape: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\u{8}' => b"\\b",
            '\t' => b"\\t",
            '\n' => b"\\n",
            '\u{c}' => b"\\f",
            '\r' => b"\\r",
            c if c < '\u{20}' => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                hex_digit(c as u8 >> 4),
                hex_digit(c as u8 & 0xf),
            ],
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[literal_from..i]);
        out.extend_from_slice(escape);
        literal_from = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[literal_from..]);
    out.push(b'"');
}

fn hex_digit(nibble: u8) -> u8 {
    b"0123456789abcdef"[usize::from(nibble)]
}
