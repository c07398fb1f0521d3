//! [`Server`] over HTTP(S) with ureq (feature `net`).

use std::time::Duration;

use super::watch::Server;

/// Batches list one leaf hash and one note per member; a bound keeps a hostile server from
/// exhausting memory.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A civicproof server at a base URL, e.g. `https://data.katowice.example`.
pub struct HttpServer {
    base: String,
    agent: ureq::Agent,
}

impl HttpServer {
    /// A client of the server at `base`, with a 30 s timeout per request.
    pub fn new(base: &str) -> HttpServer {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(concat!("civicproof-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpServer {
            base: format!("{}/", base.trim_end_matches('/')),
            agent,
        }
    }
}

impl Server for HttpServer {
    fn base(&self) -> String {
        self.base.clone()
    }

    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| format!("GET {url}: reading the answer: {e}"))?;
        Ok((status, body))
    }
}
