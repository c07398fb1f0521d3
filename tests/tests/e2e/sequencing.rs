//! Concurrent publishers to one dataset get gapless, unique seqs, in batch order.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_publishers_of_a_thousand_records_get_seqs_0_to_7999_once() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let mut tasks = Vec::new();
    for publisher in 0..8 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/v1/datasets/city/air/records"),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            // Ten batches of 100 each, interleaving with the other publishers.
            for batch in 0..10 {
                let records: Vec<Value> =
                    (0..100).map(|i| json!({"key": format!("p{publisher}/{batch}/{i}"), "payload": {"p": publisher, "i": i}})).collect();
                let r = client.post(&url).bearer_auth(&token).json(&records).send().await.unwrap();
                assert_eq!(r.status(), 201);
                let body: Value = r.json().await.unwrap();
                let batch_seqs: Vec<u64> = body["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
                // A batch's seqs are consecutive and in input order.
                assert!(batch_seqs.windows(2).all(|w| w[1] == w[0] + 1), "{batch_seqs:?}");
                seqs.extend(batch_seqs);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), 8000);
    assert_eq!(unique.len(), 8000, "duplicate seqs");
    assert_eq!(
        unique.iter().copied().collect::<Vec<_>>(),
        (0..8000).collect::<Vec<_>>(),
        "gaps"
    );
    assert_eq!(
        app.db.count("SELECT count(DISTINCT seq) FROM entries"),
        8000
    );
    assert_eq!(app.db.count("SELECT max(seq) FROM entries"), 7999);
    assert_eq!(
        app.db
            .count("SELECT entry_count FROM datasets WHERE slug = 'air'"),
        8000
    );
    // published_at never decreases with seq.
    assert_eq!(
        app.db.count(
            "SELECT count(*) FROM entries a JOIN entries b ON b.dataset_id = a.dataset_id AND b.seq = a.seq + 1 \
             WHERE b.published_at < a.published_at"
        ),
        0
    );
}
