//! `civicproof monitor`: an auditor's check that an instance's anchored history is one history
//! (issue 4 item 6), with no database access and no trust in the server.
//!
//! The monitor pins what a verifier pins (prefix, log key, chain id, contract, anchoring account)
//! and follows the anchoring account's `Anchored` events up to the client's final block. For each
//! anchored batch it fetches `GET /v1/anchors/{batch_seq}` from the server and checks that:
//!
//! - the served leaf hashes number exactly the on-chain count and rebuild exactly the on-chain
//!   root (RFC 6962), and the served batch fields agree with the chain ([`check_batch`]);
//! - each visible member's note verifies under the pinned key, its origin is under the prefix,
//!   origins strictly increase, its size is not 0 and its leaf hash is `SHA-256(0x00 || text)`;
//! - each visible origin's checkpoint is consistent with the same origin's checkpoint in the
//!   latest earlier batch ([`History`]): larger, and joined by a verified consistency proof
//!   fetched from the server; an equal size with another root is a split view.
//!
//! Besides the chain, the monitor can follow logs over C2SP tlog-tiles alone ([`TileFollower`]):
//! each newer checkpoint (verified under the pinned key and, when pinned, witness policy) must be
//! proven from the tiles to extend the last one, and every anchored checkpoint of a followed log
//! must be one of that history.
//!
//! The checks are pure functions over parsed answers; [`Monitor`] drives them over any
//! [`ChainRpc`](crate::chain::ChainRpc) and [`Server`]; with the `net` feature [`HttpServer`]
//! is the server over HTTP(S), and with the `monitor` feature [`command`] is the command line.

mod batch;
mod events;
mod history;
mod tiles;
mod violation;
mod watch;

#[cfg(feature = "monitor")]
pub mod command;
#[cfg(feature = "net")]
mod http;

pub use batch::{Member, ServedBatch, check_batch, parse_batch};
pub use events::{AnchoredEvent, decode_anchored_log};
pub use history::{Anchored, History, check_consistency};
#[cfg(feature = "net")]
pub use http::HttpServer;
pub use tiles::{AnchorMatch, FollowReport, TileFollower, TileLogConfig, TileReader, tile_path};
pub use violation::{MonitorError, Violation};
pub use watch::{BatchReport, Monitor, MonitorConfig, Server};
