//! The authorization matrix of API.md: anonymous, reader, publisher of another institution,
//! own publisher, admin. Restricted datasets answer 404 to outsiders on every route.

use crate::support::{ADMIN_TOKEN, Sse, TestApp, World, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn restricted_dataset_is_missing_for_outsiders_on_every_route() {
    let w = World::new().await;
    let app = &w.app;
    let outsiders: [(&str, Option<&str>); 3] = [
        ("anonymous", None),
        ("other reader", Some(&w.other_reader)),
        ("other publisher", Some(&w.other_publisher)),
    ];
    for (who, token) in outsiders {
        for path in [
            "/v1/datasets/city/cards",
            "/v1/datasets/city/cards/records",
            "/v1/datasets/city/cards/records?format=ndjson",
            "/v1/datasets/city/cards/records/0",
            "/v1/datasets/city/cards/records/0/leaf",
        ] {
            let r = app.get(path, token).await;
            assert_problem(r, 404, "not-found").await;
        }
        // The same answer as for a dataset that does not exist at all.
        let missing = app.get("/v1/datasets/city/nothing-here", token).await;
        let missing = assert_problem(missing, 404, "not-found").await;
        let hidden = assert_problem(
            app.get("/v1/datasets/city/cards", token).await,
            404,
            "not-found",
        )
        .await;
        assert_eq!(
            missing, hidden,
            "{who}: restricted and missing must be indistinguishable"
        );
        // Catalog, filters and DCAT show no trace.
        for path in [
            "/v1/datasets",
            "/v1/datasets?institution=city",
            "/v1/datasets?q=cards",
            "/v1/catalog.jsonld",
        ] {
            let body = app.get(path, token).await.text().await.unwrap();
            assert!(
                !body.contains("cards"),
                "{who} sees a trace of the restricted dataset at {path}"
            );
        }
    }
    // Writes by outsiders: anonymous is asked to authenticate, other publishers see nothing.
    let erase = json!({"reason": "other"});
    for (token, status, code) in [
        (None, 401, "unauthorized"),
        (Some(w.other_publisher.as_str()), 404, "not-found"),
    ] {
        let r = app
            .publish(
                token.unwrap_or(""),
                "city",
                "cards",
                &json!([{"payload": {}}]),
            )
            .await;
        if token.is_none() {
            // An empty bearer token is malformed: 401 as well.
            assert_problem(r, 401, "unauthorized").await;
        } else {
            assert_problem(r, status, code).await;
        }
        let r = app
            .request(
                Method::POST,
                "/v1/datasets/city/cards/records/0/erasure",
                token,
            )
            .json(&erase)
            .send()
            .await
            .unwrap();
        assert_problem(r, status, code).await;
        let r = app
            .request(Method::PATCH, "/v1/datasets/city/cards", token)
            .json(&json!({"title": "x"}))
            .send()
            .await
            .unwrap();
        assert_problem(r, status, code).await;
    }
    assert_eq!(app.entry_count("cards"), 1, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn insiders_read_restricted_data_privately() {
    let w = World::new().await;
    let app = &w.app;
    for token in [w.reader.as_str(), w.publisher.as_str(), ADMIN_TOKEN] {
        let r = app
            .get("/v1/datasets/city/cards/records/0", Some(token))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "private, no-cache");
        assert_eq!(r.headers()["vary"], "Authorization");
        let list: Value = app
            .get_json("/v1/datasets?institution=city", Some(token))
            .await;
        let slugs: Vec<&str> = list["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["air", "cards"]);
    }
    // Public data is not private.
    let r = app.get("/v1/datasets/city/air/records/0", None).await;
    assert_eq!(r.headers()["cache-control"], "no-cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_needs_the_institutions_publisher_or_admin() {
    let w = World::new().await;
    let app = &w.app;
    let batch = json!([{"payload": {"pm10": 1}}]);
    let r = app
        .post_json("/v1/datasets/city/air/records", None, &batch)
        .await;
    assert_problem(r, 401, "unauthorized").await;
    for token in [&w.reader, &w.other_publisher, &w.other_reader] {
        assert_problem(
            app.publish(token, "city", "air", &batch).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(app.entry_count("air"), 1);
    app.publish_ok(&w.publisher, "city", "air", &batch).await;
    app.publish_ok(ADMIN_TOKEN, "city", "air", &batch).await;
    assert_eq!(app.entry_count("air"), 3);
    // PATCH and erasure follow the same rule.
    let r = app
        .request(Method::PATCH, "/v1/datasets/city/air", Some(&w.reader))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .request(
            Method::POST,
            "/v1/datasets/city/air/records/0/erasure",
            Some(&w.other_publisher),
        )
        .json(&json!({"reason": "other"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_managed_by_admin_and_publishers_within_their_role() {
    let w = World::new().await;
    let app = &w.app;
    let path = "/v1/institutions/city/tokens";
    // A publisher issues reader tokens of its own institution only.
    let r = app
        .post_json(
            path,
            Some(&w.publisher),
            &json!({"role": "reader", "label": "app"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued["role"], "reader");
    assert_eq!(issued["institution"], "city");
    assert!(issued["token"].as_str().unwrap().starts_with("cp_"));
    assert_problem(
        app.post_json(path, Some(&w.publisher), &json!({"role": "publisher"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post_json(path, Some(&w.reader), &json!({"role": "reader"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post_json(path, Some(&w.other_publisher), &json!({"role": "reader"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post_json(path, None, &json!({"role": "reader"})).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.post_json(path, Some(ADMIN_TOKEN), &json!({"role": "admin"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    // Institutions are the admin's.
    let inst = json!({"slug": "new-one", "name": "New"});
    assert_problem(
        app.post_json("/v1/institutions", Some(&w.publisher), &inst)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post_json("/v1/institutions", None, &inst).await,
        401,
        "unauthorized",
    )
    .await;
    // Listing: the publisher sees reader tokens only; no token values ever.
    let list: Value = app.get_json(path, Some(&w.publisher)).await;
    let roles: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.iter().all(|r| *r == "reader") && roles.len() == 2,
        "{list}"
    );
    assert!(
        !list.to_string().contains("cp_"),
        "token values must never be listed"
    );
    let all: Value = app.get(path, Some(ADMIN_TOKEN)).await.json().await.unwrap();
    assert_eq!(all["tokens"].as_array().unwrap().len(), 3);
    // Tokens are stored only as hashes.
    let plain = issued["token"].as_str().unwrap();
    assert_eq!(
        app.db.count(&format!(
            "SELECT count(*) FROM tokens WHERE token_hash = {}",
            app.db.blob(plain.as_bytes())
        )),
        0
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM tokens WHERE length(token_hash) = 32"),
        5
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_fails_at_once_and_bad_tokens_never_fall_back_to_anonymous() {
    let w = World::new().await;
    let app = &w.app;
    let r = app
        .post_json(
            "/v1/institutions/city/tokens",
            Some(ADMIN_TOKEN),
            &json!({"role": "reader"}),
        )
        .await;
    let issued: Value = r.json().await.unwrap();
    let token = issued["token"].as_str().unwrap();
    assert_eq!(
        app.get("/v1/datasets/city/cards", Some(token))
            .await
            .status(),
        200
    );
    let r = app
        .request(
            Method::DELETE,
            &format!(
                "/v1/institutions/city/tokens/{}",
                issued["id"].as_str().unwrap()
            ),
            Some(&w.publisher),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["revoked_at"].is_string());
    let r = app.get("/v1/datasets/city/air", Some(token)).await;
    let body = assert_problem(r, 401, "unauthorized").await;
    assert!(!body.to_string().contains(token));
    // The scheme is case-insensitive (RFC 9110); the token is not.
    let r = app.get("/v1/datasets/city/cards", None).await;
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .get(app.url("/v1/datasets/city/cards"))
        .header("authorization", format!("bearer {}", w.reader))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for bad in ["Bearer nope", "Basic abc", "Bearer ", "token"] {
        let r = app
            .client
            .get(app.url("/v1/datasets/city/air"))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    // Publisher tokens cannot be revoked by a publisher.
    let r = app
        .post_json(
            "/v1/institutions/city/tokens",
            Some(ADMIN_TOKEN),
            &json!({"role": "publisher"}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .request(
            Method::DELETE,
            &format!("/v1/institutions/city/tokens/{id}"),
            Some(&w.publisher),
        )
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not-found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_the_admin_token_and_name_no_dataset() {
    let w = World::new().await;
    let app = &w.app;
    assert_problem(app.get("/metrics", None).await, 401, "unauthorized").await;
    assert_problem(
        app.get("/metrics", Some(&w.publisher)).await,
        403,
        "forbidden",
    )
    .await;
    let r = app.get("/metrics", Some(ADMIN_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("civicproof_records_published_total 2"),
        "{text}"
    );
    assert!(text.contains("civicproof_http_requests_total"));
    assert!(
        !text.contains("cards") && !text.contains("/city/"),
        "metrics must not name datasets"
    );
}

/// `civicproof admin …` against the test's database.
async fn admin_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut cmd = crate::support::civicproof_command();
    cmd.arg("admin").args(args).env("DATABASE_URL", &app.db.url);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Admin tokens from `civicproof admin issue-admin-token` can be listed and revoked (CLI and
/// API); a revocation from the CLI, which no server hears of directly, still ends the
/// token's live streams within a second (the invalidation outbox) and is refused at once.
#[tokio::test(flavor = "multi_thread")]
async fn admin_tokens_are_listed_and_revoked_from_the_cli_and_the_api() {
    let w = World::new().await;
    let app = &w.app;
    let issued = admin_cli(app, &["issue-admin-token", "--label", "ops"]).await;
    assert!(issued.status.success());
    let token = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    let id = String::from_utf8(issued.stderr)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("admin token id ").map(str::to_owned))
        .expect("the id on stderr");
    assert_eq!(app.get("/metrics", Some(&token)).await.status(), 200);
    let listed = admin_cli(app, &["list-admin-tokens", "--json"]).await;
    let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["label"], "ops");
    assert!(list[0]["revoked_at"].is_null());
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&token));
    let api: Value = app.get_json("/v1/admin/tokens", Some(ADMIN_TOKEN)).await;
    assert_eq!(api["tokens"][0]["id"], id.as_str());
    for t in [&w.publisher, &w.reader] {
        let r = app.get("/v1/admin/tokens", Some(t)).await;
        assert_problem(r, 403, "forbidden").await;
    }

    let mut live = Sse::open(app, "/v1/datasets/city/cards/events", Some(&token), &[]).await;
    let revoked = admin_cli(app, &["revoke-admin-token", &id]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    assert_problem(app.get("/metrics", Some(&token)).await, 401, "unauthorized").await;
    let started = std::time::Instant::now();
    assert!(
        live.next().await.is_none(),
        "the stream outlived the revocation"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let listed = admin_cli(app, &["list-admin-tokens", "--json"]).await;
    let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(list[0]["revoked_at"].is_string(), "{list}");

    // The API revokes too; unknown ids and other institutions' tokens are 404.
    let second = admin_cli(app, &["issue-admin-token"]).await;
    let second_token = String::from_utf8(second.stdout).unwrap().trim().to_owned();
    let second_id = String::from_utf8(second.stderr)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("admin token id ").map(str::to_owned))
        .unwrap();
    let del = |id: String| {
        app.request(
            reqwest::Method::DELETE,
            &format!("/v1/admin/tokens/{id}"),
            Some(ADMIN_TOKEN),
        )
        .send()
    };
    assert_eq!(del(second_id).await.unwrap().status(), 200);
    assert_problem(
        app.get("/metrics", Some(&second_token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(del(uuid_v4_like()).await.unwrap(), 404, "not-found").await;
    assert_problem(del("nope".into()).await.unwrap(), 404, "not-found").await;
}

fn uuid_v4_like() -> String {
    "00000000-0000-4000-8000-000000000000".into()
}
