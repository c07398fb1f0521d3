//! Reading and writing a dataset's stored subtree hashes, with an in-process cache.
//!
//! Stored perfect subtrees never change, so caching them can never serve a stale hash; the
//! cache only saves database round trips. (A tampered database is caught by the signer's
//! consistency check and by verifiers, never hidden by the cache.)

use crate::error::{ApiError, ApiResult};
use crate::log::tree::{self, Expr, NodeRef};
use civicproof_schema::Conn;
use civicproof_schema::queries::tree as store;
use civicproof_verify::merkle::Hash;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Bounded cache of perfect-subtree hashes keyed by (dataset, node). When full it is
/// cleared wholesale: simple, and hot nodes (high levels) return within a few requests.
pub struct NodeCache {
    map: Mutex<HashMap<(i64, NodeRef), Hash>>,
    capacity: usize,
}

impl NodeCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn get_many(
        &self,
        dataset_id: i64,
        refs: &BTreeSet<NodeRef>,
        out: &mut HashMap<NodeRef, Hash>,
    ) {
        let map = self.map.lock().expect("node cache lock");
        for r in refs {
            if let Some(h) = map.get(&(dataset_id, *r)) {
                out.insert(*r, *h);
            }
        }
    }

    fn put_many(&self, dataset_id: i64, nodes: impl IntoIterator<Item = (NodeRef, Hash)>) {
        let mut map = self.map.lock().expect("node cache lock");
        for (r, h) in nodes {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert((dataset_id, r), h);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().expect("node cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fetches the hashes of `refs` (cache first, then one query per level kind).
pub fn fetch(
    conn: &mut Conn,
    cache: Option<&NodeCache>,
    dataset_id: i64,
    refs: &BTreeSet<NodeRef>,
) -> ApiResult<HashMap<NodeRef, Hash>> {
    let mut out = HashMap::with_capacity(refs.len());
    if let Some(c) = cache {
        c.get_many(dataset_id, refs, &mut out);
    }
    let missing: Vec<NodeRef> = refs
        .iter()
        .filter(|r| !out.contains_key(r))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let leaves: Vec<i64> = missing
        .iter()
        .filter(|r| r.level == 0)
        .map(|r| r.idx as i64)
        .collect();
    let inner: Vec<(i16, i64)> = missing
        .iter()
        .filter(|r| r.level > 0)
        .map(|r| (i16::from(r.level), r.idx as i64))
        .collect();
    let mut fetched = Vec::with_capacity(missing.len());
    for (seq, hash) in store::leaves(conn, dataset_id, &leaves)? {
        fetched.push((
            NodeRef {
                level: 0,
                idx: seq as u64,
            },
            to_hash(&hash)?,
        ));
    }
    for n in store::nodes(conn, dataset_id, &inner)? {
        fetched.push((
            NodeRef {
                level: n.level as u8,
                idx: n.idx as u64,
            },
            to_hash(&n.hash)?,
        ));
    }
    if fetched.len() != missing.len() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "dataset {dataset_id}: {} of {} tree nodes are missing",
            missing.len() - fetched.len(),
            missing.len()
        )));
    }
    if let Some(c) = cache {
        c.put_many(dataset_id, fetched.iter().copied());
    }
    out.extend(fetched);
    Ok(out)
}

fn to_hash(bytes: &[u8]) -> ApiResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored hash is not 32 bytes")))
}

/// Evaluates expressions against stored nodes with one fetch.
pub fn eval(
    conn: &mut Conn,
    cache: Option<&NodeCache>,
    dataset_id: i64,
    exprs: &[Expr],
) -> ApiResult<Vec<Hash>> {
    let mut refs = BTreeSet::new();
    for e in exprs {
        e.collect(&mut refs);
    }
    let nodes = fetch(conn, cache, dataset_id, &refs)?;
    exprs
        .iter()
        .map(|e| {
            e.eval(&nodes)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("tree node missing")))
        })
        .collect()
}

/// The root of the first `size` leaves (the empty root for size 0).
pub fn root(
    conn: &mut Conn,
    cache: Option<&NodeCache>,
    dataset_id: i64,
    size: u64,
) -> ApiResult<Hash> {
    if size == 0 {
        return Ok(civicproof_verify::merkle::empty_root());
    }
    Ok(eval(conn, cache, dataset_id, &[tree::range(0, size)])?[0])
}

/// Stores the perfect subtrees that appending `leaves` at `first` completes. Call inside the
/// appending transaction, under the dataset's lock.
pub fn append(conn: &mut Conn, dataset_id: i64, first: u64, leaves: &[Hash]) -> ApiResult<()> {
    let refs: BTreeSet<NodeRef> = tree::frontier(first).into_iter().collect();
    let nodes = fetch(conn, None, dataset_id, &refs)?;
    let front = tree::frontier(first)
        .into_iter()
        .map(|r| (r, nodes[&r]))
        .collect();
    let created: Vec<store::TreeNode> = tree::append(front, first, leaves)
        .into_iter()
        .map(|(r, h)| store::TreeNode {
            dataset_id,
            level: i16::from(r.level),
            idx: r.idx as i64,
            hash: h.to_vec(),
        })
        .collect();
    store::insert_nodes(conn, &created)?;
    Ok(())
}

/// Reads entry `seq` and, in the same round trip, every node of its inclusion path at tree
/// `size` that the cache lacks; the fetched nodes go into the cache.
pub fn entry_with_path_nodes(
    conn: &mut Conn,
    cache: &NodeCache,
    dataset_id: i64,
    seq: u64,
    size: u64,
) -> ApiResult<Option<civicproof_schema::models::Entry>> {
    let mut refs = BTreeSet::new();
    if seq < size {
        for e in tree::inclusion(seq, size) {
            e.collect(&mut refs);
        }
    }
    let mut known = HashMap::new();
    cache.get_many(dataset_id, &refs, &mut known);
    let missing = refs.iter().filter(|r| !known.contains_key(r));
    let (leaves, inner): (Vec<&NodeRef>, Vec<&NodeRef>) = missing.partition(|r| r.level == 0);
    let leaf_seqs: Vec<i64> = leaves.iter().map(|r| r.idx as i64).collect();
    let node_keys: Vec<(i16, i64)> = inner
        .iter()
        .map(|r| (i16::from(r.level), r.idx as i64))
        .collect();
    let Some(row) =
        store::get_with_nodes_row(conn, dataset_id, seq as i64, &leaf_seqs, &node_keys)?
    else {
        return Ok(None);
    };
    let mut fetched = Vec::with_capacity(row.leaves.len() + row.nodes.len());
    for l in &row.leaves {
        let (s, h) = l.split_at(8);
        let s = i64::from_be_bytes(s.try_into().map_err(ApiError::internal)?);
        fetched.push((
            NodeRef {
                level: 0,
                idx: s as u64,
            },
            to_hash(h)?,
        ));
    }
    for n in &row.nodes {
        let (lv, rest) = n.split_at(2);
        let (ix, h) = rest.split_at(8);
        let level = i16::from_be_bytes(lv.try_into().map_err(ApiError::internal)?);
        let idx = i64::from_be_bytes(ix.try_into().map_err(ApiError::internal)?);
        fetched.push((
            NodeRef {
                level: level as u8,
                idx: idx as u64,
            },
            to_hash(h)?,
        ));
    }
    cache.put_many(dataset_id, fetched);
    Ok(Some(row.entry()))
}
