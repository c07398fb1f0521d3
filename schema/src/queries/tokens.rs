use crate::Conn;
use crate::models::{NewToken, Token};
use crate::schema::tokens;
use diesel::prelude::*;
use uuid::Uuid;

pub fn insert(conn: &mut Conn, new: &NewToken<'_>) -> QueryResult<Token> {
    // Column by column rather than the Insertable struct: diesel's shared backend inserts
    // struct fields only when every backend has the column type natively, and SQLite has no
    // timestamptz or uuid.
    diesel::insert_into(tokens::table)
        .values((
            tokens::id.eq(new.id),
            tokens::token_hash.eq(new.token_hash),
            tokens::role.eq(new.role),
            tokens::institution_id.eq(new.institution_id),
            tokens::label.eq(new.label),
        ))
        .returning(<Token as Selectable<crate::MultiBackend>>::construct_selection())
        .get_result(conn)
}

/// The unrevoked token with this hash, if any.
pub fn active_by_hash(conn: &mut Conn, hash: &[u8]) -> QueryResult<Option<Token>> {
    tokens::table
        .filter(tokens::token_hash.eq(hash))
        .filter(tokens::revoked_at.is_null())
        .select(Token::as_select())
        .first(conn)
        .optional()
}

/// An institution's tokens, newest first; `role` narrows the list (publishers see readers).
pub fn list_for_institution(
    conn: &mut Conn,
    institution_id: i64,
    role: Option<&str>,
) -> QueryResult<Vec<Token>> {
    let mut q = tokens::table
        .filter(tokens::institution_id.eq(institution_id))
        .into_boxed();
    if let Some(role) = role {
        q = q.filter(tokens::role.eq(role.to_owned()));
    }
    q.order((tokens::created_at.desc(), tokens::id.asc()))
        .select(Token::as_select())
        .load(conn)
}

pub fn by_id(conn: &mut Conn, institution_id: i64, id: Uuid) -> QueryResult<Option<Token>> {
    tokens::table
        .filter(tokens::id.eq(id))
        .filter(tokens::institution_id.eq(institution_id))
        .select(Token::as_select())
        .first(conn)
        .optional()
}

/// Marks a token revoked (idempotent: an already revoked token keeps its first time).
pub fn revoke(conn: &mut Conn, id: Uuid) -> QueryResult<Token> {
    diesel::update(
        tokens::table
            .filter(tokens::id.eq(id))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(Some(chrono::Utc::now())))
    .returning(<Token as Selectable<crate::MultiBackend>>::construct_selection())
    .get_result(conn)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => tokens::table
            .filter(tokens::id.eq(id))
            .select(Token::as_select())
            .first(conn),
        other => Err(other),
    })
}

/// The admin tokens (`civicproof admin issue-admin-token`), newest first.
pub fn list_admin(conn: &mut Conn) -> QueryResult<Vec<Token>> {
    tokens::table
        .filter(tokens::institution_id.is_null())
        .order((tokens::created_at.desc(), tokens::id.asc()))
        .select(Token::as_select())
        .load(conn)
}

/// An admin token by id.
pub fn admin_by_id(conn: &mut Conn, id: Uuid) -> QueryResult<Option<Token>> {
    tokens::table
        .filter(tokens::id.eq(id))
        .filter(tokens::institution_id.is_null())
        .select(Token::as_select())
        .first(conn)
        .optional()
}

/// Revokes a token and records the revocation in the invalidation outbox, in one
/// transaction, so that every server closes the token's streams and sockets.
pub fn revoke_and_announce(conn: &mut Conn, id: Uuid) -> QueryResult<Token> {
    crate::tx::transaction(conn, |conn| {
        let token = revoke(conn, id)?;
        crate::queries::invalidations::record_revocation(conn, id)?;
        Ok(token)
    })
}
