//! RFC 6962 / RFC 9162 section 2.1 Merkle trees over SHA-256 (PROTOCOL.md section 3).
//!
//! Every dataset log and every anchor batch is such a tree, so this module is the one place that
//! hashes nodes and checks proofs. Verification follows the RFC 9162 algorithms step by step so
//! that the Rust, browser and third-party verifiers can be compared line by line; the in-memory
//! [`root`], [`inclusion_path`] and [`consistency_path`] are the RFC's recursive definitions, used
//! as test oracles and by callers that hold all leaves anyway.

mod consistency;
mod inclusion;
mod reference;

pub use consistency::{ConsistencyError, verify_consistency};
pub use inclusion::{InclusionError, verify_inclusion};
pub use reference::{consistency_path, inclusion_path, root};

use sha2::{Digest, Sha256};

/// A SHA-256 value: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// The leaf hash of `data`: `SHA-256(0x00 || data)`.
///
/// The 0x00 prefix (RFC 6962 domain separation) keeps a leaf from posing as an interior node.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// An interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Reads a proof's hash argument, which must be exactly 32 bytes.
fn as_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// Bit length of `x` (0 for 0), as in Go's `bits.Len64`.
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers from transparency-dev/merkle `testonly/constants.go` (commit
    /// 582a6ad190b6848f1d26f8bf08ddef29955d9db1): the empty root, and the leaf hashes of the
    /// empty leaf and of `00`; the node hash is `NodeHashes()[1][0]`, the parent of those two.
    #[test]
    fn known_answers() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let l0 = leaf_hash(b"");
        let l1 = leaf_hash(&[0x00]);
        assert_eq!(
            hex::encode(l0),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex::encode(l1),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
        assert_eq!(
            hex::encode(node_hash(&l0, &l1)),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }
}
