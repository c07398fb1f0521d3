//! Runs blocking diesel work off the async executor.

use crate::error::{ApiError, ApiResult};
use civicproof_schema::{Conn, Pool};

/// Checks a connection out of the pool and runs `f` on a blocking thread. Pool exhaustion
/// or a database that is down answers 503; `f`'s own errors pass through.
pub async fn run<T, F>(pool: &Pool, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut Conn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
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
