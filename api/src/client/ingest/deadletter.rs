//! Dead letters: a message the log cannot take is kept as a record of the institution's
//! dead-letter dataset (restricted), with why it was refused and the message itself, so
//! nothing is dropped silently and the stream goes on. `GET /v1/institutions/{inst}/ingest/
//! errors` reads them back.
//!
//! The payload is a function of the message and the reason only (no arrival time: the
//! record's `published_at` says when), so a redelivered bad message replays its dead letter
//! instead of conflicting with it.

use super::config::DatasetRef;
use super::transform::Reason;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How much of a refused message is copied into its dead letter: with the topic and the
/// detail cut too, the dead letter stays under the server's 64 KiB payload limit even when
/// every copied byte is a control character (6 bytes each in canonical JSON).
pub const MAX_COPY_BYTES: usize = 8 * 1024;
/// How much of the topic and of the detail is kept.
const MAX_TEXT: usize = 1024;

pub fn payload(
    reason: Reason,
    detail: &str,
    topic: &str,
    dataset: &DatasetRef,
    raw: &[u8],
) -> Value {
    let mut detail = detail.to_owned();
    truncate_at_char(&mut detail, MAX_TEXT);
    let mut topic = topic.to_owned();
    truncate_at_char(&mut topic, MAX_TEXT);
    let cut = &raw[..raw.len().min(MAX_COPY_BYTES)];
    let mut v = json!({
        "reason": reason.as_str(),
        "detail": detail,
        "channel": "mqtt",
        "topic": topic,
        "dataset": dataset.to_string(),
        "size": raw.len(),
        "sha256": hex::encode(Sha256::digest(raw)),
        "truncated": cut.len() < raw.len(),
    });
    // Text when it is UTF-8 without NUL or lone surrogates (the log's JSON rules), else base64.
    match std::str::from_utf8(cut) {
        Ok(text) if !text.contains('\0') => v["payload_text"] = Value::from(text),
        _ => {
            v["payload_base64"] = Value::from(base64::engine::general_purpose::STANDARD.encode(cut))
        }
    }
    v
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> DatasetRef {
        DatasetRef {
            institution: "city".into(),
            dataset: "air".into(),
        }
    }

    #[test]
    fn a_dead_letter_keeps_the_message_as_text_or_base64_and_is_deterministic() {
        let a = payload(Reason::NonJson, "x", "t", &ds(), b"not json");
        assert_eq!(a["payload_text"], "not json");
        assert_eq!(a, payload(Reason::NonJson, "x", "t", &ds(), b"not json"));
        let b = payload(Reason::NonJson, "x", "t", &ds(), &[0xff, 0x00]);
        assert_eq!(b["payload_base64"], "/wA=");
        let big = vec![b'a'; 70 * 1024];
        let c = payload(Reason::Oversized, "x", "t", &ds(), &big);
        assert_eq!(c["size"], 70 * 1024);
        assert_eq!(c["truncated"], true);
        assert_eq!(c["payload_text"].as_str().unwrap().len(), MAX_COPY_BYTES);
    }
}
