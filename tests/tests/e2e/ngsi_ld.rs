//! NGSI-LD ingestion with the FIWARE Smart Data Models fixtures (`tests/fixtures/ngsi-ld`):
//! batch upserts and a context broker's notifications, in both media types; versions of an
//! entity supersede by key, unchanged and older ones append nothing; entities read back as
//! NGSI-LD with their proof.

use crate::support::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/ngsi-ld/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const LD: &str = "application/ld+json";
const CORE: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    for (ds, ty) in [
        ("air-quality", "AirQualityObserved"),
        ("traffic", "TrafficFlowObserved"),
        ("parking", "OffStreetParking"),
    ] {
        app.dataset(&token, ds, "public", json!({})).await;
        let r = app
            .request(
                reqwest::Method::PUT,
                &format!("/v1/institutions/city/ngsi-ld/types/{ty}"),
                Some(&token),
            )
            .json(&json!({"dataset": ds}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }
    (app, token)
}

async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    link: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app
        .request(reqwest::Method::POST, path, Some(token))
        .header("content-type", content_type)
        .body(serde_json::to_vec(body).unwrap());
    if let Some(l) = link {
        req = req.header("link", l);
    }
    req.send().await.unwrap()
}

const UPSERT: &str = "/ngsi-ld/v1/entityOperations/upsert";
const NOTIFY: &str = "/v1/institutions/city/ngsi-ld/notifications";

#[tokio::test]
async fn upserts_append_each_entity_as_a_record_keyed_by_its_id_and_supersede_by_key() {
    let (app, token) = setup().await;
    let singles = json!([
        fixture("AirQualityObserved.normalized.json"),
        fixture("TrafficFlowObserved.normalized.json"),
        fixture("OffStreetParking.normalized.json"),
    ]);
    let r = post(&app, &token, UPSERT, LD, None, &singles).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Vec<String> = r.json().await.unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(app.entry_count("traffic"), 1);
    // The same entities again: unchanged, nothing appended, 204.
    let r = post(&app, &token, UPSERT, LD, None, &singles).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.entry_count("air-quality") + app.entry_count("traffic") + app.entry_count("parking"),
        3
    );
    // The batch: the next interval of lane 1, a new lane 2, the car park later.
    let batch = fixture("upsert-batch.json");
    let r = post(&app, &token, UPSERT, LD, None, &batch).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Vec<String> = r.json().await.unwrap();
    assert_eq!(
        created,
        ["urn:ngsi-ld:TrafficFlowObserved:katowice-al-korfantego-n-lane-2"]
    );
    assert_eq!(app.entry_count("traffic"), 3);
    let lane1 = "urn:ngsi-ld:TrafficFlowObserved:katowice-al-korfantego-n-lane-1";
    let feed = app
        .get_json(
            &format!("/v1/datasets/city/traffic/records?key={}", urlencode(lane1)),
            None,
        )
        .await;
    let records = feed["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1]["envelope"]["supersedes"],
        records[0]["envelope"]["seq"]
    );
    assert_eq!(
        records[1]["payload"],
        with_context(&batch[0]),
        "the entity as sent"
    );
    // The first version again, after the second: older, so stale, nothing appended.
    let r = post(
        &app,
        &token,
        UPSERT,
        LD,
        None,
        &json!([fixture("TrafficFlowObserved.normalized.json")]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.entry_count("traffic"), 3);
    assert!(
        app.metrics_text()
            .await
            .contains("civicproof_ngsi_ld_entities_total{outcome=\"stale\"} 1")
    );
}

/// An entity as stored: `@context` always an array.
fn with_context(e: &Value) -> Value {
    let mut e = e.clone();
    if let Some(c) = e.get("@context").cloned()
        && !c.is_array()
    {
        e["@context"] = json!([c]);
    }
    e
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_notification_appends_its_entities_once_however_often_it_is_sent() {
    let (app, token) = setup().await;
    let n = fixture("notification.json");
    let r = post(&app, &token, NOTIFY, LD, None, &n).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"appended": 2, "unchanged": 0, "stale": 0, "errors": []})
    );
    let r = post(&app, &token, NOTIFY, LD, None, &n).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["unchanged"], 2, "{body}");
    assert_eq!(app.entry_count("air-quality"), 2);
    // The notification's top-level @context became each entity's.
    let rec = app
        .get_json("/v1/datasets/city/air-quality/records/0", None)
        .await;
    assert_eq!(
        rec["payload"]["@context"],
        with_context(&json!({"@context": n["@context"]}))["@context"]
    );
    assert_eq!(rec["envelope"]["key"], n["data"][0]["id"]);
    let arrivals = app
        .get_json("/v1/datasets/city/air-quality/arrivals?seq=1", None)
        .await;
    assert_eq!(arrivals["arrivals"][0]["channel"], "ngsi-ld", "{arrivals}");
    assert_eq!(
        arrivals["arrivals"][0]["source"],
        format!("notification of {}", n["subscriptionId"].as_str().unwrap()).as_str()
    );
    // A publisher's own label, checked: a channel is a short lowercase name.
    let r = app
        .request(
            reqwest::Method::POST,
            "/v1/datasets/city/air-quality/records",
            Some(&token),
        )
        .header("content-type", "application/json")
        .header("ingest-channel", "Not A Channel")
        .body("[{\"payload\": {}}]")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "bad-request").await;
}

#[tokio::test]
async fn application_json_takes_its_context_from_the_link_header() {
    let (app, token) = setup().await;
    let mut e = fixture("OffStreetParking.normalized.json");
    e.as_object_mut().unwrap().remove("@context");
    let link = "<https://example.org/parking-context.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"";
    let r = post(
        &app,
        &token,
        UPSERT,
        "application/json",
        Some(link),
        &json!([e]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rec = app
        .get_json("/v1/datasets/city/parking/records/0", None)
        .await;
    assert_eq!(
        rec["payload"]["@context"],
        json!(["https://example.org/parking-context.jsonld"])
    );
    // Without a Link: the core context.
    let mut e2 = e.clone();
    e2["id"] = json!("urn:ngsi-ld:OffStreetParking:other");
    post(&app, &token, UPSERT, "application/json", None, &json!([e2])).await;
    let rec = app
        .get_json("/v1/datasets/city/parking/records/1", None)
        .await;
    assert_eq!(rec["payload"]["@context"], json!([CORE]));
    // A body @context with application/json is a contradiction: 400, nothing appended.
    let r = post(
        &app,
        &token,
        UPSERT,
        "application/json",
        Some(link),
        &json!([fixture("OffStreetParking.normalized.json")]),
    )
    .await;
    assert_problem(r, 400, "bad-request").await;
    let r = post(&app, &token, UPSERT, "text/plain", None, &json!([e])).await;
    assert_problem(r, 415, "unsupported-media-type").await;
    assert_eq!(app.entry_count("parking"), 2);
}

#[tokio::test]
async fn bad_entities_are_reported_one_by_one_and_the_others_are_stored() {
    let (app, token) = setup().await;
    let good = fixture("AirQualityObserved.normalized.json");
    let mut unmapped = good.clone();
    unmapped["type"] = json!("WeatherObserved");
    unmapped["id"] = json!("urn:ngsi-ld:WeatherObserved:x");
    let mut bad_id = good.clone();
    bad_id["id"] = json!("not a uri");
    let mut no_context = good.clone();
    no_context.as_object_mut().unwrap().remove("@context");
    no_context["id"] = json!("urn:ngsi-ld:AirQualityObserved:no-context");
    let r = post(
        &app,
        &token,
        UPSERT,
        LD,
        None,
        &json!([good, unmapped, bad_id, no_context]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], json!([good["id"]]));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{body}");
    for e in errors {
        assert_eq!(
            e["error"]["type"],
            "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
        );
    }
    assert!(
        errors[0]["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("WeatherObserved")
    );
    assert_eq!(app.entry_count("air-quality"), 1);
}

#[tokio::test]
async fn every_refused_entity_is_named_however_many_there_are() {
    let (app, token) = setup().await;
    app.dataset(
        &token,
        "levels",
        "public",
        json!({"schema": {"type": "object",
            "properties": {"level": {"type": "object",
                "properties": {"value": {"type": "number"}}}}}}),
    )
    .await;
    let r = app
        .request(
            reqwest::Method::PUT,
            "/v1/institutions/city/ngsi-ld/types/WaterLevel",
            Some(&token),
        )
        .json(&json!({"dataset": "levels"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // More bad entities than one batch reports errors for (100), good ones among them.
    let entity = |i: usize, value: Value| {
        json!({"id": format!("urn:ngsi-ld:WaterLevel:{i}"), "type": "WaterLevel",
               "level": {"type": "Property", "value": value}, "@context": CORE})
    };
    let entities: Vec<Value> = (0..130)
        .map(|i| {
            if i % 10 == 7 {
                entity(i, json!(i))
            } else {
                entity(i, json!("high"))
            }
        })
        .collect();
    let r = post(&app, &token, UPSERT, LD, None, &Value::from(entities)).await;
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body: Value = r.json().await.unwrap();
    let good: Vec<String> = (0..130)
        .filter(|i| i % 10 == 7)
        .map(|i| format!("urn:ngsi-ld:WaterLevel:{i}"))
        .collect();
    assert_eq!(body["success"], json!(good));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 117, "every bad entity named");
    assert_eq!(errors[116]["entityId"], "urn:ngsi-ld:WaterLevel:129");
    let detail = errors[0]["error"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("/level/value: "), "{detail}");
    assert_eq!(app.entry_count("levels"), 13);
}

#[tokio::test]
async fn only_the_institution_s_publishers_send_entities_and_readers_see_the_types() {
    let (app, token) = setup().await;
    let reader = app.token("city", "reader").await;
    app.institution("town").await;
    let other = app.token("town", "publisher").await;
    let body = json!([fixture("AirQualityObserved.normalized.json")]);
    let r = app
        .request(reqwest::Method::POST, UPSERT, None)
        .header("content-type", LD)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "unauthorized").await;
    assert_problem(
        post(&app, &reader, UPSERT, LD, None, &body).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(
            &app,
            &other,
            NOTIFY,
            LD,
            None,
            &fixture("notification.json"),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A tenant that is not the token's institution.
    let r = app
        .request(reqwest::Method::POST, UPSERT, Some(&token))
        .header("content-type", LD)
        .header("NGSILD-Tenant", "town")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let types = app
        .get_json("/v1/institutions/city/ngsi-ld/types", Some(&reader))
        .await;
    assert_eq!(types["types"].as_array().unwrap().len(), 3);
    assert_eq!(
        types["types"][0],
        json!({"type": "AirQualityObserved", "dataset": "air-quality"})
    );
    // Mapping to a dataset of another institution: not found (it is not the caller's).
    let r = app
        .request(
            reqwest::Method::PUT,
            "/v1/institutions/town/ngsi-ld/types/T",
            Some(&token),
        )
        .json(&json!({"dataset": "air-quality"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.entry_count("air-quality"), 0);
}

#[tokio::test]
async fn a_record_reads_back_as_its_ngsi_ld_entity_with_its_proof_link() {
    let (app, token) = setup().await;
    let e = fixture("AirQualityObserved.normalized.json");
    post(&app, &token, UPSERT, LD, None, &json!([e])).await;
    let r = app
        .get(
            "/v1/datasets/city/air-quality/records/0?format=ngsi-ld",
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], LD);
    assert_eq!(
        r.headers()["link"],
        "</v1/datasets/city/air-quality/records/0/proof>; rel=\"describedby\""
    );
    let entity: Value = r.json().await.unwrap();
    assert_eq!(entity, with_context(&e));
    // The proof the link names verifies the record the entity came from.
    let r = app
        .get("/v1/datasets/city/air-quality/records/0/proof", None)
        .await;
    assert!(r.status() == StatusCode::OK || r.status() == StatusCode::CONFLICT);
    let r = app
        .get("/v1/datasets/city/air-quality/records/0?format=xml", None)
        .await;
    assert_problem(r, 400, "bad-request").await;
    // A record that is not an entity: 406.
    app.dataset(&token, "plain", "public", json!({})).await;
    app.publish_ok(&token, "city", "plain", &json!([{"payload": {"a": 1}}]))
        .await;
    let r = app
        .get("/v1/datasets/city/plain/records/0?format=ngsi-ld", None)
        .await;
    assert_problem(r, 406, "not-acceptable").await;
}
