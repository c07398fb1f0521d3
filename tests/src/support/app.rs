//! [`TestApp`]: a server on a database of its own, in this process or as a `civicproof serve`
//! process, with request helpers that read like the API.

use super::ADMIN_TOKEN;
use super::db::{TestDb, uuid_like};
use super::process::ServerProcess;
use civicproof_api::Config;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use tokio::sync::oneshot;

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
        let (dir, mut config) = test_config(&db);
        tweak(&mut config);
        Self::start(db, dir, config).await
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
        let (dir, mut config) = test_config(&db);
        config.migrate = true;
        tweak(&mut config);
        let mut app = Self::start_process(db, config).await;
        app._dir = dir;
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

    /// Live followers (SSE streams, GraphQL subscriptions) in this server process now.
    pub async fn live_followers(&self) -> u64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| l.strip_prefix("civicproof_live_followers "))
            .and_then(|v| v.trim().parse().ok())
            .expect("civicproof_live_followers in /metrics")
    }

    /// Waits until at least `n` live followers listen: a stream or subscription opened
    /// before is then sure to see every later append (instead of sleeping and hoping).
    pub async fn until_followers(&self, n: u64) {
        self.until_followers_are(|f| f >= n, &format!("at least {n}"))
            .await;
    }

    /// Waits until at most `n` live followers listen (a completed one has let go).
    pub async fn until_followers_at_most(&self, n: u64) {
        self.until_followers_are(|f| f <= n, &format!("at most {n}"))
            .await;
    }

    async fn until_followers_are(&self, ok: impl Fn(u64) -> bool, what: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !ok(self.live_followers().await) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} live followers within 15 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Requests of `method` on the route pattern `route` being handled in this server now
    /// (`http_requests_in_flight`).
    pub async fn in_flight(&self, method: &str, route: &str) -> u64 {
        let labels = format!("{{method=\"{method}\",route=\"{route}\"}} ");
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("civicproof_http_requests_in_flight")?
                    .strip_prefix(&labels)
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until a request of `method` on `route` is being handled (it reached the server and
    /// has not answered yet).
    pub async fn until_in_flight(&self, method: &str, route: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while self.in_flight(method, route).await < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "a {method} {route} in flight within 15 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
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

/// A fresh data directory and the configuration every test server starts from: the test
/// database, the admin token, a log key in that directory and the test origin prefix.
fn test_config(db: &TestDb) -> (TempDir, Config) {
    let dir = std::env::temp_dir().join(format!("civicproof-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_database(db.url.clone());
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.log_key_file = dir.join("log.key");
    config.origin_prefix = "test.civicproof.example".into();
    (TempDir(dir), config)
}
