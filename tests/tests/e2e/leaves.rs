//! Envelopes and leaf hashes equal an independent computation from PROTOCOL.md section 2:
//! canonical bytes written out by hand here, hashed with sha2 directly.

use crate::support::{TestApp, sha256};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn leaf_hashes_match_an_independent_computation() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    // Sent raw so the exact input forms (exponents, -0, escapes, key order) reach the server.
    let body = "[{\"key\":\"czujnik-\u{017c}/1\",\"payload\":{\"\u{017c}\":{\"b\":[1.0,2.5e-7,100],\"a\":\"\\u20ac\"},\"A\":-0,\"n\":1E21,\"e\":\"\u{1F600}\\n\"}},\
                {\"key\":\"czujnik-\u{017c}/1\",\"payload\":{\"v\":17.20}}]";
    let r = app
        .post_raw(
            "/v1/datasets/city/air/records",
            Some(&token),
            "application/json",
            body,
        )
        .await;
    assert_eq!(r.status(), 201);
    let published: Value = r.json().await.unwrap();

    let cases = [
        (
            0u64,
            "{\"A\":0,\"e\":\"\u{1F600}\\n\",\"n\":1e+21,\"\u{017c}\":{\"a\":\"\u{20ac}\",\"b\":[1,2.5e-7,100]}}",
            "null",
        ),
        (1u64, "{\"v\":17.2}", "0"),
    ];
    for (seq, canonical_payload, supersedes) in cases {
        let rec: Value = app
            .get_json(&format!("/v1/datasets/city/air/records/{seq}"), None)
            .await;
        let salt = hex::decode(rec["salt"].as_str().unwrap()).unwrap();
        assert_eq!(salt.len(), 16);
        let digest = hex::encode(sha256(&[&salt, canonical_payload.as_bytes()]));
        let published_at = rec["envelope"]["published_at"].as_str().unwrap();
        assert_eq!(published_at.len(), 24, "{published_at}");
        assert!(published_at.ends_with('Z') && &published_at[19..20] == ".");
        let envelope = format!(
            "{{\"dataset\":\"test.civicproof.example/city/air\",\"key\":\"czujnik-\u{017c}/1\",\"kind\":\"record\",\
             \"payload_digest\":\"{digest}\",\"published_at\":\"{published_at}\",\"seq\":{seq},\"supersedes\":{supersedes},\"v\":1}}"
        );
        let leaf_hash = hex::encode(sha256(&[&[0u8], envelope.as_bytes()]));
        assert_eq!(rec["leaf_hash"], leaf_hash, "seq {seq}");
        assert_eq!(published["entries"][seq as usize]["leaf_hash"], leaf_hash);
        assert_eq!(rec["envelope"]["payload_digest"], digest);
        let leaf = app
            .get(&format!("/v1/datasets/city/air/records/{seq}/leaf"), None)
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            leaf, envelope,
            "the leaf route serves exactly JCS(envelope)"
        );
        // The payload is served in canonical form, byte for byte.
        let raw = app
            .get(&format!("/v1/datasets/city/air/records/{seq}"), None)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            raw.contains(&format!("\"payload\":{canonical_payload}")),
            "{raw}"
        );
    }
    // Salts are fresh per record.
    assert_eq!(app.db.count("SELECT count(DISTINCT salt) FROM entries"), 2);
}
