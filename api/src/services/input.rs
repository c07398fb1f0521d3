//! Publishing input: a request body (JSON array, NDJSON or CSV) turned into checked records.
//!
//! Status policy: a body that is not what its media type says (broken JSON syntax, a bad
//! CSV row shape) is 400; a well-formed body with a bad record is 422 naming the record's
//! index. Every payload passes PROOFS.md section 2's JSON rules here and leaves as its
//! canonical bytes.

use crate::config::Limits;
use crate::error::{ApiError, FieldError};
use civicproof_verify::{jcs, json};
use serde_json::{Map, Value};

/// The media types a batch may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Json,
    Ndjson,
    Csv,
}

impl BatchFormat {
    /// From a `Content-Type` header; 415 for anything else.
    pub fn from_content_type(ct: Option<&str>) -> Result<Self, ApiError> {
        let essence = ct
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/json" => Ok(Self::Json),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Self::Ndjson),
            "text/csv" => Ok(Self::Csv),
            _ => Err(ApiError::UnsupportedMediaType(
                "Send records as application/json, application/x-ndjson or text/csv.".into(),
            )),
        }
    }
}

/// One checked record, ready to sequence.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    pub key: Option<String>,
    /// The payload with every number as a double (what the schema validates).
    pub payload: Value,
    /// `JCS(payload)`: what is hashed, stored and served.
    pub canonical: Vec<u8>,
}

/// Parses a batch body into (key, payload) pairs, reporting per-record problems together.
pub fn parse_batch(
    format: BatchFormat,
    body: &[u8],
    schema: Option<&Value>,
) -> Result<Vec<(Option<String>, Value)>, ApiError> {
    match format {
        BatchFormat::Json => parse_json_array(body),
        BatchFormat::Ndjson => parse_ndjson(body),
        BatchFormat::Csv => super::input_csv::parse_csv(body, schema),
    }
}

fn parse_json_array(body: &[u8]) -> Result<Vec<(Option<String>, Value)>, ApiError> {
    // Split the array into raw elements first, so that a rule broken inside one record is
    // reported with that record's index; each element is then parsed strictly.
    let raw: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::BadRequest(
                "The body must be a JSON array of {\"key\", \"payload\"} objects.".into(),
            )
        } else {
            ApiError::BadRequest(format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ))
        }
    })?;
    let mut out = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (index, element) in raw.iter().enumerate() {
        match json::parse_strict_with_depth(element.get().as_bytes(), json::MAX_DEPTH + 1) {
            Ok(v) => match record_fields(v) {
                Ok(r) => out.push(r),
                Err(detail) => errors.push(FieldError::record(index, detail)),
            },
            Err(e) => errors.push(FieldError::record(index, e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn parse_ndjson(body: &[u8]) -> Result<Vec<(Option<String>, Value)>, ApiError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (line_no, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let index = out.len() + errors.len();
        match json::parse_strict_with_depth(line, json::MAX_DEPTH + 1) {
            Ok(v) => match record_fields(v) {
                Ok(r) => out.push(r),
                Err(detail) => errors.push(FieldError::record(index, detail)),
            },
            Err(
                e @ (json::JsonError::Syntax { .. }
                | json::JsonError::TrailingData { .. }
                | json::JsonError::InvalidUtf8),
            ) => {
                return Err(ApiError::BadRequest(format!(
                    "Line {} is not valid JSON: {e}",
                    line_no + 1
                )));
            }
            Err(e) => errors.push(FieldError::record(index, e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `{"key"?: string|null, "payload": object}` and nothing else.
fn record_fields(v: Value) -> Result<(Option<String>, Value), String> {
    let Value::Object(mut map) = v else {
        return Err("each record must be an object {\"key\"?, \"payload\"}".into());
    };
    if let Some(unknown) = map.keys().find(|k| *k != "key" && *k != "payload") {
        return Err(format!(
            "unknown field {unknown:?}; a record has only \"key\" and \"payload\""
        ));
    }
    let key = match map.remove("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("key must be a string or null".into()),
    };
    match map.remove("payload") {
        Some(p @ Value::Object(_)) => Ok((key, p)),
        Some(_) => Err("payload must be a JSON object".into()),
        None => Err("payload is missing".into()),
    }
}

/// Checks keys, payload rules and size, and canonicalizes: every problem of every record
/// is collected, so a publisher can fix a batch in one go.
pub fn check_records(
    records: Vec<(Option<String>, Value)>,
    limits: &Limits,
    validator: Option<&jsonschema::Validator>,
) -> Result<Vec<CheckedRecord>, ApiError> {
    if records.is_empty() {
        return Err(ApiError::validation("", "The batch contains no records."));
    }
    if records.len() > limits.max_batch_records {
        return Err(ApiError::validation(
            "",
            format!(
                "The batch has {} records; the limit is {}.",
                records.len(),
                limits.max_batch_records
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    for (index, (key, payload)) in records.into_iter().enumerate() {
        if let Some(k) = &key
            && let Err(detail) = check_key(k)
        {
            errors.push(FieldError {
                pointer: format!("/{index}/key"),
                index: Some(index),
                detail,
            });
            continue;
        }
        let payload = match json::check_value(&payload, json::MAX_DEPTH) {
            Ok(p) => p,
            Err(e) => {
                errors.push(FieldError {
                    pointer: format!("/{index}/payload"),
                    index: Some(index),
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let canonical = jcs::canonicalize(&payload);
        if canonical.len() > limits.max_payload_bytes {
            errors.push(FieldError {
                pointer: format!("/{index}/payload"),
                index: Some(index),
                detail: format!(
                    "the canonical payload is {} bytes; the limit is {}",
                    canonical.len(),
                    limits.max_payload_bytes
                ),
            });
            continue;
        }
        if let Some(validator) = validator {
            let before = errors.len();
            for e in validator.iter_errors(&payload).take(10) {
                errors.push(FieldError {
                    pointer: format!("/{index}/payload{}", e.instance_path()),
                    index: Some(index),
                    detail: format!("schema: {e}"),
                });
            }
            if errors.len() > before {
                continue;
            }
        }
        out.push(CheckedRecord {
            key,
            payload,
            canonical,
        });
        if errors.len() >= 100 {
            break;
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A key is public forever: at most 256 UTF-8 bytes and no control characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.len() > 256 {
        return Err("key must be at most 256 UTF-8 bytes".into());
    }
    if key.chars().any(char::is_control) {
        return Err("key must not contain control characters".into());
    }
    Ok(())
}

/// An object from CSV cells and header names, kept in column order.
pub fn object_from_pairs(pairs: Vec<(String, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect::<Map<String, Value>>())
}
