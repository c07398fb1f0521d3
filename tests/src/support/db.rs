//! Databases of a test's own: cloned from a migrated template on PostgreSQL, a migrated
//! file on SQLite; the backend the suite runs on.

use diesel::{Connection, PgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The PostgreSQL server tests use; each test gets its own database on it.
fn server_url() -> String {
    std::env::var("CIVICPROOF_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn database_url(name: &str) -> String {
    // Before this process's first PostgreSQL connection (see civicproof_schema::exit_safety).
    civicproof_schema::exit_safety::disarm_openssl_atexit();
    format!("{}/{name}", server_url().trim_end_matches('/'))
}

/// The template's name changes with the migrations, so a stale template is never reused.
fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
        let mut files: Vec<PathBuf> = walk(&dir);
        files.sort();
        let mut h = Sha256::new();
        for f in files {
            h.update(f.strip_prefix(&dir).unwrap().to_string_lossy().as_bytes());
            h.update(std::fs::read(&f).unwrap());
        }
        format!("civicproof_tpl_{}", &hex::encode(h.finalize())[..12])
    })
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

/// Creates the migrated template once per migration set (under an advisory lock, since
/// nextest runs tests in parallel processes).
fn ensure_template(admin: &mut PgConnection) {
    let tpl = template_name();
    diesel::sql_query("SELECT pg_advisory_lock(4242001)")
        .execute(admin)
        .unwrap();
    let exists: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{tpl}'"
    ))
    .get_result(admin)
    .unwrap();
    if exists == 0 {
        let building = format!("{tpl}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(admin)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {building}"))
            .execute(admin)
            .unwrap();
        {
            let mut conn = civicproof_schema::establish(&database_url(&building)).unwrap();
            civicproof_schema::run_migrations(&mut conn).unwrap();
        }
        diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {tpl}"))
            .execute(admin)
            .unwrap();
    }
    diesel::sql_query("SELECT pg_advisory_unlock(4242001)")
        .execute(admin)
        .unwrap();
}

/// The backend the suite runs against: `CIVICPROOF_TEST_BACKEND=sqlite` for the embedded
/// mode's SQLite, PostgreSQL otherwise. `./run test` runs the suite once on each.
pub fn backend() -> civicproof_schema::Backend {
    static BACKEND: OnceLock<civicproof_schema::Backend> = OnceLock::new();
    *BACKEND.get_or_init(
        || match std::env::var("CIVICPROOF_TEST_BACKEND").as_deref() {
            Ok("sqlite") => civicproof_schema::Backend::Sqlite,
            Ok("postgres") | Err(_) => civicproof_schema::Backend::Postgres,
            Ok(other) => panic!("CIVICPROOF_TEST_BACKEND={other:?}: use postgres or sqlite"),
        },
    )
}

/// For a test of one backend's own behaviour: fails loudly when run on the other, so it can
/// never pass by not running (the other pass excludes it by name).
pub fn require_backend(wanted: civicproof_schema::Backend) {
    assert_eq!(
        backend(),
        wanted,
        "this test is for {wanted:?} only (CIVICPROOF_TEST_BACKEND)"
    );
}

/// A database of its own for one test, dropped when the test ends: a database cloned from
/// the migrated template on PostgreSQL, a migrated file in a directory of its own on SQLite.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    pub fn new() -> Self {
        match backend() {
            civicproof_schema::Backend::Postgres => Self::new_postgres(),
            civicproof_schema::Backend::Sqlite => Self::new_sqlite(),
        }
    }

    fn new_sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("civicproof-test-db-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = dir.join("civicproof.db").to_string_lossy().into_owned();
        let mut conn = civicproof_schema::establish(&url).expect("SQLite opens");
        civicproof_schema::run_migrations(&mut conn).unwrap();
        Self {
            name: dir.to_string_lossy().into_owned(),
            url,
        }
    }

    fn new_postgres() -> Self {
        let mut admin =
            PgConnection::establish(&database_url("postgres")).expect("PostgreSQL is reachable");
        ensure_template(&mut admin);
        let name = format!("civicproof_test_{}", uuid_like());
        let mut attempts = 0;
        loop {
            match diesel::sql_query(format!(
                "CREATE DATABASE {name} TEMPLATE {}",
                template_name()
            ))
            .execute(&mut admin)
            {
                Ok(_) => break,
                // Another process may be cloning the template at this instant.
                Err(_) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("cannot clone the template: {e}"),
            }
        }
        Self {
            url: database_url(&name),
            name,
        }
    }

    pub fn conn(&self) -> civicproof_schema::Conn {
        civicproof_schema::establish(&self.url).unwrap()
    }

    /// A byte-string literal in this backend's SQL.
    pub fn blob(&self, bytes: &[u8]) -> String {
        match backend() {
            civicproof_schema::Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
            civicproof_schema::Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        }
    }

    /// A timestamp literal, in the form both backends store and compare correctly.
    pub fn timestamp(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }

    /// Runs one SQL statement (for checks and tampering).
    pub fn execute(&self, sql: &str) -> usize {
        diesel::sql_query(sql).execute(&mut self.conn()).unwrap()
    }

    /// A single integer from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        diesel::dsl::sql::<diesel::sql_types::BigInt>(sql)
            .get_result(&mut self.conn())
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        if backend() == civicproof_schema::Backend::Sqlite {
            let _ = std::fs::remove_dir_all(&self.name);
            return;
        }
        if let Ok(mut admin) = PgConnection::establish(&database_url("postgres")) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

pub(crate) fn uuid_like() -> String {
    let mut b = [0u8; 8];
    getrandom(&mut b);
    hex::encode(b)
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(buf)
        .unwrap();
}
