//! Stored JSON text in responses. A record's payload is stored as JSON text; GraphQL sends
//! it as the `JSON` scalar. Instead of parsing it into values and serializing those again,
//! its resolver ([`RawJson`](crate::graphql::types::scalars::RawJson)) answers a
//! [`Value::Binary`] holding the text (no other output of this schema is binary):
//! - over HTTP, [`to_json`] writes such values verbatim, like the REST feed writes payloads;
//! - everywhere else (WebSocket, any other executor caller), [`parse_binary`] turns them into
//!   ordinary values first.

use async_graphql::{Response, Value};

/// A response as JSON, like async-graphql's own serialization but with binary values
/// written as the JSON text they hold (checked to be JSON when resolved).
pub fn to_json(resp: &Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(16 * 1024);
    out.extend_from_slice(b"{\"data\":");
    write_value(&mut out, &resp.data)?;
    if !resp.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut out, &resp.extensions)?;
    }
    if !resp.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &resp.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Binary(text) => out.extend_from_slice(text),
        Value::String(s) => serde_json::to_writer(&mut *out, s.as_str())?,
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, name.as_str())?;
                out.push(b':');
                write_value(out, value)?;
            }
            out.push(b'}');
        }
        other => serde_json::to_writer(&mut *out, other)?,
    }
    Ok(())
}

/// `resp` with every binary value parsed into the JSON value its text holds.
pub fn parse_binary(mut resp: Response) -> Response {
    parse_in(&mut resp.data);
    resp
}

fn parse_in(value: &mut Value) {
    match value {
        Value::Binary(text) => {
            *value = serde_json::from_slice(text).unwrap_or_else(|e| {
                tracing::error!(error = %e, "stored JSON text does not parse (GraphQL)");
                Value::Null
            });
        }
        Value::List(items) => items.iter_mut().for_each(parse_in),
        Value::Object(fields) => fields.values_mut().for_each(parse_in),
        _ => {}
    }
}
