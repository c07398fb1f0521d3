//! The `civicproof-verify` binary against a canned HTTP server on 127.0.0.1: bundles from URLs,
//! `--tofu`, the online stateful consistency check and the `consistency` command.

mod support;

use civicproof_verify::encoding::base64_encode;
use support::cli::{TempDir, assert_code, consistency_response, json, run, stderr, stdout};
use support::http::{Answer, Server, not_found};
use support::{Log, ORIGIN, PREFIX, trust};

fn public_key() -> String {
    base64_encode(&trust().public_key)
}

fn well_known(key: &str) -> Answer {
    let body = serde_json::json!({"origin_prefix": PREFIX, "log_public_key": key, "anchor": null});
    (200, body.to_string().into_bytes())
}

/// A server for `log` (origin `test.example/city/air`), mounted at `mount` (e.g. `/civic`).
fn log_server(log: Log, mount: &'static str, key: String) -> Server {
    Server::start(move |target| {
        if target == "/.well-known/civicproof.json" {
            return well_known(&key);
        }
        let Some(rest) = target
            .strip_prefix(mount)
            .and_then(|t| t.strip_prefix("/v1/datasets/city/air/"))
        else {
            return not_found();
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let size = log.leaves.len() as u64;
        if path == "consistency" {
            return match (param("first"), param("second")) {
                (Some(m), Some(n)) if 1 <= m && m <= n && n <= size => {
                    (200, consistency_response(&log, m, n))
                }
                _ => not_found(),
            };
        }
        let seq = path
            .strip_prefix("records/")
            .and_then(|p| p.strip_suffix("/proof"))
            .and_then(|s| s.parse::<u64>().ok());
        match (seq, param("tree_size").unwrap_or(size)) {
            (Some(seq), n) if seq < n && n <= size => (200, log.bundle_at(seq, n).to_json_bytes()),
            _ => not_found(),
        }
    })
}

fn proof_url(server: &Server, mount: &str, seq: u64, query: &str) -> String {
    format!(
        "{}{mount}/v1/datasets/city/air/records/{seq}/proof{query}",
        server.base
    )
}

#[test]
fn bundle_from_url_takes_origin_and_seq_from_the_url() {
    let dir = TempDir::new("url");
    let trust_file = dir.path("trust.json");
    let server = log_server(Log::city_air(), "", public_key());
    let key = public_key();
    let url = proof_url(&server, "", 17, "");
    let out = run(
        &trust_file,
        &[
            "bundle",
            &url,
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
            "--json",
        ],
        b"",
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(
        report["expected"],
        serde_json::json!({"origin": ORIGIN, "seq": 17})
    );
    assert_eq!(report["checkpoint"]["size"], 37);
    assert_eq!(report["source"], url);

    let url = proof_url(&server, "", 3, "?tree_size=20");
    let out = run(
        &trust_file,
        &[
            "bundle",
            &url,
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
            "--json",
        ],
        b"",
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["checkpoint"]["size"], 20);
    assert!(
        server
            .requests()
            .contains(&"/v1/datasets/city/air/records/3/proof?tree_size=20".to_owned())
    );

    // The flat form takes URLs too; a contradicting --seq is a usage error.
    let out = run(
        &trust_file,
        &[&url, "--prefix", PREFIX, "--public-key", &key],
        b"",
    );
    assert_code(&out, 0);
    let out = run(
        &trust_file,
        &[&url, "--seq", "4", "--prefix", PREFIX, "--public-key", &key],
        b"",
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("contradicts the URL"));

    // A server answering 404 is a network error.
    let missing = proof_url(&server, "", 99, "");
    let out = run(
        &trust_file,
        &["bundle", &missing, "--prefix", PREFIX, "--public-key", &key],
        b"",
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("HTTP 404: no such thing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bundle_served_for_another_seq_fails_binding() {
    let dir = TempDir::new("wrongseq");
    let log = Log::city_air();
    let wrong = log.bundle(17).to_json_bytes();
    let server = Server::start(move |_| (200, wrong.clone()));
    let url = proof_url(&server, "", 18, "");
    let out = run(
        &dir.path("t.json"),
        &[
            "bundle",
            &url,
            "--prefix",
            PREFIX,
            "--public-key",
            &public_key(),
        ],
        b"",
    );
    assert_code(&out, 1);
    assert!(stdout(&out).contains("step 5 checkpoint-binding: FAILED"));
}

#[test]
fn tofu_pins_once_and_refuses_a_different_key() {
    let dir = TempDir::new("tofu");
    let trust_file = dir.path("trust.json");
    let server = log_server(Log::city_air(), "", public_key());
    let url = proof_url(&server, "", 17, "");
    let out = run(&trust_file, &["bundle", &url, "--tofu"], b"");
    assert_code(&out, 0);
    let notice = format!(
        "TRUST ON FIRST USE: pinning log key {} (fingerprint: ",
        public_key()
    );
    assert!(stderr(&out).contains(&notice), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!(
        "for prefix {PREFIX} from {}/.well-known/civicproof.json; verify it out of band",
        server.base
    )));
    assert!(stdout(&out).contains("(trust on first use)"));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
    assert_eq!(stored[PREFIX]["log_public_key"], public_key());

    // Pinned: no notice, and the trust file alone serves with --prefix.
    let out = run(&trust_file, &["bundle", &url, "--tofu"], b"");
    assert_code(&out, 0);
    assert!(!stderr(&out).contains("TRUST ON FIRST USE"));
    let out = run(
        &trust_file,
        &["bundle", &url, "--prefix", PREFIX, "--json"],
        b"",
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["trust"]["source"], "trust file");

    // Another server claiming the same prefix with another key: refused, both keys shown.
    let other = base64_encode(
        &ed25519_dalek::SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let impostor = log_server(Log::city_air(), "", other.clone());
    let before = std::fs::read(&trust_file).unwrap();
    let out = run(
        &trust_file,
        &["bundle", &proof_url(&impostor, "", 17, ""), "--tofu"],
        b"",
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains(&public_key()) && stderr(&out).contains(&other),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&trust_file).unwrap(), before);

    // --tofu with a --prefix the server does not claim.
    let out = run(
        &trust_file,
        &["bundle", &url, "--tofu", "--prefix", "other.example"],
        b"",
    );
    assert_code(&out, 2);
    // --tofu for a file needs --server.
    let out = run(
        &trust_file,
        &["--origin", ORIGIN, "--any-seq", "--tofu"],
        b"",
    );
    assert_code(&out, 2);
}

#[test]
fn online_stateful_check_verifies_consistency_and_catches_forks() {
    let dir = TempDir::new("online-state");
    let trust_file = dir.path("trust.json");
    let log = Log::city_air();
    let server = log_server(Log::city_air(), "/civic", public_key());
    let stored = || -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
        v[PREFIX]["checkpoints"][ORIGIN]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let out = run(
        &trust_file,
        &[
            "bundle",
            &proof_url(&server, "/civic", 3, "?tree_size=20"),
            "--tofu",
            "--json",
        ],
        b"",
    );
    assert_code(&out, 0);
    assert_eq!(stored(), log.checkpoint_at(20).sign(&support::key()));

    let out = run(
        &trust_file,
        &[
            "bundle",
            &proof_url(&server, "/civic", 17, ""),
            "--prefix",
            PREFIX,
            "--json",
        ],
        b"",
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["consistency"]["status"], "pass", "{report:#}");
    assert_eq!(
        (
            report["consistency"]["first"].clone(),
            report["consistency"]["second"].clone()
        ),
        (20.into(), 37.into())
    );
    assert_eq!(report["consistency"]["updated"], true);
    assert!(
        server
            .requests()
            .contains(&"/civic/v1/datasets/city/air/consistency?first=20&second=37".to_owned())
    );
    assert_eq!(stored(), log.checkpoint().sign(&support::key()));

    // An older bundle is checked against the stored (larger) checkpoint, which stays.
    let out = run(
        &trust_file,
        &[
            "bundle",
            &proof_url(&server, "/civic", 3, "?tree_size=20"),
            "--prefix",
            PREFIX,
        ],
        b"",
    );
    assert_code(&out, 0);
    assert!(stdout(&out).contains(
        "stateful check: passed: consistent with the stored checkpoint: proof 20 → 37 verified"
    ));
    assert_eq!(stored(), log.checkpoint().sign(&support::key()));

    // A file plus --server checks online too.
    let file = dir.write("b.json", &log.bundle_at(4, 30).to_json_bytes());
    let base = format!("{}/civic", server.base);
    let out = run(
        &trust_file,
        &[
            "bundle", &file, "--origin", ORIGIN, "--seq", "4", "--prefix", PREFIX, "--server",
            &base,
        ],
        b"",
    );
    assert_code(&out, 0);
    assert!(stdout(&out).contains("proof 30 → 37 verified"));

    // A forked log of the same origin (diverging at leaf 36), served from another host: the
    // trust file is keyed by prefix, so its state applies, and the fork is caught.
    let fork = Log::build(ORIGIN, 40, Some(3));
    let fork_note = fork.checkpoint_at(38).sign(&support::key());
    let fork_server = log_server(fork, "", public_key());
    let out = run(
        &trust_file,
        &[
            "bundle",
            &proof_url(&fork_server, "", 0, "?tree_size=38"),
            "--prefix",
            PREFIX,
        ],
        b"",
    );
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("step 6 inclusion: passed"));
    assert!(
        text.contains("stateful check: FAILED: split view"),
        "{text}"
    );
    assert!(text.contains(&log.checkpoint().sign(&support::key())));
    assert!(text.contains(&fork_note));
    assert_eq!(stored(), log.checkpoint().sign(&support::key()));

    // A server that cannot answer the consistency request: exit 2, state unchanged.
    let bundle = log.bundle_at(3, 36).to_json_bytes();
    let broken = Server::start(move |t| {
        if t.contains("/proof") {
            (200, bundle.clone())
        } else {
            (503, b"{}".to_vec())
        }
    });
    let out = run(
        &trust_file,
        &[
            "bundle",
            &proof_url(&broken, "", 3, ""),
            "--prefix",
            PREFIX,
            "--json",
        ],
        b"",
    );
    assert_code(&out, 2);
    assert_eq!(json(&out)["consistency"]["status"], "error");
    assert_eq!(json(&out)["ok"], false);
}

#[test]
fn consistency_command_online() {
    let dir = TempDir::new("consistency-online");
    let trust_file = dir.path("trust.json");
    let server = log_server(Log::city_air(), "", public_key());
    let key = public_key();
    let args = |first: &'static str, second: &'static str| {
        vec![
            "consistency",
            "--server",
            &server.base,
            "--dataset",
            "city/air",
            "--first",
            first,
            "--second",
            second,
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
        ]
    };
    let out = run(&trust_file, &args("20", "37"), b"");
    assert_code(&out, 0);
    assert!(stdout(&out).contains("result: consistent"));
    let out = run(
        &trust_file,
        &[&args("37", "37")[..], &["--json"]].concat(),
        b"",
    );
    assert_code(&out, 0);
    assert_eq!(json(&out)["ok"], true);
    let out = run(&trust_file, &args("0", "37"), b"");
    assert_code(&out, 2);
    let out = run(&trust_file, &args("20", "99"), b"");
    assert_code(&out, 2);

    // A server whose proof does not connect its two checkpoints.
    let log = Log::city_air();
    let fork = Log::build(ORIGIN, 20, Some(2));
    let bad = Server::start(move |_| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&consistency_response(&log, 20, 37)).unwrap();
        v["first_checkpoint"] = fork.checkpoint().sign(&support::key()).into();
        (200, v.to_string().into_bytes())
    });
    let out = run(
        &trust_file,
        &[
            "consistency",
            "--server",
            &bad.base,
            "--dataset",
            "city/air",
            "--first",
            "20",
            "--second",
            "37",
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
            "--json",
        ],
        b"",
    );
    assert_code(&out, 1);
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["evidence"].as_array().unwrap().len(), 2);
}
