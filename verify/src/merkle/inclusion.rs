//! Inclusion proof verification, RFC 9162 section 2.1.3.2.

use subtle::ConstantTimeEq;

use super::{Hash, as_hash, bit_len, node_hash};

/// Why an inclusion proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    /// The leaf hash is not 32 bytes.
    #[error("leaf hash is {0} bytes, not 32")]
    LeafLength(usize),
    /// The root is not 32 bytes.
    #[error("root hash is {0} bytes, not 32")]
    RootLength(usize),
    /// A path element is not 32 bytes.
    #[error("inclusion path element {index} is {len} bytes, not 32")]
    PathElementLength {
        /// Position in the path (0 = the leaf's sibling).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path does not have the length the tree shape requires.
    #[error(
        "inclusion path has {got} elements; leaf {index} of a tree of size {size} needs {want}"
    )]
    PathLength {
        /// Elements supplied.
        got: usize,
        /// Elements required.
        want: usize,
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path is well formed but leads to a different root.
    #[error("inclusion path does not lead to the root")]
    RootMismatch,
}

/// Number of path elements for leaf `index` of a tree of `size` (`index < size`).
///
/// `inner` levels lie below the point where the paths to `index` and to the last leaf part;
/// above it, one element per left subtree on the path (the set bits of `index >> inner`).
pub(super) fn path_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Verifies that `leaf` (a leaf hash) is at `index` of the tree of `size` with `root`.
///
/// Every hash length is checked first, then `index < size` and the exact path length, then the
/// RFC 9162 section 2.1.3.2 loop runs and the result is compared in constant time.
pub fn verify_inclusion(
    leaf: &[u8],
    index: u64,
    size: u64,
    path: &[Vec<u8>],
    root: &[u8],
) -> Result<(), InclusionError> {
    let leaf = as_hash(leaf).ok_or(InclusionError::LeafLength(leaf.len()))?;
    let root = as_hash(root).ok_or(InclusionError::RootLength(root.len()))?;
    let path = path
        .iter()
        .enumerate()
        .map(|(index, p)| {
            as_hash(p).ok_or(InclusionError::PathElementLength {
                index,
                len: p.len(),
            })
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let want = path_len(index, size);
    let wrong_length = InclusionError::PathLength {
        got: path.len(),
        want,
        index,
        size,
    };
    if path.len() != want {
        return Err(wrong_length);
    }
    // RFC 9162 section 2.1.3.2, steps 2-5 (`f` and `s` are the RFC's `fn` and `sn`).
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in &path {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length);
    }
    if bool::from(r.ct_eq(&root)) {
        Ok(())
    } else {
        Err(InclusionError::RootMismatch)
    }
}
