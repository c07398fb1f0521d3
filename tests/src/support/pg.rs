//! A PostgreSQL server of a test's own, and process memory readings.

use super::db::{TestDb, uuid_like};
use diesel::{Connection, PgConnection, RunQueryDsl};
use std::net::TcpListener;
use std::path::PathBuf;

/// A PostgreSQL server of a test's own: `initdb` into a temporary directory, on a free port,
/// so a fault test can stop and restart PostgreSQL without touching the shared server.
/// (As root, PostgreSQL's tools run as the `postgres` user.)
pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (apt package postgresql)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("civicproof-pg-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = Self { port, dir, bin };
        cluster.chown();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn chown(&self) {
        if is_root() {
            let _ = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres", &self.dir.to_string_lossy()])
                .status();
        }
    }

    fn tool(&self, name: &str, args: &[&str]) {
        let exe = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("running a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{name} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts (or restarts after [`Self::stop`]) the server and waits until it accepts.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server: `immediate` is a crash (no checkpoint), else a fast shutdown.
    pub fn stop(&self, immediate: bool) {
        let mode = if immediate { "immediate" } else { "fast" };
        self.tool("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    pub fn url(&self, database: &str) -> String {
        civicproof_schema::exit_safety::disarm_openssl_atexit();
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, migrated database on this server (dropped with the cluster).
    pub fn database(&self, name: &str) -> TestDb {
        let mut admin = PgConnection::establish(&self.url("postgres")).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        let url = self.url(name);
        let mut conn = civicproof_schema::establish(&url).unwrap();
        civicproof_schema::run_migrations(&mut conn).unwrap();
        TestDb {
            name: String::new(),
            url,
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Resident memory of a process in KiB (from `/proc`), 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
