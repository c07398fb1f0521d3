//! The witness's Ed25519 key file: `civicproof-witness-key-v1 <hex seed>`, mode 0600.

use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::Path;

const HEADER: &str = "civicproof-witness-key-v1 ";

/// Reads a key file written by [`create`].
pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading witness key file {}", path.display()))?;
    let seed: [u8; 32] = text
        .trim()
        .strip_prefix(HEADER)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|s| s.try_into().ok())
        .with_context(|| format!("{} is not a civicproof witness key file", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Creates a new key file (never overwrites one) and returns the key.
pub fn create(path: &Path) -> anyhow::Result<SigningKey> {
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
        .with_context(|| format!("creating witness key file {}", path.display()))?;
    writeln!(file, "{HEADER}{}", hex::encode(seed))?;
    file.sync_all()?;
    Ok(SigningKey::from_bytes(&seed))
}
