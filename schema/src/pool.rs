//! Connection pool and embedded migrations.

use crate::conn::AnyConnection;
use diesel::connection::{Connection, InstrumentationEvent, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool as R2d2Pool, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{ConnectionError, ConnectionResult};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The migrations under `migrations/postgres` and `migrations/sqlite`, compiled into the
/// binary. Both sets carry the same versions.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

pub type Conn = AnyConnection;
pub type Pool = R2d2Pool<Manager>;

/// Where the data lives, read from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
    /// A SQLite database file: `sqlite://PATH`, `sqlite:PATH`, `file:PATH` or a bare path.
    Sqlite(PathBuf),
}

/// The SQLite file used when no database URL is configured (the embedded mode).
pub const DEFAULT_SQLITE_PATH: &str = "./civicproof-data/civicproof.db";

impl DbTarget {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(Self::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| url.strip_prefix("file:"))
            .unwrap_or(url);
        if path.contains("://") {
            return Err(format!(
                "the database URL must be postgres://…, postgresql://… or a SQLite file path \
                 (sqlite://PATH or PATH), not {:?}",
                url.split("://").next().unwrap_or_default()
            ));
        }
        if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
            return Err(
                "an in-memory SQLite database cannot be shared by the pool's \
                        connections: give a file path"
                    .into(),
            );
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

/// Opens a connection to the database at `url` (see [`DbTarget::parse`]).
pub fn establish(url: &str) -> ConnectionResult<Conn> {
    let target = DbTarget::parse(url).map_err(ConnectionError::BadConnection)?;
    establish_target(&target)
}

fn establish_target(target: &DbTarget) -> ConnectionResult<Conn> {
    match target {
        DbTarget::Postgres(url) => {
            crate::exit_safety::disarm_openssl_atexit();
            PgConnection::establish(url).map(AnyConnection::Pg)
        }
        DbTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ConnectionError::BadConnection(format!("creating {}: {e}", dir.display()))
                })?;
            }
            let text = path.to_str().ok_or_else(|| {
                ConnectionError::BadConnection(format!("{} is not UTF-8", path.display()))
            })?;
            let mut conn = SqliteConnection::establish(text)?;
            // busy_timeout first, so even the switch to WAL waits for other connections.
            // WAL: readers never block the writer or each other. foreign_keys: SQLite
            // checks references only when asked to. secure_delete: an erased payload's
            // bytes are overwritten with zeros, not left in free pages.
            conn.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA secure_delete = ON;",
            )
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
            casefold_utils::register_impl(&mut conn, |text: String| text.to_lowercase())
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// Unicode lowercasing for case-insensitive search on SQLite, whose `lower` and `LIKE`
    /// fold ASCII only (PostgreSQL's ILIKE folds all of Unicode).
    fn casefold(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The pool's connection manager. Not diesel's `ConnectionManager<AnyConnection>`: that one
/// tries each backend in turn, so a PostgreSQL URL whose server is down would fall through
/// to SQLite and create a file of that name instead of failing.
#[derive(Debug, Clone)]
pub struct Manager {
    target: DbTarget,
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        establish_target(&self.target).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        conn.ping()
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_broken()
    }
}

/// Connections a SQLite pool holds at most: readers run in parallel under WAL, writers one
/// at a time whatever the pool size.
const SQLITE_POOL_MAX: u32 = 8;

/// Builds a pool without opening connections eagerly, so a server can start (and answer
/// `/readyz` with 503) while the database is still coming up.
pub fn connect(database_url: &str, max_size: u32) -> Result<Pool, String> {
    connect_counted(database_url, max_size, Arc::new(AtomicU64::new(0)), None)
}

/// As [`connect`], and every statement a pooled connection runs (transaction control
/// included) adds one to `queries`. With `statement_timeout`, PostgreSQL cancels any
/// statement of a pooled connection that runs longer (lock waits included), so no request
/// holds a connection indefinitely.
pub fn connect_counted(
    database_url: &str,
    max_size: u32,
    queries: Arc<AtomicU64>,
    statement_timeout: Option<Duration>,
) -> Result<Pool, String> {
    let target = DbTarget::parse(database_url)?;
    let max_size = match target {
        DbTarget::Postgres(_) => max_size,
        DbTarget::Sqlite(_) => max_size.min(SQLITE_POOL_MAX),
    };
    Ok(R2d2Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .connection_customizer(Box::new(Session {
            queries,
            statement_timeout,
        }))
        .build_unchecked(Manager { target }))
}

/// Sets up each new pooled connection: the statement timeout, and an instrumentation
/// counting finished queries.
#[derive(Debug)]
struct Session {
    queries: Arc<AtomicU64>,
    statement_timeout: Option<Duration>,
}

impl CustomizeConnection<Conn, diesel::r2d2::Error> for Session {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        if let (Some(t), AnyConnection::Pg(pg)) = (self.statement_timeout, &mut *conn) {
            pg.batch_execute(&format!("SET statement_timeout = {}", t.as_millis()))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        let queries = self.queries.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::FinishQuery { .. }) {
                queries.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(())
    }
}

/// Applies pending migrations; returns the versions it applied.
pub fn run_migrations(
    conn: &mut Conn,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let applied = match conn {
        AnyConnection::Pg(conn) => conn.run_pending_migrations(MIGRATIONS)?,
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS)?,
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// A connection checked out of the pool.
pub type PooledConn = diesel::r2d2::PooledConnection<Manager>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_choose_the_backend() {
        let pg = "postgres://u@h:5432/db";
        assert_eq!(DbTarget::parse(pg), Ok(DbTarget::Postgres(pg.into())));
        let pg = "postgresql://h/db";
        assert_eq!(DbTarget::parse(pg), Ok(DbTarget::Postgres(pg.into())));
        for (url, path) in [
            ("", DEFAULT_SQLITE_PATH),
            ("sqlite:///var/lib/cp.db", "/var/lib/cp.db"),
            ("sqlite://data/cp.db", "data/cp.db"),
            ("sqlite:cp.db", "cp.db"),
            ("file:cp.db", "cp.db"),
            ("./civicproof-data/x.db", "./civicproof-data/x.db"),
        ] {
            assert_eq!(
                DbTarget::parse(url),
                Ok(DbTarget::Sqlite(path.into())),
                "{url}"
            );
        }
        assert!(DbTarget::parse("mysql://h/db").is_err());
        assert!(DbTarget::parse(":memory:").is_err());
        assert!(DbTarget::parse("sqlite::memory:").is_err());
    }
}
