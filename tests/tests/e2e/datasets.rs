//! Dataset metadata: creation rules, the catalog with filters and paging, PATCH, schemas.

use crate::support::{ADMIN_TOKEN, TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    (app, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_dataset_has_its_origin_vkey_and_counts() {
    let (app, token) = setup().await;
    let ds = app
        .dataset(
            &token,
            "air-quality",
            "public",
            json!({"themes": ["ENVI"], "keywords": ["pm10", "air"]}),
        )
        .await;
    assert_eq!(ds["origin"], "test.civicproof.example/city/air-quality");
    assert_eq!(ds["institution"], "city");
    assert_eq!(
        (ds["record_count"].as_u64(), ds["entry_count"].as_u64()),
        (Some(0), Some(0))
    );
    // vkey = <origin>+<key id>+<base64(0x01 || public key)>, key id from PROTOCOL.md section 1.
    let wk: Value = app.get_json("/.well-known/civicproof.json", None).await;
    assert_eq!(wk["origin_prefix"], "test.civicproof.example");
    assert_eq!(wk["anchor"], Value::Null);
    let public = crate::support::pinned_trust(&app).await.public_key;
    let origin = "test.civicproof.example/city/air-quality";
    let id = crate::support::sha256(&[origin.as_bytes(), &[0x0a, 0x01], &public]);
    let mut typed = vec![1u8];
    typed.extend_from_slice(&public);
    let expected = format!(
        "{origin}+{}+{}",
        hex::encode(&id[..4]),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, typed)
    );
    assert_eq!(ds["vkey"], expected);
    let got: Value = app.get_json("/v1/datasets/city/air-quality", None).await;
    assert_eq!(got["vkey"], expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_dataset_definitions_are_422_and_taken_slugs_409() {
    let (app, token) = setup().await;
    app.dataset(&token, "air", "public", json!({})).await;
    let base = json!({"slug": "x", "title": "T", "description": "D", "license": "CC0-1.0", "access": "public"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        with("slug", json!("Bad_Slug")),
        with("slug", json!("-x")),
        with("slug", json!("a".repeat(64))),
        with("title", json!("")),
        with("access", json!("secret")),
        with("themes", json!([""])),
        with("keywords", json!("pm10")),
        with("unknown", json!(1)),
        with("schema", json!({"$ref": "https://example.org/remote.json"})),
        with("schema", json!({"$ref": "file:///etc/passwd"})),
        with("schema", json!({"type": "no-such-type"})),
        with(
            "schema",
            json!({"properties": {"a": {"$ref": "#/$defs/missing"}}}),
        ),
        with("schema", json!("not a schema")),
    ];
    for body in cases {
        let r = app.post_json("/v1/datasets", Some(&token), &body).await;
        let p = assert_problem(r, 422, "validation-failed").await;
        assert!(
            !p.to_string().contains("root:"),
            "no file contents leak: {p}"
        );
    }
    let r = app
        .post_json("/v1/datasets", Some(&token), &with("slug", json!("air")))
        .await;
    assert_problem(r, 409, "conflict").await;
    let r = app
        .request(Method::POST, "/v1/datasets", Some(&token))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "bad-request").await;
    let r = app
        .request(Method::POST, "/v1/datasets", Some(&token))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported-media-type").await;
    assert_eq!(app.db.count("SELECT count(*) FROM datasets"), 1);
    // A schema with internal $refs is fine.
    let schema =
        json!({"$defs": {"n": {"type": "number"}}, "properties": {"pm10": {"$ref": "#/$defs/n"}}});
    app.dataset(&token, "with-refs", "public", json!({"schema": schema}))
        .await;
    let r = app
        .publish(
            &token,
            "city",
            "with-refs",
            &json!([{"payload": {"pm10": "high"}}]),
        )
        .await;
    assert_problem(r, 422, "validation-failed").await;
    // The admin names the institution; a publisher cannot create for another one.
    app.institution("other").await;
    let r = app
        .post_json(
            "/v1/datasets",
            Some(ADMIN_TOKEN),
            &with("institution", json!("other")),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_json(
            "/v1/datasets",
            Some(&token),
            &with("institution", json!("other")),
        )
        .await;
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .post_json("/v1/datasets", Some(ADMIN_TOKEN), &with("slug", json!("y")))
        .await;
    assert_problem(r, 422, "validation-failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_changes_metadata_but_never_the_slug() {
    let (app, token) = setup().await;
    app.dataset(&token, "air", "public", json!({})).await;
    let patch = |body: Value| {
        app.request(Method::PATCH, "/v1/datasets/city/air", Some(&token))
            .json(&body)
            .send()
    };
    let r =
        patch(json!({"title": "Air quality", "keywords": ["pm2.5"], "schema": {"type": "object"}}))
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let ds: Value = r.json().await.unwrap();
    assert_eq!(ds["title"], "Air quality");
    assert_eq!(ds["keywords"], json!(["pm2.5"]));
    assert_eq!(ds["schema"], json!({"type": "object"}));
    for bad in [
        json!({"slug": "new"}),
        json!({"origin": "x"}),
        json!({"title": 5}),
        json!({"colour": "red"}),
        json!({"access": "secret"}),
    ] {
        assert_problem(patch(bad).await.unwrap(), 422, "validation-failed").await;
    }
    let r = patch(json!({"schema": null})).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["schema"], Value::Null);
    let ds: Value = app.get_json("/v1/datasets/city/air", None).await;
    assert_eq!(ds["slug"], "air");
    assert_eq!(ds["title"], "Air quality");
    // Turning a dataset restricted hides it at once.
    patch(json!({"access": "restricted"})).await.unwrap();
    assert_problem(
        app.get("/v1/datasets/city/air", None).await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_filters_and_pages() {
    let (app, token) = setup().await;
    app.institution("other").await;
    let other = app.token("other", "publisher").await;
    app.dataset(
        &token,
        "air",
        "public",
        json!({"themes": ["ENVI"], "keywords": ["pm10"], "description": "Sensor readings"}),
    )
    .await;
    app.dataset(
        &token,
        "trams",
        "public",
        json!({"themes": ["TRAN"], "keywords": ["departures"]}),
    )
    .await;
    app.dataset(
        &other,
        "energy",
        "public",
        json!({"themes": ["ENER"], "title": "Energy 100% renewable"}),
    )
    .await;
    let slugs = |v: Value| {
        v["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["slug"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let app = &app;
    let get = |q: &'static str| async move {
        app.get(&format!("/v1/datasets{q}"), None)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(slugs(get("").await), ["air", "trams", "energy"]);
    assert_eq!(slugs(get("?institution=other").await), ["energy"]);
    assert_eq!(slugs(get("?theme=TRAN").await), ["trams"]);
    assert_eq!(slugs(get("?keyword=pm10").await), ["air"]);
    assert_eq!(slugs(get("?q=sensor").await), ["air"]);
    assert_eq!(slugs(get("?q=100%25").await), ["energy"]);
    assert_eq!(
        slugs(get("?q=_").await),
        Vec::<String>::new(),
        "LIKE wildcards match literally"
    );
    let first = get("?limit=2").await;
    assert_eq!(slugs(first.clone()), ["air", "trams"]);
    let next = first["next_cursor"].as_str().unwrap().to_owned();
    let second: Value = app
        .get_json(&format!("/v1/datasets?limit=2&after={next}"), None)
        .await;
    assert_eq!(slugs(second.clone()), ["energy"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dataset_is_visible_at_once_after_a_lookup_found_it_missing() {
    let (app, token) = setup().await;
    // This lookup caches "no such dataset"; creating it must drop that answer.
    let r = app.get("/v1/datasets/city/late/records", None).await;
    assert_problem(r, 404, "not-found").await;
    app.dataset(&token, "late", "public", json!({})).await;
    assert_eq!(
        app.get("/v1/datasets/city/late/records", None)
            .await
            .status(),
        200
    );
}
