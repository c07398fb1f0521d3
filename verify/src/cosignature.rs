//! C2SP tlog-cosignature `cosignature/v1` (Ed25519): a witness's signed statement that a
//! checkpoint is consistent with everything it saw of that log before (PROTOCOL.md section 10).
//!
//! A log key alone cannot show that everyone is shown the same tree: the operator could sign two
//! forks. Independent witnesses cosign only checkpoints consistent with the last one they saw, so
//! a verifier that requires `k` of `n` pinned witnesses (a [`WitnessPolicy`]) accepts a split
//! view only if `k` witnesses collude with the operator.
//!
//! Wire shapes (tlog-cosignature):
//! - key id: `SHA-256(name || 0x0A || 0x04 || public)[:4]`;
//! - signature line: `— <name> base64(key id || u64 BE timestamp || Ed25519 signature)`;
//! - signed message: `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint text.

use ed25519_dalek::{Signer, SigningKey};

use crate::ed25519::{self, Ed25519Error};
use crate::encoding::{base64_decode, parse_decimal};
use crate::note::{self, Note, NoteSignature};

/// The vkey signature type byte of `cosignature/v1` (Ed25519).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// Bytes after the key id in a `cosignature/v1` line: timestamp and signature.
const TIMESTAMPED_LEN: usize = 8 + ed25519::SIGNATURE_LEN;

/// A witness the client pins: its key name and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The key name, a schema-less URL such as `witness.example/w1`.
    pub name: String,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

/// Why a witness vkey, a cosignature or a witness policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A witness vkey is not `<name>+<8 hex>+<base64(0x04 || 32-byte key)>`.
    #[error("witness key {0:?} is not <name>+<key id hex>+<base64(0x04 || Ed25519 key)>")]
    MalformedVkey(String),
    /// The key id in a vkey is not the one its name and key give.
    #[error("witness key {0:?} has a key id that does not match its name and key")]
    VkeyIdMismatch(String),
    /// The public key is not a usable Ed25519 key.
    #[error("witness {name}: public key: {error}")]
    PublicKey {
        /// The witness's key name.
        name: String,
        /// Why the key is unusable.
        error: Ed25519Error,
    },
    /// The same witness name, or the same key under two names, is pinned twice: a
    /// `cosignature/v1` does not cover the name, so one key would count twice.
    #[error("witness {0} is pinned twice (by name or by key)")]
    DuplicateWitness(String),
    /// `k` is 0 or larger than the number of pinned witnesses.
    #[error(
        "a witness threshold of {threshold} is not between 1 and the {witnesses} pinned witnesses"
    )]
    Threshold {
        /// The threshold asked for.
        threshold: usize,
        /// How many witnesses are pinned.
        witnesses: usize,
    },
    /// A line by a pinned witness is not a key id, an 8-byte timestamp and a 64-byte signature.
    #[error("cosignature by {0} is not a timestamp and an Ed25519 signature")]
    Length(String),
    /// A line by a pinned witness does not verify.
    #[error("cosignature by {name} does not verify: {error}")]
    Invalid {
        /// The witness's key name.
        name: String,
        /// Why it does not verify.
        error: Ed25519Error,
    },
    /// Fewer than `k` pinned witnesses cosigned.
    #[error(
        "checkpoint is cosigned by {found} of the pinned witnesses, {required} required (witnesses: {names})"
    )]
    BelowThreshold {
        /// Pinned witnesses with a valid cosignature.
        found: usize,
        /// The threshold `k`.
        required: usize,
        /// The pinned witnesses' names, comma-separated.
        names: String,
    },
}

impl Witness {
    /// A witness from its name and public key; the key must be a strict Ed25519 point.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Witness, CosignatureError> {
        ed25519::verifying_key(&public_key).map_err(|error| CosignatureError::PublicKey {
            name: name.to_owned(),
            error,
        })?;
        Ok(Witness {
            name: name.to_owned(),
            public_key,
        })
    }

    /// Parses a witness vkey `<name>+<key id hex>+<base64(0x04 || public key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Witness, CosignatureError> {
        let malformed = || CosignatureError::MalformedVkey(vkey.to_owned());
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        if name.is_empty() || name.contains(char::is_whitespace) || id.len() != 8 {
            return Err(malformed());
        }
        // Lowercase only, as web/verify.js reads it: one spelling per key.
        let id: [u8; 4] = crate::encoding::decode_lower_hex::<4>(id).ok_or_else(malformed)?;
        let typed = base64_decode(key).ok_or_else(malformed)?;
        let [COSIGNATURE_V1_TYPE, public @ ..] = typed.as_slice() else {
            return Err(malformed());
        };
        let public: [u8; 32] = public.try_into().map_err(|_| malformed())?;
        if key_id(name, &public) != id {
            return Err(CosignatureError::VkeyIdMismatch(vkey.to_owned()));
        }
        Witness::new(name, public)
    }

    /// This witness's vkey.
    pub fn vkey(&self) -> String {
        vkey(&self.name, &self.public_key)
    }

    /// The key id its cosignature lines carry.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.public_key)
    }

    /// The timestamp of this witness's cosignature on `note`, `None` when it has none.
    ///
    /// A line with this witness's name and key id that does not verify is an error, not an
    /// absence: C2SP signed-note calls such a note malformed.
    pub fn verify(&self, note: &Note) -> Result<Option<u64>, CosignatureError> {
        let id = self.key_id();
        let key = ed25519::verifying_key(&self.public_key).map_err(|error| {
            CosignatureError::PublicKey {
                name: self.name.clone(),
                error,
            }
        })?;
        let mut newest = None;
        for line in note
            .signatures
            .iter()
            .filter(|s| s.name == self.name && s.key_id == id)
        {
            if line.signature.len() != TIMESTAMPED_LEN {
                return Err(CosignatureError::Length(self.name.clone()));
            }
            let (time, signature) = line.signature.split_at(8);
            let time = u64::from_be_bytes(time.try_into().expect("8 bytes"));
            ed25519::verify(&key, &signed_message(&note.text, time), signature).map_err(
                |error| CosignatureError::Invalid {
                    name: self.name.clone(),
                    error,
                },
            )?;
            newest = newest.max(Some(time));
        }
        Ok(newest)
    }
}

/// `k` of these `n` witnesses must have cosigned a checkpoint (pinned by the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<Witness>,
    threshold: usize,
}

impl WitnessPolicy {
    /// A policy of `threshold` out of `witnesses`; names must be distinct and `1 <= k <= n`.
    pub fn new(witnesses: Vec<Witness>, threshold: usize) -> Result<Self, CosignatureError> {
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i]
                .iter()
                .any(|v| v.name == w.name || v.public_key == w.public_key)
            {
                return Err(CosignatureError::DuplicateWitness(w.name.clone()));
            }
        }
        if threshold == 0 || threshold > witnesses.len() {
            return Err(CosignatureError::Threshold {
                threshold,
                witnesses: witnesses.len(),
            });
        }
        Ok(WitnessPolicy {
            witnesses,
            threshold,
        })
    }

    /// The pinned witnesses.
    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses
    }

    /// `k`.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Checks `note` (already verified under the log key) against the policy and returns the
    /// names of the pinned witnesses that cosigned it.
    pub fn check(&self, note: &Note) -> Result<Vec<String>, CosignatureError> {
        let mut cosigned = Vec::new();
        for w in &self.witnesses {
            if w.verify(note)?.is_some() {
                cosigned.push(w.name.clone());
            }
        }
        if cosigned.len() < self.threshold {
            return Err(CosignatureError::BelowThreshold {
                found: cosigned.len(),
                required: self.threshold,
                names: self
                    .witnesses
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(cosigned)
    }
}

/// `SHA-256(name || 0x0A || 0x04 || public)[:4]`.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    note::typed_key_id(name, COSIGNATURE_V1_TYPE, public)
}

/// The witness vkey `<name>+<key id hex>+<base64(0x04 || public)>`.
pub fn vkey(name: &str, public: &[u8; 32]) -> String {
    note::typed_vkey(name, COSIGNATURE_V1_TYPE, public)
}

/// What a `cosignature/v1` signs: the header, the time line, then the checkpoint text.
pub fn signed_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// The signature line (without its newline) of `name`'s cosignature over `checkpoint_text` at
/// `timestamp` (Unix seconds, non-zero).
pub fn sign(checkpoint_text: &str, name: &str, key: &SigningKey, timestamp: u64) -> NoteSignature {
    let public = key.verifying_key().to_bytes();
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(
        &key.sign(&signed_message(checkpoint_text, timestamp))
            .to_bytes(),
    );
    NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, &public),
        signature,
    }
}

/// Parses the old-size line of a tlog-witness request or the body of a `409`
/// (`text/x.tlog.size`): a decimal without leading zeros, then a newline.
pub fn parse_size_line(line: &str) -> Option<u64> {
    parse_decimal(line.strip_suffix('\n').unwrap_or(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn witness(name: &str, seed: u8) -> Witness {
        Witness::new(name, key(seed).verifying_key().to_bytes()).unwrap()
    }

    /// A note with the log's signature (any bytes here; the log key is not checked) and the
    /// given cosignatures.
    fn cosigned(lines: Vec<NoteSignature>) -> Note {
        let mut signatures = vec![NoteSignature {
            name: "example.com/behind-the-sofa".into(),
            key_id: [1, 2, 3, 4],
            signature: vec![0; 64],
        }];
        signatures.extend(lines);
        Note {
            text: TEXT.into(),
            signatures,
        }
    }

    /// tlog-cosignature's signed message, spelled out.
    #[test]
    fn signed_message_is_header_time_then_text() {
        assert_eq!(
            signed_message(TEXT, 1679315147),
            format!("cosignature/v1\ntime 1679315147\n{TEXT}").into_bytes()
        );
    }

    #[test]
    fn a_signed_cosignature_verifies_and_reports_its_time() {
        let line = sign(TEXT, "witness.example/w1", &key(7), 1_700_000_000);
        assert_eq!(line.signature.len(), 72);
        assert_eq!(&line.signature[..8], &1_700_000_000u64.to_be_bytes());
        let note = cosigned(vec![line]);
        assert_eq!(
            witness("witness.example/w1", 7).verify(&note),
            Ok(Some(1_700_000_000))
        );
        // Another witness's key finds nothing to check.
        assert_eq!(witness("witness.example/w2", 8).verify(&note), Ok(None));
    }

    #[test]
    fn the_key_id_differs_from_the_signed_note_key_id_of_the_same_key() {
        let public = key(7).verifying_key().to_bytes();
        assert_ne!(key_id("w", &public), note::key_id("w", &public));
    }

    /// Every mutation of a cosignature, or of the text it covers, must fail.
    #[test]
    fn mutated_cosignatures_fail() {
        let w = witness("witness.example/w1", 7);
        let good = sign(TEXT, "witness.example/w1", &key(7), 1_700_000_000);
        for i in 0..good.signature.len() {
            let mut bad = good.clone();
            bad.signature[i] ^= 0x01;
            let result = w.verify(&cosigned(vec![bad]));
            assert!(
                matches!(result, Err(CosignatureError::Invalid { .. })),
                "byte {i}: {result:?}"
            );
        }
        let mut other_text = cosigned(vec![good.clone()]);
        other_text.text = TEXT.replace("20852163", "20852164");
        assert!(w.verify(&other_text).is_err());
        let mut short = good;
        short.signature.pop();
        assert_eq!(
            w.verify(&cosigned(vec![short])),
            Err(CosignatureError::Length("witness.example/w1".into()))
        );
    }

    #[test]
    fn a_signed_note_signature_by_the_witness_key_is_no_cosignature() {
        // The same key signing the bare text (signed-note style) is not a cosignature/v1.
        let plain = note::parse(note::sign_ed25519(TEXT, "witness.example/w1", &key(7)).as_bytes())
            .unwrap();
        assert_eq!(witness("witness.example/w1", 7).verify(&plain), Ok(None));
    }

    #[test]
    fn vkeys_round_trip_and_are_checked() {
        let w = witness("witness.example/w1", 7);
        let vkey = w.vkey();
        assert!(vkey.starts_with("witness.example/w1+"));
        assert_eq!(Witness::from_vkey(&vkey), Ok(w.clone()));
        // A signed-note (0x01) vkey of the same key is not a witness key.
        let log_vkey = note::vkey("witness.example/w1", &w.public_key);
        assert!(matches!(
            Witness::from_vkey(&log_vkey),
            Err(CosignatureError::MalformedVkey(_) | CosignatureError::VkeyIdMismatch(_))
        ));
        let renamed = vkey.replacen("w1", "w2", 1);
        assert_eq!(
            Witness::from_vkey(&renamed),
            Err(CosignatureError::VkeyIdMismatch(renamed.clone()))
        );
        let upper = {
            let (name, rest) = vkey.split_once('+').unwrap();
            let (id, key) = rest.split_once('+').unwrap();
            format!("{name}+{}+{key}", id.to_uppercase())
        };
        assert!(
            Witness::from_vkey(&upper).is_err() || upper == vkey,
            "uppercase key id"
        );
        for bad in ["", "a+b", "w+0000000+AAAA", "w+zzzzzzzz+AAAA"] {
            assert!(Witness::from_vkey(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policies_count_distinct_pinned_witnesses() {
        let (w1, w2, w3) = (
            witness("w.example/1", 1),
            witness("w.example/2", 2),
            witness("w.example/3", 3),
        );
        let policy = WitnessPolicy::new(vec![w1, w2, w3.clone()], 2).unwrap();
        let by = |name: &str, seed: u8| sign(TEXT, name, &key(seed), 1_700_000_000);
        let one = cosigned(vec![by("w.example/1", 1), by("w.example/1", 1)]);
        assert!(matches!(
            policy.check(&one),
            Err(CosignatureError::BelowThreshold {
                found: 1,
                required: 2,
                ..
            })
        ));
        let two = cosigned(vec![by("w.example/1", 1), by("w.example/3", 3)]);
        assert_eq!(
            policy.check(&two),
            Ok(vec!["w.example/1".to_owned(), "w.example/3".to_owned()])
        );
        // An unpinned witness does not count; a pinned one with a bad line fails the note.
        let stranger = cosigned(vec![by("w.example/1", 1), by("w.example/9", 9)]);
        assert!(policy.check(&stranger).is_err());
        let mut forged = by("w.example/2", 2);
        forged.signature[20] ^= 1;
        assert!(matches!(
            policy.check(&cosigned(vec![
                by("w.example/1", 1),
                by("w.example/3", 3),
                forged
            ])),
            Err(CosignatureError::Invalid { .. })
        ));
        assert!(WitnessPolicy::new(vec![w3.clone()], 0).is_err());
        assert!(WitnessPolicy::new(vec![w3.clone()], 2).is_err());
        assert!(WitnessPolicy::new(vec![w3.clone(), w3.clone()], 1).is_err());
        // One key under two names would count twice: refused.
        let alias = Witness::new("w.example/alias", w3.public_key).unwrap();
        assert!(WitnessPolicy::new(vec![w3, alias], 2).is_err());
    }

    #[test]
    fn size_lines() {
        assert_eq!(parse_size_line("20852014\n"), Some(20852014));
        assert_eq!(parse_size_line("0\n"), Some(0));
        assert_eq!(parse_size_line("012\n"), None);
        assert_eq!(parse_size_line("x\n"), None);
    }
}
