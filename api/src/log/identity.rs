//! The instance's fixed identity (PROTOCOL.md section 4.4): the first start records the origin
//! prefix and the log public key; every later start must present the same ones. A missing
//! key file, a different key or a changed prefix is fatal, naming the setting. Key rotation
//! is an explicit admin command, never an accident.

use crate::config::Config;
use crate::logkey::LogKey;
use anyhow::{Context, bail};
use civicproof_schema::Pool;
use civicproof_schema::queries::checkpoints as q;
use std::time::{Duration, Instant};

/// Loads the log key and checks it (and the prefix) against the recorded identity,
/// recording both on the very first start.
pub fn establish(pool: &Pool, config: &Config) -> anyhow::Result<LogKey> {
    let mut conn = connect_with_retry(pool, Duration::from_secs(30))?;
    let recorded = q::identity(&mut conn).context("reading the instance identity")?;
    let path = &config.log_key_file;
    match recorded {
        None => {
            let key = LogKey::load_or_create(path)?;
            q::record_identity(
                &mut conn,
                &config.origin_prefix,
                key.verifying_key().as_bytes(),
            )?;
            // Another process may have recorded first: check against what is stored now.
            let (prefix, public) = q::identity(&mut conn)?.context("identity vanished")?;
            check(&key, &prefix, &public, config)?;
            Ok(key)
        }
        Some((prefix, public)) => {
            if !path.exists() {
                bail!(
                    "CIVICPROOF_LOG_KEY_FILE {} does not exist, but this instance's identity was recorded with a log \
                     key: restore the key file (rotating the key is an explicit admin command)",
                    path.display()
                );
            }
            let key = LogKey::load_or_create(path)?;
            check(&key, &prefix, &public, config)?;
            Ok(key)
        }
    }
}

fn check(key: &LogKey, prefix: &str, public: &[u8], config: &Config) -> anyhow::Result<()> {
    if key.verifying_key().as_bytes().as_slice() != public {
        bail!(
            "CIVICPROOF_LOG_KEY_FILE {} holds a different key than the one this instance recorded: restore the \
             original key file",
            config.log_key_file.display()
        );
    }
    if prefix != config.origin_prefix {
        bail!(
            "CIVICPROOF_ORIGIN_PREFIX is {:?} but this instance was created with {prefix:?}: origins never change",
            config.origin_prefix
        );
    }
    Ok(())
}

fn connect_with_retry(
    pool: &Pool,
    patience: Duration,
) -> anyhow::Result<civicproof_schema::pool::PooledConn> {
    let started = Instant::now();
    loop {
        match pool.get() {
            Ok(c) => return Ok(c),
            Err(e) if started.elapsed() < patience => {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e).context("the database is unreachable (DATABASE_URL)"),
        }
    }
}
