//! One connection type for every backend. Query functions take `&mut Conn` and run on
//! either; the few statements that differ per backend `match` on the variant here in the
//! schema crate, so nothing above it ever asks which database it is on.

#![allow(missing_docs)]

/// A PostgreSQL or SQLite connection, behind diesel's `MultiConnection` (which generates
/// [`MultiBackend`], the backend every query function is typed against).
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pg(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}
