//! Hostile documents, bounded database work, transport errors, GraphiQL and the SDL.

use super::{code_of, data, first_code, gql};
use crate::support::{ADMIN_TOKEN, TestApp, World};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn depth_and_complexity_bombs_are_rejected_quickly() {
    let w = World::new().await;
    let app = &w.app;
    let quick = |started: Instant| {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    };
    // Depth: 11 levels.
    let mut deep = "slug".to_owned();
    for _ in 0..3 {
        deep = format!("institution {{ datasets {{ nodes {{ {deep} }} }} }}");
    }
    let q = format!(r#"{{ dataset(institution: "city", slug: "air") {{ {deep} }} }}"#);
    let started = Instant::now();
    let body = gql(app, None, &q, json!({})).await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deeply"),
        "{body}"
    );
    assert!(body["data"].is_null());
    // The same through fragments.
    let q = r#"{ dataset(institution: "city", slug: "air") { ...A } }
        fragment A on Dataset { institution { datasets { nodes { ...B } } } }
        fragment B on Dataset { institution { datasets { nodes { ...C } } } }
        fragment C on Dataset { institution { datasets { nodes { slug } } } }"#;
    assert_eq!(code_of(app, None, q, json!({})).await, "bad-request");
    // Complexity: a thousand pages of a thousand records.
    let started = Instant::now();
    let body = gql(
        app,
        None,
        "{ datasets(first: 1000) { nodes { records(first: 1000) { nodes { seq payload } } } } }",
        json!({}),
    )
    .await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );
    // Proofs are expensive, and so are counts.
    let body = gql(app, None, r#"{ dataset(institution: "city", slug: "air") { records(first: 1000) { nodes { proof { raw } } } } }"#, json!({})).await;
    assert_eq!(first_code(&body), "bad-request");
    // A fragment bomb (2^40 fields once expanded) fails before validation expands it.
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str("fragment F40 on Query { anchors { totalCount } }\n");
    let started = Instant::now();
    let body = gql(app, None, &q, json!({})).await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    // An alias bomb.
    let q = format!(
        "{{ {} }}",
        (0..1500)
            .map(|i| format!("a{i}: anchors {{ totalCount }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    assert_eq!(code_of(app, None, &q, json!({})).await, "bad-request");
    quick(started);
    // An oversized document.
    let q = format!("{{ anchors {{ totalCount }} }} #{}", "x".repeat(70_000));
    assert_eq!(code_of(app, None, &q, json!({})).await, "payload-too-large");
    // Introspection nests deeper than data queries and stays allowed (GraphiQL needs it).
    let d = data(
        app,
        None,
        "{ __schema { types { name fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } } }",
        json!({}),
    )
    .await;
    assert!(
        d["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Seq")
    );
    // A reasonable query within every bound works.
    let d = data(app, None, r#"{ datasets(first: 100) { nodes { slug checkpoint { size } institution { name } records(first: 20) { nodes { seq key payload } } } } }"#, json!({})).await;
    assert_eq!(d["datasets"]["nodes"][0]["records"]["nodes"][0]["seq"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_errors_carry_codes() {
    let app = TestApp::spawn_with(|c| c.limits.max_body_bytes = 4096).await;
    let q = json!({"query": "{ anchors { totalCount } }"});
    // A bad token is 401, never anonymous.
    let r = app
        .request(Method::POST, "/graphql", Some("cp_unknown"))
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(first_code(&body), "unauthorized");
    // Media type, body shape and size.
    let r = app
        .post_raw("/graphql", None, "text/plain", q.to_string())
        .await;
    assert_eq!(r.status(), 415);
    assert_eq!(
        first_code(&r.json().await.unwrap()),
        "unsupported-media-type"
    );
    for bad in [
        "{not json",
        "[{\"query\": \"{ anchors { totalCount } }\"}]",
        "{}",
    ] {
        let r = app
            .post_raw("/graphql", None, "application/json", bad)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(first_code(&r.json().await.unwrap()), "bad-request");
    }
    let big =
        json!({"query": "{ anchors { totalCount } }", "variables": {"pad": "x".repeat(5000)}});
    let r = app
        .post_raw("/graphql", None, "application/json", big.to_string())
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(first_code(&r.json().await.unwrap()), "payload-too-large");
    // Syntax and unknown fields are request errors with a code, and internal text never leaks.
    for query in [
        "{ anchors {",
        "{ nothing }",
        "{ record(institution: \"a\", dataset: \"b\") { seq } }",
    ] {
        let body = gql(&app, None, query, json!({})).await;
        assert_eq!(first_code(&body), "bad-request", "{body}");
    }
    // GraphiQL.
    let r = app.get("/graphql", None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("graphiql"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_datasets_list_with_checkpoints_and_institutions() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    app.institution("other").await;
    let city = app.token("city", "publisher").await;
    let other = app.token("other", "publisher").await;
    for i in 0..100 {
        let token = if i % 2 == 0 { &city } else { &other };
        app.dataset(token, &format!("d{i:03}"), "public", serde_json::json!({}))
            .await;
    }
    let started = Instant::now();
    let d = data(
        &app,
        None,
        "{ datasets(first: 100) { totalCount nodes { slug entryCount checkpoint { size rootHash origin } institution { slug name } } } }",
        json!({}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let nodes = d["datasets"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    assert_eq!(d["datasets"]["totalCount"], 100);
    for (i, n) in nodes.iter().enumerate() {
        let inst = if i % 2 == 0 { "city" } else { "other" };
        assert_eq!(n["slug"], format!("d{i:03}"));
        assert_eq!(n["checkpoint"]["size"], 0);
        assert_eq!(
            n["checkpoint"]["origin"],
            format!("test.civicproof.example/{inst}/d{i:03}")
        );
        assert_eq!(n["institution"]["slug"], inst);
        assert_eq!(n["institution"]["name"], format!("{inst} city office"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_loads_only_local_assets() {
    let app = TestApp::spawn().await;
    let r = app.get("/graphql", None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(page.contains("GraphiQL.createFetcher"), "{page}");
    let urls: Vec<&str> = ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| page.split(attr).skip(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(urls.len(), 4, "{urls:?}");
    for url in urls {
        assert!(url.starts_with("/graphql/assets/"), "{url}");
        let r = app.get(url, None).await;
        assert_eq!(r.status(), 200, "{url}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if url.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(ct.starts_with(expected), "{url}: {ct}");
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(
            cache.contains("immutable") && cache.contains("max-age=31536000"),
            "{cache}"
        );
        assert!(r.bytes().await.unwrap().len() > 1000, "{url}");
    }
    let r = app.get("/graphql/assets/nothing.js", None).await;
    assert_eq!(r.status(), 404);
}

/// `civicproof_db_queries_total` from `/metrics`.
async fn db_queries(app: &TestApp) -> u64 {
    let text = app
        .get("/metrics", Some(ADMIN_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("civicproof_db_queries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no civicproof_db_queries_total in:\n{text}"))
}

/// The statements one request costs: the fewest over three tries, since background work
/// (the signer) can only add to the counter.
async fn queries_per_request(app: &TestApp, request: impl AsyncFn()) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        let before = db_queries(app).await;
        request().await;
        fewest = fewest.min(db_queries(app).await - before);
    }
    fewest
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_datasets_costs_the_same_queries_for_10_and_100() {
    // The signer only wakes on appends; none happen here.
    let app = TestApp::spawn_with(|c| c.checkpoint_interval_ms = 3_600_000).await;
    app.institution("city").await;
    app.institution("other").await;
    let city = app.token("city", "publisher").await;
    let other = app.token("other", "publisher").await;
    let create = async |from: usize, to: usize| {
        for i in from..to {
            let token = if i % 2 == 0 { &city } else { &other };
            app.dataset(token, &format!("d{i:03}"), "public", json!({}))
                .await;
        }
    };
    let graphql = async |n: usize| {
        let d = data(
            &app,
            None,
            "query($n: Int) { datasets(first: $n) { nodes { slug checkpoint { size rootHash } institution { slug name } } } }",
            json!({"n": n}),
        )
        .await;
        let nodes = d["datasets"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n);
        assert!(
            nodes
                .iter()
                .all(|n| n["checkpoint"]["size"] == 0 && n["institution"]["name"].is_string()),
            "{d}"
        );
    };
    let rest = async |n: usize| {
        let r = app.get(&format!("/v1/datasets?limit={n}"), None).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["datasets"].as_array().unwrap().len(), n);
    };
    create(0, 10).await;
    let graphql_10 = queries_per_request(&app, async || graphql(10).await).await;
    let rest_10 = queries_per_request(&app, async || rest(10).await).await;
    create(10, 100).await;
    let graphql_100 = queries_per_request(&app, async || graphql(100).await).await;
    let rest_100 = queries_per_request(&app, async || rest(100).await).await;
    assert!(graphql_10 > 0 && rest_10 > 0, "the counter counts");
    assert_eq!(
        graphql_10, graphql_100,
        "GraphQL queries grow with the page"
    );
    assert_eq!(rest_10, rest_100, "REST queries grow with the page");
    eprintln!("statements per request: GraphQL {graphql_10}, REST {rest_10}");
}

#[test]
fn the_committed_sdl_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == civicproof_api::graphql::sdl(),
        "openapi/schema.graphql is stale; regenerate it with:\n  ./run graphql   (or: cargo run -p civicproof-api -- graphql-sdl > openapi/schema.graphql)"
    );
}

/// The defect: one anonymous document of ~600 aliased `records(payload: …) { totalCount }`
/// fields ran 600 scans at once, took the whole pool, and everyone else got 503. Aliases
/// now pay for their filters statically, and at run time one operation uses at most two
/// connections at once and ten scans in all, so other callers are served throughout.
#[tokio::test(flavor = "multi_thread")]
async fn aliased_scans_cannot_take_the_pool_from_other_callers() {
    let app = TestApp::spawn_with(|c| c.db_pool_size = 4).await;
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    for chunk in 0..4 {
        let batch: Vec<Value> = (0..2_500)
            .map(|i| json!({"payload": {"sensor": format!("s{}", i % 7), "n": chunk * 2_500 + i}}))
            .collect();
        app.publish_ok(&p, "city", "air", &Value::from(batch)).await;
    }
    let fields = |n: usize, with_payload: bool| {
        (0..n)
            .map(|i| {
                let filter = if with_payload {
                    format!(r#", payload: {{sensor: "s{}"}}"#, i % 7)
                } else {
                    String::new()
                };
                format!("a{i}: records(first: 1{filter}) {{ totalCount }}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // 600 payload-filtered aliases: refused before anything runs.
    let q = format!(
        r#"{{ dataset(institution: "city", slug: "air") {{ {} }} }}"#,
        fields(600, true)
    );
    assert!(q.len() < 64 * 1024);
    let body = gql(&app, None, &q, json!({})).await;
    assert_eq!(
        first_code(&body),
        "bad-request",
        "{}",
        &body.to_string()[..300]
    );
    assert!(body["data"].is_null());

    // 300 plain counts fit the static cost; at run time only ten counts run, two at a time,
    // and the REST reads of another caller meanwhile all succeed.
    let q = format!(
        r#"{{ dataset(institution: "city", slug: "air") {{ {} }} }}"#,
        fields(300, false)
    );
    let heavy = gql(&app, None, &q, json!({}));
    let others = async {
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let r = app.get("/v1/datasets/city/air/records?limit=5", None).await;
            statuses.push(r.status().as_u16());
        }
        statuses
    };
    let (body, statuses) = tokio::join!(heavy, others);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let counted = (0..300)
        .filter(|i| body["data"]["dataset"][format!("a{i}")]["totalCount"] == 10_000)
        .count();
    assert_eq!(counted, 10, "ten counts ran");
    let refused = body["errors"].as_array().unwrap();
    assert_eq!(refused.len(), 290);
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("asks too much of the database"),
        "{}",
        refused[0]
    );
}
