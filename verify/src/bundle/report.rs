//! The outcome of verifying a bundle, one entry per step of PROOFS.md section 6.
//!
//! Every step is reported, including skipped ones, so that a user sees exactly what was and what
//! was not checked; only `Pass` (and `Erased` for step 2) counts as checked.

use std::fmt;

use super::AnchorFindings;
use crate::checkpoint::Checkpoint;

/// The step names of PROOFS.md section 6, indexed by step number.
pub const STEP_NAMES: [&str; 9] = [
    "format",
    "lengths",
    "payload",
    "leaf",
    "checkpoint-signature",
    "checkpoint-binding",
    "inclusion",
    "anchor-offline",
    "anchor-online",
];

/// What every verifier output must say about the limits of a bundle (PROOFS.md section 6).
pub const SCOPE_NOTE: &str = "A bundle proves inclusion at one tree size; it does not prove that \
     the entry is the current version of its key or that it was not erased later.";

/// Said of a passed step 7 while step 8 cannot run.
pub const ANCHOR_UNCHECKED: &str = "anchor claimed, not checked on chain";

/// Said of a passed step 7 once step 8 read the batch root from the chain.
pub const ANCHOR_CONFIRMED: &str = "batch root confirmed on chain (step 8)";

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// The step ran and its check holds.
    Pass,
    /// The step ran and its check failed, with the reason.
    Fail(String),
    /// The step did not run, with the reason.
    Skipped(String),
    /// Step 2 only: the payload was erased by the (verified) erasure entry `seq`.
    Erased {
        /// The erasure entry's seq.
        seq: u64,
        /// Its public reason code.
        reason: String,
    },
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepStatus::Pass => f.write_str("passed"),
            StepStatus::Fail(why) => write!(f, "failed: {why}"),
            StepStatus::Skipped(why) => write!(f, "skipped: {why}"),
            StepStatus::Erased { seq, reason } => {
                write!(f, "erased by seq {seq} (reason {reason})")
            }
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The step number, 0 to 8.
    pub step: u8,
    /// The step's name in PROOFS.md, see [`STEP_NAMES`].
    pub name: &'static str,
    /// What happened.
    pub status: StepStatus,
    /// A caveat on a passed step (step 7: [`ANCHOR_UNCHECKED`]).
    pub detail: Option<String>,
}

/// The outcome of [`super::verify_bundle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Steps 0 to 8, in order.
    pub steps: Vec<StepReport>,
    /// The first failed step, if any; all later steps are skipped.
    pub failed_step: Option<u8>,
    /// For an erased record whose erasure entry verified: its seq and reason code.
    pub erased_by: Option<(u64, String)>,
    /// The checkpoint, once its signature verified (step 4), even if a later step failed.
    pub checkpoint: Option<Checkpoint>,
    /// What step 8 established when it passed: the endpoint, F and the time the checkpoint
    /// existed no later than.
    pub anchor: Option<AnchorFindings>,
}

impl Report {
    /// Whether the bundle verified: steps 0-6 passed (step 2 possibly as erased) and the anchor
    /// steps passed or were skipped.
    pub fn ok(&self) -> bool {
        self.failed_step.is_none()
            && self.steps.len() == STEP_NAMES.len()
            && self.steps.iter().all(|s| {
                matches!(
                    (&s.status, s.step),
                    (StepStatus::Pass, _)
                        | (StepStatus::Erased { .. }, 2)
                        | (StepStatus::Skipped(_), 7 | 8)
                )
            })
    }

    /// The report of step `n`.
    pub fn step(&self, n: u8) -> Option<&StepReport> {
        self.steps.get(usize::from(n))
    }
}

impl fmt::Display for Report {
    /// One line per step, then the verdict and [`SCOPE_NOTE`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            write!(f, "step {} {}: {}", s.step, s.name, s.status)?;
            if let Some(detail) = &s.detail {
                write!(f, " ({detail})")?;
            }
            writeln!(f)?;
        }
        match self.failed_step {
            None if self.ok() => writeln!(f, "verified")?,
            _ => writeln!(f, "NOT verified")?,
        }
        write!(f, "{SCOPE_NOTE}")
    }
}
