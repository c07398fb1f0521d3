//! One MQTT message → one record, or the reason it is a dead letter.
//!
//! The payload is parsed under the same JSON rules as the server's (PROTOCOL.md 2.3), so a
//! message the server would refuse is caught here and dead-lettered alone instead of failing
//! the batch it would have joined. The server still judges what it is sent: a record it
//! refuses (the dataset's JSON Schema) comes back as a 422 at its index and is dead-lettered
//! then.

use super::config::{DedupSource, FieldType, KeySource, Mapping, Transform};
use super::topic::TopicFilter;
use base64::Engine;
use civicproof_verify::{jcs, json as json_rules};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Why a message became a dead letter (the `reason` label of the metrics and of the
/// dead-letter record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NonJson,
    NonObject,
    Oversized,
    /// The dataset's JSON Schema refused it, or a `types` conversion failed.
    Schema,
    /// The JSON rules of PROTOCOL.md 2.3 (duplicate names, lone surrogates, depth, …).
    PayloadRules,
    /// The record key could not be taken (missing, not a string or number, too long).
    Key,
    /// The message id (`dedup.pointer`) is missing, or names other content than before.
    Dedup,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::NonJson,
        Reason::NonObject,
        Reason::Oversized,
        Reason::Schema,
        Reason::PayloadRules,
        Reason::Key,
        Reason::Dedup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NonJson => "non-json",
            Reason::NonObject => "non-object",
            Reason::Oversized => "oversized",
            Reason::Schema => "schema",
            Reason::PayloadRules => "payload-rules",
            Reason::Key => "key",
            Reason::Dedup => "dedup-conflict",
        }
    }
}

/// A record for the publish API (`{"key"?, "dedup_key"?, "payload"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Option<String>,
    pub dedup_key: Option<String>,
    pub payload: Value,
}

impl Record {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(k) = &self.key {
            m.insert("key".into(), Value::from(k.as_str()));
        }
        if let Some(d) = &self.dedup_key {
            m.insert("dedup_key".into(), Value::from(d.as_str()));
        }
        m.insert("payload".into(), self.payload.clone());
        Value::Object(m)
    }
}

/// A message's dedup key: `mq1:` and the base64url SHA-256 of the source, the topic and the
/// message's identity, separated so no two triples share a key.
pub fn dedup_key(source: &str, topic: &str, identity: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [source.as_bytes(), topic.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(identity);
    format!(
        "mq1:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
    )
}

/// The dedup key of a message whatever happens to it, so that a dead letter is exactly-once
/// too. `None` with `dedup = "none"`; a missing message id names it by content.
pub fn message_dedup_key(
    mapping: &Mapping,
    source: &str,
    topic: &str,
    raw: &[u8],
) -> Option<String> {
    match &mapping.dedup {
        DedupSource::None => None,
        DedupSource::Content => Some(dedup_key(source, topic, &Sha256::digest(raw))),
        DedupSource::Pointer { pointer } => {
            let id = serde_json::from_slice::<Value>(raw)
                .ok()
                .and_then(|v| v.pointer(pointer).and_then(scalar_text));
            Some(match id {
                Some(id) => dedup_key(source, topic, format!("id:{id}").as_bytes()),
                None => dedup_key(source, topic, &Sha256::digest(raw)),
            })
        }
    }
}

/// Turns one message into a record.
pub fn to_record(
    mapping: &Mapping,
    topic: &str,
    raw: &[u8],
    dedup_key: Option<String>,
    max_message_bytes: usize,
) -> Result<Record, (Reason, String)> {
    if raw.len() > max_message_bytes {
        return Err((
            Reason::Oversized,
            format!("{} bytes; the limit is {max_message_bytes}", raw.len()),
        ));
    }
    let value = match json_rules::parse_strict_with_depth(raw, json_rules::MAX_DEPTH) {
        Ok(v) => v,
        Err(
            e @ (json_rules::JsonError::Syntax { .. }
            | json_rules::JsonError::TrailingData { .. }
            | json_rules::JsonError::InvalidUtf8),
        ) => return Err((Reason::NonJson, e.to_string())),
        Err(e) => return Err((Reason::PayloadRules, e.to_string())),
    };
    if !value.is_object() {
        return Err((
            Reason::NonObject,
            "the payload must be a JSON object".into(),
        ));
    }
    if let DedupSource::Pointer { pointer } = &mapping.dedup
        && value.pointer(pointer).and_then(scalar_text).is_none()
    {
        return Err((
            Reason::Dedup,
            format!("no string or number at dedup.pointer {pointer:?}"),
        ));
    }
    let key = match &mapping.key {
        None => None,
        Some(KeySource::TopicLevel(n)) => topic.split('/').nth(*n).map(str::to_owned),
        Some(KeySource::Pointer(p)) => {
            Some(value.pointer(p).and_then(scalar_text).ok_or_else(|| {
                (
                    Reason::Key,
                    format!("no string or number at key.pointer {p:?}"),
                )
            })?)
        }
    };
    if let Some(k) = &key {
        crate::services::input::check_key_text(k).map_err(|e| (Reason::Key, e))?;
    }
    let payload = apply(&mapping.transform, &mapping.filter, topic, value)?;
    let checked = json_rules::check_value(&payload, json_rules::MAX_DEPTH)
        .map_err(|e| (Reason::PayloadRules, e.to_string()))?;
    let canonical = jcs::canonicalize(&checked);
    if canonical.len() > 64 * 1024 {
        return Err((
            Reason::Oversized,
            format!(
                "the canonical payload is {} bytes; the limit is 65536",
                canonical.len()
            ),
        ));
    }
    Ok(Record {
        key,
        dedup_key,
        payload,
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The mapping's transform: rename, drop, types, set, in that order.
fn apply(
    t: &Transform,
    _filter: &TopicFilter,
    topic: &str,
    mut v: Value,
) -> Result<Value, (Reason, String)> {
    for (from, to) in &t.rename {
        if let Some(moved) = remove_pointer(&mut v, from)
            && let Value::Object(m) = &mut v
        {
            m.insert(to.clone(), moved);
        }
    }
    for p in &t.drop {
        remove_pointer(&mut v, p);
    }
    for (p, ty) in &t.types {
        if let Some(slot) = v.pointer_mut(p) {
            *slot = convert(slot, *ty).ok_or_else(|| {
                (
                    Reason::Schema,
                    format!("{p}: {slot} is not a {}", type_name(*ty)),
                )
            })?;
        }
    }
    if let Value::Object(m) = &mut v {
        for (name, template) in &t.set {
            m.insert(name.clone(), Value::String(fill(template, topic)));
        }
    }
    Ok(v)
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Number => "number",
        FieldType::Integer => "integer",
        FieldType::String => "string",
        FieldType::Boolean => "boolean",
    }
}

fn convert(v: &Value, ty: FieldType) -> Option<Value> {
    match (ty, v) {
        (FieldType::Number, Value::Number(_)) => Some(v.clone()),
        (FieldType::Number, Value::String(s)) => {
            let x: f64 = s.trim().parse().ok().filter(|x: &f64| x.is_finite())?;
            serde_json::Number::from_f64(x).map(Value::Number)
        }
        (FieldType::Integer, Value::Number(n)) => n.as_i64().map(Value::from).or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| Value::from(x as i64))
        }),
        (FieldType::Integer, Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
        (FieldType::String, Value::String(_)) => Some(v.clone()),
        (FieldType::String, Value::Number(n)) => Some(Value::String(n.to_string())),
        (FieldType::String, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (FieldType::Boolean, Value::Bool(_)) => Some(v.clone()),
        (FieldType::Boolean, Value::String(s)) => match s.as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        (FieldType::Boolean, Value::Number(n)) => match n.as_i64() {
            Some(1) => Some(Value::Bool(true)),
            Some(0) => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Removes and returns the value at a JSON Pointer.
fn remove_pointer(v: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let name = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent)? {
        Value::Object(m) => m.remove(&name),
        Value::Array(a) => {
            let i: usize = name.parse().ok()?;
            (i < a.len()).then(|| a.remove(i))
        }
        _ => None,
    }
}

/// `{topic.N}` replaced by topic level N.
fn fill(template: &str, topic: &str) -> String {
    let levels: Vec<&str> = topic.split('/').collect();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{topic.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 7..];
        let end = after.find('}').unwrap_or(after.len());
        let n: usize = after[..end].parse().unwrap_or(usize::MAX);
        out.push_str(levels.get(n).copied().unwrap_or(""));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// A `set` template may only name topic levels every matching topic has.
pub fn check_template(template: &str, filter: &TopicFilter) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{topic.") {
        let after = &rest[start + 7..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{template:?}: an unclosed {{topic."))?;
        let n: usize = after[..end]
            .parse()
            .map_err(|_| format!("{template:?}: {{topic.N}} needs a level number"))?;
        if !filter.has_level(n) {
            return Err(format!(
                "{template:?}: topic level {n} is beyond the filter {:?}",
                filter.as_str()
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ingest::config::DatasetRef;

    fn mapping(key: Option<KeySource>, dedup: DedupSource, transform: Transform) -> Mapping {
        Mapping {
            filter: TopicFilter::parse("city/air/+/reading").unwrap(),
            dataset: DatasetRef {
                institution: "city".into(),
                dataset: "air".into(),
            },
            key,
            dedup,
            transform,
        }
    }

    #[test]
    fn a_reading_becomes_a_record_keyed_by_its_topic_level() {
        let m = mapping(
            Some(KeySource::TopicLevel(2)),
            DedupSource::Content,
            Transform::default(),
        );
        let r = to_record(&m, "city/air/s7/reading", br#"{"pm10":12}"#, None, 65536).unwrap();
        assert_eq!(r.key.as_deref(), Some("s7"));
        assert_eq!(jcs::canonicalize(&r.payload), br#"{"pm10":12}"#);
    }

    #[test]
    fn bad_messages_get_their_reason() {
        let m = mapping(
            Some(KeySource::Pointer("/id".into())),
            DedupSource::Content,
            Transform::default(),
        );
        let reason = |raw: &[u8]| {
            to_record(&m, "city/air/s/reading", raw, None, 100)
                .unwrap_err()
                .0
        };
        assert_eq!(reason(b"not json"), Reason::NonJson);
        assert_eq!(reason(b"[1,2]"), Reason::NonObject);
        assert_eq!(reason(br#"{"id":"a","a":1,"a":2}"#), Reason::PayloadRules);
        assert_eq!(reason(br#"{"x":1}"#), Reason::Key);
        assert_eq!(reason(&[b' '; 101]), Reason::Oversized);
        assert_eq!(reason(b""), Reason::NonJson);
    }

    #[test]
    fn the_transform_renames_drops_converts_and_sets() {
        let t = Transform {
            rename: [("/pm2_5".to_owned(), "pm25".to_owned())].into(),
            drop: vec!["/debug".into()],
            types: [
                ("/pm10".to_owned(), FieldType::Number),
                ("/ok".to_owned(), FieldType::Boolean),
            ]
            .into(),
            set: [("sensor".to_owned(), "s-{topic.2}".to_owned())].into(),
        };
        let m = mapping(None, DedupSource::Content, t);
        let raw = br#"{"pm2_5":3,"debug":{"x":1},"pm10":"12.5","ok":"1"}"#;
        let r = to_record(&m, "city/air/s7/reading", raw, None, 65536).unwrap();
        assert_eq!(
            String::from_utf8(jcs::canonicalize(&r.payload)).unwrap(),
            r#"{"ok":true,"pm10":12.5,"pm25":3,"sensor":"s-s7"}"#
        );
        let bad = to_record(
            &m,
            "city/air/s7/reading",
            br#"{"pm10":"high"}"#,
            None,
            65536,
        );
        assert_eq!(bad.unwrap_err().0, Reason::Schema);
    }

    #[test]
    fn dedup_keys_separate_topics_and_sources_and_follow_message_ids() {
        let m = mapping(
            None,
            DedupSource::Pointer {
                pointer: "/msgId".into(),
            },
            Transform::default(),
        );
        let a = message_dedup_key(&m, "src", "city/air/s1/reading", br#"{"msgId":7,"v":1}"#);
        let b = message_dedup_key(&m, "src", "city/air/s1/reading", br#"{"msgId":7,"v":2}"#);
        assert_eq!(a, b, "one message id, one record");
        let c = message_dedup_key(&m, "src", "city/air/s2/reading", br#"{"msgId":7,"v":1}"#);
        assert_ne!(a, c);
        assert_ne!(dedup_key("ab", "c", b"x"), dedup_key("a", "bc", b"x"));
        let content = mapping(None, DedupSource::Content, Transform::default());
        assert_ne!(
            message_dedup_key(&content, "s", "t", b"{\"v\":1}"),
            message_dedup_key(&content, "s", "t", b"{\"v\":2}")
        );
        let none = mapping(None, DedupSource::None, Transform::default());
        assert_eq!(message_dedup_key(&none, "s", "t", b"{}"), None);
        assert!(a.unwrap().len() <= 255);
    }
}
