//! [`WitnessProcess`]: `civicproof witness serve` as an OS process with a key and a state
//! directory of its own, following one civicproof instance.

use super::TempDir;
use super::db::uuid_like;
use super::process::ServerProcess;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

/// A running witness; killed on drop. Its state directory outlives restarts ([`Self::restart`]).
pub struct WitnessProcess {
    pub name: String,
    /// The witness vkey (what the server is configured with and verifiers pin).
    pub vkey: String,
    /// `http://127.0.0.1:<port>`, the submission and monitoring prefix.
    pub url: String,
    pub port: u16,
    prefix: String,
    log_public_key: String,
    child: Option<std::process::Child>,
    dir: TempDir,
}

impl WitnessProcess {
    /// Makes a key and starts a witness named `name` following instance `prefix` (log public
    /// key in base64) on a free port.
    pub async fn start(name: &str, prefix: &str, log_public_key: &str) -> WitnessProcess {
        let dir = std::env::temp_dir().join(format!("civicproof-witness-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new(ServerProcess::binary())
            .args(["witness", "keygen", "--name", name, "--key-file"])
            .arg(dir.join("witness.key"))
            .env_clear()
            .output()
            .expect("civicproof witness keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut w = WitnessProcess {
            name: name.to_owned(),
            vkey,
            url: format!("http://127.0.0.1:{port}"),
            port,
            prefix: prefix.to_owned(),
            log_public_key: log_public_key.to_owned(),
            child: None,
            dir: TempDir(dir),
        };
        w.spawn().await;
        w
    }

    /// The `CIVICPROOF_WITNESSES` entry for this witness.
    pub fn config_entry(&self) -> String {
        format!("{} {}", self.vkey, self.url)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.0.join("witness.log")
    }

    async fn spawn(&mut self) {
        let child = std::process::Command::new(ServerProcess::binary())
            .args(["witness", "serve", "--name", &self.name, "--key-file"])
            .arg(self.dir.0.join("witness.key"))
            .arg("--state-dir")
            .arg(self.dir.0.join("state"))
            .arg("--instance")
            .arg(format!("{}={}", self.prefix, self.log_public_key))
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(self.log_path()).unwrap())
            .spawn()
            .expect("civicproof witness serve");
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/healthz", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("witness did not start: {}", self.log());
    }

    /// Kills the process (SIGKILL: no chance to save anything it had not saved).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the process: a witness that accepted a connection
    /// and answers nothing, then answers late.
    pub fn pause(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("a running witness").id();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts it again on the same port, key and state.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// `POST /add-checkpoint` with `body`, as a log (or anyone) would send it.
    pub async fn add_checkpoint(&self, body: String) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/add-checkpoint", self.url))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Its `/metrics` counter `civicproof_witness_add_checkpoint_total{outcome}`.
    pub async fn count(&self, outcome: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_value(
            &text,
            &format!("civicproof_witness_add_checkpoint_total{{outcome=\"{outcome}\"}}"),
        )
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of the sample named exactly `series` (name and labels) in Prometheus text; 0 when
/// absent.
pub fn metric_value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
