//! The RFC 8785 test vectors of `shared/vectors/jcs` (cyberphone/json-canonicalization).

use std::path::PathBuf;

use civicproof_verify::{jcs, json};

/// The shared directory: `$CIVICPROOF_SHARED_DIR`, else the one beside the workspace.
fn jcs_dir() -> PathBuf {
    match std::env::var_os("CIVICPROOF_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared).join("vectors/jcs"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/jcs"
        )),
    }
}

#[test]
fn every_input_canonicalizes_to_its_output() {
    let dir = jcs_dir();
    let inputs = std::fs::read_dir(dir.join("input")).unwrap_or_else(|e| {
        panic!(
            "JCS vectors missing at {} ({e}); set CIVICPROOF_SHARED_DIR to the shared directory",
            dir.display()
        )
    });
    let mut checked = Vec::new();
    for entry in inputs {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let input = std::fs::read(&path).unwrap();
        let expected = std::fs::read(dir.join("output").join(&name))
            .unwrap_or_else(|e| panic!("no output for {name:?}: {e}"));
        let value = json::parse_strict(&input).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        let actual = jcs::canonicalize(&value);
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(&expected),
            "{name:?}"
        );
        assert_eq!(actual, expected, "{name:?}");
        checked.push(name);
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "arrays.json",
            "french.json",
            "structures.json",
            "unicode.json",
            "values.json",
            "weird.json"
        ],
        "the vector set changed"
    );
}
