//! The stateful check of PROTOCOL.md section 7: a verified bundle's checkpoint against the largest
//! verified checkpoint stored for its origin, connected by a verified consistency proof when a
//! server is at hand. Pure: the caller passes the stored note and a fetch function, and stores
//! [`StateOutcome::store`] itself.

use civicproof_verify::checkpoint::verify_note;
use civicproof_verify::merkle;

use crate::consistency::{self, Signed};
use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skipped,
    /// The check could not run (network, a corrupt trust file): exit status 2.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }
}

/// What the stateful check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOutcome {
    pub status: Status,
    pub detail: String,
    /// The checkpoint stored before this run, when it verified.
    pub stored: Option<Signed>,
    /// The sizes of the consistency proof that was verified or refused.
    pub checked: Option<(u64, u64)>,
    /// (label, note) pairs shown when the check fails.
    pub evidence: Vec<(String, String)>,
    /// The note to store as the origin's largest verified checkpoint, if it changes.
    pub store: Option<String>,
}

impl StateOutcome {
    pub fn new(status: Status, detail: impl Into<String>) -> StateOutcome {
        StateOutcome {
            status,
            detail: detail.into(),
            stored: None,
            checked: None,
            evidence: Vec::new(),
            store: None,
        }
    }
}

/// Fetches the consistency response between two sizes.
pub type Fetch<'a> = &'a dyn Fn(u64, u64) -> Result<Vec<u8>, CliError>;

/// Compares `bundle`'s checkpoint with `stored_note`; `fetch` is `None` when offline.
pub fn check(
    stored_note: Option<&str>,
    key: &[u8; 32],
    bundle: &Signed,
    fetch: Option<Fetch<'_>>,
) -> StateOutcome {
    let origin = &bundle.checkpoint.origin;
    let Some(stored_note) = stored_note else {
        let mut out = StateOutcome::new(
            Status::Skipped,
            format!(
                "first checkpoint of {origin} seen (size {})",
                bundle.checkpoint.size
            ),
        );
        out.store = Some(bundle.note.clone());
        return out;
    };
    let stored = match verify_note(stored_note.as_bytes(), key) {
        Ok((c, _)) if c.origin == *origin => Signed {
            checkpoint: c,
            note: stored_note.to_owned(),
        },
        Ok((c, _)) => {
            return StateOutcome::new(
                Status::Error,
                format!(
                    "the trust file's checkpoint for {origin} is of origin {}",
                    c.origin
                ),
            );
        }
        Err(e) => {
            return StateOutcome::new(
                Status::Error,
                format!(
                    "the trust file's checkpoint for {origin} does not verify under the pinned \
                     key: {e}"
                ),
            );
        }
    };
    let mut out = compare(&stored, bundle, key, fetch);
    out.stored = Some(stored);
    out
}

fn compare(
    stored: &Signed,
    bundle: &Signed,
    key: &[u8; 32],
    fetch: Option<Fetch<'_>>,
) -> StateOutcome {
    let (s, b) = (&stored.checkpoint, &bundle.checkpoint);
    let evidence = [
        ("stored checkpoint".to_owned(), stored.note.clone()),
        ("bundle checkpoint".to_owned(), bundle.note.clone()),
    ];
    let fail = |detail: String, extra: Vec<(String, String)>| {
        let mut out = StateOutcome::new(Status::Fail, detail);
        out.evidence = evidence.iter().cloned().chain(extra).collect();
        out
    };
    if s == b {
        return StateOutcome::new(
            Status::Pass,
            format!("same as the stored checkpoint (size {})", s.size),
        );
    }
    if s.size == b.size {
        return fail(
            format!(
                "split view: the log signed two different roots for size {}",
                s.size
            ),
            Vec::new(),
        );
    }
    let bundle_is_newer = b.size > s.size;
    let (old, new) = if bundle_is_newer {
        (stored, bundle)
    } else {
        (bundle, stored)
    };
    let (m, n) = (old.checkpoint.size, new.checkpoint.size);
    let mut out = if m == 0 {
        if old.checkpoint.root != merkle::empty_root() {
            return fail(
                "a size-0 checkpoint has a non-empty root".to_owned(),
                Vec::new(),
            );
        }
        StateOutcome::new(Status::Pass, "the stored checkpoint is the empty tree")
    } else {
        let Some(fetch) = fetch else {
            return StateOutcome::new(
                Status::Skipped,
                format!(
                    "consistency with the stored checkpoint (size {}) not checked (offline)",
                    s.size
                ),
            );
        };
        let bytes = match fetch(m, n) {
            Ok(bytes) => bytes,
            Err(e) => return StateOutcome::new(Status::Error, e.to_string()),
        };
        let response = match consistency::parse_response(&bytes) {
            Ok(r) if (r.first, r.second) == (m, n) => r,
            Ok(r) => {
                return fail(
                    format!(
                        "asked for consistency {m} → {n}, the server answered {} → {}",
                        r.first, r.second
                    ),
                    Vec::new(),
                );
            }
            Err(e) => return fail(e, Vec::new()),
        };
        let server_evidence = vec![
            (
                format!("server's checkpoint of size {m}"),
                response.first_checkpoint.clone(),
            ),
            (
                format!("server's checkpoint of size {n}"),
                response.second_checkpoint.clone(),
            ),
        ];
        let (first, second) = match consistency::verify(&response, key, &b.origin) {
            Ok(pair) => pair,
            Err(e) => {
                let mut out = fail(e.reason, server_evidence);
                out.checked = Some((m, n));
                return out;
            }
        };
        for (ours, theirs) in [(old, &first), (new, &second)] {
            if ours.checkpoint != theirs.checkpoint {
                let mut out = fail(
                    format!(
                        "split view: the server's signed checkpoint of size {} differs from the \
                         one this client verified",
                        ours.checkpoint.size
                    ),
                    server_evidence,
                );
                out.checked = Some((m, n));
                return out;
            }
        }
        let mut out = StateOutcome::new(
            Status::Pass,
            format!("consistent with the stored checkpoint: proof {m} → {n} verified"),
        );
        out.checked = Some((m, n));
        out
    };
    if bundle_is_newer {
        out.store = Some(bundle.note.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use civicproof_verify::checkpoint::Checkpoint;
    use civicproof_verify::merkle::Hash;
    use ed25519_dalek::SigningKey;

    use super::*;

    const ORIGIN: &str = "t.example/c/d";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn public() -> [u8; 32] {
        key().verifying_key().to_bytes()
    }

    fn leaves(tag: u8, n: usize) -> Vec<Hash> {
        (0..n).map(|i| merkle::leaf_hash(&[tag, i as u8])).collect()
    }

    fn signed(leaves: &[Hash], size: usize) -> Signed {
        let checkpoint = Checkpoint {
            origin: ORIGIN.to_owned(),
            size: size as u64,
            root: merkle::root(&leaves[..size]),
        };
        let note = checkpoint.sign(&key());
        Signed { checkpoint, note }
    }

    /// A server answering consistency requests from `leaves`.
    fn server(leaves: Vec<Hash>) -> impl Fn(u64, u64) -> Result<Vec<u8>, CliError> {
        move |m, n| {
            let tree = &leaves[..n as usize];
            Ok(serde_json::json!({
                "first": m, "second": n,
                "path": merkle::consistency_path(tree, m).iter().map(hex::encode).collect::<Vec<_>>(),
                "first_checkpoint": signed(&leaves, m as usize).note,
                "second_checkpoint": signed(&leaves, n as usize).note,
            })
            .to_string()
            .into_bytes())
        }
    }

    #[test]
    fn first_use_stores_and_equal_passes() {
        let log = leaves(0, 9);
        let b = signed(&log, 9);
        let out = check(None, &public(), &b, None);
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.store.as_deref(), Some(b.note.as_str()));
        let out = check(Some(&b.note), &public(), &b, None);
        assert_eq!(out.status, Status::Pass);
        assert_eq!(out.store, None);
    }

    #[test]
    fn equal_sizes_with_different_roots_is_a_split_view() {
        let (a, b) = (signed(&leaves(0, 9), 9), signed(&leaves(1, 9), 9));
        let out = check(Some(&a.note), &public(), &b, None);
        assert_eq!(out.status, Status::Fail);
        assert!(out.detail.contains("split view"));
        assert_eq!(out.evidence.len(), 2);
        assert_eq!(out.evidence[0].1, a.note);
        assert_eq!(out.evidence[1].1, b.note);
    }

    #[test]
    fn offline_is_reported_not_failed() {
        let log = leaves(0, 9);
        let out = check(
            Some(&signed(&log, 4).note),
            &public(),
            &signed(&log, 9),
            None,
        );
        assert_eq!(out.status, Status::Skipped);
        assert!(out.detail.contains("not checked (offline)"));
        assert_eq!(out.store, None);
    }

    #[test]
    fn online_consistency_in_both_directions() {
        let log = leaves(0, 9);
        let calls = Cell::new(None);
        let serve = server(log.clone());
        let fetch = |m, n| {
            calls.set(Some((m, n)));
            serve(m, n)
        };
        let (small, big) = (signed(&log, 4), signed(&log, 9));
        let out = check(Some(&small.note), &public(), &big, Some(&fetch));
        assert_eq!(out.status, Status::Pass, "{}", out.detail);
        assert_eq!((calls.get(), out.checked), (Some((4, 9)), Some((4, 9))));
        assert_eq!(out.store.as_deref(), Some(big.note.as_str()));
        // An older bundle: the stored (larger) checkpoint stays.
        let out = check(Some(&big.note), &public(), &small, Some(&fetch));
        assert_eq!(out.status, Status::Pass, "{}", out.detail);
        assert_eq!(out.store, None);
    }

    #[test]
    fn forks_fail_with_evidence() {
        let (honest, fork) = (leaves(0, 9), leaves(1, 9));
        let stored = signed(&honest, 4);
        let out = check(
            Some(&stored.note),
            &public(),
            &signed(&fork, 9),
            Some(&server(fork)),
        );
        assert_eq!(out.status, Status::Fail);
        assert!(out.detail.contains("split view"), "{}", out.detail);
        assert_eq!(out.evidence.len(), 4);
        assert_eq!(out.store, None);
        // A server that serves the honest proof for a forked bundle checkpoint.
        let mut mixed = honest.clone();
        mixed[8] = merkle::leaf_hash(b"other");
        let out = check(
            Some(&stored.note),
            &public(),
            &signed(&mixed, 9),
            Some(&server(honest)),
        );
        assert_eq!(out.status, Status::Fail);
    }

    #[test]
    fn errors_do_not_pass() {
        let log = leaves(0, 9);
        let down = |_, _| Err(CliError::Network("down".to_owned()));
        let out = check(
            Some(&signed(&log, 4).note),
            &public(),
            &signed(&log, 9),
            Some(&down),
        );
        assert_eq!(out.status, Status::Error);
        let out = check(Some("garbage"), &public(), &signed(&log, 9), None);
        assert_eq!(out.status, Status::Error);
        let garbage = |_, _| Ok(b"{}".to_vec());
        let out = check(
            Some(&signed(&log, 4).note),
            &public(),
            &signed(&log, 9),
            Some(&garbage),
        );
        assert_eq!(out.status, Status::Fail);
    }
}
