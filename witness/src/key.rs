//! Ed25519 key files: one line `<header> <hex seed>`, created with mode 0600 and never
//! overwritten. The witness's key (`civicproof-witness-key-v1`) and the server's log key
//! (`civicproof-log-key-v1`, `api/src/logkey.rs`) are both written and read here.

use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::Path;

/// The header of a witness key file.
pub const WITNESS_HEADER: &str = "civicproof-witness-key-v1";

/// Reads a witness key file written by [`create`].
pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading witness key file {}", path.display()))?;
    let seed = parse_seed(&bytes, WITNESS_HEADER)
        .with_context(|| format!("{} is not a civicproof witness key file", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Creates a new witness key file (never overwrites one) and returns the key.
pub fn create(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(SigningKey::from_bytes(&create_seed_file(
        path,
        WITNESS_HEADER,
    )?))
}

/// The seed of a key file's bytes `<header> <64 hex digits>` (surrounding whitespace ignored).
pub fn parse_seed(bytes: &[u8], header: &str) -> anyhow::Result<[u8; 32]> {
    let text = std::str::from_utf8(bytes)?.trim();
    let hex_seed = text
        .strip_prefix(header)
        .and_then(|rest| rest.strip_prefix(' '))
        .with_context(|| format!("missing {header} header"))?;
    hex::decode(hex_seed)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("seed is not 32 bytes"))
}

/// Writes a fresh random seed to a new file `path` (mode 0600, parent directories created,
/// synced) and returns it. Fails if the file exists.
pub fn create_seed_file(path: &Path, header: &str) -> anyhow::Result<[u8; 32]> {
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
        .with_context(|| format!("creating key file {}", path.display()))?;
    writeln!(file, "{header} {}", hex::encode(seed))?;
    file.sync_all()?;
    Ok(seed)
}
