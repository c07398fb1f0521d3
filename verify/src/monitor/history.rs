//! Each visible origin's anchored checkpoints across batches: one history, ever growing.

use std::collections::BTreeMap;

use super::violation::Violation;
use crate::consistency::{self, Signed};

/// An origin's checkpoint as anchored in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// The batch.
    pub batch_seq: u64,
    /// The verified checkpoint and its note.
    pub signed: Signed,
}

/// The latest anchored checkpoint of every visible origin.
#[derive(Debug, Clone, Default)]
pub struct History {
    origins: BTreeMap<String, Anchored>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// The latest anchored checkpoint of `origin`.
    pub fn latest(&self, origin: &str) -> Option<&Anchored> {
        self.origins.get(origin)
    }

    /// How many origins have been seen.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether no origin has been seen.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// What `next`, anchored in `batch_seq`, needs before it can join the history: `None` for an
    /// origin seen for the first time, else the earlier anchored checkpoint, which must be
    /// strictly smaller (a consistency proof then joins the two). An equal size with another
    /// root is a split view; a smaller or equal size a rewritten history (a batch holds only
    /// origins that grew).
    pub fn needs_proof_from(
        &self,
        batch_seq: u64,
        next: &Signed,
    ) -> Result<Option<&Anchored>, Violation> {
        let origin = &next.checkpoint.origin;
        let Some(prev) = self.origins.get(origin) else {
            return Ok(None);
        };
        let (p, n) = (&prev.signed.checkpoint, &next.checkpoint);
        if p.size == n.size && p.root != n.root {
            return Err(Violation::SplitView {
                origin: origin.clone(),
                size: n.size,
                first: format!("{} (batch {})", hex::encode(p.root), prev.batch_seq),
                second: format!("{} (batch {batch_seq})", hex::encode(n.root)),
                evidence: vec![
                    (
                        format!("checkpoint in batch {}", prev.batch_seq),
                        prev.signed.note.clone(),
                    ),
                    (
                        format!("checkpoint in batch {batch_seq}"),
                        next.note.clone(),
                    ),
                ],
            });
        }
        if n.size <= p.size {
            return Err(Violation::NotGrown {
                origin: origin.clone(),
                earlier: p.size,
                earlier_batch: prev.batch_seq,
                later: n.size,
                later_batch: batch_seq,
            });
        }
        Ok(Some(prev))
    }

    /// Records `next` as the latest anchored checkpoint of its origin.
    pub fn record(&mut self, batch_seq: u64, next: Signed) {
        self.origins.insert(
            next.checkpoint.origin.clone(),
            Anchored {
                batch_seq,
                signed: next,
            },
        );
    }
}

/// Checks the server's answer to `GET …/consistency?first={prev size}&second={next size}`:
/// a valid proof under the pinned key whose two signed checkpoints are exactly the two anchored
/// ones.
pub fn check_consistency(
    prev: &Anchored,
    batch_seq: u64,
    next: &Signed,
    answer: &[u8],
    public_key: &[u8; 32],
) -> Result<(), Violation> {
    let origin = &next.checkpoint.origin;
    let (first, second) = (prev.signed.checkpoint.size, next.checkpoint.size);
    let what = || format!("consistency {origin} {first} → {second}");
    let response =
        consistency::parse_response(answer).map_err(|reason| Violation::Unverifiable {
            what: what(),
            reason,
        })?;
    if (response.first, response.second) != (first, second) {
        return Err(Violation::Unverifiable {
            what: what(),
            reason: format!(
                "the answer is for sizes {} → {}",
                response.first, response.second
            ),
        });
    }
    let (a, b) = consistency::verify(&response, public_key, origin).map_err(|f| {
        Violation::Inconsistent {
            origin: origin.clone(),
            first,
            second,
            first_batch: prev.batch_seq,
            second_batch: batch_seq,
            reason: f.reason,
            evidence: vec![
                (
                    format!("checkpoint in batch {}", prev.batch_seq),
                    prev.signed.note.clone(),
                ),
                (
                    format!("checkpoint in batch {batch_seq}"),
                    next.note.clone(),
                ),
            ],
        }
    })?;
    // The proof joins the served notes; they must be the anchored ones, or the server shows
    // another history to whoever asks for proofs.
    for (served, anchored, anchored_batch) in
        [(&a, &prev.signed, prev.batch_seq), (&b, next, batch_seq)]
    {
        if served.checkpoint.root != anchored.checkpoint.root {
            return Err(Violation::SplitView {
                origin: origin.clone(),
                size: anchored.checkpoint.size,
                first: format!(
                    "{} (batch {anchored_batch})",
                    hex::encode(anchored.checkpoint.root)
                ),
                second: format!(
                    "{} (the consistency answer)",
                    hex::encode(served.checkpoint.root)
                ),
                evidence: vec![
                    (
                        format!("checkpoint in batch {anchored_batch}"),
                        anchored.note.clone(),
                    ),
                    (
                        "checkpoint in the consistency answer".to_owned(),
                        served.note.clone(),
                    ),
                ],
            });
        }
    }
    Ok(())
}
