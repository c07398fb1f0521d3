//! The GraphQL API over real HTTP and WebSocket. Module index:
//! - `reads`: reads agree with REST, connections page without gaps both ways, every feed
//!   filter works, restricted data stays invisible;
//! - `writes`: mutations follow REST's authorization and idempotency;
//! - `live`: subscriptions deliver every append in order; per-operation token checks, rate
//!   limits and caps on a WebSocket;
//! - `limits`: hostile documents are refused before they cost anything, bounded database
//!   work, transport errors, GraphiQL, the committed SDL;
//! - `ws`: the `graphql-transport-ws` client the others use.

mod limits;
mod live;
mod reads;
mod writes;
mod ws;

pub(crate) use ws::Ws;

use crate::support::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) const ORIGIN: &str = "test.civicproof.example/city/air";

/// Posts a GraphQL request and returns the body (asserting HTTP 200).
pub(crate) async fn gql(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let r = app
        .request(Method::POST, "/graphql", token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The `data` of an answer that must have no errors.
pub(crate) async fn data(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let body = gql(app, token, query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of the first error (and checks that every error has one).
pub(crate) fn first_code(body: &Value) -> String {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"));
    for e in errors {
        assert!(
            e["extensions"]["code"].is_string(),
            "error without code: {body}"
        );
    }
    errors[0]["extensions"]["code"].as_str().unwrap().to_owned()
}

pub(crate) async fn code_of(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> String {
    first_code(&gql(app, token, query, variables).await)
}

pub(crate) fn seqs(nodes: &Value) -> Vec<u64> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["seq"].as_u64().expect("seq is a JSON number"))
        .collect()
}

pub(crate) fn edge_seqs(conn: &Value) -> Vec<u64> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["seq"].as_u64().unwrap())
        .collect()
}

/// Waits until the newest signed checkpoint covers `size` entries (the REST proof route
/// waits for the signer).
pub(crate) async fn wait_checkpointed(app: &TestApp, seq: u64) {
    let r = app
        .get(&format!("/v1/datasets/city/air/records/{seq}/proof"), None)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

pub(crate) async fn publish_many(app: &TestApp, token: &str, ds: &str, n: usize, offset: usize) {
    let batch: Vec<Value> = (0..n)
        .map(|i| json!({"key": format!("k{}", (offset + i) % 7), "payload": {"i": offset + i, "sensor": format!("s{}", (offset + i) % 3)}}))
        .collect();
    app.publish_ok(token, "city", ds, &Value::from(batch)).await;
}
