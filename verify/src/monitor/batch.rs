//! One served batch (`GET /v1/anchors/{batch_seq}`, API.md) checked against its on-chain anchor.

use serde_json::Value;

use super::events::AnchoredEvent;
use super::violation::Violation;
use crate::bundle::Trust;
use crate::chain::{AnchorTrust, parse_address};
use crate::checkpoint::{Checkpoint, verify_note};
use crate::consistency::Signed;
use crate::encoding::decode_lower_hex;
use crate::json::{self, MAX_SAFE_INTEGER};
use crate::merkle::{self, Hash};

/// A batch as the server serves it; only what the monitor checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBatch {
    /// `batch_seq`.
    pub batch_seq: u64,
    /// `batch_root`.
    pub batch_root: Hash,
    /// `batch_size`.
    pub batch_size: u64,
    /// `prev_root`.
    pub prev_root: Hash,
    /// `chain_id`, `contract`, `anchorer` as served.
    pub chain_id: u64,
    /// The contract.
    pub contract: [u8; 20],
    /// The anchoring account.
    pub anchorer: [u8; 20],
    /// `status`: `pending`, `submitted` or `confirmed`.
    pub status: String,
    /// The members in batch order.
    pub members: Vec<Member>,
}

/// One batch member: its leaf hash and, where the caller may see the dataset, its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `SHA-256(0x00 || note text)`.
    pub leaf_hash: Hash,
    /// The complete signed note, or `None` when hidden.
    pub checkpoint: Option<String>,
}

/// Reads a served batch strictly (I-JSON; every field the monitor checks, with its encoding).
pub fn parse_batch(bytes: &[u8]) -> Result<ServedBatch, String> {
    let value = json::parse_strict(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let int = |name: &str| {
        value[name]
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_SAFE_INTEGER as f64)
            .map(|f| f as u64)
            .ok_or(format!("{name} is not an integer in [0, 2^53-1]"))
    };
    let hash = |v: &Value, name: &str| {
        v.as_str()
            .and_then(decode_lower_hex::<32>)
            .ok_or(format!("{name} is not 64 lowercase hex digits"))
    };
    let address = |name: &str| {
        value[name]
            .as_str()
            .filter(|s| {
                s.bytes()
                    .skip(2)
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
            .and_then(parse_address)
            .ok_or(format!("{name} is not 0x and 40 lowercase hex digits"))
    };
    let members = value["members"]
        .as_array()
        .ok_or("members is not an array")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let checkpoint = match &m["checkpoint"] {
                Value::Null => None,
                Value::String(note) => Some(note.clone()),
                _ => {
                    return Err(format!(
                        "members[{i}].checkpoint is neither a note nor null"
                    ));
                }
            };
            Ok(Member {
                leaf_hash: hash(&m["leaf_hash"], &format!("members[{i}].leaf_hash"))?,
                checkpoint,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ServedBatch {
        batch_seq: int("batch_seq")?,
        batch_root: hash(&value["batch_root"], "batch_root")?,
        batch_size: int("batch_size")?,
        prev_root: hash(&value["prev_root"], "prev_root")?,
        chain_id: int("chain_id")?,
        contract: address("contract")?,
        anchorer: address("anchorer")?,
        status: value["status"]
            .as_str()
            .filter(|s| matches!(*s, "pending" | "submitted" | "confirmed"))
            .ok_or("status is not pending, submitted or confirmed")?
            .to_owned(),
        members,
    })
}

/// Checks `batch` against its on-chain `event`, the pinned `trust` and `anchor` trust; returns
/// the visible members' verified checkpoints in batch order.
pub fn check_batch(
    event: &AnchoredEvent,
    batch: &ServedBatch,
    trust: &Trust,
    anchor: &AnchorTrust,
) -> Result<Vec<Signed>, Violation> {
    let seq = event.seq;
    let field = |field: &'static str, served: String, chain: String| {
        if served == chain {
            Ok(())
        } else {
            Err(Violation::BatchField {
                seq,
                field,
                served,
                chain,
            })
        }
    };
    field("batch_seq", batch.batch_seq.to_string(), seq.to_string())?;
    field(
        "chain_id",
        batch.chain_id.to_string(),
        anchor.chain_id.to_string(),
    )?;
    field(
        "contract",
        hex::encode(batch.contract),
        hex::encode(anchor.contract),
    )?;
    field(
        "anchorer",
        hex::encode(batch.anchorer),
        hex::encode(anchor.anchorer),
    )?;
    let served = batch.members.len() as u64;
    if served != event.count {
        return Err(Violation::LeafCount {
            seq,
            served,
            chain: event.count,
        });
    }
    let leaves: Vec<Hash> = batch.members.iter().map(|m| m.leaf_hash).collect();
    let rebuilt = merkle::root(&leaves);
    if rebuilt != event.root {
        return Err(Violation::BatchRoot {
            seq,
            rebuilt: hex::encode(rebuilt),
            chain: hex::encode(event.root),
        });
    }
    field(
        "batch_root",
        hex::encode(batch.batch_root),
        hex::encode(event.root),
    )?;
    field(
        "batch_size",
        batch.batch_size.to_string(),
        event.count.to_string(),
    )?;
    field(
        "prev_root",
        hex::encode(batch.prev_root),
        hex::encode(event.prev_root),
    )?;
    check_members(seq, &batch.members, trust)
}

/// The visible members: signed under the pinned key, under the prefix, strictly increasing,
/// not empty, and each the leaf it claims to be.
fn check_members(seq: u64, members: &[Member], trust: &Trust) -> Result<Vec<Signed>, Violation> {
    let under = format!("{}/", trust.prefix);
    let mut visible: Vec<Signed> = Vec::new();
    for (index, member) in members.iter().enumerate() {
        let Some(note) = &member.checkpoint else {
            continue;
        };
        let (checkpoint, parsed) =
            verify_note(note.as_bytes(), &trust.public_key).map_err(|e| Violation::MemberNote {
                seq,
                index,
                reason: e.to_string(),
            })?;
        let Checkpoint { origin, size, .. } = &checkpoint;
        if !origin.starts_with(&under) {
            return Err(Violation::MemberOrigin {
                seq,
                index,
                origin: origin.clone(),
            });
        }
        if let Some(previous) = visible.last().map(|s| &s.checkpoint.origin)
            && previous.as_bytes() >= origin.as_bytes()
        {
            return Err(Violation::MemberOrder {
                seq,
                index,
                origin: origin.clone(),
                previous: previous.clone(),
            });
        }
        if *size == 0 {
            return Err(Violation::MemberEmpty {
                seq,
                index,
                origin: origin.clone(),
            });
        }
        if merkle::leaf_hash(parsed.text.as_bytes()) != member.leaf_hash {
            return Err(Violation::MemberLeaf { seq, index });
        }
        visible.push(Signed {
            checkpoint,
            note: note.clone(),
        });
    }
    Ok(visible)
}
