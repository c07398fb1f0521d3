//! Consistency proofs are verified by the library (shared with `civicproof monitor`).

pub use civicproof_verify::consistency::*;
