//! Which block a client counts as final (PROTOCOL.md section 7): the chain's `finalized` block by
//! default, where the chain has no such tag 64 blocks deep (2 on chain id 31337), or head − (k − 1)
//! under an explicit confirmations policy.

use std::fmt;
use std::str::FromStr;

use serde_json::json;

use super::rpc::{ChainRpc, RpcError, quantity};

/// anvil's and hardhat's chain id, where two confirmations are the default.
pub const LOCAL_CHAIN_ID: u64 = 31337;

/// A finality policy; never taken from a bundle or a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finality {
    /// The chain's `finalized` block; where absent, 64 confirmations (2 on chain 31337).
    #[default]
    Finalized,
    /// A block is final once it is this many blocks deep (the head itself counts as one).
    Confirmations(u64),
}

impl FromStr for Finality {
    type Err = String;

    /// `finalized`, or a number of confirmations of at least 1.
    fn from_str(s: &str) -> Result<Finality, String> {
        match s {
            "finalized" => Ok(Finality::Finalized),
            n => match n.parse::<u64>() {
                Ok(k) if k >= 1 => Ok(Finality::Confirmations(k)),
                _ => Err(format!(
                    "finality must be `finalized` or a number of confirmations >= 1, not {s:?}"
                )),
            },
        }
    }
}

impl fmt::Display for Finality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finality::Finalized => f.write_str("finalized"),
            Finality::Confirmations(k) => write!(f, "{k} confirmations"),
        }
    }
}

/// The block F at which an anchor must already be visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalBlock {
    /// Its number.
    pub number: u64,
    /// Its timestamp, when the node already sent the block (the `finalized` tag).
    pub time: Option<u64>,
    /// How it was chosen: `finalized` or `N confirmations`.
    pub policy: String,
}

/// Why no final block could be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
    /// The call failed.
    #[error("{0}")]
    Rpc(RpcError),
    /// The node answered something that is not a block or a quantity.
    #[error("{0} is not a hex quantity")]
    Malformed(&'static str),
    /// The chain is shorter than the policy's depth.
    #[error("the chain has fewer than {0} blocks")]
    ShortChain(u64),
}

/// Determines F under `finality` on chain `chain_id` (already checked against the pinned one).
///
/// A JSON-RPC error (or `null`) for the `finalized` tag means the chain has none: the policy
/// falls back to confirmations. A transport failure fails.
pub fn final_block(
    rpc: &dyn ChainRpc,
    finality: Finality,
    chain_id: u64,
) -> Result<FinalBlock, FinalityError> {
    let confirmations = match finality {
        Finality::Finalized => {
            match rpc.call("eth_getBlockByNumber", json!(["finalized", false])) {
                Ok(block) if !block.is_null() => {
                    return Ok(FinalBlock {
                        number: quantity(&block["number"])
                            .ok_or(FinalityError::Malformed("finalized block number"))?,
                        time: Some(
                            quantity(&block["timestamp"])
                                .ok_or(FinalityError::Malformed("block timestamp"))?,
                        ),
                        policy: "finalized".to_owned(),
                    });
                }
                Ok(_) | Err(RpcError::Rpc { .. }) => {}
                Err(e) => return Err(FinalityError::Rpc(e)),
            }
            if chain_id == LOCAL_CHAIN_ID { 2 } else { 64 }
        }
        Finality::Confirmations(k) => k,
    };
    let head = rpc
        .call("eth_blockNumber", json!([]))
        .map_err(FinalityError::Rpc)?;
    let head = quantity(&head).ok_or(FinalityError::Malformed("eth_blockNumber"))?;
    let number = (head + 1)
        .checked_sub(confirmations)
        .ok_or(FinalityError::ShortChain(confirmations))?;
    Ok(FinalBlock {
        number,
        time: None,
        policy: format!("{confirmations} confirmations"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies() {
        assert_eq!("finalized".parse(), Ok(Finality::Finalized));
        assert_eq!("12".parse(), Ok(Finality::Confirmations(12)));
        assert!("0".parse::<Finality>().is_err());
        assert!("latest".parse::<Finality>().is_err());
        assert_eq!(Finality::Confirmations(3).to_string(), "3 confirmations");
    }
}
