//! Transactions that may write. On PostgreSQL a plain transaction: row locks
//! (`SELECT … FOR UPDATE`) serialise what must be serial. SQLite has no row locks, so its
//! write transactions start with `BEGIN IMMEDIATE`: the database's write lock is taken before
//! the first read, and a concurrent writer (in this process or another) waits for it under
//! `busy_timeout`. A deferred `BEGIN` would read first and then fail with SQLITE_BUSY when
//! another writer committed in between. Nested calls are savepoints on both backends.

use crate::conn::AnyConnection;
use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

/// Runs `f` in a write transaction that commits when `f` returns `Ok`.
pub fn transaction<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let AnyConnection::Sqlite(inner) = conn else {
        return conn.transaction(f);
    };
    if AnsiTransactionManager::transaction_manager_status_mut(inner)
        .transaction_depth()?
        .is_some()
    {
        return conn.transaction(f);
    }
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(value) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}
