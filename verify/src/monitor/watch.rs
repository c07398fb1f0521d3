//! The monitor's loop: follow the chain's `Anchored` events up to the final block, fetch and
//! check each batch, and keep each visible origin's anchored history.

use serde_json::json;

use super::batch::{check_batch, parse_batch};
use super::events::{AnchoredEvent, decode_anchored_log};
use super::history::{History, check_consistency};
use super::violation::{MonitorError, Violation};
use crate::bundle::Trust;
use crate::chain::abi::{self, ANCHORED_TOPIC0, keccak256};
use crate::chain::{AnchorTrust, ChainRpc, Finality, FinalityError, final_block, quantity};
use crate::merkle::Hash;

/// Blocks per `eth_getLogs` call: public endpoints refuse wide ranges.
const LOG_RANGE: u64 = 5_000;

/// A civicproof server, as the monitor asks it.
pub trait Server {
    /// How the server is named in reports (its base URL).
    fn base(&self) -> String;
    /// GETs `path` (relative to the base, e.g. `v1/anchors/3`): the status and body, or why no
    /// answer came.
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String>;
}

/// What the monitor pins; nothing comes from the server.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The instance prefix and log public key.
    pub trust: Trust,
    /// Chain id, contract and anchoring account (and the code hash, if `check_code_hash`).
    pub anchor: AnchorTrust,
    /// Whether `anchor.code_hash` was pinned and the contract's code is to be checked.
    pub check_code_hash: bool,
    /// Which block counts as final; events are followed only up to it.
    pub finality: Finality,
    /// Where to start looking for events (the contract's deployment block, or 0).
    pub from_block: u64,
}

/// One batch that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// The batch seq.
    pub seq: u64,
    /// Its root.
    pub root: Hash,
    /// Its block.
    pub block_number: u64,
    /// The number of leaves.
    pub leaves: u64,
    /// The visible members' origins and sizes.
    pub visible: Vec<(String, u64)>,
    /// How many consistency proofs joined them to earlier batches.
    pub proofs: usize,
    /// The server's status for the batch.
    pub status: String,
}

/// The monitor's state: how far the chain has been checked, and each origin's history.
#[derive(Debug, Clone)]
pub struct Monitor {
    config: MonitorConfig,
    next_seq: u64,
    prev_root: Hash,
    next_block: u64,
    history: History,
    code_checked: bool,
}

impl Monitor {
    /// A monitor that has checked nothing yet.
    pub fn new(config: MonitorConfig) -> Monitor {
        let next_block = config.from_block;
        Monitor {
            config,
            next_seq: 0,
            prev_root: [0; 32],
            next_block,
            history: History::new(),
            code_checked: false,
        }
    }

    /// The first batch seq not yet checked.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Each visible origin's latest anchored checkpoint.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Checks every batch anchored up to the final block that was not checked yet.
    ///
    /// `on_batch` sees each batch that passed and each batch-level violation. A violation of the
    /// chain itself (another chain, other code, a gap or fork in the events) always stops the
    /// round; a batch-level one stops it only with `stop_on_violation` (`--once`), otherwise the
    /// monitor reports it and goes on with the next batch. RPC and server failures stop the
    /// round without concluding anything; the next round resumes at the first unchecked batch.
    /// Returns how many batches were checked.
    pub fn poll(
        &mut self,
        rpc: &dyn ChainRpc,
        server: &dyn Server,
        stop_on_violation: bool,
        on_batch: &mut dyn FnMut(Result<&BatchReport, &Violation>),
    ) -> Result<u64, MonitorError> {
        let anchor = self.config.anchor.clone();
        let chain_id = quantity(&rpc.call("eth_chainId", json!([]))?)
            .ok_or_else(|| MonitorError::Rpc("eth_chainId is not a hex quantity".to_owned()))?;
        if chain_id != anchor.chain_id {
            return Err(Violation::ChainId {
                endpoint: chain_id,
                pinned: anchor.chain_id,
            }
            .into());
        }
        let f = final_block(rpc, self.config.finality, chain_id).map_err(|e| match e {
            FinalityError::Rpc(e) => MonitorError::from(e),
            other => MonitorError::Rpc(other.to_string()),
        })?;
        if self.config.check_code_hash && !self.code_checked {
            check_code(rpc, &anchor, f.number)?;
            self.code_checked = true;
        }
        let mut checked = 0;
        for event in self.events(rpc, f.number)? {
            if event.seq < self.next_seq {
                continue; // checked in an earlier, interrupted round
            }
            self.check_chain(rpc, &event, f.number)?;
            match self.check_served(server, &event) {
                Ok(report) => on_batch(Ok(&report)),
                Err(MonitorError::Violation(v)) => {
                    on_batch(Err(&v));
                    if stop_on_violation {
                        return Err(MonitorError::Violation(v));
                    }
                }
                Err(e) => return Err(e),
            }
            self.next_seq = event.seq + 1;
            self.prev_root = event.root;
            checked += 1;
        }
        let next_seq = call_u64(rpc, &anchor, abi::next_seq_call(&anchor.anchorer), f.number)?;
        if next_seq != self.next_seq {
            return Err(Violation::NextSeq {
                block: f.number,
                next_seq,
                seen: self.next_seq,
            }
            .into());
        }
        self.next_block = f.number + 1;
        Ok(checked)
    }

    /// The anchorer's events in blocks `next_block..=to`, in chain order.
    fn events(&self, rpc: &dyn ChainRpc, to: u64) -> Result<Vec<AnchoredEvent>, MonitorError> {
        let anchor = &self.config.anchor;
        let mut events = Vec::new();
        let mut from = self.next_block;
        while from <= to {
            let until = to.min(from + LOG_RANGE - 1);
            let filter = json!({
                "address": anchor.contract_hex(),
                "topics": [ANCHORED_TOPIC0, abi::word_address(&anchor.anchorer)],
                "fromBlock": format!("0x{from:x}"),
                "toBlock": format!("0x{until:x}"),
            });
            let logs = rpc.call("eth_getLogs", json!([filter]))?;
            let logs = logs
                .as_array()
                .ok_or_else(|| MonitorError::Rpc("eth_getLogs returned no array".to_owned()))?;
            for log in logs.iter().filter(|l| l["removed"] != json!(true)) {
                events.push(
                    decode_anchored_log(log, anchor)
                        .map_err(|e| MonitorError::Rpc(format!("eth_getLogs: {e}")))?,
                );
            }
            from = until + 1;
        }
        events.sort_by_key(|e| (e.block_number, e.log_index));
        Ok(events)
    }

    /// The event continues the chain: the next seq, the previous root, and in contract state.
    fn check_chain(
        &self,
        rpc: &dyn ChainRpc,
        event: &AnchoredEvent,
        at: u64,
    ) -> Result<(), MonitorError> {
        if event.seq != self.next_seq {
            return Err(Violation::ChainGap {
                expected: self.next_seq,
                found: event.seq,
            }
            .into());
        }
        if event.prev_root != self.prev_root {
            return Err(Violation::ChainPrevRoot {
                seq: event.seq,
                prev_root: hex::encode(event.prev_root),
                expected: hex::encode(self.prev_root),
            }
            .into());
        }
        let anchor = &self.config.anchor;
        let call = json!({"to": anchor.contract_hex(), "data": abi::root_of_call(&anchor.anchorer, event.seq)});
        let root = rpc.call("eth_call", json!([call, format!("0x{at:x}")]))?;
        let root = root.as_str().unwrap_or_default().to_ascii_lowercase();
        if root != format!("0x{}", hex::encode(event.root)) {
            return Err(Violation::RootOf {
                seq: event.seq,
                block: at,
                actual: root,
                event: hex::encode(event.root),
            }
            .into());
        }
        Ok(())
    }

    /// Fetches and checks the served batch of `event`, then records its visible checkpoints.
    fn check_served(
        &mut self,
        server: &dyn Server,
        event: &AnchoredEvent,
    ) -> Result<BatchReport, MonitorError> {
        let seq = event.seq;
        let path = format!("v1/anchors/{seq}");
        let body = match server.get(&path).map_err(MonitorError::Server)? {
            (200, body) => body,
            (404, _) => return Err(Violation::MissingBatch { seq }.into()),
            (status, _) => {
                return Err(MonitorError::Server(format!(
                    "GET {}/{path}: HTTP {status}",
                    server.base().trim_end_matches('/')
                )));
            }
        };
        let batch = parse_batch(&body).map_err(|reason| Violation::Unverifiable {
            what: format!("GET /{path}"),
            reason,
        })?;
        let visible = check_batch(event, &batch, &self.config.trust, &self.config.anchor)?;
        let key = self.config.trust.public_key;
        let mut proofs = 0;
        for next in &visible {
            let Some(prev) = self.history.needs_proof_from(seq, next)? else {
                continue;
            };
            let origin = &next.checkpoint.origin;
            let rest = origin
                .strip_prefix(&format!("{}/", self.config.trust.prefix))
                .unwrap_or(origin);
            let path = format!(
                "v1/datasets/{rest}/consistency?first={}&second={}",
                prev.signed.checkpoint.size, next.checkpoint.size
            );
            let answer = match server.get(&path).map_err(MonitorError::Server)? {
                (200, body) => body,
                (status @ (400..=499), _) => {
                    return Err(Violation::Unverifiable {
                        what: format!("GET /{path}"),
                        reason: format!(
                            "HTTP {status} for two sizes that were signed and anchored"
                        ),
                    }
                    .into());
                }
                (status, _) => {
                    return Err(MonitorError::Server(format!("GET /{path}: HTTP {status}")));
                }
            };
            check_consistency(prev, seq, next, &answer, &key)?;
            proofs += 1;
        }
        let report = BatchReport {
            seq,
            root: event.root,
            block_number: event.block_number,
            leaves: event.count,
            visible: visible
                .iter()
                .map(|s| (s.checkpoint.origin.clone(), s.checkpoint.size))
                .collect(),
            proofs,
            status: batch.status,
        };
        for next in visible {
            self.history.record(seq, next);
        }
        Ok(report)
    }
}

fn check_code(rpc: &dyn ChainRpc, anchor: &AnchorTrust, at: u64) -> Result<(), MonitorError> {
    let code = rpc.call(
        "eth_getCode",
        json!([anchor.contract_hex(), format!("0x{at:x}")]),
    )?;
    let code = code
        .as_str()
        .and_then(abi::bytes)
        .ok_or_else(|| MonitorError::Rpc("eth_getCode returned no code".to_owned()))?;
    let actual = keccak256(&code);
    if actual != anchor.code_hash {
        return Err(Violation::CodeHash {
            actual: format!("0x{}", hex::encode(actual)),
            pinned: anchor.code_hash_hex(),
        }
        .into());
    }
    Ok(())
}

fn call_u64(
    rpc: &dyn ChainRpc,
    anchor: &AnchorTrust,
    data: String,
    at: u64,
) -> Result<u64, MonitorError> {
    let call = json!({"to": anchor.contract_hex(), "data": data});
    let word = rpc.call("eth_call", json!([call, format!("0x{at:x}")]))?;
    quantity(&word).ok_or_else(|| {
        MonitorError::Rpc(format!(
            "eth_call nextSeq(anchorer) returned {word} (is the contract deployed at {}?)",
            anchor.contract_hex()
        ))
    })
}
