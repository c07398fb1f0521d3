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
}

impl Store {
    /// Opens (creating) the state directory.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating witness state directory {}", dir.display()))?;
        Ok(Store {
            dir: dir.to_owned(),
            loaded: HashMap::new(),
        })
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

    /// The note stored under an origin hash (for `GET /<origin hash>/checkpoint`).
    pub fn note_by_hash(&self, origin_hash: &str) -> anyhow::Result<Option<String>> {
        if origin_hash.len() != 64 || !origin_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        match std::fs::read_to_string(self.dir.join(origin_hash.to_ascii_lowercase())) {
            Ok(note) => Ok(Some(note)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Durably replaces the latest checkpoint of its origin.
    pub fn put(&mut self, latest: Latest) -> anyhow::Result<()> {
        let origin = latest.checkpoint.origin.clone();
        let name = Self::origin_hash(&origin);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(latest.note.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(&name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.loaded.insert(origin, Some(latest));
        Ok(())
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
