//! Blocking HTTP(S) GETs: bundles, the instance identity and consistency proofs.
//!
//! Anything but a 200 answer is a network error (exit status 2): the CLI cannot tell an outage
//! from a restricted dataset, so it reports the status and the problem detail and stops.

use std::time::Duration;

use crate::error::CliError;

/// Bundles are small: a payload is at most 64 KiB and paths at most 64 hashes.
const MAX_BODY: u64 = 8 * 1024 * 1024;

/// Media type of a proof bundle (PROTOCOL.md section 6).
pub const BUNDLE_MEDIA_TYPE: &str =
    "application/vnd.civicproof.bundle+json, application/json;q=0.9";

/// A configured client.
pub struct Http {
    agent: ureq::Agent,
    token: Option<String>,
}

impl Http {
    /// A client with timeouts; `token` is sent as `Authorization: Bearer` when given.
    pub fn new(token: Option<String>) -> Http {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(concat!("civicproof-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Http { agent, token }
    }

    /// GET `url` and return the body of a 200 answer.
    pub fn get(&self, url: &str, accept: &str) -> Result<Vec<u8>, CliError> {
        let mut request = self.agent.get(url).header("Accept", accept);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request
            .call()
            .map_err(|e| CliError::Network(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| CliError::Network(format!("GET {url}: reading the answer: {e}")))?;
        if status != 200 {
            return Err(CliError::Network(format!(
                "GET {url}: HTTP {status}{}",
                problem_detail(&body)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )));
        }
        Ok(body)
    }
}

/// The `detail` (or `title`) of an RFC 9457 problem body, shortened for one line.
fn problem_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = value
        .get("detail")
        .or_else(|| value.get("title"))?
        .as_str()?;
    Some(text.chars().filter(|c| !c.is_control()).take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::problem_detail;

    #[test]
    fn problem_details_are_shown_on_one_line() {
        let body =
            br#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no\nsuch"}"#;
        assert_eq!(problem_detail(body).as_deref(), Some("nosuch"));
        assert_eq!(
            problem_detail(br#"{"title":"Conflict"}"#).as_deref(),
            Some("Conflict")
        );
        assert_eq!(problem_detail(b"<html>"), None);
    }
}
