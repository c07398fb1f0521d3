//! On-chain anchoring (PROTOCOL.md section 5). Every interval, if any dataset's log grew, the
//! newest checkpoints are batched into an RFC 6962 tree whose root is written to the anchor
//! contract. Batches are persisted with their signed transaction before anything is sent, and
//! a persisted state machine (pending, submitted, confirmed) carries them to finality across
//! crashes, outages and reorgs.
//!
//! - `settings`: configuration; `keys`: the anchoring account; `contract`: ABI and artifact;
//! - `chain`: the JSON-RPC client; `setup`: recording (or deploying) the contract at start;
//! - `batch`: building batches and their trees; `worker`: the state machine;
//! - `operator`: `civicproof anchor status | resume`.
//!
//! What requests read of anchoring (batches, a bundle's anchor) is `services::anchors`.

pub mod batch;
pub mod chain;
pub mod contract;
pub mod keys;
pub mod operator;
pub mod settings;
pub mod setup;
pub mod worker;
