//! The anchoring account's `Anchored` events as `eth_getLogs` returns them.

use serde_json::Value;

use crate::chain::abi::{self, ANCHORED_TOPIC0, fixed_bytes};
use crate::chain::{AnchorTrust, quantity};
use crate::merkle::Hash;

/// One `Anchored(anchorer, seq, root, count, prevRoot)` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredEvent {
    /// The batch seq.
    pub seq: u64,
    /// The batch root.
    pub root: Hash,
    /// The number of batch leaves.
    pub count: u64,
    /// The previous batch's root (zero for batch 0).
    pub prev_root: Hash,
    /// The block that holds it.
    pub block_number: u64,
    /// Its position in the block.
    pub log_index: u64,
    /// The transaction.
    pub tx_hash: String,
}

/// Decodes one log of `eth_getLogs`; it must be the pinned contract's `Anchored` event of the
/// pinned anchorer.
pub fn decode_anchored_log(log: &Value, trust: &AnchorTrust) -> Result<AnchoredEvent, String> {
    let address = log["address"].as_str().and_then(abi::fixed_bytes::<20>);
    if address != Some(trust.contract) {
        return Err("a log of another contract".to_owned());
    }
    let topics: Vec<&str> = log["topics"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let [topic0, anchorer, seq] = topics.as_slice() else {
        return Err(format!("{} topics, not 3", topics.len()));
    };
    if !topic0.eq_ignore_ascii_case(ANCHORED_TOPIC0)
        || !anchorer.eq_ignore_ascii_case(&abi::word_address(&trust.anchorer))
    {
        return Err("not an Anchored event of the pinned anchorer".to_owned());
    }
    let seq = fixed_bytes::<32>(seq)
        .filter(|w| w[..24].iter().all(|b| *b == 0))
        .map(|w| u64::from_be_bytes(w[24..].try_into().expect("8 bytes")))
        .ok_or("the seq topic is not a uint64")?;
    let data = log["data"]
        .as_str()
        .and_then(fixed_bytes::<96>)
        .ok_or("data is not 96 bytes")?;
    let word = |i: usize| -> Hash { data[32 * i..32 * (i + 1)].try_into().expect("32 bytes") };
    let count = word(1);
    if count[..28].iter().any(|b| *b != 0) {
        return Err("the count word is not a uint32".to_owned());
    }
    Ok(AnchoredEvent {
        seq,
        root: word(0),
        count: u64::from(u32::from_be_bytes(count[28..].try_into().expect("4 bytes"))),
        prev_root: word(2),
        block_number: quantity(&log["blockNumber"]).ok_or("blockNumber is not a quantity")?,
        log_index: quantity(&log["logIndex"]).ok_or("logIndex is not a quantity")?,
        tx_hash: log["transactionHash"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    })
}
