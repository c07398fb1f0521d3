//! Step 8, anchor-online (PROTOCOL.md section 7): the batch root is in the pinned contract's state
//! at a final block of the client's own chain endpoint.
//!
//! The order of the checks is the browser verifier's (`web/verify.js`, `checkAnchorOnline`):
//! (a) the bundle's claimed chain id, contract and anchorer are the pinned ones, the endpoint's
//! `eth_chainId` is the pinned one, F is determined and, on first use, the code hash of the
//! contract at F is the pinned one; (b) `rootOf(anchorer, batch_seq)` at F is `batch_root`, and a
//! match only at `latest` is `not-final`; (c) when the node still serves the receipt of `tx_hash`
//! in `block_hash`, the receipt and its single `Anchored` log are exactly the claimed ones and the
//! block's time is `block_time`; otherwise the transaction fields are reported stale and F's time
//! bounds the checkpoint. Finally no `published_at` may be more than 300 s after that time.

use serde_json::{Value, json};

use super::Anchor;
use crate::chain::abi::{self, anchored_data, anchored_topics, keccak256};
use crate::chain::{
    AnchorTrust, ChainRpc, CodeHashCache, FinalBlock, Finality, FinalityError, RpcError,
    final_block, quantity,
};
use crate::envelope::{format_published_at, parse_published_at};

/// A `published_at` later than the anchor block's time by more than this fails step 8.
pub const MAX_CLOCK_LEAD_SECONDS: u64 = 300;

/// What step 8 needs besides the bundle: all from the client.
#[derive(Clone, Copy)]
pub struct OnlineCheck<'a> {
    /// The pinned anchor trust.
    pub trust: &'a AnchorTrust,
    /// The client's own JSON-RPC endpoint.
    pub rpc: &'a dyn ChainRpc,
    /// The finality policy.
    pub finality: Finality,
    /// Contracts whose code hash was already checked at this endpoint.
    pub code_hashes: &'a CodeHashCache,
}

/// What a passed step 8 established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorFindings {
    /// The JSON-RPC endpoint asked.
    pub endpoint: String,
    /// The final block F.
    pub final_block: u64,
    /// How F was chosen (`finalized`, `N confirmations`).
    pub policy: String,
    /// Why the transaction fields could not be checked, when the node no longer serves them.
    pub stale: Option<String>,
    /// Unix seconds: the checkpoint existed no later than this (the anchor block's time, or F's
    /// when the receipt is stale).
    pub existed_no_later_than: u64,
    /// One line for people.
    pub detail: String,
}

/// Why step 8 fails: one variant per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorOnlineError {
    /// `anchor.chain_id` is not the pinned chain id.
    #[error("anchor.chain_id {claimed} is not the pinned chain id {pinned}")]
    ClaimedChainId {
        /// The bundle's claim.
        claimed: u64,
        /// The pinned value.
        pinned: u64,
    },
    /// `anchor.contract` is not the pinned contract.
    #[error("anchor.contract {claimed} is not the pinned contract {pinned}")]
    ClaimedContract {
        /// The bundle's claim.
        claimed: String,
        /// The pinned value.
        pinned: String,
    },
    /// `anchor.anchorer` is not the pinned anchoring account.
    #[error("anchor.anchorer {claimed} is not the pinned anchorer {pinned}")]
    ClaimedAnchorer {
        /// The bundle's claim.
        claimed: String,
        /// The pinned value.
        pinned: String,
    },
    /// A JSON-RPC call failed.
    #[error("{0}")]
    Rpc(RpcError),
    /// The endpoint answered something of the wrong shape.
    #[error("{0} is not a hex quantity")]
    Malformed(&'static str),
    /// The endpoint serves another chain.
    #[error("the endpoint's chain id {endpoint} is not the pinned {pinned}")]
    EndpointChainId {
        /// `eth_chainId`.
        endpoint: u64,
        /// The pinned value.
        pinned: u64,
    },
    /// The chain is shorter than the confirmations policy.
    #[error("the chain has fewer than {0} blocks")]
    ShortChain(u64),
    /// `eth_getCode` answered no byte string.
    #[error("eth_getCode returned no code")]
    NoCode,
    /// The contract's runtime code is not the pinned code.
    #[error("the contract's code hash {actual} is not the pinned {pinned}")]
    CodeHash {
        /// keccak256 of the code at F.
        actual: String,
        /// The pinned value.
        pinned: String,
    },
    /// `rootOf(anchorer, batch_seq)` holds `batch_root` at `latest` but not yet at F.
    #[error(
        "not-final: rootOf(anchorer, {batch_seq}) holds batch_root only at latest, not at block \
         {block} ({policy})"
    )]
    NotFinal {
        /// The batch.
        batch_seq: u64,
        /// F.
        block: u64,
        /// How F was chosen.
        policy: String,
    },
    /// `rootOf(anchorer, batch_seq)` at F is not `batch_root` (nor is it at `latest`).
    #[error("rootOf(anchorer, {batch_seq}) at block {block} is {actual}, not batch_root")]
    RootMismatch {
        /// The batch.
        batch_seq: u64,
        /// F.
        block: u64,
        /// What the contract holds.
        actual: String,
    },
    /// The receipt's status is not 1.
    #[error("the anchoring transaction did not succeed (receipt status is not 1)")]
    TransactionFailed,
    /// The receipt's block number is not `block_number`.
    #[error("the receipt's block number {actual} is not block_number {claimed}")]
    BlockNumber {
        /// The receipt's.
        actual: u64,
        /// The bundle's.
        claimed: u64,
    },
    /// `block_number` is above F.
    #[error("block_number {block_number} is above the final block {final_block}")]
    AboveFinal {
        /// The bundle's.
        block_number: u64,
        /// F.
        final_block: u64,
    },
    /// The receipt has no or several logs of the contract.
    #[error("the receipt has {0} logs of the contract, not exactly one")]
    LogCount(usize),
    /// The log's topics are not `[topic0, pad32(anchorer), pad32(batch_seq)]`.
    #[error("the Anchored event has other topics than the bundle claims")]
    LogTopics,
    /// The log's data is not `batch_root || pad32(batch_size) || prev_root`.
    #[error("the Anchored event has other data than the bundle claims")]
    LogData,
    /// The node returned no block for a hash or number it should know.
    #[error("{method}({at}) returned no block")]
    NoBlock {
        /// The method.
        method: &'static str,
        /// Its first parameter.
        at: String,
    },
    /// `block_time` is not the block's timestamp.
    #[error("anchor.block_time {claimed} is not the block's time {actual}")]
    BlockTime {
        /// The bundle's.
        claimed: u64,
        /// The block's.
        actual: u64,
    },
    /// An entry was published more than 300 s after the time its checkpoint existed.
    #[error(
        "published_at {published_at} (seq {seq}) is more than 300 s after the anchor block's time \
         {block_time}"
    )]
    PublishedAfterAnchor {
        /// The entry's seq.
        seq: u64,
        /// Its `published_at`.
        published_at: String,
        /// The bounding time, RFC 3339.
        block_time: String,
    },
}

impl From<RpcError> for AnchorOnlineError {
    fn from(e: RpcError) -> Self {
        AnchorOnlineError::Rpc(e)
    }
}

impl From<FinalityError> for AnchorOnlineError {
    fn from(e: FinalityError) -> Self {
        match e {
            FinalityError::Rpc(e) => AnchorOnlineError::Rpc(e),
            FinalityError::Malformed(what) => AnchorOnlineError::Malformed(what),
            FinalityError::ShortChain(k) => AnchorOnlineError::ShortChain(k),
        }
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso_time(unix_seconds: u64) -> String {
    let millis = i64::try_from(unix_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    format_published_at(millis).replace(".000Z", "Z")
}

/// Runs step 8 for `anchor` (which passed steps 0 and 7). `published` holds `(seq,
/// published_at)` of the bundle's entry and, for an erased record, of its erasure entry.
pub(super) fn check(
    anchor: &Anchor,
    published: &[(u64, String)],
    online: &OnlineCheck<'_>,
) -> Result<AnchorFindings, AnchorOnlineError> {
    let trust = online.trust;
    let rpc = online.rpc;
    // (a) The bundle's claims about where it is anchored must be the pinned ones.
    if anchor.chain_id != trust.chain_id {
        return Err(AnchorOnlineError::ClaimedChainId {
            claimed: anchor.chain_id,
            pinned: trust.chain_id,
        });
    }
    if anchor.contract != trust.contract_hex() {
        return Err(AnchorOnlineError::ClaimedContract {
            claimed: anchor.contract.clone(),
            pinned: trust.contract_hex(),
        });
    }
    if anchor.anchorer != trust.anchorer_hex() {
        return Err(AnchorOnlineError::ClaimedAnchorer {
            claimed: anchor.anchorer.clone(),
            pinned: trust.anchorer_hex(),
        });
    }
    let chain_id = quantity(&rpc.call("eth_chainId", json!([]))?)
        .ok_or(AnchorOnlineError::Malformed("eth_chainId"))?;
    if chain_id != trust.chain_id {
        return Err(AnchorOnlineError::EndpointChainId {
            endpoint: chain_id,
            pinned: trust.chain_id,
        });
    }
    let f = final_block(rpc, online.finality, chain_id)?;
    let endpoint = rpc.endpoint();
    if !online.code_hashes.contains(&endpoint, trust) {
        check_code_hash(rpc, trust, f.number)?;
        online.code_hashes.insert(&endpoint, trust);
    }
    // (b) rootOf(anchorer, batch_seq) at F.
    let want = format!("0x{}", anchor.batch_root);
    let at_f = root_of(rpc, trust, anchor.batch_seq, &block_tag(f.number))?;
    if at_f != want {
        if root_of(rpc, trust, anchor.batch_seq, "latest")? == want {
            return Err(AnchorOnlineError::NotFinal {
                batch_seq: anchor.batch_seq,
                block: f.number,
                policy: f.policy,
            });
        }
        return Err(AnchorOnlineError::RootMismatch {
            batch_seq: anchor.batch_seq,
            block: f.number,
            actual: at_f,
        });
    }
    // (c) The receipt, when the node still serves it in the claimed block.
    let receipt = rpc.call("eth_getTransactionReceipt", json!([anchor.tx_hash]))?;
    let stale = if receipt.is_null() {
        Some("the node no longer serves the receipt of tx_hash")
    } else if lower(&receipt["blockHash"]) != anchor.block_hash {
        Some("the receipt of tx_hash is in another block than block_hash")
    } else {
        None
    };
    let time = match stale {
        None => {
            check_receipt(&receipt, anchor, trust, f.number)?;
            let time = block_time(rpc, "eth_getBlockByHash", &anchor.block_hash)?;
            if time != anchor.block_time {
                return Err(AnchorOnlineError::BlockTime {
                    claimed: anchor.block_time,
                    actual: time,
                });
            }
            time
        }
        // The root is in contract state at F, so F's time still bounds when the checkpoint
        // existed.
        Some(_) => match f.time {
            Some(time) => time,
            None => block_time(rpc, "eth_getBlockByNumber", &block_tag(f.number))?,
        },
    };
    check_published(published, time)?;
    Ok(findings(anchor, &f, endpoint, stale, time))
}

fn findings(
    anchor: &Anchor,
    f: &FinalBlock,
    endpoint: String,
    stale: Option<&str>,
    time: u64,
) -> AnchorFindings {
    let place = match stale {
        Some(why) => format!("block {}, {why}; transaction fields are stale", f.number),
        None => format!("block {}", anchor.block_number),
    };
    let detail = format!(
        "rootOf(anchorer, {}) equals batch_root at block {} ({}) via {endpoint}; existed no later \
         than {} ({place})",
        anchor.batch_seq,
        f.number,
        f.policy,
        iso_time(time)
    );
    AnchorFindings {
        endpoint,
        final_block: f.number,
        policy: f.policy.clone(),
        stale: stale.map(str::to_owned),
        existed_no_later_than: time,
        detail,
    }
}

fn block_tag(number: u64) -> String {
    format!("0x{number:x}")
}

fn lower(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_ascii_lowercase()
}

fn check_code_hash(
    rpc: &dyn ChainRpc,
    trust: &AnchorTrust,
    at: u64,
) -> Result<(), AnchorOnlineError> {
    let code = rpc.call("eth_getCode", json!([trust.contract_hex(), block_tag(at)]))?;
    let code = code
        .as_str()
        .and_then(abi::bytes)
        .ok_or(AnchorOnlineError::NoCode)?;
    let actual = keccak256(&code);
    if actual != trust.code_hash {
        return Err(AnchorOnlineError::CodeHash {
            actual: format!("0x{}", hex::encode(actual)),
            pinned: trust.code_hash_hex(),
        });
    }
    Ok(())
}

/// `rootOf(anchorer, seq)` at `tag`, lowercase as returned.
pub(crate) fn root_of(
    rpc: &dyn ChainRpc,
    trust: &AnchorTrust,
    seq: u64,
    tag: &str,
) -> Result<String, RpcError> {
    let call = json!({"to": trust.contract_hex(), "data": abi::root_of_call(&trust.anchorer, seq)});
    Ok(lower(&rpc.call("eth_call", json!([call, tag]))?))
}

fn check_receipt(
    receipt: &Value,
    anchor: &Anchor,
    trust: &AnchorTrust,
    final_block: u64,
) -> Result<(), AnchorOnlineError> {
    if receipt["status"].as_str() != Some("0x1") {
        return Err(AnchorOnlineError::TransactionFailed);
    }
    let number = quantity(&receipt["blockNumber"])
        .ok_or(AnchorOnlineError::Malformed("receipt blockNumber"))?;
    if number != anchor.block_number {
        return Err(AnchorOnlineError::BlockNumber {
            actual: number,
            claimed: anchor.block_number,
        });
    }
    if number > final_block {
        return Err(AnchorOnlineError::AboveFinal {
            block_number: anchor.block_number,
            final_block,
        });
    }
    let contract = trust.contract_hex();
    let logs: Vec<&Value> = receipt["logs"]
        .as_array()
        .map(|logs| {
            logs.iter()
                .filter(|l| lower(&l["address"]) == contract)
                .collect()
        })
        .unwrap_or_default();
    let [log] = logs.as_slice() else {
        return Err(AnchorOnlineError::LogCount(logs.len()));
    };
    let topics: Vec<String> = log["topics"]
        .as_array()
        .map(|t| t.iter().map(lower).collect())
        .unwrap_or_default();
    if topics != anchored_topics(&trust.anchorer, anchor.batch_seq) {
        return Err(AnchorOnlineError::LogTopics);
    }
    // Steps 0 and 1 checked both roots are 64 lowercase hex digits.
    let mut root = [0u8; 32];
    let mut prev = [0u8; 32];
    let decoded = hex::decode_to_slice(&anchor.batch_root, &mut root)
        .and_then(|()| hex::decode_to_slice(&anchor.prev_root, &mut prev));
    if decoded.is_err() || lower(&log["data"]) != anchored_data(&root, anchor.batch_size, &prev) {
        return Err(AnchorOnlineError::LogData);
    }
    Ok(())
}

fn block_time(
    rpc: &dyn ChainRpc,
    method: &'static str,
    at: &str,
) -> Result<u64, AnchorOnlineError> {
    let block = rpc.call(method, json!([at, false]))?;
    if block.is_null() {
        return Err(AnchorOnlineError::NoBlock {
            method,
            at: at.to_owned(),
        });
    }
    quantity(&block["timestamp"]).ok_or(AnchorOnlineError::Malformed("block timestamp"))
}

fn check_published(published: &[(u64, String)], time: u64) -> Result<(), AnchorOnlineError> {
    let limit = i64::try_from(time.saturating_add(MAX_CLOCK_LEAD_SECONDS))
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    for (seq, published_at) in published {
        // Step 3 checked the form; an unreadable one cannot be bounded and fails.
        let late = parse_published_at(published_at).is_none_or(|ms| ms > limit);
        if late {
            return Err(AnchorOnlineError::PublishedAfterAnchor {
                seq: *seq,
                published_at: published_at.clone(),
                block_time: iso_time(time),
            });
        }
    }
    Ok(())
}
