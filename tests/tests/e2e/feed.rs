//! The feed: cursor paging in seq order, filters, current versions, formats, streaming.

use crate::support::{TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn setup(n: usize) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let mut done = 0;
    while done < n {
        let batch: Vec<Value> = (done..(done + 1000).min(n))
            .map(|i| json!({"key": format!("sensor-{}", i % 10), "payload": {"i": i, "station": format!("st-{}", i % 3), "pm10": (i % 7) as f64 + 0.5}}))
            .collect();
        done += batch.len();
        app.publish_ok(&token, "city", "air", &Value::from(batch))
            .await;
    }
    (app, token)
}

const FEED: &str = "/v1/datasets/city/air/records";

fn seqs(page: &Value) -> Vec<u64> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["envelope"]["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cursor_paging_visits_every_entry_once_in_order() {
    let (app, _) = setup(250).await;
    let mut url = format!("{FEED}?limit=60");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = app.get(&url, None).await;
        assert_eq!(r.status(), 200);
        let link = r
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        let page: Value = r.json().await.unwrap();
        seen.extend(seqs(&page));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => {
                let link = link.expect("a Link header with every next_cursor");
                assert!(link.ends_with("rel=\"next\"") && link.contains(c), "{link}");
                url = format!("{FEED}?limit=60&after={c}");
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, (0..250).collect::<Vec<_>>());
    // `after` also takes a plain seq; the default page is 100.
    let page: Value = app.get_json(&format!("{FEED}?after=199"), None).await;
    assert_eq!(seqs(&page), (200..250).collect::<Vec<_>>());
    let page: Value = app.get(FEED, None).await.json().await.unwrap();
    assert_eq!(seqs(&page).len(), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_by_key_time_payload_and_current_version() {
    let (app, token) = setup(100).await;
    let page: Value = app
        .get_json(&format!("{FEED}?key=sensor-3&limit=1000"), None)
        .await;
    assert_eq!(
        seqs(&page),
        (0..100).filter(|i| i % 10 == 3).collect::<Vec<_>>()
    );
    // Numbers compare as numbers (6.50 == 6.5), strings as strings.
    let page: Value = app
        .get_json(&format!("{FEED}?payload.pm10=6.50&limit=1000"), None)
        .await;
    assert_eq!(
        seqs(&page),
        (0..100).filter(|i| i % 7 == 6).collect::<Vec<_>>()
    );
    // ... as doubles: this literal is the same double as 6.5.
    let page: Value = app
        .get_json(
            &format!("{FEED}?payload.pm10=6.5000000000000000001&limit=1000"),
            None,
        )
        .await;
    assert_eq!(
        seqs(&page),
        (0..100).filter(|i| i % 7 == 6).collect::<Vec<_>>()
    );
    let page: Value = app
        .get_json(
            &format!("{FEED}?payload.station=st-1&payload.pm10=1.5&limit=1000"),
            None,
        )
        .await;
    assert_eq!(
        seqs(&page),
        (0..100)
            .filter(|i| i % 3 == 1 && i % 7 == 1)
            .collect::<Vec<_>>()
    );
    // A filter value that tries SQL injection is just a string that matches nothing.
    let page: Value = app
        .get(
            &format!(
                "{FEED}?{}",
                "payload.station=x'%20OR%20'1'='1&payload.x%27)%3B%20DROP%20TABLE%20entries%3B--=1"
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seqs(&page), Vec::<u64>::new());
    assert_eq!(app.entry_count("air"), 100);
    // current=true: the newest version per key.
    let page: Value = app
        .get_json(&format!("{FEED}?current=true&limit=1000"), None)
        .await;
    assert_eq!(seqs(&page), (90..100).collect::<Vec<_>>());
    // Erased records never match payload filters but stay current.
    let r = app
        .request(Method::POST, &format!("{FEED}/93/erasure"), Some(&token))
        .json(&json!({"reason": "publisher-error"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let page: Value = app.get_json(&format!("{FEED}?payload.i=93"), None).await;
    assert_eq!(seqs(&page), Vec::<u64>::new());
    let page: Value = app
        .get_json(&format!("{FEED}?current=true&limit=1000"), None)
        .await;
    assert_eq!(
        seqs(&page),
        (90..101).collect::<Vec<_>>(),
        "the erasure entry has no key: always current"
    );
    // Time range: everything was published before now and after an hour ago.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("published_after", &hour_ago)
        .append_pair("published_before", &later)
        .append_pair("limit", "1000")
        .finish();
    let page: Value = app.get_json(&format!("{FEED}?{q}"), None).await;
    assert_eq!(seqs(&page).len(), 101);
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("published_after", &later)
        .finish();
    let page: Value = app.get_json(&format!("{FEED}?{q}"), None).await;
    assert!(seqs(&page).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_and_csv_stream_the_whole_feed() {
    let (app, _) = setup(2_500).await;
    let r = app
        .request(Method::GET, FEED, None)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers()["vary"],
        "Accept",
        "one URL, formats chosen by Accept"
    );
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2_500);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, l)| l["envelope"]["seq"] == i as u64)
    );
    let text = app
        .get(&format!("{FEED}?format=csv&after=2399"), None)
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..4], ["seq", "kind", "key", "published_at"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 100);
    assert_eq!(&rows[0][0], "2400");
    let payload: Value = serde_json::from_str(&rows[0][10]).unwrap();
    assert_eq!(payload["i"], 2400.0);
    // With a limit, NDJSON pages like JSON and links the next page.
    let r = app
        .get(&format!("{FEED}?format=ndjson&limit=10"), None)
        .await;
    assert!(
        r.headers()["link"]
            .to_str()
            .unwrap()
            .contains("format=ndjson")
    );
    assert_eq!(r.text().await.unwrap().lines().count(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_feed_parameters_are_400() {
    let (app, _) = setup(3).await;
    for q in [
        "after=abc",
        "after=-1",
        "after=c2VxOng",
        "after=99999999999999999999",
        "limit=0",
        "limit=1001",
        "limit=100000000",
        "limit=ten",
        "format=xml",
        "current=yes",
        "published_after=yesterday",
        "publishedAfter=2026-01-01T00:00:00Z",
        "payload.=1",
    ] {
        let r = app.get(&format!("{FEED}?{q}"), None).await;
        assert_problem(r, 400, "bad-request").await;
    }
    for q in ["limit=abc", "after=zzz", "limit=5000", "nonsense=1"] {
        assert_problem(
            app.get(&format!("/v1/datasets?{q}"), None).await,
            400,
            "bad-request",
        )
        .await;
    }
}
