//! `civicproof witness`: a C2SP tlog-witness (docs/PROTOCOL.md section 10).
//!
//! A witness follows logs it is configured for and cosigns a checkpoint only when a consistency
//! proof shows it extends the last checkpoint the witness cosigned for that origin. It keeps one
//! record per origin, persisted before it answers, so it refuses rollbacks and forks across its
//! own restarts. civicproof's server submits every new checkpoint to its configured witnesses;
//! this crate is the other side, so that tests (and small deployments) run real witnesses.
//!
//! Modules, one job each:
//! - [`logs`]: which logs the witness follows and the keys it checks their checkpoints with;
//! - [`request`]: the `add-checkpoint` request body;
//! - [`store`]: the latest cosigned checkpoint per origin, on disk, written atomically;
//! - [`witness`]: the checks of `add-checkpoint` and their refusals (400, 403, 404, 409, 422);
//! - [`http`]: the HTTP routes and [`http::run`], which serves until a shutdown future fires;
//! - [`command`]: the command line (`civicproof witness serve|keygen`).

pub mod command;
pub mod http;
pub mod key;
pub mod logs;
pub mod request;
pub mod store;
pub mod witness;

pub use witness::{Refusal, Witness};
