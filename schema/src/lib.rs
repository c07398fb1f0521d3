//! civicproof's database layer.
//!
//! Everything that speaks SQL lives here, so that the HTTP and GraphQL layers above never
//! build queries themselves and a second backend (SQLite, for the embedded mode) fits behind
//! the same functions. The crate knows nothing of actix, GraphQL or problem documents: its
//! errors are diesel's, classified by [`is_unique_violation`] where callers care.

pub mod conn;
pub mod domain;
pub mod exit_safety;
mod locks;
pub mod models;
mod multi_types;
pub mod pool;
pub mod queries;
pub mod schema;
pub mod tx;

pub use conn::{AnyConnection, Backend, MultiBackend};
pub use domain::{Access, EntryKind, Role};
pub use pool::{Conn, DbTarget, Pool, connect, connect_counted, establish, run_migrations};
pub use tx::transaction;

/// `INSERT … ON CONFLICT DO NOTHING` on every backend: `insert` runs in a savepoint (or its
/// own transaction) and a unique violation counts as nothing inserted. Returns the rows
/// inserted.
pub(crate) fn insert_unless_conflict(
    conn: &mut Conn,
    insert: impl FnOnce(&mut Conn) -> diesel::QueryResult<usize>,
) -> diesel::QueryResult<usize> {
    match crate::tx::transaction(conn, insert) {
        Err(e) if is_unique_violation(&e) => Ok(0),
        other => other,
    }
}

/// True when a diesel error is a unique-constraint violation (a slug or key taken).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
