//! The latest cosigned checkpoint of each origin, one file per origin.
//!
//! The file `<dir>/<hex SHA-256(origin)>` holds the whole note the witness returned its
//! cosignature for (the log's signature and the witness's), so it is both the witness's state
//! and what `GET /<origin hash>/checkpoint` serves. A write goes to a temporary file that is
//! synced, renamed over the old one, and the directory synced: after a crash the witness holds
//! either the old checkpoint or the new one, never a torn file, and never forgets one it
//! answered for (it persists before it answers).

use anyhow::Context;
use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::note;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the witness remembers of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub checkpoint: Checkpoint,
    /// The cosigned note, as served to monitors.
    pub note: String,
}

/// The on-disk state, with an in-memory copy of what was read or written.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    loaded: HashMap<String, Option<Latest>>,
    /// An exclusive lock on `<dir>/.lock`, held while the store is open: two witness processes
    /// on one state directory would each check against their own memory and could cosign a
    /// fork between them.
    _lock: std::fs::File,
}

impl Store {
    /// Opens (creating) the state directory, refusing one another process holds.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating witness state directory {}", dir.display()))?;
        let lock_path = dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "witness state directory {} is in use by another witness process",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        Ok(Store {
            dir: dir.to_owned(),
            loaded: HashMap::new(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hex SHA-256 of an origin: its file name, and its path segment for monitors.
    pub fn origin_hash(origin: &str) -> String {
        hex::encode(Sha256::digest(origin.as_bytes()))
    }

    /// The latest cosigned checkpoint of `origin`, `None` if it never cosigned one.
    pub fn latest(&mut self, origin: &str) -> anyhow::Result<Option<Latest>> {
        if let Some(hit) = self.loaded.get(origin) {
            return Ok(hit.clone());
        }
        let path = self.dir.join(Self::origin_hash(origin));
        let latest = match std::fs::read(&path) {
            Ok(bytes) => Some(
                read_latest(&bytes, origin)
                    .with_context(|| format!("witness state file {} is corrupt", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        self.loaded.insert(origin.to_owned(), latest.clone());
        Ok(latest)
    }

    /// Durably replaces the latest checkpoint of its origin.
    pub fn put(&mut self, latest: Latest) -> anyhow::Result<()> {
        let origin = latest.checkpoint.origin.clone();
        match self.write(&latest) {
            Ok(()) => {
                self.loaded.insert(origin, Some(latest));
                Ok(())
            }
            Err(e) => {
                // The file may or may not have been replaced (a failed directory sync comes
                // after the rename): read it again next time rather than trust memory.
                self.loaded.remove(&origin);
                Err(e)
            }
        }
    }

    fn write(&self, latest: &Latest) -> anyhow::Result<()> {
        let name = Self::origin_hash(&latest.checkpoint.origin);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(latest.note.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(&name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

/// The note stored under an origin hash in `dir` (for `GET /<origin hash>/checkpoint`). Files
/// are replaced by rename, so a read without the store's lock sees a whole note.
pub fn note_by_hash(dir: &Path, origin_hash: &str) -> anyhow::Result<Option<String>> {
    if origin_hash.len() != 64 || !origin_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    match std::fs::read_to_string(dir.join(origin_hash.to_ascii_lowercase())) {
        Ok(note) => Ok(Some(note)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn read_latest(bytes: &[u8], origin: &str) -> anyhow::Result<Latest> {
    let parsed = note::parse(bytes)?;
    let checkpoint = Checkpoint::parse_text(&parsed.text)?;
    anyhow::ensure!(checkpoint.origin == origin, "it belongs to another origin");
    Ok(Latest {
        checkpoint,
        note: String::from_utf8(bytes.to_vec())?,
    })
}
