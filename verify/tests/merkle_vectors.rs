//! The RFC 6962 / RFC 9162 verification vectors of `shared/vectors/rfc6962`: transparency-dev/merkle
//! `testdata/inclusion` and `testdata/consistency`, commit
//! 417fb0c314750d94e53942e9f92e79b6d35915db (see SOURCE.md there), every file, recursively.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use civicproof_verify::merkle::{ConsistencyError, verify_consistency, verify_inclusion};
use serde_json::Value;

/// The single case SOURCE.md documents as an expected disagreement: upstream accepts roots that
/// are not 32 bytes when the sizes are equal; civicproof checks every length first.
const EXPECTED_DISAGREEMENT: &str =
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

/// `$CIVICPROOF_SHARED_DIR/vectors/rfc6962`, else the shared directory beside the workspace.
fn vectors_dir() -> PathBuf {
    let shared = match std::env::var_os("CIVICPROOF_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    };
    shared.join("vectors/rfc6962")
}

/// Every `.json` file under `dir`, sorted, as (path relative to the vector root, parsed case).
fn cases(kind: &str) -> Vec<(String, Value)> {
    let root = vectors_dir();
    let mut files = Vec::new();
    collect(&root.join(kind), &mut files);
    assert!(
        !files.is_empty(),
        "no RFC 6962 vectors under {}; set CIVICPROOF_SHARED_DIR to the shared directory",
        root.join(kind).display()
    );
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path).unwrap();
            let case = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let name = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, case)
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "RFC 6962 vectors missing at {} ({e}); set CIVICPROOF_SHARED_DIR to the shared directory",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn bytes(case: &Value, field: &str) -> Vec<u8> {
    STANDARD.decode(case[field].as_str().unwrap()).unwrap()
}

/// `proof` is an array of base64 strings or `null` (no proof).
fn proof(case: &Value) -> Vec<Vec<u8>> {
    match &case["proof"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|p| STANDARD.decode(p.as_str().unwrap()).unwrap())
            .collect(),
        other => panic!("unexpected proof {other}"),
    }
}

fn number(case: &Value, field: &str) -> u64 {
    case[field].as_u64().unwrap()
}

#[test]
fn inclusion_vectors() {
    let cases = cases("inclusion");
    assert_eq!(cases.len(), 98, "the inclusion vector set changed");
    let mut accepted = 0;
    for (name, case) in &cases {
        let result = verify_inclusion(
            &bytes(case, "leafHash"),
            number(case, "leafIdx"),
            number(case, "treeSize"),
            &proof(case),
            &bytes(case, "root"),
        );
        let want_err = case["wantErr"].as_bool().unwrap();
        assert_eq!(
            result.is_err(),
            want_err,
            "{name} ({}): got {result:?}",
            case["desc"]
        );
        accepted += usize::from(!want_err);
    }
    assert_eq!(accepted, 6, "happy paths");
}

#[test]
fn consistency_vectors() {
    let cases = cases("consistency");
    assert_eq!(cases.len(), 98, "the consistency vector set changed");
    let mut accepted = 0;
    let mut disagreements = 0;
    for (name, case) in &cases {
        let result = verify_consistency(
            number(case, "size1"),
            number(case, "size2"),
            &bytes(case, "root1"),
            &bytes(case, "root2"),
            &proof(case),
        );
        let want_err = case["wantErr"].as_bool().unwrap();
        if name == EXPECTED_DISAGREEMENT {
            assert!(
                !want_err,
                "{name} no longer expects success; update SOURCE.md"
            );
            assert_eq!(result, Err(ConsistencyError::Root1Length(12)), "{name}");
            disagreements += 1;
            continue;
        }
        assert_eq!(
            result.is_err(),
            want_err,
            "{name} ({}): got {result:?}",
            case["desc"]
        );
        accepted += usize::from(!want_err);
    }
    assert_eq!(disagreements, 1, "{EXPECTED_DISAGREEMENT} not found");
    assert_eq!(accepted, 5, "happy paths");
}
