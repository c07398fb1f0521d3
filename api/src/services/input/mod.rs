//! Publishing input: a request body (JSON array, NDJSON or CSV) turned into checked records,
//! read as it arrives.
//!
//! Status policy: a body that is not what its media type says (broken JSON syntax, a bad
//! CSV row shape) is 400; a well-formed body with a bad record is 422 naming the record's
//! index. Every payload passes PROTOCOL.md section 2's JSON rules here and leaves as its
//! canonical bytes.
//!
//! Memory is bounded whatever the body holds. Bodies are parsed from a stream (`body`), one
//! record at a time (`json`, `ndjson`, `csv`), and reading stops at the record-count limit
//! and at [`MAX_ERRORS`] problems; the rest of a body is then only hashed (for the
//! Idempotency-Key fingerprint), never kept. A record's raw text is held only up to
//! [`Caps::max_element_bytes`]. What a request in flight holds beyond its read buffer is the
//! canonical payloads of the records accepted so far (at most the body size), or, once one
//! record failed, at most [`MAX_ERRORS`] problems: a 32 MiB `[1,1,1,…]` costs 100 short
//! problems, not 16 million.

mod body;
mod csv;
mod json;
mod ndjson;

pub use body::{Body, in_memory, read_batch};

use crate::config::Limits;
use crate::error::{ApiError, FieldError};
use civicproof_verify::{jcs, json as json_rules};
use serde_json::{Map, Value};

/// Problems reported for one batch at most; parsing stops at this many.
pub const MAX_ERRORS: usize = 100;
/// Schema problems reported for one record at most.
const MAX_ERRORS_PER_RECORD: usize = 10;

pub use crate::domain::BatchFormat;

/// The batch format of a `Content-Type` header; 415 for anything else.
pub fn batch_format(ct: Option<&str>) -> Result<BatchFormat, ApiError> {
    let essence = ct.and_then(|c| c.split(';').next()).unwrap_or_default();
    BatchFormat::from_media_type(essence).ok_or_else(|| {
        let own: Vec<&str> = BatchFormat::ALL
            .iter()
            .map(|f| f.media_types()[0])
            .collect();
        ApiError::UnsupportedMediaType(format!("Send records as {}.", own.join(", ")))
    })
}

/// One checked record, ready to sequence.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    pub key: Option<String>,
    /// The publisher's name for this record (API.md, `dedup_key`): sent again under the same
    /// name, it is answered with the record already appended.
    pub dedup_key: Option<String>,
    /// `JCS(payload)`: what is hashed, stored and served.
    pub canonical: Vec<u8>,
    /// Appended only when it changes its key's current version and is not older than it
    /// (`services::versions`; NGSI-LD entities).
    pub versioned: bool,
}

/// A record as parsed, before its payload is checked.
#[derive(Debug, Clone)]
pub struct ParsedRecord {
    pub key: Option<String>,
    pub dedup_key: Option<String>,
    pub payload: Value,
}

impl ParsedRecord {
    /// A record without a dedup key (CSV rows have none).
    pub fn keyed(key: Option<String>, payload: Value) -> Self {
        Self {
            key,
            dedup_key: None,
            payload,
        }
    }
}

/// What one batch may hold.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_records: usize,
    pub max_payload_bytes: usize,
    /// The longest raw text of one record (a JSON element, an NDJSON line, a CSV row)
    /// that is parsed at all: 16 times the payload limit, at least 1 MiB.
    pub max_element_bytes: usize,
}

impl Caps {
    pub fn from_limits(limits: &Limits) -> Self {
        Self {
            max_records: limits.max_batch_records,
            max_payload_bytes: limits.max_payload_bytes,
            max_element_bytes: limits.max_payload_bytes.saturating_mul(16).max(1 << 20),
        }
    }
}

/// Whether a parser should go on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Checks records as the parsers find them, with every problem of every record collected
/// (up to [`MAX_ERRORS`]), so that a publisher can fix a batch in one go. Once a record has
/// failed, the batch cannot succeed, so accepted records are no longer kept.
pub struct Checker<'a> {
    caps: Caps,
    validator: Option<&'a jsonschema::Validator>,
    records: Vec<CheckedRecord>,
    errors: Vec<FieldError>,
    seen: usize,
}

impl<'a> Checker<'a> {
    pub fn new(caps: Caps, validator: Option<&'a jsonschema::Validator>) -> Self {
        Self {
            caps,
            validator,
            records: Vec::new(),
            errors: Vec::new(),
            seen: 0,
        }
    }

    /// The index the next record gets.
    pub fn next_index(&self) -> usize {
        self.seen
    }

    /// Takes the next record as parsed (`key`, payload) or a problem with it. Fails at once
    /// when the batch holds more records than allowed.
    pub fn push(&mut self, parsed: Result<ParsedRecord, String>) -> Result<Flow, ApiError> {
        let index = self.seen;
        self.seen += 1;
        if self.seen > self.caps.max_records {
            return Err(ApiError::validation(
                "",
                format!(
                    "The batch has more than {limit} records; the limit is {limit}.",
                    limit = self.caps.max_records
                ),
            ));
        }
        let checked = parsed.and_then(|r| {
            check_key(r.key.as_deref())?;
            if let Some(dedup) = &r.dedup_key {
                check_dedup_key(dedup)?;
            }
            Ok(r)
        });
        match checked {
            Ok(r) => self.check(index, r),
            Err(detail) => self.fail(FieldError::record(index, detail)),
        }
        Ok(if self.errors.len() >= MAX_ERRORS {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    fn fail(&mut self, e: FieldError) {
        if self.errors.is_empty() {
            self.records = Vec::new();
        }
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// Payload rules, size and schema of one record.
    fn check(&mut self, index: usize, record: ParsedRecord) {
        let ParsedRecord {
            key,
            dedup_key,
            payload,
        } = record;
        let at = |detail: String| FieldError {
            pointer: format!("/{index}/payload"),
            index: Some(index),
            detail,
        };
        let payload = match json_rules::check_value(&payload, json_rules::MAX_DEPTH) {
            Ok(p) => p,
            Err(e) => return self.fail(at(e.to_string())),
        };
        let canonical = jcs::canonicalize(&payload);
        if canonical.len() > self.caps.max_payload_bytes {
            return self.fail(at(format!(
                "the canonical payload is {} bytes; the limit is {}",
                canonical.len(),
                self.caps.max_payload_bytes
            )));
        }
        if let Some(validator) = self.validator {
            let mut failed = false;
            for e in validator.iter_errors(&payload).take(MAX_ERRORS_PER_RECORD) {
                failed = true;
                self.fail(FieldError {
                    pointer: format!("/{index}/payload{}", e.instance_path()),
                    index: Some(index),
                    detail: format!("schema: {e}"),
                });
            }
            if failed {
                return;
            }
        }
        if self.errors.is_empty() {
            self.records.push(CheckedRecord {
                key,
                dedup_key,
                canonical,
                versioned: false,
            });
        }
    }

    /// The batch's records, or every problem found.
    pub fn finish(self) -> Result<Vec<CheckedRecord>, ApiError> {
        if self.seen == 0 {
            return Err(ApiError::validation("", "The batch contains no records."));
        }
        if self.errors.is_empty() {
            Ok(self.records)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Parses one batch from `reader` in `format`, records checked as they come.
pub fn parse(
    format: BatchFormat,
    reader: impl std::io::Read,
    caps: Caps,
    schema: Option<&Value>,
    validator: Option<&jsonschema::Validator>,
) -> Result<Vec<CheckedRecord>, ApiError> {
    let mut checker = Checker::new(caps, validator);
    match format {
        BatchFormat::Json => json::parse_array(reader, caps, &mut checker)?,
        BatchFormat::Ndjson => ndjson::parse_lines(reader, caps, &mut checker)?,
        BatchFormat::Csv => csv::parse_csv(reader, caps, schema, &mut checker)?,
    }
    checker.finish()
}

/// `{"key"?: string|null, "dedup_key"?: string|null, "payload": object}` and nothing else.
fn record_fields(v: Value) -> Result<ParsedRecord, String> {
    let Value::Object(mut map) = v else {
        return Err("each record must be an object {\"key\"?, \"dedup_key\"?, \"payload\"}".into());
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "key" | "dedup_key" | "payload"))
    {
        return Err(format!(
            "unknown field {unknown:?}; a record has only \"key\", \"dedup_key\" and \"payload\""
        ));
    }
    let text = |map: &mut Map<String, Value>, name: &str| match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} must be a string or null")),
    };
    let key = text(&mut map, "key")?;
    let dedup_key = text(&mut map, "dedup_key")?;
    match map.remove("payload") {
        Some(payload @ Value::Object(_)) => Ok(ParsedRecord {
            key,
            dedup_key,
            payload,
        }),
        Some(_) => Err("payload must be a JSON object".into()),
        None => Err("payload is missing".into()),
    }
}

/// A JSON record's text (an array element or an NDJSON line) parsed strictly. `Err(Ok(_))`
/// is a problem of the record (422), `Err(Err(_))` a body that is not JSON (400).
fn parse_record(text: &[u8]) -> Result<ParsedRecord, Result<String, String>> {
    match json_rules::parse_strict_with_depth(text, json_rules::MAX_DEPTH + 1) {
        Ok(v) => record_fields(v).map_err(Ok),
        Err(
            e @ (json_rules::JsonError::Syntax { .. }
            | json_rules::JsonError::TrailingData { .. }
            | json_rules::JsonError::InvalidUtf8),
        ) => Err(Err(e.to_string())),
        Err(e) => Err(Ok(e.to_string())),
    }
}

fn check_key(key: Option<&str>) -> Result<(), String> {
    key.map_or(Ok(()), check_key_text)
}

/// A dedup key is 1 to 255 visible ASCII characters, like an Idempotency-Key.
pub fn check_dedup_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("dedup_key must be 1 to 255 visible ASCII characters".into());
    }
    Ok(())
}

/// A key is public forever: at most 256 UTF-8 bytes and no control characters.
pub fn check_key_text(key: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max_records: usize) -> Caps {
        Caps {
            max_records,
            max_payload_bytes: 64 * 1024,
            max_element_bytes: 1 << 20,
        }
    }

    #[test]
    fn a_body_of_millions_of_bad_records_stops_at_the_error_cap() {
        let mut body = b"[1".to_vec();
        body.extend(std::iter::repeat_n(*b",1", 2_000_000).flatten());
        body.push(b']');
        match parse(BatchFormat::Json, &body[..], caps(10_000_000), None, None) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.len(), MAX_ERRORS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_with_too_many_records_stops_at_the_limit() {
        let body = "{\"payload\":{}}\n".repeat(50_000);
        match parse(BatchFormat::Ndjson, body.as_bytes(), caps(1000), None, None) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors.len(), 1);
                assert!(errors[0].detail.contains("limit is 1000"), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_three_formats_agree() {
        let json = br#"[{"key":"a","payload":{"x":1.50}},{"payload":{"y":"z"}}]"#;
        let ndjson = b"{\"key\":\"a\",\"payload\":{\"x\":1.50}}\n\n{\"payload\":{\"y\":\"z\"}}\n";
        let csv = b"key,x,y\na,1.50,\n,,z\n";
        let out = |f, b: &[u8]| parse(f, b, caps(10), None, None).unwrap();
        let a = out(BatchFormat::Json, json);
        let b = out(BatchFormat::Ndjson, ndjson);
        assert_eq!(a.len(), 2);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.key, &x.canonical), (&y.key, &y.canonical));
        }
        let c = out(BatchFormat::Csv, csv);
        assert_eq!(c[0].canonical, br#"{"x":1.5,"y":null}"#);
        assert_eq!(c[0].key.as_deref(), Some("a"));
    }
}
