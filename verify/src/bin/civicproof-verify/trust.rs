//! Which prefix and log key a run trusts: `--prefix` with `--public-key` or the trust file's key,
//! or, with `--tofu`, the server's identity pinned on first use. Never guessed from a URL.

use civicproof_verify::bundle::Trust;
use civicproof_verify::encoding::base64_encode;
use civicproof_verify::json;
use url::Url;

use crate::args::CommonArgs;
use crate::error::{CliError, usage};
use crate::fetch::Http;
use crate::source::{is_valid_prefix, well_known_url};
use crate::trust_store::{Pinned, TrustStore, decode_key, fingerprint};

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    CommandLine,
    TrustFile,
    Tofu,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::CommandLine => "command line",
            KeySource::TrustFile => "trust file",
            KeySource::Tofu => "trust on first use",
        }
    }
}

/// The trust of this run.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub trust: Trust,
    pub source: KeySource,
    /// Whether the key is pinned in the trust file, so checkpoints can be kept there.
    pub stateful: bool,
}

impl Resolved {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.trust.public_key)
    }
}

/// Resolves the trust; `server` is where `--tofu` asks (the bundle URL or `--server`).
pub fn resolve(
    args: &CommonArgs,
    store: &mut TrustStore,
    server: Option<&Url>,
    http: &Http,
) -> Result<Resolved, CliError> {
    if args.tofu {
        let server =
            server.ok_or_else(|| usage("--tofu needs a server: a bundle URL, or --server BASE"))?;
        return tofu(args.prefix.as_deref(), store, server, http);
    }
    let prefix = args
        .prefix
        .clone()
        .ok_or_else(|| usage("--prefix is required (or --tofu to pin the server's key)"))?;
    if !is_valid_prefix(&prefix) {
        return Err(usage(format!(
            "--prefix {prefix:?} is not an instance prefix like data.example or localhost:8080"
        )));
    }
    let pinned = store.key(&prefix)?;
    let Some(text) = &args.public_key else {
        let key = pinned.ok_or_else(|| {
            CliError::Trust(format!(
                "no log key pinned for prefix {prefix} in {}; pass --public-key (with --pin to \
                 store it) or use --tofu",
                store.path().display()
            ))
        })?;
        return Ok(resolved(prefix, key, KeySource::TrustFile, true));
    };
    let key = decode_key(text)
        .ok_or_else(|| usage("--public-key must be canonical base64 of 32 bytes"))?;
    match pinned {
        Some(p) if p != key => Err(store.conflict(&prefix, &key)),
        Some(_) => Ok(resolved(prefix, key, KeySource::CommandLine, true)),
        None if args.pin => {
            store.pin(&prefix, &key)?;
            store.save()?;
            eprintln!(
                "civicproof-verify: pinned log key {} (fingerprint: {}) for prefix {prefix} in {}",
                base64_encode(&key),
                fingerprint(&key),
                store.path().display()
            );
            Ok(resolved(prefix, key, KeySource::CommandLine, true))
        }
        None => Ok(resolved(prefix, key, KeySource::CommandLine, false)),
    }
}

fn resolved(prefix: String, public_key: [u8; 32], source: KeySource, stateful: bool) -> Resolved {
    Resolved {
        trust: Trust { prefix, public_key },
        source,
        stateful,
    }
}

/// Fetches `/.well-known/civicproof.json` and pins its key under its `origin_prefix`.
fn tofu(
    want_prefix: Option<&str>,
    store: &mut TrustStore,
    server: &Url,
    http: &Http,
) -> Result<Resolved, CliError> {
    let url = well_known_url(server);
    let (prefix, key) = parse_well_known(&http.get(&url, "application/json")?)
        .map_err(|e| CliError::Network(format!("{url}: {e}")))?;
    if let Some(want) = want_prefix.filter(|w| *w != prefix) {
        return Err(CliError::Trust(format!(
            "{url} says origin_prefix {prefix:?}, not --prefix {want:?}"
        )));
    }
    if store.pin(&prefix, &key)? == Pinned::New {
        store.save()?;
        eprintln!("{}", tofu_notice(&prefix, &key, &url));
    }
    Ok(resolved(prefix, key, KeySource::Tofu, true))
}

/// The loud notice printed when a key is pinned on first use.
pub fn tofu_notice(prefix: &str, key: &[u8; 32], url: &str) -> String {
    let bar = "!".repeat(78);
    format!(
        "{bar}\nTRUST ON FIRST USE: pinning log key {} (fingerprint: {}) for prefix {prefix} from \
         {url}; verify it out of band\n{bar}",
        base64_encode(key),
        fingerprint(key)
    )
}

/// `{"origin_prefix", "log_public_key", …}` → prefix and key.
fn parse_well_known(bytes: &[u8]) -> Result<(String, [u8; 32]), String> {
    let value =
        json::parse_strict(bytes).map_err(|e| format!("not instance identity JSON: {e}"))?;
    let prefix = value["origin_prefix"]
        .as_str()
        .filter(|p| is_valid_prefix(p))
        .ok_or("origin_prefix is missing or not an instance prefix")?;
    let key = value["log_public_key"]
        .as_str()
        .and_then(decode_key)
        .ok_or("log_public_key is missing or not base64 of 32 bytes")?;
    Ok((prefix.to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_is_read_strictly() {
        let key = base64_encode(&[3; 32]);
        let ok =
            format!(r#"{{"origin_prefix":"data.example","log_public_key":"{key}","anchor":null}}"#);
        assert_eq!(
            parse_well_known(ok.as_bytes()).unwrap(),
            ("data.example".to_owned(), [3; 32])
        );
        for bad in [
            format!(r#"{{"origin_prefix":"https://x","log_public_key":"{key}"}}"#),
            r#"{"origin_prefix":"x","log_public_key":"AAAA"}"#.to_owned(),
            format!(r#"{{"origin_prefix":"x","origin_prefix":"y","log_public_key":"{key}"}}"#),
        ] {
            assert!(parse_well_known(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn tofu_notice_is_loud_and_complete() {
        let notice = tofu_notice(
            "data.example",
            &[0; 32],
            "https://data.example/.well-known/x",
        );
        assert!(notice.contains(&format!(
            "TRUST ON FIRST USE: pinning log key {} (fingerprint: 66687aadf862bd77) for prefix \
             data.example from https://data.example/.well-known/x; verify it out of band",
            base64_encode(&[0; 32])
        )));
        assert!(notice.starts_with("!!!!"));
    }
}
