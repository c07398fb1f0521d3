//! Consistency proof verification, RFC 9162 section 2.1.4.2, with the edge-case conventions of
//! `shared/vectors/rfc6962/SOURCE.md` (and PROTOCOL.md section 7, "Consistency").

use subtle::ConstantTimeEq;

use super::{Hash, as_hash, bit_len, node_hash};

/// Why a consistency proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The first root is not 32 bytes.
    #[error("first root is {0} bytes, not 32")]
    Root1Length(usize),
    /// The second root is not 32 bytes.
    #[error("second root is {0} bytes, not 32")]
    Root2Length(usize),
    /// A proof element is not 32 bytes.
    #[error("consistency proof element {index} is {len} bytes, not 32")]
    ProofElementLength {
        /// Position in the proof.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The second tree is smaller than the first.
    #[error("second size {size2} is smaller than first size {size1}")]
    SizesReversed {
        /// The first (older) size.
        size1: u64,
        /// The second (newer) size.
        size2: u64,
    },
    /// Consistency from the empty tree is not proved (it holds trivially, so a request for it
    /// is a caller error).
    #[error("first size is 0; consistency from the empty tree is not proved")]
    EmptyFirstTree,
    /// Equal sizes need an empty proof.
    #[error("sizes are equal but the proof is not empty")]
    ProofForEqualSizes,
    /// Equal sizes with different roots: a fork.
    #[error("sizes are equal but the roots differ")]
    EqualSizesRootsDiffer,
    /// The proof does not have the length the two tree shapes require.
    #[error("consistency proof has {got} elements; sizes {size1} and {size2} need {want}")]
    ProofLength {
        /// Elements supplied.
        got: usize,
        /// Elements required.
        want: usize,
        /// The first size.
        size1: u64,
        /// The second size.
        size2: u64,
    },
    /// The proof does not reproduce the first root.
    #[error("consistency proof does not reproduce the first root")]
    Root1Mismatch,
    /// The proof does not reproduce the second root.
    #[error("consistency proof does not reproduce the second root")]
    Root2Mismatch,
}

/// Number of proof elements between sizes `size1 < size2` (`size1 > 0`).
///
/// Like an inclusion path for leaf `size1 − 1`, minus the levels inside the complete subtree that
/// ends at `size1` (whose root is the seed), plus the seed itself unless it is the whole first tree.
fn proof_len(size1: u64, size2: u64) -> usize {
    let inner = bit_len((size1 - 1) ^ (size2 - 1));
    let border = ((size1 - 1) >> inner).count_ones();
    let shift = size1.trailing_zeros();
    let seed = usize::from(!size1.is_power_of_two());
    (inner - shift + border) as usize + seed
}

/// Verifies that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.
///
/// Order of checks: every hash length; `size2 < size1`; `size1 == 0`; equal sizes (empty proof and
/// equal roots, compared in constant time); then the exact proof length and the RFC 9162
/// section 2.1.4.2 algorithm.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), ConsistencyError> {
    let root1 = as_hash(root1).ok_or(ConsistencyError::Root1Length(root1.len()))?;
    let root2 = as_hash(root2).ok_or(ConsistencyError::Root2Length(root2.len()))?;
    let proof = proof
        .iter()
        .enumerate()
        .map(|(index, p)| {
            as_hash(p).ok_or(ConsistencyError::ProofElementLength {
                index,
                len: p.len(),
            })
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    if size2 < size1 {
        return Err(ConsistencyError::SizesReversed { size1, size2 });
    }
    if size1 == 0 {
        return Err(ConsistencyError::EmptyFirstTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ConsistencyError::ProofForEqualSizes);
        }
        return if bool::from(root1.ct_eq(&root2)) {
            Ok(())
        } else {
            Err(ConsistencyError::EqualSizesRootsDiffer)
        };
    }
    let want = proof_len(size1, size2);
    let wrong_length = ConsistencyError::ProofLength {
        got: proof.len(),
        want,
        size1,
        size2,
    };
    // Step 1: an empty proof fails (covered by the exact length, which is never 0 here).
    if proof.len() != want {
        return Err(wrong_length);
    }
    // Step 2: when size1 is a power of two, its root is the seed and is not in the proof.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(root1);
    }
    path.extend_from_slice(&proof);
    // Steps 3-4 (`f` and `s` are the RFC's `fn` and `sn`).
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Steps 5-6.
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(wrong_length);
    }
    if !bool::from(fr.ct_eq(&root1)) {
        return Err(ConsistencyError::Root1Mismatch);
    }
    if !bool::from(sr.ct_eq(&root2)) {
        return Err(ConsistencyError::Root2Mismatch);
    }
    Ok(())
}
