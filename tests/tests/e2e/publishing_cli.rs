//! `civicproof publish | datasets | get` against a real server, run in-process through the
//! same entry point as the binary (`civicproof_api::client::run_from_args`): files in three
//! formats land in order in several batches, re-runs and interrupted runs never duplicate, a
//! bad record stops at its batch naming its input line, and restricted data stays invisible.

use crate::support::{TestApp, sha256};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

struct Run {
    code: u8,
    out: String,
    err: String,
}

impl Run {
    fn summary(&self) -> Value {
        serde_json::from_str(self.out.trim()).unwrap_or_else(|e| {
            panic!(
                "no JSON summary ({e}): out {:?} err {:?}",
                self.out, self.err
            )
        })
    }
}

/// Runs `civicproof <args…>` in-process (blocking HTTP, so off the async runtime).
async fn cli(args: &[&str]) -> Run {
    let args: Vec<String> = std::iter::once("civicproof")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = civicproof_api::client::run_from_args(args, &mut out, &mut err);
        Run {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// A file in the test's own directory (removed with the app).
fn write_file(app: &TestApp, name: &str, content: &str) -> PathBuf {
    let path = app.config.log_key_file.with_file_name(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn token_file(app: &TestApp, token: &str) -> String {
    write_file(app, "token", &format!("{token}\n"))
        .to_string_lossy()
        .into_owned()
}

/// `publish` with a token file, small batches and a JSON summary.
async fn publish(app: &TestApp, token: &str, dataset: &str, file: &Path, extra: &[&str]) -> Run {
    let tf = token_file(app, token);
    let file = file.to_string_lossy().into_owned();
    let mut args = vec![
        "publish",
        "--server",
        &app.base,
        "--token-file",
        &tf,
        "--dataset",
        dataset,
        "--json",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--retries") {
        args.extend_from_slice(&["--retries", "2"]);
    }
    args.push(&file);
    cli(&args).await
}

/// The whole feed as (key, payload) pairs in seq order, with the seqs.
async fn feed(
    app: &TestApp,
    token: Option<&str>,
    inst: &str,
    ds: &str,
) -> Vec<(u64, Value, Value)> {
    let r = app
        .get(
            &format!("/v1/datasets/{inst}/{ds}/records?limit=1000"),
            token,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["envelope"]["seq"].as_u64().unwrap(),
                r["envelope"]["key"].clone(),
                r["payload"].clone(),
            )
        })
        .collect()
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn_with(|c| c.checkpoint_interval_ms = 200).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    (app, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_ndjson_and_json_files_land_in_order_in_several_batches() {
    let (app, token) = setup().await;
    for ds in ["air", "trams", "topups"] {
        app.dataset(&token, ds, "public", json!({})).await;
    }

    // CSV: 25 rows, batches of 10; a key column, a quoted comma, an embedded newline, a
    // leading-zero code (stays a string), an empty cell (null), a BOM.
    let mut csv = String::from("\u{feff}key,station,pm10,note\n");
    let mut expected_csv = Vec::new();
    for i in 0..25 {
        let note = match i % 4 {
            0 => "\"calm, dry\"".to_owned(),
            1 => "\"two\nlines\"".to_owned(),
            2 => String::new(),
            _ => "007".to_owned(),
        };
        csv.push_str(&format!("s{i},Station {i},{}.5,{note}\n", i * 3));
        let note_value = match i % 4 {
            0 => json!("calm, dry"),
            1 => json!("two\nlines"),
            2 => Value::Null,
            _ => json!("007"),
        };
        expected_csv.push((
            json!(format!("s{i}")),
            json!({"station": format!("Station {i}"), "pm10": (i * 3) as f64 + 0.5, "note": note_value}),
        ));
    }
    let file = write_file(&app, "air.csv", &csv);
    let run = publish(&app, &token, "city/air", &file, &["--batch", "10"]).await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    let s = run.summary();
    assert_eq!(s["outcome"], "ok");
    assert_eq!(s["records"], 25);
    assert_eq!(s["batches"], 3);
    assert_eq!(s["batches_replayed"], 0);
    let got = feed(&app, None, "city", "air").await;
    assert_eq!(got.len(), 25);
    assert_eq!(s["first_seq"], got[0].0);
    assert_eq!(s["last_seq"], got[24].0);
    for (i, ((_, key, payload), (ek, ep))) in got.iter().zip(&expected_csv).enumerate() {
        assert_eq!(key, ek, "record {i}");
        assert_eq!(payload, ep, "record {i}");
    }

    // NDJSON: records and plain payloads mixed (auto shape), a blank line, CRLF endings.
    let mut ndjson = String::new();
    let mut expected = Vec::new();
    for i in 0..23 {
        if i % 2 == 0 {
            ndjson.push_str(&format!(
                "{{\"key\":\"t{i}\",\"payload\":{{\"line\":{i},\"stop\":\"Main St\"}}}}\r\n"
            ));
            expected.push((
                json!(format!("t{i}")),
                json!({"line": i, "stop": "Main St"}),
            ));
        } else {
            ndjson.push_str(&format!("{{\"line\":{i},\"delay_s\":{}}}\n", i * 10));
            expected.push((Value::Null, json!({"line": i, "delay_s": i * 10})));
        }
        if i == 7 {
            ndjson.push('\n');
        }
    }
    let file = write_file(&app, "trams.ndjson", &ndjson);
    let run = publish(&app, &token, "city/trams", &file, &["--batch", "5"]).await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    assert_eq!(run.summary()["batches"], 5);
    let got: Vec<(Value, Value)> = feed(&app, None, "city", "trams")
        .await
        .into_iter()
        .map(|(_, k, p)| (k, p))
        .collect();
    assert_eq!(got, expected);

    // JSON: a pretty-printed array of plain payloads (numbers as written).
    let items: Vec<Value> = (0..12)
        .map(
            |i| json!({"card": format!("c{i}"), "amount_eur": 5 + i, "nested": {"ok": i % 2 == 0}}),
        )
        .collect();
    let file = write_file(
        &app,
        "topups.json",
        &serde_json::to_string_pretty(&items).unwrap(),
    );
    let run = publish(&app, &token, "city/topups", &file, &["--batch", "5"]).await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    assert_eq!(run.summary()["batches"], 3);
    assert_eq!(run.summary()["format"], "json");
    let got: Vec<Value> = feed(&app, None, "city", "topups")
        .await
        .into_iter()
        .map(|(_, k, p)| {
            assert_eq!(k, Value::Null);
            p
        })
        .collect();
    assert_eq!(got, items);
}

#[tokio::test(flavor = "multi_thread")]
async fn re_runs_and_interrupted_runs_never_duplicate() {
    let (app, token) = setup().await;
    app.dataset(&token, "air", "public", json!({})).await;
    let lines: Vec<String> = (0..50)
        .map(|i| format!("{{\"key\":\"k{i}\",\"payload\":{{\"n\":{i}}}}}\n"))
        .collect();
    let content = lines.concat();
    let file = write_file(&app, "air.ndjson", &content);

    // An earlier run "interrupted" after two batches: the same bodies under the same keys
    // (sha256 of the file, batch index), as the CLI sends them.
    let digest = hex::encode(sha256(&[content.as_bytes()]));
    for b in 0..2 {
        let r = app
            .request(
                reqwest::Method::POST,
                "/v1/datasets/city/air/records",
                Some(&token),
            )
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", format!("civicproof-cli-{digest}-{b}"))
            .body(lines[b * 10..(b + 1) * 10].concat())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    assert_eq!(app.entry_count("air"), 20);

    let run = publish(&app, &token, "city/air", &file, &["--batch", "10"]).await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    let s = run.summary();
    assert_eq!(s["records"], 50);
    assert_eq!(s["batches"], 5);
    assert_eq!(s["batches_replayed"], 2);
    assert_eq!(s["records_appended"], 30);
    assert_eq!(app.entry_count("air"), 50);
    let got = feed(&app, None, "city", "air").await;
    let keys: Vec<String> = got
        .iter()
        .map(|(_, k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, (0..50).map(|i| format!("k{i}")).collect::<Vec<_>>());
    assert_eq!(s["first_seq"], got[0].0);
    assert_eq!(s["last_seq"], got[49].0);

    // The same file again: every batch replayed, nothing appended.
    let run = publish(&app, &token, "city/air", &file, &["--batch", "10"]).await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    assert_eq!(run.summary()["batches_replayed"], 5);
    assert_eq!(run.summary()["records_appended"], 0);
    assert_eq!(app.entry_count("air"), 50);

    // Other batch boundaries for the same file: refused (422, key reused), never duplicated.
    let run = publish(&app, &token, "city/air", &file, &["--batch", "7"]).await;
    assert_eq!(run.code, 1, "{} {}", run.out, run.err);
    assert!(run.err.contains("other options"), "{}", run.err);
    assert_eq!(app.entry_count("air"), 50);

    // --resume-from-batch skips the first batches without sending them.
    let run = publish(
        &app,
        &token,
        "city/air",
        &file,
        &["--batch", "10", "--resume-from-batch", "3"],
    )
    .await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    assert_eq!(run.summary()["batches_skipped"], 3);
    assert_eq!(run.summary()["batches"], 2);
    assert_eq!(app.entry_count("air"), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_batches_are_retried_after_retry_after_and_land_once() {
    let app =
        TestApp::spawn_with(|c| c.cluster.rate_limit_publisher = "2/s".parse().unwrap()).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let content: String = (0..8).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let file = write_file(&app, "air.ndjson", &content);
    let run = publish(
        &app,
        &token,
        "city/air",
        &file,
        &["--batch", "1", "--retries", "10"],
    )
    .await;
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    let s = run.summary();
    assert!(
        s["retries"].as_u64().unwrap() > 0,
        "the limiter answered 429 at least once: {s}"
    );
    assert_eq!(s["batches"], 8);
    let got: Vec<Value> = feed(&app, None, "city", "air")
        .await
        .into_iter()
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(got, (0..8).map(|i| json!({"n": i})).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_record_in_batch_3_stops_naming_its_line_with_batches_1_and_2_committed() {
    let (app, token) = setup().await;
    let schema =
        json!({"type": "object", "properties": {"pm10": {"type": "number"}}, "required": ["pm10"]});
    app.dataset(&token, "air", "public", json!({"schema": schema}))
        .await;
    // Row 25 (record index 24, batch 3 of 10-record batches) is on line 26.
    let mut csv = String::from("station,pm10\n");
    for i in 1..=30 {
        let v = if i == 25 {
            "high".to_owned()
        } else {
            i.to_string()
        };
        csv.push_str(&format!("s{i},{v}\n"));
    }
    let file = write_file(&app, "air.csv", &csv);
    let run = publish(&app, &token, "city/air", &file, &["--batch", "10"]).await;
    assert_eq!(run.code, 1, "{} {}", run.out, run.err);
    let s = run.summary();
    assert_eq!(s["outcome"], "rejected");
    assert_eq!(s["batches"], 2);
    assert_eq!(s["records"], 20);
    assert!(run.err.contains("batch 3"), "{}", run.err);
    assert!(run.err.contains("line 26 (record 25)"), "{}", run.err);
    assert!(s["error"].as_str().unwrap().contains("line 26"), "{s}");
    let got = feed(&app, None, "city", "air").await;
    assert_eq!(got.len(), 20, "batches 1 and 2 only");
    assert_eq!(got[19].2, json!({"station": "s20", "pm10": 20}));

    // A record the client itself cannot read (broken JSON on line 8): earlier batches go out,
    // the batch holding it does not, and the line is named.
    app.dataset(&token, "trams", "public", json!({})).await;
    let mut ndjson = String::new();
    for i in 1..=9 {
        ndjson.push_str(if i == 8 {
            "{\"line\": 8,\n"
        } else {
            "{\"line\": 1}\n"
        });
    }
    let file = write_file(&app, "trams.ndjson", &ndjson);
    let run = publish(&app, &token, "city/trams", &file, &["--batch", "3"]).await;
    assert_eq!(run.code, 1, "{} {}", run.out, run.err);
    assert!(run.err.contains("line 8"), "{}", run.err);
    assert_eq!(run.summary()["batches"], 2);
    assert_eq!(app.entry_count("trams"), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn datasets_and_get_show_what_the_caller_may_see_and_restricted_data_looks_missing() {
    let (app, token) = setup().await;
    app.institution("transit").await;
    let other = app.token("transit", "publisher").await;
    app.dataset(
        &token,
        "air",
        "public",
        json!({"themes": ["environment"], "keywords": ["pm10"]}),
    )
    .await;
    app.dataset(&token, "payroll", "restricted", json!({}))
        .await;
    app.publish_ok(
        &token,
        "city",
        "air",
        &json!([{"key": "s1", "payload": {"pm10": 12}}]),
    )
    .await;
    app.publish_ok(&token, "city", "payroll", &json!([{"payload": {"eur": 1}}]))
        .await;
    let base = app.base.clone();
    let reader = app.token("city", "reader").await;
    let reader_file = token_file(&app, &reader);

    // The catalog without a token: the public dataset only.
    let run = cli(&["datasets", "--server", &base]).await;
    assert_eq!(run.code, 0, "{}", run.err);
    assert!(run.out.starts_with("DATASET"), "{}", run.out);
    assert!(run.out.contains("city/air"), "{}", run.out);
    assert!(!run.out.contains("payroll"), "{}", run.out);
    // With the institution's reader token: both, as JSON; filters reach the server.
    let run = cli(&[
        "datasets",
        "--server",
        &base,
        "--token-file",
        &reader_file,
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.err);
    let all: Value = serde_json::from_str(&run.out).unwrap();
    let slugs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs.len(), 2, "{slugs:?}");
    assert!(slugs.contains(&"payroll"));
    // Every page is fetched: one dataset a page gives the same list.
    let run = cli(&[
        "datasets",
        "--server",
        &base,
        "--token-file",
        &reader_file,
        "--json",
        "--page-size",
        "1",
    ])
    .await;
    // (The signer may sign a newer checkpoint between the two listings: compare the rest.)
    let without_checkpoints = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.as_object_mut().unwrap().remove("checkpoint");
                d
            })
            .collect()
    };
    assert_eq!(
        without_checkpoints(&serde_json::from_str::<Value>(&run.out).unwrap()),
        without_checkpoints(&all)
    );
    let run = cli(&[
        "datasets",
        "--server",
        &base,
        "--theme",
        "environment",
        "--json",
    ])
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&run.out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let run = cli(&[
        "datasets",
        "--server",
        &base,
        "--q",
        "nothing-like-this",
        "--json",
    ])
    .await;
    assert_eq!(run.out.trim(), "[]");

    // get: metadata, one record, its proof bundle.
    let run = cli(&["get", "--server", &base, "city/air"]).await;
    assert_eq!(run.code, 0, "{}", run.err);
    assert!(run.out.contains("Dataset air"), "{}", run.out);
    assert!(run.out.contains("records      1"), "{}", run.out);
    let run = cli(&["get", "--server", &base, "city/air/0", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.err);
    let record: Value = serde_json::from_str(&run.out).unwrap();
    assert_eq!(record["payload"], json!({"pm10": 12}));
    assert_eq!(record["envelope"]["key"], "s1");
    let run = cli(&["get", "--server", &base, "city/air/0"]).await;
    assert!(run.out.contains("key        s1"), "{}", run.out);
    let run = cli(&["get", "--server", &base, "city/air/0", "--proof"]).await;
    assert_eq!(run.code, 0, "{}", run.err);
    let bundle: Value = serde_json::from_str(&run.out).unwrap();
    let served = app.get("/v1/datasets/city/air/records/0/proof", None).await;
    assert_eq!(bundle, served.json::<Value>().await.unwrap());

    // Restricted: not found without a token, found with the reader's.
    let run = cli(&["get", "--server", &base, "city/payroll"]).await;
    assert_eq!(run.code, 1);
    assert!(run.err.contains("not found"), "{}", run.err);
    let run = cli(&[
        "get",
        "--server",
        &base,
        "city/payroll/0",
        "--token-file",
        &reader_file,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.err);
    // Publishing into it with another institution's token: not found, nothing appended.
    let file = write_file(&app, "p.ndjson", "{\"eur\": 2}\n");
    let run = publish(&app, &other, "city/payroll", &file, &[]).await;
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(run.err.contains("not found"), "{}", run.err);
    assert_eq!(app.entry_count("payroll"), 1);
    // Usage errors exit 2; an unreachable server exits 3 after its retries.
    assert_eq!(cli(&["get", "--server", &base, "city"]).await.code, 2);
    assert_eq!(
        publish(&app, &token, "city/air", Path::new("/nonexistent.csv"), &[])
            .await
            .code,
        2
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let run = cli(&["datasets", "--server", &closed, "--retries", "1"]).await;
    assert_eq!(run.code, 3, "{}", run.err);
}
