use crate::Conn;
use crate::models::{Institution, NewInstitution};
use crate::schema::institutions;
use diesel::prelude::*;

pub fn insert(conn: &mut Conn, new: &NewInstitution<'_>) -> QueryResult<Institution> {
    diesel::insert_into(institutions::table)
        .values(new)
        .returning(<Institution as Selectable<crate::MultiBackend>>::construct_selection())
        .get_result(conn)
}

pub fn by_slug(conn: &mut Conn, slug: &str) -> QueryResult<Option<Institution>> {
    institutions::table
        .filter(institutions::slug.eq(slug))
        .select(Institution::as_select())
        .first(conn)
        .optional()
}

pub fn by_ids(conn: &mut Conn, ids: &[i64]) -> QueryResult<Vec<Institution>> {
    institutions::table
        .filter(institutions::id.eq_any(ids))
        .select(Institution::as_select())
        .load(conn)
}

/// The institutions with these slugs (GraphQL batches its lookups through this).
pub fn by_slugs(conn: &mut Conn, slugs: &[String]) -> QueryResult<Vec<Institution>> {
    institutions::table
        .filter(institutions::slug.eq_any(slugs))
        .select(Institution::as_select())
        .load(conn)
}

pub fn list(conn: &mut Conn) -> QueryResult<Vec<Institution>> {
    institutions::table
        .order(institutions::slug.asc())
        .select(Institution::as_select())
        .load(conn)
}
