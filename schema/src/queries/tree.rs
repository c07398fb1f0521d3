//! Stored subtree hashes of each dataset's Merkle tree. Level 0 (the leaves) is read from
//! `entries.leaf_hash`; levels 1 and up from `tree_nodes`. Stored nodes never change.

use crate::Conn;
use crate::schema::{entries, tree_nodes};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, SmallInt};

/// Rows per INSERT: 4 columns, far below the bind-parameter limit.
const INSERT_CHUNK: usize = 5_000;

#[derive(Debug, Clone, Insertable, Queryable, QueryableByName)]
#[diesel(table_name = tree_nodes)]
pub struct TreeNode {
    pub dataset_id: i64,
    pub level: i16,
    pub idx: i64,
    pub hash: Vec<u8>,
}

pub fn insert_nodes(conn: &mut Conn, nodes: &[TreeNode]) -> QueryResult<()> {
    for chunk in nodes.chunks(INSERT_CHUNK) {
        diesel::insert_into(tree_nodes::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// The stored nodes among `(level, idx)` pairs (levels ≥ 1), in no particular order.
pub fn nodes(conn: &mut Conn, dataset_id: i64, keys: &[(i16, i64)]) -> QueryResult<Vec<TreeNode>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (levels, idxs): (Vec<i16>, Vec<i64>) = keys.iter().copied().unzip();
    diesel::sql_query(
        "SELECT n.dataset_id, n.level, n.idx, n.hash FROM tree_nodes n \
         JOIN unnest($2, $3) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx \
         WHERE n.dataset_id = $1",
    )
    .bind::<BigInt, _>(dataset_id)
    .bind::<Array<SmallInt>, _>(levels)
    .bind::<Array<BigInt>, _>(idxs)
    .load(conn)
}

/// See [`crate::queries::entries::get_with_nodes`].
pub use crate::queries::entries::get_with_nodes as get_with_nodes_row;

/// Leaf hashes of the given seqs, as (seq, hash).
pub fn leaves(conn: &mut Conn, dataset_id: i64, seqs: &[i64]) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .filter(entries::seq.eq_any(seqs))
        .select((entries::seq, entries::leaf_hash))
        .load(conn)
}
