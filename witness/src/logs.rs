//! The logs a witness follows, and the key each one's checkpoints must be signed with.
//!
//! C2SP configures a witness with (origin, log key) pairs. A civicproof instance has one log per
//! dataset, every one signed by the instance key under key name = origin, and datasets come and
//! go; so besides exact origins a witness can follow a whole instance: every origin
//! `<prefix>/<institution>/<dataset>` signed by that instance's key (section 10.2).

use civicproof_verify::checkpoint::{self, Checkpoint, CheckpointError};
use civicproof_verify::encoding::base64_decode;
use civicproof_verify::note::{self, Note};

/// One rule: an exact origin, or every dataset origin under an instance prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRule {
    /// A C2SP log: its origin and Ed25519 key (from a signed-note vkey).
    Origin { origin: String, key: [u8; 32] },
    /// A civicproof instance: origins `<prefix>/<inst>/<ds>` under one key.
    Instance { prefix: String, key: [u8; 32] },
}

/// The configured logs.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    rules: Vec<LogRule>,
}

/// Why a checkpoint is not one the witness may cosign.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No rule covers the origin (404).
    #[error("unknown log origin")]
    UnknownOrigin,
    /// The note or its text is malformed (400).
    #[error("{0}")]
    Malformed(CheckpointError),
    /// No valid signature by the log's key (403).
    #[error("{0}")]
    Signature(CheckpointError),
}

impl LogRule {
    /// Parses `--log <vkey>` (a signed-note Ed25519 vkey whose name is the origin).
    pub fn from_vkey(vkey: &str) -> Result<LogRule, String> {
        let bad = || {
            format!(
                "--log {vkey:?} is not a signed-note vkey <origin>+<key id>+<base64(0x01 || key)>"
            )
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(origin), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let typed = base64_decode(key).ok_or_else(bad)?;
        let [note::ED25519_SIGNATURE_TYPE, public @ ..] = typed.as_slice() else {
            return Err(bad());
        };
        let key: [u8; 32] = public.try_into().map_err(|_| bad())?;
        if origin.is_empty() || hex::encode(note::key_id(origin, &key)) != id {
            return Err(bad());
        }
        Ok(LogRule::Origin {
            origin: origin.to_owned(),
            key,
        })
    }

    /// Parses `--instance <prefix>=<base64 public key>`.
    pub fn from_instance(arg: &str) -> Result<LogRule, String> {
        let bad = || format!("--instance {arg:?} is not <prefix>=<base64 Ed25519 public key>");
        let (prefix, key) = arg.split_once('=').ok_or_else(bad)?;
        let key: [u8; 32] = base64_decode(key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(bad)?;
        if prefix.is_empty() || prefix.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(LogRule::Instance {
            prefix: prefix.to_owned(),
            key,
        })
    }

    /// The key for `origin` if this rule covers it.
    fn key_for(&self, origin: &str) -> Option<&[u8; 32]> {
        match self {
            LogRule::Origin { origin: o, key } => (o == origin).then_some(key),
            LogRule::Instance { prefix, key } => {
                let rest = origin.strip_prefix(prefix.as_str())?.strip_prefix('/')?;
                let (inst, ds) = rest.split_once('/')?;
                let segment = |s: &str| !s.is_empty() && !s.contains(['/', ' ']);
                (segment(inst) && segment(ds)).then_some(key)
            }
        }
    }
}

impl Logs {
    pub fn new(rules: Vec<LogRule>) -> Self {
        Logs { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Parses the note, finds its log and verifies the log's signature on it.
    ///
    /// The origin is read before the signature is checked only to pick the key; nothing else
    /// about the note is trusted until [`checkpoint::verify_note`] passed.
    pub fn verify(&self, note_bytes: &[u8]) -> Result<(Checkpoint, Note), LogError> {
        let parsed = note::parse(note_bytes).map_err(|e| LogError::Malformed(e.into()))?;
        let origin = Checkpoint::parse_text(&parsed.text)
            .map_err(LogError::Malformed)?
            .origin;
        // Exact --log rules for the origin win over --instance rules (an operator can pin one
        // log's key apart from its instance's, say after the instance key leaked); among the
        // rules of the winning kind every one is tried (a key being rotated is listed twice),
        // and the note passes if any of their keys signed it.
        let exact = |r: &&LogRule| matches!(r, LogRule::Origin { origin: o, .. } if *o == origin);
        let covering: Vec<&LogRule> = if self.rules.iter().any(|r| exact(&r)) {
            self.rules.iter().filter(exact).collect()
        } else {
            self.rules.iter().collect()
        };
        let mut last = LogError::UnknownOrigin;
        for key in covering.into_iter().filter_map(|r| r.key_for(&origin)) {
            match checkpoint::verify_note(note_bytes, key) {
                Ok(verified) => return Ok(verified),
                Err(e) => last = LogError::Signature(e),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn instance_rules_cover_dataset_origins_only() {
        let rule = LogRule::Instance {
            prefix: "data.example".into(),
            key: [0; 32],
        };
        assert!(rule.key_for("data.example/city/air").is_some());
        for other in [
            "data.example",
            "data.example/city",
            "data.example/city/air/x",
            "data.example.evil/city/air",
            "data.exampl/city/air",
            "data.example//air",
        ] {
            assert!(rule.key_for(other).is_none(), "{other}");
        }
    }

    #[test]
    fn vkey_rules_parse_and_check_the_key_id() {
        let key = SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes();
        let vkey = note::vkey("log.example/a", &key);
        assert_eq!(
            LogRule::from_vkey(&vkey),
            Ok(LogRule::Origin {
                origin: "log.example/a".into(),
                key
            })
        );
        assert!(LogRule::from_vkey(&vkey.replacen("/a", "/b", 1)).is_err());
        assert!(LogRule::from_instance("data.example=AAAA").is_err());
    }

    #[test]
    fn exact_rules_win_and_every_rule_of_the_winning_kind_is_tried() {
        let old = SigningKey::from_bytes(&[5; 32]);
        let new = SigningKey::from_bytes(&[6; 32]);
        let signed_by = |key: &SigningKey| {
            Checkpoint {
                origin: "data.example/city/air".into(),
                size: 1,
                root: [7; 32],
            }
            .sign(key)
        };
        let logs = Logs::new(vec![
            LogRule::Instance {
                prefix: "data.example".into(),
                key: old.verifying_key().to_bytes(),
            },
            LogRule::Origin {
                origin: "data.example/city/air".into(),
                key: new.verifying_key().to_bytes(),
            },
        ]);
        // The exact rule wins: the instance key no longer signs for this origin.
        assert!(matches!(
            logs.verify(signed_by(&old).as_bytes()),
            Err(LogError::Signature(_))
        ));
        assert!(logs.verify(signed_by(&new).as_bytes()).is_ok());
        // Two instance rules for one prefix (a key being rotated): either key passes.
        let rotating = Logs::new(vec![
            LogRule::Instance {
                prefix: "data.example".into(),
                key: old.verifying_key().to_bytes(),
            },
            LogRule::Instance {
                prefix: "data.example".into(),
                key: new.verifying_key().to_bytes(),
            },
        ]);
        assert!(rotating.verify(signed_by(&old).as_bytes()).is_ok());
        assert!(rotating.verify(signed_by(&new).as_bytes()).is_ok());
        let stranger = SigningKey::from_bytes(&[8; 32]);
        assert!(matches!(
            rotating.verify(signed_by(&stranger).as_bytes()),
            Err(LogError::Signature(_))
        ));
    }
}
