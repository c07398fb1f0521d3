//! [`World`]: two institutions with their tokens and datasets; assertions and pinned trust.

use super::TestApp;
use reqwest::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
