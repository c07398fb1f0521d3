//! The `civicproof-verify` binary offline: bundles from standard input and files, the trust file,
//! the offline stateful check and offline consistency proofs; exit status, text and JSON.

mod support;

use civicproof_verify::encoding::base64_encode;
use support::cli::{TempDir, assert_code, consistency_response, json, run, stderr, stdout};
use support::{ERASED, Log, ORIGIN, PREFIX, trust};

fn public_key() -> String {
    base64_encode(&trust().public_key)
}

/// The flat form with `--origin`, `--prefix` and `--public-key`, bundle on standard input.
fn run_flat(dir: &TempDir, bundle: &[u8], extra: &[&str]) -> std::process::Output {
    let key = public_key();
    let mut args = vec!["--origin", ORIGIN, "--prefix", PREFIX, "--public-key", &key];
    args.extend_from_slice(extra);
    run(&dir.path("trust.json"), &args, bundle)
}

#[test]
fn verified_bundle_exits_0_and_prints_every_step() {
    let dir = TempDir::new("flat");
    let log = Log::city_air();
    let out = run_flat(&dir, &log.bundle(ERASED).to_json_bytes(), &["--seq", "5"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for line in [
        "step 0 format: passed",
        "step 2 payload: erased by seq 36 (reason legal-erasure)",
        "step 7 anchor-offline: skipped: bundle has no anchor",
        "step 8 anchor-online: skipped: bundle has no anchor",
        "result: verified",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
    assert!(text.contains("does not prove that the entry is the current version"));
    assert!(
        text.contains("stateful check: skipped: the key for prefix test.example is not pinned")
    );
    // Without --pin nothing is written.
    assert!(!dir.path("trust.json").exists());
}

#[test]
fn tampered_bundle_exits_1_with_the_reason() {
    let dir = TempDir::new("tampered");
    let log = Log::city_air();
    let mut bundle = log.bundle(17);
    bundle.payload.as_mut().unwrap()["pm10"] = serde_json::json!(99);
    let out = run_flat(&dir, &bundle.to_json_bytes(), &["--seq", "17", "--json"]);
    assert_code(&out, 1);
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed_step"], 2);
    assert_eq!(report["steps"][2]["status"], "fail");
    assert_eq!(report["steps"][3]["status"], "skipped");
    assert_eq!(report["steps"][3]["detail"], "earlier step failed");
    assert_eq!(report["consistency"]["status"], "skipped");

    let out = run_flat(&dir, &log.bundle(17).to_json_bytes(), &["--seq", "18"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("step 5 checkpoint-binding: FAILED: "));
    assert!(stdout(&out).contains("result: NOT verified: step 5 checkpoint-binding failed"));
}

#[test]
fn bad_arguments_exit_2() {
    let dir = TempDir::new("badargs");
    let trust_file = dir.path("trust.json");
    let bytes = Log::city_air().bundle(0).to_json_bytes();
    let short_key = base64_encode(&[1u8; 31]);
    for key in ["AAAA", short_key.as_str(), "not base64"] {
        let out = run(
            &trust_file,
            &[
                "--origin",
                ORIGIN,
                "--seq",
                "0",
                "--prefix",
                PREFIX,
                "--public-key",
                key,
            ],
            &bytes,
        );
        assert_code(&out, 2);
        assert!(stderr(&out).contains("--public-key"), "{}", stderr(&out));
    }
    let key = public_key();
    let cases: [&[&str]; 7] = [
        &["--json"],
        &[
            "bundle",
            "-",
            "--origin",
            ORIGIN,
            "--seq",
            "0",
            "--public-key",
            &key,
        ],
        &[
            "bundle",
            "-",
            "--origin",
            ORIGIN,
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
        ],
        &[
            "bundle",
            "-",
            "--seq",
            "0",
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
        ],
        &[
            "bundle",
            "-",
            "--any-seq",
            "--seq",
            "0",
            "--origin",
            ORIGIN,
            "--prefix",
            PREFIX,
        ],
        &[
            "bundle",
            "-",
            "--origin",
            ORIGIN,
            "--any-seq",
            "--prefix",
            "Not A Prefix",
            "--public-key",
            &key,
        ],
        &[
            "bundle",
            "-",
            "--origin",
            ORIGIN,
            "--any-seq",
            "--prefix",
            PREFIX,
            "--tofu",
        ],
    ];
    for args in cases {
        let out = run(&trust_file, args, &bytes);
        assert_code(&out, 2);
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    let out = run(
        &trust_file,
        &[
            "bundle",
            &dir.path("missing.json").display().to_string(),
            "--origin",
            ORIGIN,
            "--seq",
            "0",
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
        ],
        b"",
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("cannot read"));
}

#[test]
fn bundle_from_file_requires_seq_unless_any_seq() {
    let dir = TempDir::new("file");
    let trust_file = dir.path("trust.json");
    let file = dir.write(
        "b.json",
        &Log::city_air().anchored_bundle(17).to_json_bytes(),
    );
    let key = public_key();
    let base = [
        "bundle",
        &file,
        "--origin",
        ORIGIN,
        "--prefix",
        PREFIX,
        "--public-key",
        &key,
    ];
    let out = run(&trust_file, &base, b"");
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--seq is required"));
    let out = run(&trust_file, &[&base[..], &["--any-seq"]].concat(), b"");
    assert_code(&out, 0);
    assert!(stdout(&out).contains("expected: origin test.example/city/air, any seq"));
    assert!(
        stdout(&out)
            .contains("step 7 anchor-offline: passed (anchor claimed, not checked on chain)")
    );
    let out = run(
        &trust_file,
        &[&base[..], &["--seq", "17", "--json"]].concat(),
        b"",
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["expected"],
        serde_json::json!({"origin": ORIGIN, "seq": 17})
    );
    assert_eq!(report["steps"].as_array().unwrap().len(), 9);
    assert_eq!(
        report["steps"][7]["detail"],
        "anchor claimed, not checked on chain"
    );
    assert_eq!(report["erased_by"], serde_json::Value::Null);
    assert_eq!(report["checkpoint"]["origin"], ORIGIN);
    assert_eq!(report["checkpoint"]["size"], 37);
    assert_eq!(
        report["checkpoint"]["root"],
        hex::encode(Log::city_air().checkpoint().root)
    );
    assert_eq!(report["trust"]["source"], "command line");
}

#[test]
fn trust_file_is_keyed_by_prefix_and_never_overwritten() {
    let dir = TempDir::new("pin");
    let trust_file = dir.path("config/trust.json");
    let log = Log::city_air();
    let file = dir.write("b.json", &log.bundle(3).to_json_bytes());
    let key = public_key();
    let out = run(
        &trust_file,
        &[
            "bundle",
            &file,
            "--origin",
            ORIGIN,
            "--seq",
            "3",
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
            "--pin",
        ],
        b"",
    );
    assert_code(&out, 0);
    assert!(stderr(&out).contains("pinned log key"));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
    assert_eq!(stored[PREFIX]["log_public_key"], key);
    assert_eq!(
        stored[PREFIX]["checkpoints"][ORIGIN],
        log.bundle(3).checkpoint
    );

    // The trust file alone is enough now, via --trust-file too.
    let moved = dir.path("elsewhere.json");
    std::fs::copy(&trust_file, &moved).unwrap();
    let args = [
        "bundle", &file, "--origin", ORIGIN, "--seq", "3", "--prefix", PREFIX, "--json",
    ];
    for (env_file, extra) in [
        (&trust_file, vec![]),
        (
            &dir.path("none.json"),
            vec!["--trust-file", moved.to_str().unwrap()],
        ),
    ] {
        let out = run(env_file, &[&args[..], &extra[..]].concat(), b"");
        assert_code(&out, 0);
        let report = json(&out);
        assert_eq!(report["trust"]["source"], "trust file");
        assert_eq!(report["consistency"]["status"], "pass");
    }

    // A different key for the same prefix is refused, showing both; the file is unchanged.
    let before = std::fs::read(&trust_file).unwrap();
    let other = base64_encode(
        &ed25519_dalek::SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes(),
    );
    for pin in [false, true] {
        let mut args = vec![
            "bundle",
            &file,
            "--origin",
            ORIGIN,
            "--seq",
            "3",
            "--prefix",
            PREFIX,
            "--public-key",
            &other,
        ];
        if pin {
            args.push("--pin");
        }
        let out = run(&trust_file, &args, b"");
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains(&key) && stderr(&out).contains(&other),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&trust_file).unwrap(), before);

    // Another prefix has no key pinned.
    let out = run(
        &trust_file,
        &[
            "bundle",
            &file,
            "--origin",
            ORIGIN,
            "--seq",
            "3",
            "--prefix",
            "other.example",
        ],
        b"",
    );
    assert_code(&out, 2);
    assert!(stderr(&out).contains("no log key pinned for prefix other.example"));

    std::fs::write(&trust_file, "{not json").unwrap();
    let out = run(&trust_file, &args, b"");
    assert_code(&out, 2);
    assert!(stderr(&out).contains("trust error"));
}

#[test]
fn offline_stateful_check_stores_reports_and_catches_split_views() {
    let dir = TempDir::new("stateful");
    let trust_file = dir.path("trust.json");
    let log = Log::city_air();
    let key = public_key();
    let verify = |bundle: &[u8], seq: &str, pin: bool| {
        let mut args = vec![
            "--origin",
            ORIGIN,
            "--seq",
            seq,
            "--prefix",
            PREFIX,
            "--public-key",
            &key,
            "--json",
        ];
        if pin {
            args.push("--pin");
        }
        run(&trust_file, &args, bundle)
    };
    let stored = || -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
        v[PREFIX]["checkpoints"][ORIGIN]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let out = verify(&log.bundle_at(3, 20).to_json_bytes(), "3", true);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["consistency"]["status"], "skipped");
    assert_eq!(report["consistency"]["updated"], true);
    assert_eq!(stored(), log.checkpoint_at(20).sign(&support::key()));

    let out = verify(&log.bundle(17).to_json_bytes(), "17", false);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["consistency"]["status"], "skipped");
    assert_eq!(
        report["consistency"]["detail"],
        "consistency with the stored checkpoint (size 20) not checked (offline)"
    );
    assert_eq!(report["consistency"]["stored_checkpoint"]["size"], 20);
    assert_eq!(
        stored(),
        log.checkpoint_at(20).sign(&support::key()),
        "offline never advances the state"
    );

    // Another log of the same origin signed at the same size: a split view.
    let fork = Log::build(ORIGIN, 20, Some(2));
    let out = run(
        &trust_file,
        &["--origin", ORIGIN, "--seq", "0", "--prefix", PREFIX],
        &fork.bundle(0).to_json_bytes(),
    );
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("step 6 inclusion: passed"), "{text}");
    assert!(
        text.contains("stateful check: FAILED: split view"),
        "{text}"
    );
    assert!(text.contains(&log.checkpoint_at(20).sign(&support::key())));
    assert!(text.contains(&fork.checkpoint().sign(&support::key())));
    assert!(text.ends_with("result: NOT verified: the stateful check failed\n"));
}

#[test]
fn offline_consistency_command() {
    let dir = TempDir::new("consistency");
    let trust_file = dir.path("trust.json");
    let log = Log::city_air();
    let key = public_key();
    let response = dir.write("proof.json", &consistency_response(&log, 20, 37));
    let common = [
        "--dataset",
        "city/air",
        "--prefix",
        PREFIX,
        "--public-key",
        &key,
    ];
    let out = run(
        &trust_file,
        &[&["consistency", "--proof-file", &response][..], &common].concat(),
        b"",
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("result: consistent (signatures and the proof 20 → 37 verified)")
    );

    let lines: String = civicproof_verify::merkle::consistency_path(&log.leaves, 20)
        .iter()
        .map(|h| format!("{}\n", hex::encode(h)))
        .collect();
    let hex_file = dir.write("proof.txt", lines.as_bytes());
    let first = dir.write(
        "20.note",
        log.checkpoint_at(20).sign(&support::key()).as_bytes(),
    );
    let second = dir.write("37.note", log.checkpoint().sign(&support::key()).as_bytes());
    let notes = ["--first-note", &first, "--second-note", &second];
    let out = run(
        &trust_file,
        &[
            &["consistency", "--proof-file", &hex_file, "--json"][..],
            &notes,
            &common,
        ]
        .concat(),
        b"",
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["first"]["size"], 20);
    assert_eq!(report["second"]["size"], 37);

    // A note of another log at size 20 does not connect.
    let fork = dir.write(
        "fork.note",
        Log::build(ORIGIN, 20, Some(2))
            .checkpoint()
            .sign(&support::key())
            .as_bytes(),
    );
    let out = run(
        &trust_file,
        &[
            &[
                "consistency",
                "--proof-file",
                &hex_file,
                "--first-note",
                &fork,
                "--second-note",
                &second,
            ][..],
            &common,
        ]
        .concat(),
        b"",
    );
    assert_code(&out, 1);
    assert!(stdout(&out).contains("result: NOT consistent: consistency proof 20 → 37"));
    assert!(stdout(&out).contains("--- first checkpoint ---"));

    let out = run(
        &trust_file,
        &[&["consistency", "--proof-file", &hex_file][..], &common].concat(),
        b"",
    );
    assert_code(&out, 2);
    let out = run(
        &trust_file,
        &[
            &["consistency", "--proof-file", &response, "--first", "19"][..],
            &common,
        ]
        .concat(),
        b"",
    );
    assert_code(&out, 2);
}
