//! Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) as API.md sets it out.

use crate::support::{TestApp, assert_problem, backend};
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    app.dataset(&token, "water", "public", json!({})).await;
    (app, token)
}

async fn send(app: &TestApp, token: &str, ds: &str, key: &str, body: &Value) -> reqwest::Response {
    app.request(
        reqwest::Method::POST,
        &format!("/v1/datasets/city/{ds}/records"),
        Some(token),
    )
    .header("idempotency-key", key)
    .json(body)
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_batch_appends_nothing_and_returns_the_first_answer() {
    let (app, token) = setup().await;
    let batch = json!([{"payload": {"v": 1}}, {"payload": {"v": 2}}]);
    let first = send(&app, &token, "air", "batch-001", &batch).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    for _ in 0..3 {
        let again = send(&app, &token, "air", "batch-001", &batch).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    assert_eq!(app.entry_count("air"), 2);
    // The key is scoped to the dataset: the same key elsewhere is a new request.
    assert_eq!(
        send(&app, &token, "water", "batch-001", &batch)
            .await
            .status(),
        201
    );
    assert_eq!(app.entry_count("water"), 2);
}

/// Waits until a publishing request is in flight behind [`WritesHeld`]: on both backends it has
/// reached the server and not answered (`http_requests_in_flight`). On PostgreSQL it then also
/// holds its Idempotency-Key, an advisory lock in this test's database (other than the
/// checkpoint signer's, `cpsigner`, which it takes now and then); SQLite shows nothing of a
/// request waiting for its write lock.
async fn until_in_flight(app: &TestApp) {
    app.until_in_flight("POST", "/v1/datasets/{inst}/{ds}/records")
        .await;
    if backend() != civicproof_schema::Backend::Postgres {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.db.count(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() \
         AND NOT (l.classid = x'63707369'::int::oid AND l.objid = x'676e6572'::int::oid)",
    ) < 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a request holding its key within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Holds the database's write path from another session until dropped: PostgreSQL, the
/// dataset rows locked (publishing waits on them); SQLite, the write lock.
struct WritesHeld {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WritesHeld {
    fn hold(app: &TestApp) -> Self {
        use diesel::connection::SimpleConnection;
        let url = app.db.url.clone();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut conn = civicproof_schema::establish(&url).unwrap();
            let begin = match backend() {
                civicproof_schema::Backend::Postgres => "BEGIN; SELECT * FROM datasets FOR UPDATE;",
                civicproof_schema::Backend::Sqlite => "BEGIN IMMEDIATE;",
            };
            conn.batch_execute(begin).unwrap();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
            conn.batch_execute("ROLLBACK;").unwrap();
        });
        locked_rx.recv().unwrap();
        Self {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for WritesHeld {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_a_key_with_another_body_is_422_and_a_key_in_flight_is_409() {
    let (app, token) = setup().await;
    assert_eq!(
        send(&app, &token, "air", "k1", &json!([{"payload": {"v": 1}}]))
            .await
            .status(),
        201
    );
    let r = send(&app, &token, "air", "k1", &json!([{"payload": {"v": 2}}])).await;
    assert_problem(r, 422, "idempotency-key-reused").await;
    assert_eq!(app.entry_count("air"), 1);
    // A request still running holds its key: on PostgreSQL another request with the same
    // key answers 409 at once (on SQLite writes are serial: it would wait its turn, then
    // replay).
    let held = WritesHeld::hold(&app);
    let batch = json!([{"payload": {"v": 3}}]);
    let first = {
        let (client, url, token, batch) = (
            app.client.clone(),
            app.url("/v1/datasets/city/air/records"),
            token.clone(),
            batch.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "k2")
                .json(&batch)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    until_in_flight(&app).await;
    if backend() == civicproof_schema::Backend::Postgres {
        let r = send(&app, &token, "air", "k2", &batch).await;
        assert_eq!(r.headers()["retry-after"], "1");
        assert_problem(r, 409, "idempotency-key-in-flight").await;
    }
    drop(held);
    assert_eq!(first.await.unwrap(), 201);
    assert_eq!(
        app.in_flight("POST", "/v1/datasets/{inst}/{ds}/records")
            .await,
        0,
        "answered, so no longer in flight"
    );
    let again = send(&app, &token, "air", "k2", &batch).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.entry_count("air"), 2);
}

/// A request that dies mid-flight (its server killed) leaves nothing behind: the retry with
/// its key is served at once, not after a lease runs out.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_killed_mid_flight_leaves_its_key_free() {
    let mut app = TestApp::spawn_process_with(|_| {}).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let held = WritesHeld::hold(&app);
    let batch = json!([{"payload": {"v": 1}}]);
    let stuck = {
        let (client, url, token, batch) = (
            app.client.clone(),
            app.url("/v1/datasets/city/air/records"),
            token.clone(),
            batch.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "crash-1")
                .json(&batch)
                .send()
                .await
        })
    };
    until_in_flight(&app).await;
    app.kill9();
    assert!(
        stuck.await.unwrap().is_err(),
        "the request died with its server"
    );
    drop(held);
    app.start_again().await;
    let started = std::time::Instant::now();
    let r = send(&app, &token, "air", "crash-1", &batch).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(app.entry_count("air"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_batch_keeps_its_answer_under_its_key() {
    let (app, token) = setup().await;
    let bad = json!([{"payload": {"n": 9007199254740993u64}}]);
    let first = assert_problem(
        send(&app, &token, "air", "k-bad", &bad).await,
        422,
        "validation-failed",
    )
    .await;
    let r = send(&app, &token, "air", "k-bad", &bad).await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(assert_problem(r, 422, "validation-failed").await, first);
    assert_eq!(app.entry_count("air"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_sent_concurrently_appends_once() {
    let (app, token) = setup().await;
    let batch = json!([{"payload": {"v": 1}}]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, token, batch) = (
            app.client.clone(),
            app.url("/v1/datasets/city/air/records"),
            token.clone(),
            batch.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "same")
                .json(&batch)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    assert_eq!(app.entry_count("air"), 1, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_keys_are_rejected() {
    let (app, token) = setup().await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "has space"] {
        let r = send(&app, &token, "air", key, &json!([{"payload": {}}])).await;
        assert_problem(r, 400, "bad-request").await;
    }
    assert_eq!(app.entry_count("air"), 0);
}
