//! Stored subtree hashes of each dataset's Merkle tree. Level 0 (the leaves) is read from
//! `entries.leaf_hash`; levels 1 and up from `tree_nodes`. Stored nodes never change.

use crate::schema::{entries, tree_nodes};
use crate::{AnyConnection, Conn};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, SmallInt};

/// Rows per INSERT on SQLite: 4 columns, far below the bind-parameter limit.
const INSERT_CHUNK: usize = 5_000;

#[derive(Debug, Clone, Insertable, Queryable, QueryableByName)]
#[diesel(table_name = tree_nodes, treat_none_as_default_value = false)]
pub struct TreeNode {
    pub dataset_id: i64,
    pub level: i16,
    pub idx: i64,
    pub hash: Vec<u8>,
}

pub fn insert_nodes(conn: &mut Conn, nodes: &[TreeNode]) -> QueryResult<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    match conn {
        // Binary COPY, as for entries.
        AnyConnection::Pg(pg) => {
            diesel::copy_from(tree_nodes::table)
                .from_insertable(nodes)
                .execute(pg)?;
        }
        // Multi-row INSERTs on SQLite's own connection (no column here needs the shared
        // backend's type mapping).
        AnyConnection::Sqlite(lite) => {
            for chunk in nodes.chunks(INSERT_CHUNK) {
                diesel::insert_into(tree_nodes::table)
                    .values(chunk)
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// The stored nodes among `(level, idx)` pairs (levels ≥ 1), in no particular order.
pub fn nodes(conn: &mut Conn, dataset_id: i64, keys: &[(i16, i64)]) -> QueryResult<Vec<TreeNode>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (levels, idxs): (Vec<i16>, Vec<i64>) = keys.iter().copied().unzip();
    let AnyConnection::Pg(conn) = conn else {
        return nodes_portable(conn, dataset_id, keys);
    };
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

/// [`nodes`] without arrays: every node on the requested levels with a requested index (a
/// superset: both sets hold at most 63 values), filtered to the exact pairs here.
pub(crate) fn nodes_portable(
    conn: &mut Conn,
    dataset_id: i64,
    keys: &[(i16, i64)],
) -> QueryResult<Vec<TreeNode>> {
    let wanted: std::collections::HashSet<(i16, i64)> = keys.iter().copied().collect();
    let levels: Vec<i16> = wanted.iter().map(|k| k.0).collect();
    let idxs: Vec<i64> = wanted.iter().map(|k| k.1).collect();
    let rows: Vec<TreeNode> = tree_nodes::table
        .filter(tree_nodes::dataset_id.eq(dataset_id))
        .filter(tree_nodes::level.eq_any(levels))
        .filter(tree_nodes::idx.eq_any(idxs))
        .select((
            tree_nodes::dataset_id,
            tree_nodes::level,
            tree_nodes::idx,
            tree_nodes::hash,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|n| wanted.contains(&(n.level, n.idx)))
        .collect())
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

/// The stored hashes at `level` with index in `[from, to)`, in index order: the leaf hashes
/// of `entries` at level 0, `tree_nodes` above (a tlog tile is one such range).
pub fn level_range(
    conn: &mut Conn,
    dataset_id: i64,
    level: i16,
    from: i64,
    to: i64,
) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    if level == 0 {
        return entries::table
            .filter(entries::dataset_id.eq(dataset_id))
            .filter(entries::seq.ge(from))
            .filter(entries::seq.lt(to))
            .order(entries::seq.asc())
            .select((entries::seq, entries::leaf_hash))
            .load(conn);
    }
    tree_nodes::table
        .filter(tree_nodes::dataset_id.eq(dataset_id))
        .filter(tree_nodes::level.eq(level))
        .filter(tree_nodes::idx.ge(from))
        .filter(tree_nodes::idx.lt(to))
        .order(tree_nodes::idx.asc())
        .select((tree_nodes::idx, tree_nodes::hash))
        .load(conn)
}
