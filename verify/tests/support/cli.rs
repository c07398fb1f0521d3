//! Running the `civicproof-verify` binary in tests, each with its own trust file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use civicproof_verify::merkle;

use super::{Log, key};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "civicproof-verify-test-{}-{name}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` to `name` and returns its path as a string.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args`, `stdin` and `CIVICPROOF_TRUST_FILE=trust_file`.
pub fn run(trust_file: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicproof-verify"))
        .args(args)
        .env("CIVICPROOF_TRUST_FILE", trust_file)
        .env_remove("CIVICPROOF_TOKEN")
        .env_remove("CIVICPROOF_RPC_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may exit before reading standard input (usage errors).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The `--json` output.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

/// Asserts the exit code, showing the output otherwise.
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// What `GET …/consistency?first=m&second=n` answers for `log`.
pub fn consistency_response(log: &Log, m: u64, n: u64) -> Vec<u8> {
    let path = merkle::consistency_path(&log.leaves[..n as usize], m);
    serde_json::json!({
        "first": m,
        "second": n,
        "path": path.iter().map(hex::encode).collect::<Vec<_>>(),
        "first_checkpoint": log.checkpoint_at(m).sign(&key()),
        "second_checkpoint": log.checkpoint_at(n).sign(&key()),
    })
    .to_string()
    .into_bytes()
}
