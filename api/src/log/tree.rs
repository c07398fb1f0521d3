//! RFC 6962 / 9162 tree arithmetic over *perfect subtrees*: the complete subtrees that are
//! stored once and never change. Every hash a proof or root needs is a combination of a few
//! of them, so proofs read O(log n) stored nodes and nothing is rebuilt per request.
//!
//! A [`NodeRef`] at `level` L and index i covers leaves [i·2^L, (i+1)·2^L). Level 0 is a leaf.

use civicproof_verify::merkle::{Hash, node_hash};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeRef {
    pub level: u8,
    pub idx: u64,
}

/// MTH(D[a:b]) as a combination of perfect subtrees, following RFC 6962's split at the
/// largest power of two smaller than the range.
#[derive(Debug, Clone)]
pub enum Expr {
    Node(NodeRef),
    Pair(Box<Expr>, Box<Expr>),
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves [a, b) with b > a. Ranges arising from RFC 6962's recursion start at a
/// multiple of their split point, so every left part is a stored perfect subtree.
pub fn range(a: u64, b: u64) -> Expr {
    let n = b - a;
    if n.is_power_of_two() && a.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return Expr::Node(NodeRef {
            level,
            idx: a >> level,
        });
    }
    let k = split(n);
    Expr::Pair(Box::new(range(a, a + k)), Box::new(range(a + k, b)))
}

impl Expr {
    pub fn collect(&self, out: &mut BTreeSet<NodeRef>) {
        match self {
            Self::Node(r) => {
                out.insert(*r);
            }
            Self::Pair(l, r) => {
                l.collect(out);
                r.collect(out);
            }
        }
    }

    /// Evaluates with the fetched nodes; `None` when one is missing.
    pub fn eval(&self, nodes: &HashMap<NodeRef, Hash>) -> Option<Hash> {
        match self {
            Self::Node(r) => nodes.get(r).copied(),
            Self::Pair(l, r) => Some(node_hash(&l.eval(nodes)?, &r.eval(nodes)?)),
        }
    }
}

/// RFC 9162 section 2.1.3.1: the ranges whose roots form the inclusion path of leaf `m` in a
/// tree of `n` leaves, from the leaf's sibling upwards.
pub fn inclusion(m: u64, n: u64) -> Vec<Expr> {
    fn go(m: u64, a: u64, b: u64, out: &mut Vec<Expr>) {
        let n = b - a;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            go(m, a, a + k, out);
            out.push(range(a + k, b));
        } else {
            go(m - k, a + k, b, out);
            out.push(range(a, a + k));
        }
    }
    let mut out = Vec::new();
    go(m, 0, n, &mut out);
    out
}

/// RFC 9162 section 2.1.4.1: the ranges whose roots form the consistency proof from size
/// `m` to size `n` (0 < m ≤ n; empty when m == n).
pub fn consistency(m: u64, n: u64) -> Vec<Expr> {
    fn sub(m: u64, a: u64, b: u64, complete: bool, out: &mut Vec<Expr>) {
        let n = b - a;
        if m == n {
            if !complete {
                out.push(range(a, b));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, a, a + k, complete, out);
            out.push(range(a + k, b));
        } else {
            sub(m - k, a + k, b, false, out);
            out.push(range(a, a + k));
        }
    }
    let mut out = Vec::new();
    if 0 < m && m < n {
        sub(m, 0, n, true, &mut out);
    }
    out
}

/// The perfect subtrees that make up a tree of `n` leaves, left to right (the "frontier"
/// an append builds on).
pub fn frontier(n: u64) -> Vec<NodeRef> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if n & (1u64 << level) != 0 {
            out.push(NodeRef {
                level,
                idx: start >> level,
            });
            start += 1u64 << level;
        }
    }
    out
}

/// Appends `leaves` (starting at seq `first`) to a tree whose frontier hashes are given, and
/// returns every perfect subtree of level ≥ 1 the append completes: what must be stored.
pub fn append(frontier: Vec<(NodeRef, Hash)>, first: u64, leaves: &[Hash]) -> Vec<(NodeRef, Hash)> {
    let mut stack = frontier;
    let mut created = Vec::with_capacity(leaves.len());
    for (i, leaf) in leaves.iter().enumerate() {
        stack.push((
            NodeRef {
                level: 0,
                idx: first + i as u64,
            },
            *leaf,
        ));
        while stack.len() >= 2 && stack[stack.len() - 1].0.level == stack[stack.len() - 2].0.level {
            let (_, right) = stack.pop().expect("two on the stack");
            let (l, left) = stack.pop().expect("two on the stack");
            let node = NodeRef {
                level: l.level + 1,
                idx: l.idx >> 1,
            };
            let hash = node_hash(&left, &right);
            created.push((node, hash));
            stack.push((node, hash));
        }
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;
    use civicproof_verify::merkle;
    use rs_merkle::{Hasher, MerkleTree};

    /// rs_merkle with RFC 6962's interior-node prefix; leaves arrive already hashed (0x00).
    #[derive(Clone)]
    struct Rfc6962;

    impl Hasher for Rfc6962 {
        type Hash = [u8; 32];
        fn hash(data: &[u8]) -> [u8; 32] {
            use sha2::Digest;
            sha2::Sha256::digest(data).into()
        }
        fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
            match right {
                Some(r) => node_hash(left, r),
                None => *left,
            }
        }
    }

    /// Stores every node an append sequence creates, as the database would.
    fn build(leaves: &[Hash], batch: usize) -> HashMap<NodeRef, Hash> {
        let mut store: HashMap<NodeRef, Hash> = HashMap::new();
        let mut n = 0u64;
        for chunk in leaves.chunks(batch) {
            let front = frontier(n).into_iter().map(|r| (r, store[&r])).collect();
            for (i, l) in chunk.iter().enumerate() {
                store.insert(
                    NodeRef {
                        level: 0,
                        idx: n + i as u64,
                    },
                    *l,
                );
            }
            for (r, h) in append(front, n, chunk) {
                assert!(store.insert(r, h).is_none(), "a node is written once");
            }
            n += chunk.len() as u64;
        }
        store
    }

    fn eval_all(exprs: &[Expr], store: &HashMap<NodeRef, Hash>) -> Vec<Hash> {
        exprs
            .iter()
            .map(|e| e.eval(store).expect("every needed node is stored"))
            .collect()
    }

    #[test]
    fn roots_and_proofs_equal_rs_merkle_and_the_rfc_for_every_size_to_2000() {
        let leaves: Vec<Hash> = (0..2000u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let store = build(&leaves, 7);
        for n in 1..=2000usize {
            let tree = MerkleTree::<Rfc6962>::from_leaves(&leaves[..n]);
            let root = range(0, n as u64).eval(&store).unwrap();
            assert_eq!(Some(root), tree.root(), "root at size {n}");
            assert_eq!(root, merkle::root(&leaves[..n]));
            // Inclusion proofs of a spread of indices (all of them for small trees).
            let step = if n <= 64 { 1 } else { n / 17 };
            for m in (0..n).step_by(step).chain([n - 1]) {
                let path = eval_all(&inclusion(m as u64, n as u64), &store);
                assert_eq!(
                    path,
                    tree.proof(&[m]).proof_hashes().to_vec(),
                    "inclusion {m} of {n}"
                );
                let path_bytes: Vec<Vec<u8>> = path.iter().map(|h| h.to_vec()).collect();
                merkle::verify_inclusion(&leaves[m], m as u64, n as u64, &path_bytes, &root)
                    .unwrap();
            }
            for m in (1..=n).step_by(step).chain([n]) {
                let proof = eval_all(&consistency(m as u64, n as u64), &store);
                assert_eq!(
                    proof,
                    merkle::consistency_path(&leaves[..n], m as u64),
                    "consistency {m}..{n}"
                );
                let old = range(0, m as u64).eval(&store).unwrap();
                let proof_bytes: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                merkle::verify_consistency(m as u64, n as u64, &old, &root, &proof_bytes).unwrap();
            }
        }
    }

    #[test]
    fn proofs_read_logarithmically_many_nodes() {
        for n in [1_000_000u64, 10_000_000, (1 << 40) + 12345] {
            for m in [0, 1, n / 3, n - 1] {
                let mut needed = BTreeSet::new();
                for e in inclusion(m, n) {
                    e.collect(&mut needed);
                }
                let log = 64 - n.leading_zeros() as usize;
                assert!(
                    needed.len() <= 2 * log,
                    "{} nodes for inclusion {m} of {n}",
                    needed.len()
                );
            }
        }
    }

    #[test]
    fn appends_store_each_perfect_subtree_exactly_once_whatever_the_batching() {
        let leaves: Vec<Hash> = (0..1000u32)
            .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
            .collect();
        let a = build(&leaves, 1);
        let b = build(&leaves, 333);
        assert_eq!(a, b);
        // 1000 leaves have 1000 - popcount(1000) interior perfect subtrees.
        assert_eq!(
            a.keys().filter(|r| r.level > 0).count(),
            1000 - 1000u32.count_ones() as usize
        );
    }
}
