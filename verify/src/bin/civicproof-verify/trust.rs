//! Which prefix, log key and anchor a run trusts: `--prefix` with `--public-key` or the trust
//! file's key, the anchor flags or the trust file's anchor, or, with `--tofu`, the server's
//! identity (key and anchor) pinned on first use. Never guessed from a URL.

use civicproof_verify::bundle::Trust;
use civicproof_verify::chain::{AnchorTrust, Finality};
use civicproof_verify::cosignature::{Witness, WitnessPolicy};
use civicproof_verify::encoding::base64_encode;
use civicproof_verify::json;
use url::Url;

use crate::args::{AnchorArgs, CommonArgs};
use crate::error::{CliError, usage};
use crate::fetch::Http;
use crate::source::{is_valid_prefix, well_known_url};
use crate::trust_store::{Pinned, TrustStore, decode_key, fingerprint, read_finality};

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
    /// The pinned anchor trust, if any.
    pub anchor: Option<ResolvedAnchor>,
    /// The witness policy checked at step 4, if any.
    pub witnesses: Option<WitnessPolicy>,
}

/// The anchor trust of this run.
#[derive(Debug, Clone)]
pub struct ResolvedAnchor {
    pub trust: AnchorTrust,
    /// The finality policy pinned with it, if any (`--finality` overrides it).
    pub finality: Option<Finality>,
    pub source: KeySource,
}

/// What `/.well-known/civicproof.json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnown {
    pub prefix: String,
    pub key: [u8; 32],
    pub anchor: Option<(AnchorTrust, Finality)>,
}

impl Resolved {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.trust.public_key)
    }
}

/// Resolves the trust; `server` is where `--tofu` asks (the bundle URL or `--server`).
pub fn resolve(
    args: &CommonArgs,
    anchor: Option<&AnchorArgs>,
    store: &mut TrustStore,
    server: Option<&Url>,
    http: &Http,
) -> Result<Resolved, CliError> {
    let flags = anchor.map(anchor_flags).transpose()?.flatten();
    let mut resolved = resolve_key(args, store, server, http, flags.is_some())?;
    if let Some(trust) = flags {
        let pinned = if resolved.stateful {
            store.anchor(&resolved.trust.prefix)?
        } else {
            None
        };
        match pinned {
            Some((p, _)) if p != trust => {
                return Err(store.anchor_conflict(&resolved.trust.prefix, &trust));
            }
            Some((_, finality)) => {
                resolved.anchor = Some(ResolvedAnchor {
                    trust,
                    finality,
                    source: KeySource::CommandLine,
                });
            }
            None => {
                if args.pin {
                    store.pin_anchor(&resolved.trust.prefix, &trust, None)?;
                    store.save()?;
                    eprintln!(
                        "civicproof-verify: pinned anchor trust (chain {}, contract {}, anchorer \
                         {}, code hash {}) for prefix {} in {}",
                        trust.chain_id,
                        trust.contract_hex(),
                        trust.anchorer_hex(),
                        trust.code_hash_hex(),
                        resolved.trust.prefix,
                        store.path().display()
                    );
                }
                resolved.anchor = Some(ResolvedAnchor {
                    trust,
                    finality: None,
                    source: KeySource::CommandLine,
                });
            }
        }
    } else if resolved.anchor.is_none() && resolved.stateful {
        resolved.anchor = store
            .anchor(&resolved.trust.prefix)?
            .map(|(trust, finality)| ResolvedAnchor {
                trust,
                finality,
                source: KeySource::TrustFile,
            });
    }
    resolved.witnesses = resolve_witnesses(args, store, &resolved)?;
    Ok(resolved)
}

/// `--witness` (with `--witness-threshold`), checked against and with `--pin` stored in the
/// trust file; else the trust file's policy for the prefix.
fn resolve_witnesses(
    args: &CommonArgs,
    store: &mut TrustStore,
    resolved: &Resolved,
) -> Result<Option<WitnessPolicy>, CliError> {
    let prefix = &resolved.trust.prefix;
    if args.witnesses.is_empty() {
        return if resolved.stateful {
            store.witnesses(prefix)
        } else {
            Ok(None)
        };
    }
    let witnesses = args
        .witnesses
        .iter()
        .map(|v| Witness::from_vkey(v).map_err(|e| usage(format!("--witness: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let k = args.witness_threshold.unwrap_or(witnesses.len());
    let policy = WitnessPolicy::new(witnesses, k).map_err(|e| usage(e.to_string()))?;
    if resolved.stateful {
        match store.witnesses(prefix)? {
            Some(pinned) if pinned != policy => {
                return Err(store.witnesses_conflict(prefix, &policy));
            }
            Some(_) => {}
            None if args.pin => {
                store.pin_witnesses(prefix, &policy)?;
                store.save()?;
                eprintln!(
                    "civicproof-verify: pinned a witness policy ({k} of {}) for prefix {prefix} in {}",
                    policy.witnesses().len(),
                    store.path().display()
                );
            }
            None => {}
        }
    }
    Ok(Some(policy))
}

/// All four anchor flags, or none.
fn anchor_flags(a: &AnchorArgs) -> Result<Option<AnchorTrust>, CliError> {
    match (a.chain_id, &a.contract, &a.code_hash, &a.anchorer) {
        (None, None, None, None) => Ok(None),
        (Some(chain_id), Some(contract), Some(code_hash), Some(anchorer)) => {
            AnchorTrust::parse(chain_id, contract, code_hash, anchorer)
                .map(Some)
                .map_err(|e| usage(e.to_string()))
        }
        _ => Err(usage(
            "anchor trust needs all of --chain-id, --contract, --code-hash and --anchorer",
        )),
    }
}

/// The prefix and log key (and, with `--tofu`, the server's anchor trust pinned on first use).
fn resolve_key(
    args: &CommonArgs,
    store: &mut TrustStore,
    server: Option<&Url>,
    http: &Http,
    anchor_flags: bool,
) -> Result<Resolved, CliError> {
    if args.tofu {
        let server =
            server.ok_or_else(|| usage("--tofu needs a server: a bundle URL, or --server BASE"))?;
        return tofu(args.prefix.as_deref(), store, server, http, anchor_flags);
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
        anchor: None,
        witnesses: None,
    }
}

/// Fetches `/.well-known/civicproof.json` and pins its key under its `origin_prefix`, and its
/// anchor trust too unless the anchor flags are given (they are then checked against it by the
/// caller like any pinned trust).
fn tofu(
    want_prefix: Option<&str>,
    store: &mut TrustStore,
    server: &Url,
    http: &Http,
    anchor_flags: bool,
) -> Result<Resolved, CliError> {
    let url = well_known_url(server);
    let WellKnown {
        prefix,
        key,
        anchor,
    } = parse_well_known(&http.get(&url, "application/json")?)
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
    let mut out = resolved(prefix.clone(), key, KeySource::Tofu, true);
    if let Some((trust, finality)) = anchor.filter(|_| !anchor_flags) {
        if store.pin_anchor(&prefix, &trust, Some(finality))? == Pinned::New {
            store.save()?;
            eprintln!("{}", tofu_anchor_notice(&prefix, &trust, finality, &url));
        }
        let (trust, finality) = store.anchor(&prefix)?.unwrap_or((trust, Some(finality)));
        out.anchor = Some(ResolvedAnchor {
            trust,
            finality,
            source: KeySource::Tofu,
        });
    }
    Ok(out)
}

/// The loud notice printed when anchor trust is pinned on first use.
pub fn tofu_anchor_notice(
    prefix: &str,
    trust: &AnchorTrust,
    finality: Finality,
    url: &str,
) -> String {
    let bar = "!".repeat(78);
    format!(
        "{bar}\nTRUST ON FIRST USE: pinning anchor trust for prefix {prefix} from {url}: chain id \
         {}, contract {}, contract code hash {}, anchorer {}, finality {finality}; verify it out \
         of band\n{bar}",
        trust.chain_id,
        trust.contract_hex(),
        trust.code_hash_hex(),
        trust.anchorer_hex()
    )
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

/// `{"origin_prefix", "log_public_key", "anchor"}` → prefix, key and anchor trust.
fn parse_well_known(bytes: &[u8]) -> Result<WellKnown, String> {
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
    let anchor = match &value["anchor"] {
        serde_json::Value::Null => None,
        a => Some(parse_well_known_anchor(a).map_err(|e| format!("anchor: {e}"))?),
    };
    Ok(WellKnown {
        prefix: prefix.to_owned(),
        key,
        anchor,
    })
}

/// `{"chain_id", "contract", "contract_code_hash", "anchorer", "finality"}`.
fn parse_well_known_anchor(a: &serde_json::Value) -> Result<(AnchorTrust, Finality), String> {
    let text = |name: &str| {
        a[name]
            .as_str()
            .ok_or(format!("{name} is missing or not a string"))
    };
    let chain_id = a["chain_id"]
        .as_f64()
        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= json::MAX_SAFE_INTEGER as f64)
        .ok_or("chain_id is not an integer in [0, 2^53-1]")? as u64;
    let trust = AnchorTrust::parse(
        chain_id,
        text("contract")?,
        text("contract_code_hash")?,
        text("anchorer")?,
    )
    .map_err(|e| e.to_string())?;
    let finality = read_finality(&a["finality"])?;
    Ok((trust, finality))
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
            WellKnown {
                prefix: "data.example".to_owned(),
                key: [3; 32],
                anchor: None
            }
        );
        let anchored = format!(
            r#"{{"origin_prefix":"data.example","log_public_key":"{key}","anchor":{{"chain_id":31337,
            "contract":"0x5fbdb2315678afecb367f032d93f642f64180aa3","contract_code_hash":"0x{}",
            "anchorer":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","finality":{{"confirmations":2}}}}}}"#,
            "ab".repeat(32)
        );
        let (trust, finality) = parse_well_known(anchored.as_bytes())
            .unwrap()
            .anchor
            .unwrap();
        assert_eq!(trust.chain_id, 31337);
        assert_eq!(trust.code_hash, [0xab; 32]);
        assert_eq!(finality, Finality::Confirmations(2));
        for bad in ["\"latest\"", "{\"confirmations\":0}"] {
            let text = anchored.replace("{\"confirmations\":2}", bad);
            assert!(parse_well_known(text.as_bytes()).is_err(), "{text}");
        }
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
