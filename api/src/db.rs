//! Runs blocking diesel work off the async executor, within the caller's share of the pool.
//!
//! One GraphQL operation resolves sibling fields concurrently, so a document of hundreds of
//! aliased fields would otherwise take every pooled connection at once and leave 503s for
//! everyone else. An operation therefore runs inside a [`Budget`] ([`scoped`]): at most
//! [`Budget::CONNECTIONS`] of its database calls at a time, at most
//! [`Budget::STATEMENTS`] calls in all, and at most [`Budget::SCANS`] calls that may read a
//! whole dataset (counts, payload-filtered pages: [`scan`]). Work outside a budget (REST
//! handlers, which make their calls one after another) is unaffected. Every statement also
//! has the pool's statement timeout (`CIVICPROOF_DB_STATEMENT_TIMEOUT_MS`).

use crate::error::{ApiError, ApiResult};
use civicproof_schema::{Conn, Pool};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// What one operation may still ask of the database.
#[derive(Debug)]
pub struct Budget {
    slots: Arc<Semaphore>,
    statements: AtomicUsize,
    scans: AtomicUsize,
}

impl Budget {
    /// Database calls of one operation in flight at once.
    pub const CONNECTIONS: usize = 2;
    /// Database calls of one operation in all.
    pub const STATEMENTS: usize = 500;
    /// Calls that may read a whole dataset (counts, payload filters) per operation.
    pub const SCANS: usize = 10;

    fn new() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(Self::CONNECTIONS)),
            statements: AtomicUsize::new(0),
            scans: AtomicUsize::new(0),
        }
    }
}

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

/// Runs `fut` (one GraphQL operation) under a fresh [`Budget`].
pub async fn scoped<F: std::future::Future>(fut: F) -> F::Output {
    BUDGET.scope(Arc::new(Budget::new()), fut).await
}

/// Counts one call that may read a whole dataset; fails once the operation has used
/// [`Budget::SCANS`] of them.
pub fn scan() -> ApiResult<()> {
    BUDGET
        .try_with(|b| {
            if b.scans.fetch_add(1, Ordering::Relaxed) >= Budget::SCANS {
                Err(too_costly(format!(
                    "at most {} counts or payload-filtered reads",
                    Budget::SCANS
                )))
            } else {
                Ok(())
            }
        })
        .unwrap_or(Ok(()))
}

fn too_costly(what: String) -> ApiError {
    ApiError::BadRequest(format!(
        "This operation asks too much of the database: {what} per operation. Split it."
    ))
}

/// A connection slot of the current operation's budget, held around its database call.
async fn slot() -> ApiResult<Option<tokio::sync::OwnedSemaphorePermit>> {
    let Ok(budget) = BUDGET.try_with(Arc::clone) else {
        return Ok(None);
    };
    if budget.statements.fetch_add(1, Ordering::Relaxed) >= Budget::STATEMENTS {
        return Err(too_costly(format!(
            "at most {} database calls",
            Budget::STATEMENTS
        )));
    }
    let permit = budget
        .slots
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    Ok(Some(permit))
}

/// Checks a connection out of the pool and runs `f` on a blocking thread. Pool exhaustion
/// or a database that is down answers 503; `f`'s own errors pass through.
pub async fn run<T, F>(pool: &Pool, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut Conn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let _slot = slot().await?;
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Like [`run`], inside one transaction that commits only when `f` succeeds.
pub async fn transaction<T, F>(pool: &Pool, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut Conn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| civicproof_schema::transaction(conn, f)).await
}
