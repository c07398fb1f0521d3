//! The anchor chain as a verifier sees it (PROTOCOL.md sections 5 and 7, step 8).
//!
//! - [`abi`]: the anchor contract's selectors, event topic and the encodings step 8 compares;
//! - [`AnchorTrust`]: what a client pins (chain id, contract, code hash, anchoring account), never
//!   taken from a bundle or a server;
//! - [`Finality`] and [`final_block`]: which block counts as final for the client;
//! - [`ChainRpc`]: the one-method JSON-RPC transport the checks run over, so that the library
//!   itself needs no network stack ([`HttpRpc`] with the `net` feature, or any other).

pub mod abi;
mod finality;
#[cfg(feature = "net")]
mod http;
mod rpc;
mod trust;

pub use finality::{FinalBlock, Finality, FinalityError, LOCAL_CHAIN_ID, final_block};
#[cfg(feature = "net")]
pub use http::HttpRpc;
pub use rpc::{ChainRpc, RpcError, quantity};
pub use trust::{AnchorTrust, AnchorTrustError, CodeHashCache, address_hex, parse_address};
