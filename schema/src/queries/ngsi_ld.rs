//! NGSI-LD entity types and the datasets that receive them, per institution.

use crate::Conn;
use crate::schema::{datasets, ngsi_ld_types};
use diesel::prelude::*;

/// The institution's mappings: (entity type, dataset id, dataset slug), by type.
pub fn list(conn: &mut Conn, institution_id: i64) -> QueryResult<Vec<(String, i64, String)>> {
    ngsi_ld_types::table
        .inner_join(datasets::table)
        .filter(ngsi_ld_types::institution_id.eq(institution_id))
        .order(ngsi_ld_types::entity_type)
        .select((ngsi_ld_types::entity_type, datasets::id, datasets::slug))
        .load(conn)
}

/// Maps `entity_type` to `dataset_id`, replacing an earlier mapping. True when it is new.
pub fn set(
    conn: &mut Conn,
    institution_id: i64,
    entity_type: &str,
    dataset_id: i64,
) -> QueryResult<bool> {
    let existing = ngsi_ld_types::table
        .find((institution_id, entity_type))
        .select(ngsi_ld_types::dataset_id)
        .first::<i64>(conn)
        .optional()?;
    match existing {
        Some(_) => {
            diesel::update(ngsi_ld_types::table.find((institution_id, entity_type)))
                .set(ngsi_ld_types::dataset_id.eq(dataset_id))
                .execute(conn)?;
            Ok(false)
        }
        None => {
            diesel::insert_into(ngsi_ld_types::table)
                .values((
                    ngsi_ld_types::institution_id.eq(institution_id),
                    ngsi_ld_types::entity_type.eq(entity_type),
                    ngsi_ld_types::dataset_id.eq(dataset_id),
                ))
                .execute(conn)?;
            Ok(true)
        }
    }
}

/// Removes a mapping; false when there was none.
pub fn delete(conn: &mut Conn, institution_id: i64, entity_type: &str) -> QueryResult<bool> {
    diesel::delete(ngsi_ld_types::table.find((institution_id, entity_type)))
        .execute(conn)
        .map(|n| n > 0)
}
