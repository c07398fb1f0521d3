//! The recursive definitions of RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1 over leaf hashes.
//!
//! They hash every node below the answer, O(n) per call, which is what a test oracle or a small
//! in-memory log wants; a server with millions of entries should serve stored subtree hashes.
//! Recursion depth is the tree height, at most 64.

use super::{Hash, empty_root, node_hash};

/// The largest power of two smaller than `n` (`n ≥ 2`): the RFC's split point `k`.
fn split(n: usize) -> usize {
    1 << (usize::BITS - (n - 1).leading_zeros() - 1)
}

/// `MTH(D[n])`: the root of the tree whose leaf hashes are `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// `PATH(index, D[n])`: the inclusion path of leaf `index`, from the leaf's sibling upwards.
///
/// # Panics
///
/// If `index` is not below `leaves.len()`.
pub fn inclusion_path(leaves: &[Hash], index: u64) -> Vec<Hash> {
    assert!(
        index < leaves.len() as u64,
        "leaf index {index} outside a tree of {} leaves",
        leaves.len()
    );
    let mut out = Vec::new();
    path_into(leaves, index as usize, &mut out);
    out
}

fn path_into(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_into(&leaves[..k], m, out);
        out.push(root(&leaves[k..]));
    } else {
        path_into(&leaves[k..], m - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// `PROOF(size1, D[n])`: the consistency proof from the first `size1` leaves to all of `leaves`.
///
/// Empty when `size1` is 0 or equals `leaves.len()`; [`super::verify_consistency`] accepts the
/// latter and refuses the former, as PROTOCOL.md section 7 requires.
///
/// # Panics
///
/// If `size1` exceeds `leaves.len()`.
pub fn consistency_path(leaves: &[Hash], size1: u64) -> Vec<Hash> {
    assert!(
        size1 <= leaves.len() as u64,
        "first size {size1} exceeds the tree of {} leaves",
        leaves.len()
    );
    let mut out = Vec::new();
    if size1 > 0 {
        subproof_into(leaves, size1 as usize, true, &mut out);
    }
    out
}

/// `SUBPROOF(m, D[n], b)`; `b` says whether the subtree's root is the first tree's root itself.
fn subproof_into(leaves: &[Hash], m: usize, b: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !b {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof_into(&leaves[..k], m, b, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof_into(&leaves[k..], m - k, false, out);
        out.push(root(&leaves[..k]));
    }
}
