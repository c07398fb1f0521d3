//! Connection pool and embedded migrations.

use diesel::connection::{Connection, InstrumentationEvent};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2d2Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The migrations under `migrations/postgres`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

pub type Conn = PgConnection;
pub type Pool = R2d2Pool<ConnectionManager<PgConnection>>;

/// Builds a pool without opening connections eagerly, so a server can start (and answer
/// `/readyz` with 503) while the database is still coming up.
pub fn connect(database_url: &str, max_size: u32) -> Pool {
    connect_counted(database_url, max_size, Arc::new(AtomicU64::new(0)))
}

/// As [`connect`], and every statement a pooled connection runs (transaction control
/// included) adds one to `queries`.
pub fn connect_counted(database_url: &str, max_size: u32, queries: Arc<AtomicU64>) -> Pool {
    R2d2Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .connection_customizer(Box::new(QueryCounter(queries)))
        .build_unchecked(ConnectionManager::new(database_url))
}

/// Installs, on each new pooled connection, an instrumentation counting finished queries.
#[derive(Debug)]
struct QueryCounter(Arc<AtomicU64>);

impl CustomizeConnection<Conn, diesel::r2d2::Error> for QueryCounter {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        let queries = self.0.clone();
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
    let applied = conn.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// A connection checked out of the pool.
pub type PooledConn = diesel::r2d2::PooledConnection<ConnectionManager<PgConnection>>;
