//! The JSON rules for values that were not parsed by [`super::parse_strict`].
//!
//! GraphQL input and CSV cells arrive as [`Value`]s built by other code, so their numbers may be
//! exact `u64`/`i64`. Normalising them here gives them the same canonical form as parsed JSON.

use serde_json::{Map, Number, Value};

use super::{JsonError, MAX_SAFE_INTEGER, finite_number};

/// Applies the rules of PROTOCOL.md section 2 to `v` and returns a copy whose numbers are all `f64`.
///
/// Checks U+0000 in strings and member names, depth (`max_depth`, counted like the parser),
/// integers beyond ±(2^53−1) and non-finite numbers. Duplicate names cannot exist in a [`Value`],
/// and Rust strings cannot hold lone surrogates. Recursion is bounded by `max_depth`.
pub fn check_value(v: &Value, max_depth: usize) -> Result<Value, JsonError> {
    check_at(v, 0, max_depth)
}

/// Checks `v`, whose enclosing containers number `depth`.
fn check_at(v: &Value, depth: usize, max_depth: usize) -> Result<Value, JsonError> {
    let inner = depth + 1;
    match v {
        Value::Null | Value::Bool(_) => Ok(v.clone()),
        Value::Number(n) => Ok(Value::Number(to_double(n)?)),
        Value::String(s) => Ok(Value::String(checked_string(s)?.to_owned())),
        Value::Array(items) => {
            enter(inner, max_depth)?;
            let items = items
                .iter()
                .map(|item| check_at(item, inner, max_depth))
                .collect::<Result<_, _>>()?;
            Ok(Value::Array(items))
        }
        Value::Object(members) => {
            enter(inner, max_depth)?;
            let mut out = Map::new();
            for (name, member) in members {
                let member = check_at(member, inner, max_depth)?;
                out.insert(checked_string(name)?.to_owned(), member);
            }
            Ok(Value::Object(out))
        }
    }
}

fn enter(depth: usize, max_depth: usize) -> Result<(), JsonError> {
    if depth > max_depth {
        return Err(JsonError::TooDeep { max: max_depth });
    }
    Ok(())
}

fn checked_string(s: &str) -> Result<&str, JsonError> {
    if s.contains('\0') {
        return Err(JsonError::NulCharacter);
    }
    Ok(s)
}

/// Converts any number to its double, refusing integers a double cannot hold exactly.
fn to_double(n: &Number) -> Result<Number, JsonError> {
    let magnitude = n.as_u64().or_else(|| n.as_i64().map(|i| i.unsigned_abs()));
    if magnitude.is_some_and(|m| m > MAX_SAFE_INTEGER) {
        return Err(JsonError::IntegerTooLarge);
    }
    finite_number(n.as_f64().ok_or(JsonError::NotFinite)?)
}
