//! The test harness. Helpers read like the API they exercise.
//!
//! - `db`: a database of a test's own ([`TestDb`]) and the backend the suite runs on;
//! - `app`: [`TestApp`], a server in this process or as an OS process, and request helpers;
//! - `process`: `civicproof serve` as an OS process, configured through its environment;
//! - `world`: [`World`] (two institutions, tokens, datasets), problem assertions, pinned trust;
//! - `redis`: a redis-server of a test's own; `pg`: a PostgreSQL server of a test's own;
//! - `net`: a TCP partition; `sse`: a Server-Sent Events client;
//! - `mqtt`: the MQTT bridge as an OS process, a private mosquitto, a QoS 1 publisher;
//! - `witness`: `civicproof witness serve` as an OS process.

mod app;
mod db;
mod mqtt;
mod net;
mod pg;
mod process;
mod redis;
mod sse;
mod witness;
mod world;

pub use app::{TempDir, TestApp};
pub use db::{TestDb, backend, database_url, require_backend};
pub use mqtt::{
    Bridge, PrivateBroker, bridge_config, publish_all, publish_all_with, shared_broker_port, unique,
};
pub use net::TcpCut;
pub use pg::{PgCluster, rss_kib};
pub use process::{ServerProcess, civicproof_command};
pub use redis::RedisServer;
pub use sse::{Sse, SseEvent};
pub use witness::{WitnessProcess, metric_value};
pub use world::{World, assert_problem, pinned_trust, sha256};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
