//! The server side of the verifiable logs (PROTOCOL.md sections 3 and 4): each dataset's RFC 6962
//! tree persisted as stored subtree hashes, proofs read from them, the checkpoint signer, and
//! the submission of its checkpoints to witnesses.
//! The engine only: what a request may see and how a bundle is composed is
//! `services::proofs`.

pub mod identity;
pub mod nodes;
pub mod signer;
pub mod tiles;
pub mod tree;
pub mod witnessing;
