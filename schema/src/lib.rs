//! civicproof's database layer.
//!
//! Everything that speaks SQL lives here, so that the HTTP and GraphQL layers above never
//! build queries themselves and a second backend (SQLite, for the embedded mode) fits behind
//! the same functions. The crate knows nothing of actix, GraphQL or problem documents: its
//! errors are diesel's, classified by [`is_unique_violation`] where callers care.

pub mod models;
pub mod pool;
pub mod queries;
pub mod schema;

pub use pool::{Conn, Pool, connect, connect_counted, run_migrations};

/// True when a diesel error is a unique-constraint violation (a slug or key taken).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
