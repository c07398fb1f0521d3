//! Versioned records (NGSI-LD entities): a new version of a key is appended only when it
//! changes something and is not older than the key's latest version.
//!
//! A context broker re-sends an entity it already notified, and an upsert is retried after a
//! timeout; neither may grow the log. A late retry of an old reading must not supersede a
//! newer one either, or the key's current state would go back in time. So, inside the
//! appending transaction (after the dataset lock, so concurrent upserts of one entity are
//! judged one after the other), each versioned record is compared with the key's current
//! version, in the dataset or earlier in the batch:
//! - the same canonical payload: **unchanged**, nothing appended;
//! - its newest `observedAt`/`modifiedAt` is older than the current version's: **stale**,
//!   nothing appended;
//! - otherwise appended, superseding the current version.

use crate::error::ApiResult;
use crate::services::dedup::Slot;
use crate::services::input::CheckedRecord;
use chrono::{DateTime, Utc};
use civicproof_schema::Conn;
use civicproof_schema::queries::entries;
use serde_json::Value;
use std::collections::HashMap;

/// The newest `observedAt` or `modifiedAt` of an entity's attributes (and of their
/// sub-attributes and multi-attribute instances), if any.
pub fn newest_time(payload: &Value) -> Option<DateTime<Utc>> {
    fn times(v: &Value, depth: usize, out: &mut Option<DateTime<Utc>>) {
        match v {
            Value::Object(m) => {
                for name in ["observedAt", "modifiedAt"] {
                    if let Some(t) = m
                        .get(name)
                        .and_then(Value::as_str)
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    {
                        let t = t.with_timezone(&Utc);
                        if out.is_none_or(|o| t > o) {
                            *out = Some(t);
                        }
                    }
                }
                if depth < 3 {
                    for (k, child) in m {
                        if k != "value" && k != "@context" {
                            times(child, depth + 1, out);
                        }
                    }
                }
            }
            Value::Array(a) if depth < 3 => {
                for child in a {
                    times(child, depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = None;
    times(payload, 0, &mut out);
    out
}

fn time_of(canonical: &[u8]) -> Option<DateTime<Utc>> {
    serde_json::from_slice::<Value>(canonical)
        .ok()
        .and_then(|v| newest_time(&v))
}

/// The current version of a key while the batch is judged.
struct Current {
    canonical: Option<Vec<u8>>,
    time: Option<DateTime<Utc>>,
    /// Stored: its seq and leaf hash; in this batch: its index.
    at: Result<(u64, String), usize>,
}

/// Turns the `New` slots of versioned records that change nothing into `Unchanged` (or
/// `SameAs` an earlier record of the batch) and those older than their key's current version
/// into `Stale`.
pub fn resolve(
    conn: &mut Conn,
    dataset_id: i64,
    records: &[CheckedRecord],
    slots: &mut [Slot],
) -> ApiResult<()> {
    let judged: Vec<bool> = (0..records.len())
        .map(|i| records[i].versioned && slots[i] == Slot::New && records[i].key.is_some())
        .collect();
    let mut keys: Vec<String> = (0..records.len())
        .filter(|&i| judged[i])
        .filter_map(|i| records[i].key.clone())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort();
    keys.dedup();
    let mut current: HashMap<String, Current> = entries::latest_by_key(conn, dataset_id, &keys)?
        .into_iter()
        .filter_map(|e| {
            let canonical = e.payload.map(String::into_bytes);
            let time = canonical.as_deref().and_then(time_of);
            Some((
                e.key?,
                Current {
                    canonical,
                    time,
                    at: Ok((e.seq as u64, hex::encode(&e.leaf_hash))),
                },
            ))
        })
        .collect();
    for i in 0..records.len() {
        if !judged[i] {
            continue;
        }
        let r = &records[i];
        let key = r.key.clone().expect("judged records have keys");
        let time = time_of(&r.canonical);
        if let Some(cur) = current.get(&key) {
            if cur.canonical.as_deref() == Some(r.canonical.as_slice()) {
                slots[i] = match &cur.at {
                    Ok((seq, leaf_hash)) => Slot::Unchanged {
                        seq: *seq,
                        leaf_hash: leaf_hash.clone(),
                    },
                    Err(first) => Slot::SameAs(*first),
                };
                continue;
            }
            if let (Some(t), Some(ct)) = (time, cur.time)
                && t < ct
            {
                slots[i] = Slot::Stale;
                continue;
            }
        }
        current.insert(
            key,
            Current {
                canonical: Some(r.canonical.clone()),
                time,
                at: Err(i),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_time_is_found_in_attributes_sub_attributes_and_instances() {
        let e = json!({
            "id": "urn:x", "type": "T",
            "a": {"type": "Property", "value": 1, "observedAt": "2026-11-26T10:00:00Z"},
            "b": [{"type": "Property", "value": 2, "datasetId": "urn:d", "observedAt": "2026-11-26T10:05:00Z"}],
            "c": {"type": "Property", "value": {"observedAt": "2030-01-01T00:00:00Z"},
                  "sub": {"type": "Property", "value": 3, "modifiedAt": "2026-11-26T10:03:00Z"}},
        });
        assert_eq!(
            newest_time(&e).unwrap().to_rfc3339(),
            "2026-11-26T10:05:00+00:00",
            "a value's own content is data, not a timestamp"
        );
        assert_eq!(newest_time(&json!({"id": "urn:x"})), None);
    }
}
