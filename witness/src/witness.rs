//! The checks of `add-checkpoint`, in the order C2SP tlog-witness gives them, and the refusals
//! with their HTTP statuses.

use civicproof_verify::cosignature;
use civicproof_verify::merkle::{self, verify_consistency};
use civicproof_verify::note::{self, Note};
use ed25519_dalek::SigningKey;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::logs::{LogError, Logs};
use crate::request;
use crate::store::{Latest, Store};

/// A witness: its name and key, the logs it follows, and its state.
#[derive(Debug)]
pub struct Witness {
    name: String,
    key: SigningKey,
    logs: Logs,
    /// One lock for check-then-persist, so two requests cannot both pass against the same old
    /// size (the race tlog-witness describes), and a rollback cannot slip between them.
    store: Mutex<Store>,
    /// The state directory, read without the lock by monitors (files are replaced atomically).
    state_dir: PathBuf,
}

/// Why a checkpoint was not cosigned.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 400: the body, the note or the sizes are malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: the origin is not a log this witness follows.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 403: no valid signature by the log's key.
    #[error("{0}")]
    Signature(String),
    /// 409: `old` is not the size of the latest checkpoint cosigned for the origin.
    #[error("the latest cosigned size is {0}")]
    Conflict(u64),
    /// 422, conclusive: the log signed two different trees of the same size, the one cosigned
    /// before and this one. Evidence of a fork that only the log key could produce.
    #[error("{why}")]
    Fork { origin: String, why: String },
    /// 422: the consistency proof (or the empty tree's root) does not check out. A fork looks
    /// like this, and so does a broken or replayed submission: anyone can send a log's public
    /// checkpoint with a wrong proof.
    #[error("{why}")]
    BadProof { origin: String, why: String },
    /// 500: the state could not be read or written; nothing was cosigned.
    #[error("witness state: {0}")]
    Storage(anyhow::Error),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::UnknownOrigin => 404,
            Refusal::Signature(_) => 403,
            Refusal::Conflict(_) => 409,
            Refusal::Fork { .. } | Refusal::BadProof { .. } => 422,
            Refusal::Storage(_) => 500,
        }
    }

    /// The metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::UnknownOrigin => "unknown_origin",
            Refusal::Signature(_) => "bad_signature",
            Refusal::Conflict(_) => "conflict",
            Refusal::Fork { .. } => "fork",
            Refusal::BadProof { .. } => "bad_proof",
            Refusal::Storage(_) => "storage_error",
        }
    }
}

impl Witness {
    pub fn new(name: &str, key: SigningKey, logs: Logs, store: Store) -> Witness {
        Witness {
            name: name.to_owned(),
            key,
            logs,
            state_dir: store.dir().to_owned(),
            store: Mutex::new(store),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This witness's vkey (what verifiers pin).
    pub fn vkey(&self) -> String {
        cosignature::vkey(&self.name, &self.key.verifying_key().to_bytes())
    }

    /// Handles one `add-checkpoint` body at Unix time `now`; returns the response body (one
    /// cosignature line) after the new state is on disk.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, Refusal> {
        self.add_checkpoint_with_clock(body, &|| now)
    }

    /// [`Witness::add_checkpoint`] with the time read under the lock, so that the cosignatures
    /// of one origin carry timestamps in the order they were issued.
    pub fn add_checkpoint_with_clock(
        &self,
        body: &[u8],
        clock: &dyn Fn() -> u64,
    ) -> Result<String, Refusal> {
        let req = request::parse(body).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let (checkpoint, note) = self.logs.verify(req.note).map_err(|e| match e {
            LogError::UnknownOrigin => Refusal::UnknownOrigin,
            LogError::Malformed(e) => Refusal::BadRequest(e.to_string()),
            LogError::Signature(e) => Refusal::Signature(e.to_string()),
        })?;
        if req.old_size > checkpoint.size {
            return Err(Refusal::BadRequest(format!(
                "old size {} is larger than the checkpoint size {}",
                req.old_size, checkpoint.size
            )));
        }
        if checkpoint.size == 0 && checkpoint.root != merkle::empty_root() {
            return Err(Refusal::BadProof {
                origin: checkpoint.origin,
                why: "a checkpoint of size 0 must have the empty tree's root".into(),
            });
        }
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let latest = store.latest(&checkpoint.origin).map_err(Refusal::Storage)?;
        let stored = latest.as_ref().map_or(0, |l| l.checkpoint.size);
        if req.old_size != stored {
            return Err(Refusal::Conflict(stored));
        }
        if let Some(l) = latest.as_ref().filter(|_| req.old_size > 0) {
            if l.checkpoint.size == checkpoint.size && l.checkpoint.root != checkpoint.root {
                return Err(Refusal::Fork {
                    origin: checkpoint.origin,
                    why: format!(
                        "the log signed two trees of size {}: root {} was cosigned before, this one is {}",
                        checkpoint.size,
                        hex::encode(l.checkpoint.root),
                        hex::encode(checkpoint.root)
                    ),
                });
            }
            let proof: Vec<Vec<u8>> = req.proof.iter().map(|h| h.to_vec()).collect();
            if let Err(e) = verify_consistency(
                l.checkpoint.size,
                checkpoint.size,
                &l.checkpoint.root,
                &checkpoint.root,
                &proof,
            ) {
                return Err(Refusal::BadProof {
                    origin: checkpoint.origin,
                    why: format!(
                        "not proven consistent with the cosigned checkpoint of size {}: {e}",
                        l.checkpoint.size
                    ),
                });
            }
        } else if !req.proof.is_empty() {
            return Err(Refusal::BadProof {
                origin: checkpoint.origin,
                why: "the consistency proof from size 0 must be empty".into(),
            });
        }
        let line = cosignature::sign(&note.text, &self.name, &self.key, clock().max(1));
        let stored_note = self.stored_note(&note, &checkpoint.origin, line.clone());
        store
            .put(Latest {
                checkpoint,
                note: stored_note,
            })
            .map_err(Refusal::Storage)?;
        Ok(note::signature_line(&line))
    }

    /// What monitors are served: the text, the log's signatures (other cosignatures dropped),
    /// then this witness's cosignature.
    fn stored_note(&self, submitted: &Note, origin: &str, ours: note::NoteSignature) -> String {
        let mut signatures: Vec<_> = submitted
            .signatures
            .iter()
            .filter(|s| s.name == origin)
            .cloned()
            .collect();
        signatures.push(ours);
        note::format(&Note {
            text: submitted.text.clone(),
            signatures,
        })
    }

    /// The stored note for `GET /<origin hash>/checkpoint`, read without taking the lock:
    /// monitors polling never delay a submission.
    pub fn checkpoint_by_origin_hash(&self, origin_hash: &str) -> anyhow::Result<Option<String>> {
        crate::store::note_by_hash(&self.state_dir, origin_hash)
    }
}

#[cfg(test)]
mod tests {
    //! The add-checkpoint rules of C2SP tlog-witness, one test each, against a witness whose
    //! state lives in a fresh temporary directory.

    use super::*;
    use crate::logs::LogRule;
    use civicproof_verify::checkpoint::Checkpoint;
    use civicproof_verify::cosignature::Witness as Pinned;
    use civicproof_verify::merkle::{Hash, consistency_path, leaf_hash, root};
    use std::path::PathBuf;

    const ORIGIN: &str = "data.example/city/air";

    fn log_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn leaves(n: u64, salt: &str) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("{salt}{i}").as_bytes()))
            .collect()
    }

    fn note(leaves: &[Hash], key: &SigningKey) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size: leaves.len() as u64,
            root: root(leaves),
        }
        .sign(key)
    }

    fn body(old: u64, all: &[Hash], size: u64, key: &SigningKey) -> Vec<u8> {
        let proof = if old == 0 {
            Vec::new()
        } else {
            consistency_path(&all[..size as usize], old)
        };
        request::format(old, &proof, &note(&all[..size as usize], key)).into_bytes()
    }

    fn state_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "civicproof-witness-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn witness(dir: &std::path::Path) -> Witness {
        let rule = LogRule::Instance {
            prefix: "data.example".into(),
            key: log_key().verifying_key().to_bytes(),
        };
        Witness::new(
            "witness.example/w1",
            SigningKey::from_bytes(&[9; 32]),
            Logs::new(vec![rule]),
            Store::open(dir).unwrap(),
        )
    }

    fn status(r: Result<String, Refusal>) -> u16 {
        r.map_or_else(|e| e.status(), |_| 200)
    }

    #[test]
    fn cosigns_a_first_checkpoint_and_the_line_verifies() {
        let w = witness(&state_dir());
        let all = leaves(10, "a");
        let line = w
            .add_checkpoint(&body(0, &all, 10, &log_key()), 1_700_000_000)
            .unwrap();
        assert!(line.starts_with("\u{2014} witness.example/w1 ") && line.ends_with('\n'));
        let cosigned = format!("{}{line}", note(&all, &log_key()));
        let parsed = note::parse(cosigned.as_bytes()).unwrap();
        let pinned = Pinned::from_vkey(&w.vkey()).unwrap();
        assert_eq!(pinned.verify(&parsed), Ok(Some(1_700_000_000)));
    }

    #[test]
    fn an_old_size_that_is_not_the_latest_is_a_conflict_naming_it() {
        let w = witness(&state_dir());
        let all = leaves(20, "a");
        w.add_checkpoint(&body(0, &all, 10, &log_key()), 1).unwrap();
        let r = w.add_checkpoint(&body(0, &all, 20, &log_key()), 2);
        assert!(matches!(r, Err(Refusal::Conflict(10))), "{r:?}");
        assert_eq!(
            status(w.add_checkpoint(&body(10, &all, 20, &log_key()), 3)),
            200
        );
        assert!(matches!(
            w.add_checkpoint(&body(10, &all, 20, &log_key()), 4),
            Err(Refusal::Conflict(20))
        ));
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = state_dir();
        let all = leaves(20, "a");
        witness(&dir)
            .add_checkpoint(&body(0, &all, 12, &log_key()), 1)
            .unwrap();
        let again = witness(&dir);
        assert!(matches!(
            again.add_checkpoint(&body(0, &all, 20, &log_key()), 2),
            Err(Refusal::Conflict(12))
        ));
        let hash = Store::origin_hash(ORIGIN);
        let served = again.checkpoint_by_origin_hash(&hash).unwrap().unwrap();
        assert!(served.starts_with(&format!("{ORIGIN}\n12\n")));
    }

    #[test]
    fn a_fork_is_refused_as_inconsistent() {
        let w = witness(&state_dir());
        let (a, b) = (leaves(20, "a"), leaves(20, "b"));
        w.add_checkpoint(&body(0, &a, 10, &log_key()), 1).unwrap();
        // The same size with another root: conclusive, two signed trees of one size.
        let same_size = request::format(10, &[], &note(&b[..10], &log_key()));
        let refused = w.add_checkpoint(same_size.as_bytes(), 2).unwrap_err();
        assert!(matches!(&refused, Refusal::Fork { origin, .. } if origin == ORIGIN));
        assert_eq!((refused.status(), refused.outcome()), (422, "fork"));
        // A larger tree that does not extend the cosigned one, with its own (valid) proof: the
        // witness cannot tell it from a wrong proof, so it is a bad proof, also 422.
        let refused = w
            .add_checkpoint(&body(10, &b, 20, &log_key()), 3)
            .unwrap_err();
        assert_eq!((refused.status(), refused.outcome()), (422, "bad_proof"));
        // Nothing changed: the honest extension is still accepted.
        assert_eq!(
            status(w.add_checkpoint(&body(10, &a, 20, &log_key()), 4)),
            200
        );
    }

    #[test]
    fn a_rollback_is_refused() {
        let w = witness(&state_dir());
        let all = leaves(20, "a");
        w.add_checkpoint(&body(0, &all, 20, &log_key()), 1).unwrap();
        // Claiming the witness is at the smaller size: conflict; claiming the truth: old > size.
        assert_eq!(
            status(w.add_checkpoint(&body(0, &all, 10, &log_key()), 2)),
            409
        );
        let rollback = request::format(20, &[], &note(&all[..10], &log_key()));
        assert_eq!(status(w.add_checkpoint(rollback.as_bytes(), 3)), 400);
    }

    #[test]
    fn unknown_logs_bad_signatures_and_bad_proofs() {
        let w = witness(&state_dir());
        let all = leaves(20, "a");
        let stranger = SigningKey::from_bytes(&[4; 32]);
        assert_eq!(
            status(w.add_checkpoint(&body(0, &all, 10, &stranger), 1)),
            403
        );
        let other_origin = request::format(
            0,
            &[],
            &Checkpoint {
                origin: "elsewhere.example/a/b".into(),
                size: 1,
                root: root(&all[..1]),
            }
            .sign(&log_key()),
        );
        assert_eq!(status(w.add_checkpoint(other_origin.as_bytes(), 1)), 404);
        let with_proof = request::format(0, &[[0; 32]], &note(&all[..10], &log_key()));
        assert_eq!(status(w.add_checkpoint(with_proof.as_bytes(), 1)), 422);
        w.add_checkpoint(&body(0, &all, 10, &log_key()), 1).unwrap();
        let mut bad = consistency_path(&all[..20], 10);
        bad[0][0] ^= 1;
        let bad = request::format(10, &bad, &note(&all[..20], &log_key()));
        assert_eq!(status(w.add_checkpoint(bad.as_bytes(), 2)), 422);
        let empty_wrong_root = request::format(
            0,
            &[],
            &Checkpoint {
                origin: ORIGIN.into(),
                size: 0,
                root: [1; 32],
            }
            .sign(&log_key()),
        );
        assert_eq!(
            status(w.add_checkpoint(empty_wrong_root.as_bytes(), 3)),
            422
        );
        assert_eq!(status(w.add_checkpoint(b"old 1\n", 4)), 400);
    }

    #[test]
    fn one_state_directory_serves_one_witness_process_at_a_time() {
        let dir = state_dir();
        let first = Store::open(&dir).unwrap();
        let second = Store::open(&dir).unwrap_err().to_string();
        assert!(second.contains("in use by another witness"), "{second}");
        drop(first);
        Store::open(&dir).unwrap();
    }
}
