//! Client-side verification of civicproof data (see `shared/spec/PROOFS.md`).
//!
//! Everything a verifier needs to recompute the bytes that civicproof hashes lives here, so the
//! server, the CLI and third-party tools share one implementation and cannot drift apart:
//!
//! - [`json`]: a strict RFC 8259 parser that enforces the I-JSON rules of PROOFS.md section 2
//!   (no duplicate names, no U+0000 or lone surrogates, depth ≤ 64, numbers as IEEE-754 doubles);
//! - [`jcs`]: RFC 8785 canonicalization, the bytes that get hashed;
//! - [`envelope`]: the entry envelope of section 2, its strict decoding and its leaf hash.
//!
//! The crate deliberately has no server, database or async dependencies, so it can be embedded in
//! any client. Later it gains Merkle proofs, checkpoints and proof bundles.

pub mod envelope;
pub mod jcs;
pub mod json;
