//! Property tests: the RFC 9162 verifiers accept every proof of the RFC's recursive definitions,
//! for every tree size 1..=300 (every leaf index, every first size) and a few larger sizes, and
//! refuse mutated proofs.
//!
//! The library's reference functions cost O(n) per proof, which for all ~90,000 proofs up to size
//! 300 takes half a minute in a debug build, so the sweep uses the same recursions with memoized
//! subtree roots ([`Oracle`]), checked against the library's functions for every size up to 64.

use std::collections::HashMap;

use civicproof_verify::merkle::{
    self, Hash, InclusionError, consistency_path, inclusion_path, verify_consistency,
    verify_inclusion,
};

/// Leaf hashes of distinct entries.
fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect()
}

/// RFC 9162 `MTH`, `PATH` and `SUBPROOF` over ranges of one leaf list, memoizing `MTH`.
struct Oracle {
    leaves: Vec<Hash>,
    roots: HashMap<(usize, usize), Hash>,
}

impl Oracle {
    fn new(n: u64) -> Oracle {
        Oracle {
            leaves: leaves(n),
            roots: HashMap::new(),
        }
    }

    /// The RFC's split point `k` for a range of `n ≥ 2` leaves.
    fn split(n: usize) -> usize {
        n.next_power_of_two() / 2
    }

    fn root(&mut self, lo: usize, hi: usize) -> Hash {
        match hi - lo {
            0 => merkle::empty_root(),
            1 => self.leaves[lo],
            n => {
                if let Some(r) = self.roots.get(&(lo, hi)) {
                    return *r;
                }
                let k = lo + Self::split(n);
                let r = merkle::node_hash(&self.root(lo, k), &self.root(k, hi));
                self.roots.insert((lo, hi), r);
                r
            }
        }
    }

    fn path(&mut self, lo: usize, hi: usize, m: usize) -> Vec<Hash> {
        if hi - lo <= 1 {
            return Vec::new();
        }
        let k = lo + Self::split(hi - lo);
        let (mut path, sibling) = if lo + m < k {
            (self.path(lo, k, m), self.root(k, hi))
        } else {
            (self.path(k, hi, lo + m - k), self.root(lo, k))
        };
        path.push(sibling);
        path
    }

    fn subproof(&mut self, lo: usize, hi: usize, m: usize, b: bool) -> Vec<Hash> {
        if m == hi - lo {
            return if b {
                Vec::new()
            } else {
                vec![self.root(lo, hi)]
            };
        }
        let k = Self::split(hi - lo);
        let (mut proof, sibling) = if m <= k {
            (self.subproof(lo, lo + k, m, b), self.root(lo + k, hi))
        } else {
            (
                self.subproof(lo + k, hi, m - k, false),
                self.root(lo, lo + k),
            )
        };
        proof.push(sibling);
        proof
    }
}

fn to_vecs(path: &[Hash]) -> Vec<Vec<u8>> {
    path.iter().map(|h| h.to_vec()).collect()
}

/// Mutations that keep every hash 32 bytes: one bit flipped in element `i`, for each `i` in
/// `which`; plus an appended element, a dropped last and a dropped first element.
fn mutations(path: &[Vec<u8>], which: impl Iterator<Item = usize>) -> Vec<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<Vec<u8>>> = which
        .map(|i| {
            let mut mutated = path.to_vec();
            mutated[i][i % 32] ^= 1 << (i % 8);
            mutated
        })
        .collect();
    out.push([path, &[vec![0u8; 32]]].concat());
    if !path.is_empty() {
        out.push(path[..path.len() - 1].to_vec());
        out.push(path[1..].to_vec());
    }
    out
}

/// Every element for small trees; one rotating element beyond, to keep the sweep fast.
fn flipped(len: usize, size: usize, salt: usize) -> Box<dyn Iterator<Item = usize>> {
    if size <= 128 || len == 0 {
        Box::new(0..len)
    } else {
        Box::new(std::iter::once(salt % len))
    }
}

#[test]
fn oracle_matches_the_reference_functions() {
    let mut oracle = Oracle::new(64);
    let all = oracle.leaves.clone();
    for n in 1..=all.len() {
        let tree = &all[..n];
        assert_eq!(oracle.root(0, n), merkle::root(tree));
        for i in 0..n {
            assert_eq!(oracle.path(0, n, i), inclusion_path(tree, i as u64));
        }
        for m in 1..=n {
            assert_eq!(
                oracle.subproof(0, n, m, true),
                consistency_path(tree, m as u64)
            );
        }
    }
}

#[test]
fn every_inclusion_proof_up_to_size_300() {
    let mut oracle = Oracle::new(300);
    for n in 1..=300 {
        let (size, root) = (n as u64, oracle.root(0, n));
        for i in 0..n {
            let (index, leaf) = (i as u64, oracle.leaves[i]);
            let path = to_vecs(&oracle.path(0, n, i));
            verify_inclusion(&leaf, index, size, &path, &root)
                .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
            for mutated in mutations(&path, flipped(path.len(), n, i)) {
                assert!(
                    verify_inclusion(&leaf, index, size, &mutated, &root).is_err(),
                    "mutated path accepted: index {index} size {size}"
                );
            }
            let mut other_leaf = leaf;
            other_leaf[0] ^= 1;
            assert_eq!(
                verify_inclusion(&other_leaf, index, size, &path, &root),
                Err(InclusionError::RootMismatch)
            );
            if n > 1 {
                let other = (index + 1) % size;
                assert!(verify_inclusion(&leaf, other, size, &path, &root).is_err());
            }
        }
        assert!(verify_inclusion(&oracle.leaves[0], size, size, &[], &root).is_err());
    }
}

#[test]
fn every_consistency_proof_up_to_size_300() {
    let mut oracle = Oracle::new(300);
    for n in 1..=300 {
        let (size2, root2) = (n as u64, oracle.root(0, n));
        for m in 1..=n {
            let (size1, root1) = (m as u64, oracle.root(0, m));
            let proof = to_vecs(&oracle.subproof(0, n, m, true));
            verify_consistency(size1, size2, &root1, &root2, &proof)
                .unwrap_or_else(|e| panic!("sizes {size1} {size2}: {e}"));
            for mutated in mutations(&proof, flipped(proof.len(), n, m)) {
                assert!(
                    verify_consistency(size1, size2, &root1, &root2, &mutated).is_err(),
                    "mutated proof accepted: sizes {size1} {size2}"
                );
            }
            if m < n {
                assert!(verify_consistency(size1, size2, &root2, &root2, &proof).is_err());
                assert!(verify_consistency(size1 + 1, size2, &root1, &root2, &proof).is_err());
            }
        }
    }
}

/// The library's own reference functions on a few larger, differently shaped trees.
#[test]
fn larger_sizes() {
    for size in [511u64, 512, 513, 1000, 1025] {
        let all = leaves(size);
        let root = merkle::root(&all);
        for index in [0, 1, size / 2, size - 2, size - 1] {
            let path = to_vecs(&inclusion_path(&all, index));
            verify_inclusion(&all[index as usize], index, size, &path, &root).unwrap();
            for mutated in mutations(&path, 0..path.len()) {
                assert!(
                    verify_inclusion(&all[index as usize], index, size, &mutated, &root).is_err()
                );
            }
        }
        for size1 in [1, 2, 3, size / 3, size / 2, size - 1] {
            let root1 = merkle::root(&all[..size1 as usize]);
            let proof = to_vecs(&consistency_path(&all, size1));
            verify_consistency(size1, size, &root1, &root, &proof).unwrap();
            for mutated in mutations(&proof, 0..proof.len()) {
                assert!(verify_consistency(size1, size, &root1, &root, &mutated).is_err());
            }
        }
    }
}

#[test]
fn edge_conventions() {
    let all = leaves(4);
    let root = merkle::root(&all);
    let empty = merkle::empty_root();
    assert!(verify_consistency(0, 0, &empty, &empty, &[]).is_err());
    assert!(verify_consistency(0, 4, &empty, &root, &[]).is_err());
    assert!(verify_consistency(4, 3, &root, &root, &[]).is_err());
    verify_consistency(4, 4, &root, &root, &[]).unwrap();
    assert!(verify_consistency(4, 4, &root, &empty, &[]).is_err());
    assert!(verify_consistency(4, 4, &root, &root, &[root.to_vec()]).is_err());
    assert!(verify_consistency(4, 4, &root[..31], &root[..31], &[]).is_err());
    assert!(verify_inclusion(&all[0], 0, 0, &[], &empty).is_err());
    assert!(consistency_path(&all, 0).is_empty());
    assert!(consistency_path(&all, 4).is_empty());
}
