//! Process-wide locks for SQLite, which has no advisory locks: an exclusive OS file lock on
//! a file beside the database, held until the process exits.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

#[derive(QueryableByName)]
struct DatabaseFile {
    #[diesel(sql_type = diesel::sql_types::Text)]
    file: String,
}

/// Locks taken by this process, by lock file: taking one again answers true.
fn held() -> &'static Mutex<HashMap<PathBuf, File>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, File>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Takes `<database file>.<name>` exclusively for this process; false when another process
/// holds it.
pub fn try_file_lock(conn: &mut SqliteConnection, name: &str) -> QueryResult<bool> {
    let db: DatabaseFile =
        diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .get_result(conn)?;
    let path = PathBuf::from(format!("{}.{name}", db.file));
    let mut held = held().lock().expect("lock table");
    if held.contains_key(&path) {
        return Ok(true);
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    match file.try_lock() {
        Ok(()) => {
            held.insert(path, file);
            Ok(true)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(diesel::result::Error::QueryBuilderError(e.into()))
        }
    }
}
