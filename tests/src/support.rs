//! The test harness. Helpers read like the API they exercise.

use civicproof_api::Config;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The PostgreSQL server tests use; each test gets its own database on it.
fn server_url() -> String {
    std::env::var("CIVICPROOF_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn database_url(name: &str) -> String {
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

fn uuid_like() -> String {
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

/// A running server with its own database.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub client: Client,
    /// The configuration the server runs with (restarts reuse it).
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Set when the server is a `civicproof serve` process of its own (see [`Self::replica`]).
    process: Option<ServerProcess>,
    _dir: TempDir,
}

/// A test that ends without `stop()` still stops its server and waits until it has drained.
/// Without this the server's worker threads drop their database connections while the test
/// process exits, and libpq's teardown racing the process's exit handlers aborted a passing test
/// with "double free or corruption".
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take()
            && let Err(e) = p.stop()
            && !std::thread::panicking()
        {
            panic!("{e}");
        }
        let Some(task) = self.task.take() else {
            return;
        };
        // Close this client's keep-alive connections so the drain does not wait for them.
        self.client = Client::new();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        tokio::task::block_in_place(|| {
            let _ = handle.block_on(tokio::time::timeout(
                std::time::Duration::from_secs(20),
                task,
            ));
        });
    }
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server; `tweak` may change the configuration (limits, for example).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let app = Self::spawn_unready(tweak).await;
        app.wait_ready().await;
        app
    }

    /// Starts a server and waits only until it answers `/healthz` (its database may be down).
    pub async fn spawn_unready(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = tokio::task::spawn_blocking(TestDb::new).await.unwrap();
        let dir = std::env::temp_dir().join(format!("civicproof-test-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::for_database(db.url.clone());
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.log_key_file = dir.join("log.key");
        config.origin_prefix = "test.civicproof.example".into();
        tweak(&mut config);
        Self::start(db, TempDir(dir), config).await
    }

    async fn start(db: TestDb, dir: TempDir, config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(civicproof_api::run(listener, config.clone(), async {
            let _ = rx.await;
        }));
        let app = Self {
            base,
            db,
            client: Client::builder().build().unwrap(),
            config,
            shutdown: Some(tx),
            task: Some(task),
            process: None,
            _dir: dir,
        };
        app.wait_healthy().await;
        app
    }

    /// Starts `config` as a `civicproof serve` process of its own, on `db`.
    async fn start_process(db: TestDb, config: Config) -> Self {
        let process = ServerProcess::start(&config);
        let app = Self {
            base: process.base.clone(),
            db,
            client: Client::builder().build().unwrap(),
            config,
            shutdown: None,
            task: None,
            process: Some(process),
            _dir: TempDir(PathBuf::new()),
        };
        app.wait_healthy().await;
        app
    }

    async fn wait_healthy(&self) {
        for _ in 0..500 {
            if self.client.get(self.url("/healthz")).send().await.is_ok() {
                return;
            }
            if let Some(p) = &self.process {
                p.check_running();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server did not start");
    }

    /// Stops the server and starts a new one on the same database, key file and configuration.
    pub async fn restart(mut self) -> Self {
        self.shutdown_and_wait().await;
        let db = std::mem::replace(
            &mut self.db,
            TestDb {
                name: String::new(),
                url: String::new(),
            },
        );
        let dir = std::mem::replace(&mut self._dir, TempDir(PathBuf::new()));
        let app = Self::start(db, dir, self.config.clone()).await;
        app.wait_ready().await;
        app
    }

    /// A second server on the same database, key file and configuration (a replica): a
    /// `civicproof serve` OS process of its own, sharing nothing with this one but PostgreSQL
    /// (and Redis, when configured). Dropping it stops the process and leaves the database alone.
    pub async fn replica(&self) -> Self {
        self.replica_with(|_| {}).await
    }

    /// A replica with a changed configuration (e.g. without caches), on the same database.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb {
            name: String::new(),
            url: self.db.url.clone(),
        };
        let mut config = self.config.clone();
        tweak(&mut config);
        let app = Self::start_process(db, config).await;
        app.wait_ready().await;
        app
    }

    /// A server as a `civicproof serve` OS process of its own, with its own database (fault
    /// tests kill it with SIGKILL and start it again).
    pub async fn spawn_process_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = tokio::task::spawn_blocking(TestDb::new).await.unwrap();
        Self::spawn_process_on(db, tweak).await
    }

    /// As [`Self::spawn_process_with`], on a given database (e.g. of a [`PgCluster`]).
    pub async fn spawn_process_on(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = std::env::temp_dir().join(format!("civicproof-test-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::for_database(db.url.clone());
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.log_key_file = dir.join("log.key");
        config.origin_prefix = "test.civicproof.example".into();
        config.migrate = true;
        tweak(&mut config);
        let mut app = Self::start_process(db, config).await;
        app._dir = TempDir(dir);
        app.wait_ready().await;
        app
    }

    /// SIGKILL to the server process (no drain, nothing flushed): a crash.
    pub fn kill9(&mut self) {
        let p = self.process.as_mut().expect("a server process");
        let _ = p.child.kill();
        let _ = p.child.wait();
    }

    /// Starts the server process again (after [`Self::kill9`]) on the same port with the
    /// same configuration, and waits until it answers `/healthz`.
    pub async fn start_again(&mut self) {
        let port: u16 = self
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the base URL");
        self.process = Some(ServerProcess::start_on(&self.config, port));
        self.client = Client::builder().build().unwrap();
        self.wait_healthy().await;
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("a server process").child.id()
    }

    /// What starting a server with this configuration (on this database) says: the state
    /// checks identity before anything is served.
    pub async fn try_start_with(&self, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<()> {
        let mut config = self.config.clone();
        tweak(&mut config);
        tokio::task::spawn_blocking(move || {
            civicproof_api::build_state(config, "127.0.0.1:0".parse().unwrap()).map(|_| ())
        })
        .await
        .unwrap()
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        self.shutdown_and_wait().await;
    }

    async fn shutdown_and_wait(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some(mut p) = self.process.take() {
            tokio::task::spawn_blocking(move || p.stop())
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// The Prometheus text of `/metrics` (with the admin token).
    pub async fn metrics_text(&self) -> String {
        self.get("/metrics", Some(ADMIN_TOKEN))
            .await
            .text()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    /// The JSON body of a GET (whatever the status).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token).await.json().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POST with an exact body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.request(Method::POST, path, token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates an institution as admin.
    pub async fn institution(&self, slug: &str) {
        let r = self
            .post_json(
                "/v1/institutions",
                Some(ADMIN_TOKEN),
                &json!({"slug": slug, "name": format!("{slug} city office")}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Issues a token of `role` for `inst` as admin and returns it.
    pub async fn token(&self, inst: &str, role: &str) -> String {
        let r = self
            .post_json(
                &format!("/v1/institutions/{inst}/tokens"),
                Some(ADMIN_TOKEN),
                &json!({"role": role}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a dataset with `token`; `extra` members are merged into the body.
    pub async fn dataset(&self, token: &str, slug: &str, access: &str, extra: Value) -> Value {
        let mut body = json!({
            "slug": slug, "title": format!("Dataset {slug}"), "description": "Test data",
            "license": "CC-BY-4.0", "access": access,
        });
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        let r = self.post_json("/v1/datasets", Some(token), &body).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// Publishes a JSON batch and returns the response.
    pub async fn publish(&self, token: &str, inst: &str, ds: &str, records: &Value) -> Response {
        self.post_json(
            &format!("/v1/datasets/{inst}/{ds}/records"),
            Some(token),
            records,
        )
        .await
    }

    /// Publishes and asserts 201; returns the entries.
    pub async fn publish_ok(
        &self,
        token: &str,
        inst: &str,
        ds: &str,
        records: &Value,
    ) -> Vec<Value> {
        let r = self.publish(token, inst, ds, records).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json::<Value>().await.unwrap()["entries"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Number of entries stored for a dataset (any kind).
    pub fn entry_count(&self, ds: &str) -> i64 {
        self.db.count(&format!(
            "SELECT count(*) FROM entries e JOIN datasets d ON d.id = e.dataset_id WHERE d.slug = '{ds}'"
        ))
    }
}

/// A city with two institutions, their tokens and datasets, for authorization tests.
pub struct World {
    pub app: TestApp,
    pub publisher: String,
    pub reader: String,
    pub other_publisher: String,
    pub other_reader: String,
}

impl World {
    /// Institution `city` with public dataset `air` and restricted dataset `cards`;
    /// institution `other` with its own tokens.
    pub async fn new() -> Self {
        let app = TestApp::spawn().await;
        app.institution("city").await;
        app.institution("other").await;
        let publisher = app.token("city", "publisher").await;
        let reader = app.token("city", "reader").await;
        let other_publisher = app.token("other", "publisher").await;
        let other_reader = app.token("other", "reader").await;
        app.dataset(
            &publisher,
            "air",
            "public",
            json!({"themes": ["ENVI"], "keywords": ["pm10"]}),
        )
        .await;
        app.dataset(&publisher, "cards", "restricted", json!({}))
            .await;
        app.publish_ok(
            &publisher,
            "city",
            "air",
            &json!([{"key": "s1", "payload": {"pm10": 17.2}}]),
        )
        .await;
        app.publish_ok(
            &publisher,
            "city",
            "cards",
            &json!([{"key": "c1", "payload": {"topups": 3}}]),
        )
        .await;
        Self {
            app,
            publisher,
            reader,
            other_publisher,
            other_reader,
        }
    }
}

/// Asserts an RFC 9457 problem with this status and code; returns the body.
pub async fn assert_problem(r: Response, status: u16, code: &str) -> Value {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "status; body {body}");
    assert_eq!(ct, "application/problem+json", "content type; body {body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://civicproof.org/problems/{code}"),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// SHA-256 helper for independent computations.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The trust a client pins from `/.well-known/civicproof.json`.
pub async fn pinned_trust(app: &TestApp) -> civicproof_verify::bundle::Trust {
    use base64::Engine;
    let wk: Value = app.get_json("/.well-known/civicproof.json", None).await;
    let key = base64::engine::general_purpose::STANDARD
        .decode(wk["log_public_key"].as_str().unwrap())
        .unwrap();
    civicproof_verify::bundle::Trust {
        prefix: wk["origin_prefix"].as_str().unwrap().to_owned(),
        public_key: key.try_into().unwrap(),
    }
}

/// A redis-server of a test's own on a free port, stopped when dropped. It can be killed
/// and started again on the same port (outage tests).
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self { port, child: None };
        server.resume().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the process (again) and waits until it answers.
    pub async fn resume(&mut self) {
        let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("redis-server");
        let child = std::process::Command::new(bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (apt package redis-server)");
        self.child = Some(child);
        for _ in 0..100 {
            if self.ping().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start");
    }

    /// Kills the process (SIGKILL: an outage, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").await.is_ok()
            && matches!(s.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"+PONG"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP forwarder to a local port that can be cut (every connection dropped, new ones
/// refused) and restored: a network partition between one process and a service.
pub struct TcpCut {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpCut {
    pub async fn start(upstream_port: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, list) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut up) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            cut,
            conns,
            accept,
        }
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Drops every connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// A Server-Sent Events client over a streaming response.
pub struct Sse {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: Vec<u8>,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl Sse {
    /// Opens `path` with these extra headers and checks the response head.
    pub async fn open(
        app: &TestApp,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Self {
        let mut rb = app.request(Method::GET, path, token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let mut sse = Self {
            stream: Box::pin(r.bytes_stream()),
            buf: Vec::new(),
            comments: 0,
        };
        // The preamble (`retry:` and a comment) says the stream is live: entries appended
        // from now on are delivered.
        sse.wait_for_comment().await;
        sse
    }

    async fn fill(&mut self) -> Option<()> {
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            futures_util::StreamExt::next(&mut self.stream),
        )
        .await
        .expect("an event within 30 s")?
        .ok()?;
        self.buf.extend_from_slice(&chunk);
        Some(())
    }

    /// The next raw block (up to a blank line), or `None` at the end of the stream.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Some(String::from_utf8(block[..i].to_vec()).unwrap());
            }
            self.fill().await?;
        }
    }

    async fn wait_for_comment(&mut self) {
        loop {
            let b = self.block().await.expect("stream open");
            if b.lines().any(|l| l.starts_with(':')) {
                self.comments += 1;
                return;
            }
        }
    }

    /// The next event (skipping comments and `retry:`), or `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let block = self.block().await?;
            let mut ev = SseEvent {
                id: None,
                event: None,
                data: String::new(),
            };
            let mut any = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                    continue;
                }
                let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                match field {
                    "id" => {
                        ev.id = Some(value.to_owned());
                        any = true
                    }
                    "event" => {
                        ev.event = Some(value.to_owned());
                        any = true
                    }
                    "data" => {
                        ev.data.push_str(value);
                        any = true
                    }
                    _ => {}
                }
            }
            if any {
                return Some(ev);
            }
        }
    }

    /// The next `n` entries as (seq, record as read), asserting the event format.
    pub async fn entries(&mut self, n: usize) -> Vec<(u64, Value)> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let ev = self.next().await.expect("stream open");
            assert_eq!(ev.event.as_deref(), Some("entry"), "{ev:?}");
            let seq: u64 = ev.id.as_deref().unwrap().parse().unwrap();
            out.push((seq, serde_json::from_str(&ev.data).unwrap()));
        }
        out
    }
}

/// A `civicproof serve` OS process (the binary `./run test` builds before the suite), started
/// from a [`Config`] rendered into its environment. Nothing is inherited from this process's
/// environment, so a `DATABASE_URL` or `REDIS_URL` set around the test run cannot leak in.
pub struct ServerProcess {
    child: std::process::Child,
    pub base: String,
    log: PathBuf,
}

/// The `civicproof` binary as a command (operator commands run against a test's database).
pub fn civicproof_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(ServerProcess::binary());
    cmd.env_clear().env("NO_COLOR", "1").env("RUST_LOG", "warn");
    cmd
}

impl ServerProcess {
    fn binary() -> PathBuf {
        if let Some(p) = std::env::var_os("CIVICPROOF_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .unwrap()
            .join("civicproof");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p civicproof-api --bin civicproof` (./run test does)",
            bin.display()
        );
        bin
    }

    fn start(config: &Config) -> Self {
        // A free port: bound, released, then handed to the child (which binds it at once).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(config, port)
    }

    fn start_on(config: &Config, port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("civicproof-replica-{}.log", uuid_like()));
        let mut cmd = std::process::Command::new(Self::binary());
        cmd.arg("serve")
            .env_clear()
            .envs(config_env(config))
            .env("CIVICPROOF_BIND", format!("127.0.0.1:{port}"))
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("starting civicproof serve");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Panics with the process's log if it has exited.
    fn check_running(&self) {
        // `try_wait` needs `&mut`; `/proc` says the same without reaping.
        let status =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let state = status
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z') | Some('X')) {
            panic!(
                "civicproof serve exited:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// SIGTERM, then waits for the drain (SIGKILL after 20 s); the log goes when it exited 0.
    fn stop(&mut self) -> Result<(), String> {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    let _ = std::fs::remove_file(&self.log);
                    return Ok(());
                }
                Ok(Some(status)) => {
                    return Err(format!(
                        "civicproof serve exited with {status}:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    ));
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("civicproof serve did not drain within 20 s".into());
                }
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment that makes `civicproof serve` run with `config` (API.md's operating
/// table). Every field is named, so a new setting fails to compile here until it is passed on.
fn config_env(config: &Config) -> Vec<(&'static str, String)> {
    use civicproof_api::cluster::config::{ClusterConfig, FailMode, RateSpec};
    let Config {
        bind: _,
        database_url,
        db_pool_size,
        db_statement_timeout_ms,
        admin_token,
        origin_prefix,
        public_url,
        log_key_file,
        checkpoint_interval_ms,
        metrics_bind,
        migrate,
        trusted_proxies,
        limits,
        anchor,
        cluster,
    } = config;
    let civicproof_api::config::Limits {
        max_body_bytes,
        max_payload_bytes,
        max_batch_records,
        max_page_size,
        max_schema_bytes,
    } = limits;
    let civicproof_api::anchor::settings::AnchorSettings {
        rpc_url,
        chain_id,
        contract,
        deploy,
        key_file,
        key,
        interval_ms,
        fee_bump_secs,
        confirmations,
    } = anchor;
    let ClusterConfig {
        redis_url,
        rate_limit_admin,
        rate_limit_publisher,
        rate_limit_reader,
        rate_limit_anonymous,
        rate_limit_fail,
        bundle_cache_entries,
        bundle_cache_ttl_secs,
        feed_cache_bytes,
        sse_heartbeat_ms,
        max_streams_per_client,
    } = cluster;
    let rate = |r: &RateSpec| match r {
        RateSpec::Off => "off".to_owned(),
        RateSpec::Limit { count, window } => {
            let unit = match window.as_secs() {
                1 => "s",
                60 => "m",
                3600 => "h",
                other => panic!("no rate unit for a {other} s window"),
            };
            format!("{count}/{unit}")
        }
    };
    let mut env = vec![
        ("DATABASE_URL", database_url.clone()),
        ("CIVICPROOF_DB_POOL_SIZE", db_pool_size.to_string()),
        (
            "CIVICPROOF_DB_STATEMENT_TIMEOUT_MS",
            db_statement_timeout_ms.to_string(),
        ),
        ("CIVICPROOF_ORIGIN_PREFIX", origin_prefix.clone()),
        (
            "CIVICPROOF_LOG_KEY_FILE",
            log_key_file.to_string_lossy().into_owned(),
        ),
        (
            "CIVICPROOF_CHECKPOINT_INTERVAL_MS",
            checkpoint_interval_ms.to_string(),
        ),
        ("CIVICPROOF_MIGRATE", migrate.to_string()),
        ("CIVICPROOF_MAX_BODY_BYTES", max_body_bytes.to_string()),
        (
            "CIVICPROOF_MAX_PAYLOAD_BYTES",
            max_payload_bytes.to_string(),
        ),
        (
            "CIVICPROOF_MAX_BATCH_RECORDS",
            max_batch_records.to_string(),
        ),
        ("CIVICPROOF_MAX_PAGE_SIZE", max_page_size.to_string()),
        ("CIVICPROOF_MAX_SCHEMA_BYTES", max_schema_bytes.to_string()),
        ("CIVICPROOF_ANCHOR_DEPLOY", deploy.to_string()),
        ("CIVICPROOF_ANCHOR_INTERVAL_MS", interval_ms.to_string()),
        ("CIVICPROOF_ANCHOR_FEE_BUMP_SECS", fee_bump_secs.to_string()),
        ("CIVICPROOF_RATE_LIMIT_ADMIN", rate(rate_limit_admin)),
        (
            "CIVICPROOF_RATE_LIMIT_PUBLISHER",
            rate(rate_limit_publisher),
        ),
        ("CIVICPROOF_RATE_LIMIT_READER", rate(rate_limit_reader)),
        (
            "CIVICPROOF_RATE_LIMIT_ANONYMOUS",
            rate(rate_limit_anonymous),
        ),
        (
            "CIVICPROOF_RATE_LIMIT_FAIL",
            match rate_limit_fail {
                FailMode::Open => "open",
                FailMode::Closed => "closed",
            }
            .to_owned(),
        ),
        (
            "CIVICPROOF_BUNDLE_CACHE_ENTRIES",
            bundle_cache_entries.to_string(),
        ),
        (
            "CIVICPROOF_BUNDLE_CACHE_TTL_SECS",
            bundle_cache_ttl_secs.to_string(),
        ),
        ("CIVICPROOF_FEED_CACHE_BYTES", feed_cache_bytes.to_string()),
        ("CIVICPROOF_SSE_HEARTBEAT_MS", sse_heartbeat_ms.to_string()),
        (
            "CIVICPROOF_MAX_STREAMS_PER_CLIENT",
            max_streams_per_client.to_string(),
        ),
    ];
    let optional = [
        ("CIVICPROOF_ADMIN_TOKEN", admin_token.clone()),
        ("CIVICPROOF_PUBLIC_URL", public_url.clone()),
        (
            "CIVICPROOF_METRICS_BIND",
            metrics_bind.map(|a| a.to_string()),
        ),
        (
            "CIVICPROOF_TRUSTED_PROXIES",
            (!trusted_proxies.is_empty()).then(|| {
                trusted_proxies
                    .iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ),
        ("CIVICPROOF_CHAIN_RPC_URL", rpc_url.clone()),
        ("CIVICPROOF_CHAIN_ID", chain_id.map(|c| c.to_string())),
        ("CIVICPROOF_ANCHOR_CONTRACT", contract.clone()),
        (
            "CIVICPROOF_ANCHOR_KEY_FILE",
            key_file.as_ref().map(|p| p.to_string_lossy().into_owned()),
        ),
        ("CIVICPROOF_ANCHOR_KEY", key.clone()),
        (
            "CIVICPROOF_ANCHOR_CONFIRMATIONS",
            confirmations.map(|c| c.to_string()),
        ),
        ("REDIS_URL", redis_url.clone()),
    ];
    env.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    env
}

/// A PostgreSQL server of a test's own: `initdb` into a temporary directory, on a free port,
/// so a fault test can stop and restart PostgreSQL without touching the shared server.
/// (As root, PostgreSQL's tools run as the `postgres` user.)
pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (apt package postgresql)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("civicproof-pg-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = Self { port, dir, bin };
        cluster.chown();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn chown(&self) {
        if is_root() {
            let _ = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres", &self.dir.to_string_lossy()])
                .status();
        }
    }

    fn tool(&self, name: &str, args: &[&str]) {
        let exe = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("running a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{name} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts (or restarts after [`Self::stop`]) the server and waits until it accepts.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server: `immediate` is a crash (no checkpoint), else a fast shutdown.
    pub fn stop(&self, immediate: bool) {
        let mode = if immediate { "immediate" } else { "fast" };
        self.tool("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, migrated database on this server (dropped with the cluster).
    pub fn database(&self, name: &str) -> TestDb {
        let mut admin = PgConnection::establish(&self.url("postgres")).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        let url = self.url(name);
        let mut conn = civicproof_schema::establish(&url).unwrap();
        civicproof_schema::run_migrations(&mut conn).unwrap();
        TestDb {
            name: String::new(),
            url,
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Resident memory of a process in KiB (from `/proc`), 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
