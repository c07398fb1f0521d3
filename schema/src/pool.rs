//! Connection pool and embedded migrations.

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool as R2d2Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

/// The migrations under `migrations/postgres`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

pub type Conn = PgConnection;
pub type Pool = R2d2Pool<ConnectionManager<PgConnection>>;

/// Builds a pool without opening connections eagerly, so a server can start (and answer
/// `/readyz` with 503) while the database is still coming up.
pub fn connect(database_url: &str, max_size: u32) -> Pool {
    R2d2Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .build_unchecked(ConnectionManager::new(database_url))
}

/// Applies pending migrations; returns the versions it applied.
pub fn run_migrations(
    conn: &mut Conn,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let applied = conn.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// A connection checked out of the pool.
pub type PooledConn = diesel::r2d2::PooledConnection<ConnectionManager<PgConnection>>;
