//! The local trust file: per instance prefix (never per URL), the pinned log public key, the
//! pinned anchor trust and the largest verified checkpoint of each origin.
//!
//! ```json
//! {"data.katowice.example": {"log_public_key": "<base64>",
//!                            "checkpoints": {"data.katowice.example/city/air": "<note>"},
//!                            "anchor": {"chain_id": 1, "contract": "0x…",
//!                                       "contract_code_hash": "0x…", "anchorer": "0x…",
//!                                       "finality": "finalized"},
//!                            "witnesses": {"threshold": 2, "keys": ["<witness vkey>", …]}}}
//! ```
//!
//! A pinned key or anchor is never replaced: [`TrustStore::pin`] and [`TrustStore::pin_anchor`]
//! refuse a different one. Unknown members are kept when the file is rewritten, so that newer
//! versions' fields survive.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use civicproof_verify::chain::{AnchorTrust, Finality};
use civicproof_verify::cosignature::{Witness, WitnessPolicy};
use civicproof_verify::encoding::{base64_decode, base64_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::CliError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrustEntry {
    pub log_public_key: String,
    #[serde(default)]
    pub checkpoints: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<StoredAnchor>,
    /// The pinned witness policy: `threshold` of the cosigners `keys` (vkeys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<StoredWitnesses>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A pinned witness policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredWitnesses {
    pub threshold: usize,
    pub keys: Vec<String>,
}

impl StoredWitnesses {
    pub fn new(policy: &WitnessPolicy) -> StoredWitnesses {
        StoredWitnesses {
            threshold: policy.threshold(),
            keys: policy.witnesses().iter().map(Witness::vkey).collect(),
        }
    }

    pub fn read(&self) -> Result<WitnessPolicy, String> {
        let witnesses = self
            .keys
            .iter()
            .map(|k| Witness::from_vkey(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        WitnessPolicy::new(witnesses, self.threshold).map_err(|e| e.to_string())
    }
}

/// Pinned anchor trust, in the shape of `/.well-known`'s `anchor` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnchor {
    pub chain_id: u64,
    pub contract: String,
    pub contract_code_hash: String,
    pub anchorer: String,
    /// `"finalized"` or `{"confirmations": N}`; absent means the default policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<Value>,
}

impl StoredAnchor {
    pub fn new(trust: &AnchorTrust, finality: Option<Finality>) -> StoredAnchor {
        StoredAnchor {
            chain_id: trust.chain_id,
            contract: trust.contract_hex(),
            contract_code_hash: trust.code_hash_hex(),
            anchorer: trust.anchorer_hex(),
            finality: finality.map(finality_json),
        }
    }

    /// The trust and policy, or why the stored object is unusable.
    pub fn read(&self) -> Result<(AnchorTrust, Option<Finality>), String> {
        let trust = AnchorTrust::parse(
            self.chain_id,
            &self.contract,
            &self.contract_code_hash,
            &self.anchorer,
        )
        .map_err(|e| e.to_string())?;
        let finality = self.finality.as_ref().map(read_finality).transpose()?;
        Ok((trust, finality))
    }
}

/// `"finalized"` or `{"confirmations": N}`, as `/.well-known` writes a finality policy.
pub fn finality_json(finality: Finality) -> Value {
    match finality {
        Finality::Finalized => Value::from("finalized"),
        Finality::Confirmations(k) => serde_json::json!({"confirmations": k}),
    }
}

/// Reads `"finalized"` or `{"confirmations": N}` with N >= 1.
pub fn read_finality(value: &Value) -> Result<Finality, String> {
    match value {
        Value::String(s) if s == "finalized" => Ok(Finality::Finalized),
        Value::Object(o) if o.len() == 1 => o
            .get("confirmations")
            // The strict parser reads every number as a double.
            .and_then(Value::as_f64)
            .filter(|k| k.fract() == 0.0 && *k >= 1.0 && *k <= 9_007_199_254_740_991.0)
            .map(|k| Finality::Confirmations(k as u64))
            .ok_or_else(|| format!("finality {value} is not {{\"confirmations\": N >= 1}}")),
        _ => Err(format!(
            "finality {value} is neither \"finalized\" nor {{\"confirmations\": N}}"
        )),
    }
}

/// What [`TrustStore::pin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinned {
    /// The key was not pinned before and is now (the file still needs saving).
    New,
    /// The same key was already pinned.
    Already,
}

/// The trust file at `path`, in memory.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    entries: BTreeMap<String, TrustEntry>,
}

impl TrustStore {
    /// The default location: `$CIVICPROOF_TRUST_FILE`, else
    /// `$XDG_CONFIG_HOME/civicproof/trust.json`, else `~/.config/civicproof/trust.json`.
    pub fn default_path(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(file) = set("CIVICPROOF_TRUST_FILE") {
            return Some(PathBuf::from(file));
        }
        let config = set("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| set("HOME").map(|home| Path::new(&home).join(".config")))?;
        Some(config.join("civicproof").join("trust.json"))
    }

    /// Reads the trust file; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TrustStore, CliError> {
        let entries = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Trust(format!(
                    "trust file {} is not a JSON map of prefix to {{\"log_public_key\", \
                     \"checkpoints\"}}: {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(CliError::Trust(format!(
                    "cannot read trust file {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(TrustStore {
            path: path.to_owned(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the file atomically (a temporary file renamed over it), creating its directory.
    pub fn save(&self) -> Result<(), CliError> {
        let fail = |e: std::io::Error| {
            CliError::Io(format!(
                "cannot write trust file {}: {e}",
                self.path.display()
            ))
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut text =
            serde_json::to_string_pretty(&self.entries).expect("the trust map always serializes");
        text.push('\n');
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp-{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }

    /// The key pinned for `prefix`, if any.
    pub fn key(&self, prefix: &str) -> Result<Option<[u8; 32]>, CliError> {
        let Some(entry) = self.entries.get(prefix) else {
            return Ok(None);
        };
        decode_key(&entry.log_public_key).map(Some).ok_or_else(|| {
            CliError::Trust(format!(
                "trust file {}: log_public_key of {prefix:?} is not base64 of 32 bytes",
                self.path.display()
            ))
        })
    }

    /// Pins `key` for `prefix`; refuses (with both keys) if a different key is pinned.
    pub fn pin(&mut self, prefix: &str, key: &[u8; 32]) -> Result<Pinned, CliError> {
        match self.key(prefix) {
            Ok(Some(pinned)) if pinned == *key => Ok(Pinned::Already),
            Ok(None) => {
                self.entries.insert(
                    prefix.to_owned(),
                    TrustEntry {
                        log_public_key: base64_encode(key),
                        ..TrustEntry::default()
                    },
                );
                Ok(Pinned::New)
            }
            _ => Err(self.conflict(prefix, key)),
        }
    }

    /// The error for a `key` that differs from the one pinned for `prefix`.
    pub fn conflict(&self, prefix: &str, key: &[u8; 32]) -> CliError {
        let pinned = self
            .entries
            .get(prefix)
            .map_or("", |e| e.log_public_key.as_str());
        CliError::Trust(format!(
            "prefix {prefix} has a different log key pinned in {}; refusing to replace it.\n  \
             pinned:  {pinned} (fingerprint {})\n  offered: {} (fingerprint {})\n\
             If the instance really rotated its key, verify the new key out of band and edit the \
             trust file by hand.",
            self.path.display(),
            decode_key(pinned).map_or_else(|| "?".to_owned(), |k| fingerprint(&k)),
            base64_encode(key),
            fingerprint(key),
        ))
    }

    /// The anchor trust pinned for `prefix`, if any, with its pinned finality policy.
    pub fn anchor(
        &self,
        prefix: &str,
    ) -> Result<Option<(AnchorTrust, Option<Finality>)>, CliError> {
        let Some(stored) = self.entries.get(prefix).and_then(|e| e.anchor.as_ref()) else {
            return Ok(None);
        };
        stored.read().map(Some).map_err(|e| {
            CliError::Trust(format!(
                "trust file {}: anchor of {prefix:?}: {e}",
                self.path.display()
            ))
        })
    }

    /// Pins anchor trust for `prefix` (whose key must be pinned); refuses a different one.
    pub fn pin_anchor(
        &mut self,
        prefix: &str,
        trust: &AnchorTrust,
        finality: Option<Finality>,
    ) -> Result<Pinned, CliError> {
        match self.anchor(prefix)? {
            Some((pinned, _)) if pinned == *trust => Ok(Pinned::Already),
            Some(_) => Err(self.anchor_conflict(prefix, trust)),
            None => {
                let entry = self.entries.get_mut(prefix).ok_or_else(|| {
                    CliError::Trust(format!(
                        "cannot pin anchor trust for {prefix}: its log key is not pinned"
                    ))
                })?;
                entry.anchor = Some(StoredAnchor::new(trust, finality));
                Ok(Pinned::New)
            }
        }
    }

    /// The witness policy pinned for `prefix`, if any.
    pub fn witnesses(&self, prefix: &str) -> Result<Option<WitnessPolicy>, CliError> {
        let Some(stored) = self.entries.get(prefix).and_then(|e| e.witnesses.as_ref()) else {
            return Ok(None);
        };
        stored.read().map(Some).map_err(|e| {
            CliError::Trust(format!(
                "trust file {}: witnesses of {prefix:?}: {e}",
                self.path.display()
            ))
        })
    }

    /// Pins a witness policy for `prefix` (whose key must be pinned); refuses a different one.
    pub fn pin_witnesses(
        &mut self,
        prefix: &str,
        policy: &WitnessPolicy,
    ) -> Result<Pinned, CliError> {
        match self.witnesses(prefix)? {
            Some(pinned) if pinned == *policy => Ok(Pinned::Already),
            Some(_) => Err(self.witnesses_conflict(prefix, policy)),
            None => {
                let entry = self.entries.get_mut(prefix).ok_or_else(|| {
                    CliError::Trust(format!(
                        "cannot pin witnesses for {prefix}: its log key is not pinned"
                    ))
                })?;
                entry.witnesses = Some(StoredWitnesses::new(policy));
                Ok(Pinned::New)
            }
        }
    }

    /// The error for a witness policy that differs from the one pinned for `prefix`.
    pub fn witnesses_conflict(&self, prefix: &str, offered: &WitnessPolicy) -> CliError {
        let pinned = self
            .entries
            .get(prefix)
            .and_then(|e| e.witnesses.as_ref())
            .map_or_else(String::new, |w| {
                serde_json::to_string(w).unwrap_or_default()
            });
        let offered = serde_json::to_string(&StoredWitnesses::new(offered)).unwrap_or_default();
        CliError::Trust(format!(
            "prefix {prefix} has a different witness policy pinned in {}; refusing to replace \
             it.\n  pinned:  {pinned}\n  offered: {offered}\n\
             To change it, edit the trust file by hand.",
            self.path.display()
        ))
    }

    /// The error for anchor trust that differs from the one pinned for `prefix`.
    pub fn anchor_conflict(&self, prefix: &str, offered: &AnchorTrust) -> CliError {
        let pinned = self
            .entries
            .get(prefix)
            .and_then(|e| e.anchor.as_ref())
            .map_or_else(String::new, |a| {
                serde_json::to_string(a).unwrap_or_default()
            });
        let offered = serde_json::to_string(&StoredAnchor::new(offered, None)).unwrap_or_default();
        CliError::Trust(format!(
            "prefix {prefix} has different anchor trust pinned in {}; refusing to replace it.\n  \
             pinned:  {pinned}\n  offered: {offered}\n\
             If the instance really moved its anchor, verify the new one out of band and edit the \
             trust file by hand.",
            self.path.display()
        ))
    }

    /// The stored checkpoint note of `origin` under `prefix`.
    pub fn checkpoint(&self, prefix: &str, origin: &str) -> Option<&str> {
        self.entries
            .get(prefix)?
            .checkpoints
            .get(origin)
            .map(String::as_str)
    }

    /// Stores `note` as the checkpoint of `origin`; the prefix must be pinned.
    pub fn set_checkpoint(&mut self, prefix: &str, origin: &str, note: &str) {
        if let Some(entry) = self.entries.get_mut(prefix) {
            entry.checkpoints.insert(origin.to_owned(), note.to_owned());
        }
    }
}

/// Canonical base64 of exactly 32 bytes.
pub fn decode_key(s: &str) -> Option<[u8; 32]> {
    base64_decode(s)?.try_into().ok()
}

/// The first 16 hex digits of `SHA-256(key)`, for comparing keys by eye.
pub fn fingerprint(key: &[u8; 32]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "civicproof-trust-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested").join("trust.json")
    }

    #[test]
    fn pins_by_prefix_round_trips_and_keeps_unknown_members() {
        let path = temp_path("roundtrip");
        let mut store = TrustStore::load(&path).unwrap();
        assert_eq!(store.key("a.example").unwrap(), None);
        assert_eq!(store.pin("a.example", &[1; 32]).unwrap(), Pinned::New);
        store.set_checkpoint("a.example", "a.example/c/d", "note\n");
        store.set_checkpoint("unpinned.example", "unpinned.example/c/d", "x");
        store.save().unwrap();

        let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a.example": {
                "log_public_key": base64_encode(&[1; 32]),
                "checkpoints": {"a.example/c/d": "note\n"}}})
        );
        value["a.example"]["future_field"] = serde_json::json!({"x": 1});
        std::fs::write(&path, value.to_string()).unwrap();

        let mut store = TrustStore::load(&path).unwrap();
        assert_eq!(store.key("a.example").unwrap(), Some([1; 32]));
        assert_eq!(
            store.checkpoint("a.example", "a.example/c/d"),
            Some("note\n")
        );
        assert_eq!(store.checkpoint("a.example", "a.example/c/e"), None);
        assert_eq!(store.pin("a.example", &[1; 32]).unwrap(), Pinned::Already);
        store.save().unwrap();
        let again: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(again["a.example"]["future_field"]["x"], 1);
    }

    #[test]
    fn pins_a_witness_policy_once_and_refuses_another() {
        let path = temp_path("witnesses");
        let mut store = TrustStore::load(&path).unwrap();
        let witness = |seed: u8, name: &str| {
            let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            Witness::new(name, key.verifying_key().to_bytes()).unwrap()
        };
        let policy = WitnessPolicy::new(
            vec![witness(1, "w.example/1"), witness(2, "w.example/2")],
            1,
        )
        .unwrap();
        assert!(
            store.pin_witnesses("a.example", &policy).is_err(),
            "key not pinned"
        );
        store.pin("a.example", &[1; 32]).unwrap();
        assert_eq!(
            store.pin_witnesses("a.example", &policy).unwrap(),
            Pinned::New
        );
        store.save().unwrap();
        let store2 = TrustStore::load(&path).unwrap();
        assert_eq!(store2.witnesses("a.example").unwrap(), Some(policy.clone()));
        let mut store = store2;
        assert_eq!(
            store.pin_witnesses("a.example", &policy).unwrap(),
            Pinned::Already
        );
        let other = WitnessPolicy::new(vec![witness(1, "w.example/1")], 1).unwrap();
        let err = store.pin_witnesses("a.example", &other).unwrap_err();
        assert!(
            err.to_string().contains("different witness policy"),
            "{err}"
        );
    }

    #[test]
    fn pins_anchor_trust_once_and_refuses_another() {
        let path = temp_path("anchor");
        let mut store = TrustStore::load(&path).unwrap();
        let trust = AnchorTrust {
            chain_id: 31337,
            contract: [1; 20],
            code_hash: [2; 32],
            anchorer: [3; 20],
        };
        assert!(
            store.pin_anchor("a.example", &trust, None).is_err(),
            "key not pinned"
        );
        store.pin("a.example", &[1; 32]).unwrap();
        assert_eq!(
            store
                .pin_anchor("a.example", &trust, Some(Finality::Confirmations(3)))
                .unwrap(),
            Pinned::New
        );
        store.save().unwrap();
        let mut store = TrustStore::load(&path).unwrap();
        assert_eq!(
            store.anchor("a.example").unwrap(),
            Some((trust.clone(), Some(Finality::Confirmations(3))))
        );
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            value["a.example"]["anchor"]["finality"],
            serde_json::json!({"confirmations": 3})
        );
        assert_eq!(
            value["a.example"]["anchor"]["contract"],
            format!("0x{}", "01".repeat(20))
        );
        assert_eq!(
            store.pin_anchor("a.example", &trust, None).unwrap(),
            Pinned::Already
        );
        let other = AnchorTrust {
            chain_id: 1,
            ..trust
        };
        let err = store
            .pin_anchor("a.example", &other, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to replace it"), "{err}");
        assert_eq!(
            read_finality(&serde_json::json!("finalized")),
            Ok(Finality::Finalized)
        );
        assert!(read_finality(&serde_json::json!({"confirmations": 0})).is_err());
        assert!(read_finality(&serde_json::json!("latest")).is_err());
    }

    #[test]
    fn refuses_to_replace_a_pinned_key() {
        let path = temp_path("conflict");
        let mut store = TrustStore::load(&path).unwrap();
        store.pin("a.example", &[1; 32]).unwrap();
        let err = store.pin("a.example", &[2; 32]).unwrap_err().to_string();
        assert!(err.contains(&base64_encode(&[1; 32])), "{err}");
        assert!(err.contains(&base64_encode(&[2; 32])), "{err}");
        assert!(err.contains(&fingerprint(&[2; 32])), "{err}");
        assert_eq!(store.key("a.example").unwrap(), Some([1; 32]));
        assert_eq!(store.pin("b.example", &[2; 32]).unwrap(), Pinned::New);
    }

    #[test]
    fn malformed_files_and_keys_are_trust_errors() {
        let path = temp_path("malformed");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"a.example": {"checkpoints": {}}}"#).unwrap();
        assert!(matches!(TrustStore::load(&path), Err(CliError::Trust(_))));
        std::fs::write(&path, r#"{"a.example": {"log_public_key": "AAAA"}}"#).unwrap();
        let store = TrustStore::load(&path).unwrap();
        assert!(matches!(store.key("a.example"), Err(CliError::Trust(_))));
    }

    #[test]
    fn default_path_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[
            ("CIVICPROOF_TRUST_FILE", "/t/f.json"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(TrustStore::default_path(all), Some("/t/f.json".into()));
        let xdg = env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            TrustStore::default_path(xdg),
            Some("/x/civicproof/trust.json".into())
        );
        let relative_xdg = env(&[("XDG_CONFIG_HOME", "x"), ("HOME", "/h")]);
        assert_eq!(
            TrustStore::default_path(relative_xdg),
            Some("/h/.config/civicproof/trust.json".into())
        );
        assert_eq!(TrustStore::default_path(env(&[])), None);
    }

    #[test]
    fn fingerprint_is_sha256_prefix() {
        assert_eq!(fingerprint(&[0; 32]), "66687aadf862bd77");
    }
}
