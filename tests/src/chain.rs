//! The anvil harness: a real local EVM chain per test, from the pinned npm package
//! `@foundry-rs/anvil` (`npm ci` in contracts/ installs it; `ANVIL_BIN` overrides). Blocks
//! every second and `--slots-in-an-epoch 1`, so `finalized` trails the head by two blocks.
//! The chain's state is kept in a file so that a stopped chain restarts where it was.

use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// anvil's first development key (chain 31337 only; the server refuses it elsewhere).
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const DEV_ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    state: PathBuf,
    client: reqwest::Client,
    /// Extra anvil flags (e.g. `--chain-id`).
    extra: Vec<String>,
    /// The test defaults: `--block-time 1` and `--preserve-historical-states` (old state
    /// readable for step 8). Off for a chain configured like the demo's.
    defaults: bool,
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("ANVIL_BIN") {
        return p.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = root.join("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        p.exists(),
        "anvil not found at {}: run `npm ci` in contracts/ (./run test does)",
        p.display()
    );
    p
}

impl Anvil {
    /// Starts a fresh chain on a free port.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a fresh chain with extra anvil flags.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::launch(extra, true).await
    }

    /// Starts a fresh chain with exactly these flags besides port, host and state file (no
    /// test defaults): a chain configured like the demo's, for long runs.
    pub async fn start_bare(flags: &[&str]) -> Self {
        Self::launch(flags, false).await
    }

    async fn launch(extra: &[&str], defaults: bool) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let state = std::env::temp_dir().join(format!(
            "civicproof-anvil-{port}-{}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&state);
        let mut anvil = Self {
            child: None,
            port,
            url: format!("http://127.0.0.1:{port}"),
            state,
            client: reqwest::Client::new(),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            defaults,
        };
        anvil.resume().await;
        anvil
    }

    /// Starts anvil again on the same port and state file (after `stop`).
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "anvil is running");
        let defaults: &[&str] = if self.defaults {
            &["--block-time", "1", "--preserve-historical-states"]
        } else {
            &[]
        };
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string(), "--host", "127.0.0.1"])
            .args(defaults)
            // One slot per epoch unless the test sets it: `finalized` trails by two blocks.
            .args(if self.extra.iter().any(|a| a == "--slots-in-an-epoch") {
                &[][..]
            } else {
                &["--slots-in-an-epoch", "1"][..]
            })
            .args(["--state", self.state.to_str().unwrap()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        self.child = Some(child);
        for _ in 0..200 {
            if self.try_rpc("eth_chainId", json!([])).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil did not answer on port {}", self.port);
    }

    /// Stops anvil gracefully (it writes its state file on the way out).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            for _ in 0..100 {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The anvil process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Forgets the chain's state (while stopped): the next `resume` starts a fresh chain.
    pub fn forget_state(&self) {
        assert!(self.child.is_none(), "stop anvil first");
        let _ = std::fs::remove_file(&self.state);
    }

    pub async fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v["result"].clone()),
        }
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn block_number(&self, tag: &str) -> u64 {
        let b = self.rpc("eth_getBlockByNumber", json!([tag, false])).await;
        quantity(&b["number"])
    }

    /// `rootOf(anchorer, seq)` at `block` (a tag or a hex number).
    pub async fn root_of(&self, contract: &str, anchorer: &str, seq: u64, block: &str) -> String {
        let data = format!(
            "0x5c259bc5{:0>64}{:064x}",
            anchorer.trim_start_matches("0x"),
            seq
        );
        let out = self
            .rpc("eth_call", json!([{"to": contract, "data": data}, block]))
            .await;
        out.as_str().unwrap().trim_start_matches("0x").to_owned()
    }

    /// `nextSeq(anchorer)` at the head.
    pub async fn next_seq(&self, contract: &str, anchorer: &str) -> u64 {
        let data = format!("0xc1594ac2{:0>64}", anchorer.trim_start_matches("0x"));
        let out = self
            .rpc(
                "eth_call",
                json!([{"to": contract, "data": data}, "latest"]),
            )
            .await;
        u64::from_str_radix(out.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// Stops block production (transactions wait in the mempool) or resumes it.
    pub async fn pause_mining(&self, paused: bool) {
        self.rpc("evm_setIntervalMining", json!([if paused { 0 } else { 1 }]))
            .await;
        self.rpc("evm_setAutomine", json!([false])).await;
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.state);
    }
}

/// A JSON-RPC proxy in front of a real chain that can make the node look as a lagging node
/// does: with `hide_logs`, `eth_getLogs` answers `[]` while every other call (nonces,
/// receipts, state) is the chain's own. Faults are injected here; the chain stays real.
pub struct RpcProxy {
    pub url: String,
    hide_logs: Arc<AtomicBool>,
    /// `eth_getLogs` calls answered empty while hiding.
    pub hidden: Arc<AtomicU64>,
    handle: actix_web::dev::ServerHandle,
}

impl RpcProxy {
    pub async fn start(upstream: &str) -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let hide_logs = Arc::new(AtomicBool::new(false));
        let hidden = Arc::new(AtomicU64::new(0));
        let (upstream, hide, count) = (upstream.to_owned(), hide_logs.clone(), hidden.clone());
        let client = reqwest::Client::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let (upstream, hide, count, client) = (
                upstream.clone(),
                hide.clone(),
                count.clone(),
                client.clone(),
            );
            App::new().default_service(web::to(move |body: web::Bytes| {
                let (upstream, hide, count, client) = (
                    upstream.clone(),
                    hide.clone(),
                    count.clone(),
                    client.clone(),
                );
                async move {
                    let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if hide.load(Ordering::SeqCst) && call["method"] == "eth_getLogs" {
                        count.fetch_add(1, Ordering::SeqCst);
                        return HttpResponse::Ok()
                            .json(json!({"jsonrpc": "2.0", "id": call["id"], "result": []}));
                    }
                    match client
                        .post(&upstream)
                        .header("content-type", "application/json")
                        .body(body.to_vec())
                        .send()
                        .await
                    {
                        Ok(r) => HttpResponse::Ok()
                            .content_type("application/json")
                            .body(r.bytes().await.unwrap_or_default()),
                        Err(_) => HttpResponse::BadGateway().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            hide_logs,
            hidden,
            handle,
        }
    }

    /// From now on `eth_getLogs` sees nothing (`true`) or the chain's logs again.
    pub fn hide_logs(&self, on: bool) {
        self.hide_logs.store(on, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

pub fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Anchoring settings for a server on this chain: deploys on the first start, batches every
/// `interval_ms`.
pub fn anchoring(
    anvil: &Anvil,
    interval_ms: u64,
) -> civicproof_api::anchor::settings::AnchorSettings {
    civicproof_api::anchor::settings::AnchorSettings {
        rpc_url: Some(anvil.url.clone()),
        deploy: true,
        key: Some(DEV_KEY.into()),
        interval_ms,
        ..Default::default()
    }
}

/// The anchor trust a client pins from `/.well-known/civicproof.json`.
pub async fn anchor_trust(app: &crate::support::TestApp) -> civicproof_verify::chain::AnchorTrust {
    use civicproof_verify::chain::parse_address;
    let wk: Value = app.get_json("/.well-known/civicproof.json", None).await;
    let a = &wk["anchor"];
    let code_hash = hex::decode(
        a["contract_code_hash"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    civicproof_verify::chain::AnchorTrust {
        chain_id: a["chain_id"].as_u64().unwrap(),
        contract: parse_address(a["contract"].as_str().unwrap()).unwrap(),
        code_hash: code_hash.try_into().unwrap(),
        anchorer: parse_address(a["anchorer"].as_str().unwrap()).unwrap(),
    }
}

/// Verifies a bundle as a client would, asking `rpc` (its own chain endpoint) for step 8.
pub async fn verify_online(
    bytes: Vec<u8>,
    trust: civicproof_verify::bundle::Trust,
    anchor: civicproof_verify::chain::AnchorTrust,
    rpc: String,
    origin: &str,
    seq: u64,
) -> civicproof_verify::bundle::Report {
    use civicproof_verify::bundle::{Expect, VerifyOptions};
    let origin = origin.to_owned();
    tokio::task::spawn_blocking(move || {
        let rpc = civicproof_verify::chain::HttpRpc::new(&rpc);
        civicproof_verify::bundle::verify_bundle_with(
            &bytes,
            &trust,
            &Expect {
                origin,
                seq: Some(seq),
            },
            &VerifyOptions {
                anchor_trust: Some(&anchor),
                rpc: Some(&rpc),
                ..Default::default()
            },
        )
    })
    .await
    .unwrap()
}
