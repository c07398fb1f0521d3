//! The server side of the verifiable logs (PROOFS.md section 3): each dataset's RFC 6962
//! tree persisted as stored subtree hashes, proofs read from them, and the checkpoint signer.

pub mod identity;
pub mod nodes;
pub mod proofs;
pub mod signer;
pub mod tree;
