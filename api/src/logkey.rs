//! The instance's Ed25519 log key (PROTOCOL.md section 1): one key pair signs every dataset's
//! checkpoints under key name = origin. The private key is read from a file created with
//! mode 0600 on first start and is never logged or served.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fmt;
use std::io::Write;
use std::path::Path;

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
                let mut seed = [0u8; 32];
                rand::fill(&mut seed);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut file = opts
                    .open(path)
                    .with_context(|| format!("creating log key file {}", path.display()))?;
                writeln!(file, "civicproof-log-key-v1 {}", hex::encode(seed))?;
                file.sync_all()?;
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
        let text = std::str::from_utf8(bytes)?.trim();
        let hex_seed = text
            .strip_prefix("civicproof-log-key-v1 ")
            .context("missing civicproof-log-key-v1 header")?;
        let seed: [u8; 32] = hex::decode(hex_seed)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("seed is not 32 bytes"))?;
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
