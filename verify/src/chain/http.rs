//! [`ChainRpc`] over HTTP(S) with ureq (feature `net`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::rpc::{ChainRpc, RpcError};

/// JSON-RPC answers are small; a bound keeps a hostile endpoint from exhausting memory.
const MAX_ANSWER: u64 = 32 * 1024 * 1024;

/// A blocking JSON-RPC client of one endpoint URL (the client's own, never a server's).
pub struct HttpRpc {
    url: String,
    agent: ureq::Agent,
    id: AtomicU64,
}

impl HttpRpc {
    /// A client of `url` with a 30 s timeout per call.
    pub fn new(url: &str) -> HttpRpc {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .user_agent(concat!("civicproof-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpRpc {
            url: url.to_owned(),
            agent,
            id: AtomicU64::new(0),
        }
    }
}

impl ChainRpc for HttpRpc {
    fn endpoint(&self) -> String {
        self.url.clone()
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let transport = |message: String| RpcError::Transport {
            method: method.to_owned(),
            message,
        };
        let id = self.id.fetch_add(1, Ordering::Relaxed) + 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(request.to_string().as_bytes())
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        // Some nodes send JSON-RPC errors with an HTTP error status, so the body comes first.
        let body: Option<Value> = serde_json::from_slice(&body).ok();
        if let Some(error) = body.as_ref().and_then(|b| b.get("error")) {
            return Err(RpcError::Rpc {
                method: method.to_owned(),
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"]
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned),
            });
        }
        match body {
            Some(mut b) if status == 200 && b.get("result").is_some() => Ok(b["result"].take()),
            _ => Err(transport(format!("HTTP {status}, no JSON-RPC result"))),
        }
    }
}
