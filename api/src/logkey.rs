//! The instance's Ed25519 log key (PROTOCOL.md section 1): one key pair signs every dataset's
//! checkpoints under key name = origin. The private key is read from a file created with
//! mode 0600 on first start and is never logged or served.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fmt;
use std::path::Path;

/// The header line of a log key file (`civicproof-log-key-v1 <hex seed>`).
const HEADER: &str = "civicproof-log-key-v1";

pub struct LogKey {
    signing: SigningKey,
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogKey")
            .field("public", &self.public_base64())
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// Loads the key, creating it (mode 0600) when the file does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_file_bytes(&bytes).with_context(|| {
                format!(
                    "log key file {} is not a civicproof log key",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = civicproof_witness::key::create_seed_file(path, HEADER)
                    .with_context(|| format!("creating log key file {}", path.display()))?;
                tracing::info!(path = %path.display(), "created a new log key");
                Ok(Self {
                    signing: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) => Err(e).with_context(|| format!("reading log key file {}", path.display())),
        }
    }

    /// A key from a 32-byte seed (tests).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    fn from_file_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let seed = civicproof_witness::key::parse_seed(bytes, HEADER)?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// For signing checkpoints; never logged or served.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn public_base64(&self) -> String {
        STANDARD.encode(self.verifying_key().as_bytes())
    }

    /// The dataset's vkey: `<origin>+<key id hex>+<base64(0x01 || public key)>`.
    pub fn vkey(&self, origin: &str) -> String {
        civicproof_verify::note::vkey(origin, self.verifying_key().as_bytes())
    }
}
