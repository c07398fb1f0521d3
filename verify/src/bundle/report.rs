//! The outcome of verifying a bundle, one entry per step of PROTOCOL.md section 7.
//!
//! Every step is reported, including skipped ones, so that a user sees exactly what was and what
//! was not checked; only `Pass` (and `Erased` for step 2) counts as checked.

use std::fmt;

use super::AnchorFindings;
use crate::checkpoint::Checkpoint;

/// The steps of PROTOCOL.md section 7, in order; the discriminant is the step number.
/// `web/verify.js` has the same table (`STEPS`), and web/test/agreement.test.mjs compares the
/// two through the CLI's JSON output.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Format = 0,
    Lengths = 1,
    Payload = 2,
    Leaf = 3,
    CheckpointSignature = 4,
    CheckpointBinding = 5,
    Inclusion = 6,
    AnchorOffline = 7,
    AnchorOnline = 8,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::Format,
        Step::Lengths,
        Step::Payload,
        Step::Leaf,
        Step::CheckpointSignature,
        Step::CheckpointBinding,
        Step::Inclusion,
        Step::AnchorOffline,
        Step::AnchorOnline,
    ];

    /// The step number of PROTOCOL.md.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The step's name in PROTOCOL.md.
    pub const fn name(self) -> &'static str {
        match self {
            Step::Format => "format",
            Step::Lengths => "lengths",
            Step::Payload => "payload",
            Step::Leaf => "leaf",
            Step::CheckpointSignature => "checkpoint-signature",
            Step::CheckpointBinding => "checkpoint-binding",
            Step::Inclusion => "inclusion",
            Step::AnchorOffline => "anchor-offline",
            Step::AnchorOnline => "anchor-online",
        }
    }

    /// The step numbered `n`, if any.
    pub fn from_number(n: u8) -> Option<Step> {
        Self::ALL.get(usize::from(n)).copied()
    }

    /// The anchor steps, which may be skipped in a verified report.
    pub const fn is_anchor(self) -> bool {
        matches!(self, Step::AnchorOffline | Step::AnchorOnline)
    }
}

/// The step names of PROTOCOL.md section 7, indexed by step number (from [`Step::name`]).
pub const STEP_NAMES: [&str; 9] = {
    let mut names = [""; 9];
    let mut i = 0;
    while i < Step::ALL.len() {
        names[i] = Step::ALL[i].name();
        i += 1;
    }
    names
};

/// What every verifier output must say about the limits of a bundle (PROTOCOL.md section 7).
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
    /// The step's name in PROTOCOL.md, see [`STEP_NAMES`].
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
                let step = Step::from_number(s.step);
                match &s.status {
                    StepStatus::Pass => true,
                    StepStatus::Erased { .. } => step == Some(Step::Payload),
                    StepStatus::Skipped(_) => step.is_some_and(Step::is_anchor),
                    StepStatus::Fail(_) => false,
                }
            })
    }

    /// The report of step `n`.
    pub fn step(&self, n: u8) -> Option<&StepReport> {
        self.steps.get(usize::from(n))
    }

    /// The report of `step`, once it ran or was skipped.
    pub fn of(&self, step: Step) -> Option<&StepReport> {
        self.steps.get(usize::from(step.number()))
    }

    fn of_mut(&mut self, step: Step) -> &mut StepReport {
        &mut self.steps[usize::from(step.number())]
    }

    /// Sets the caveat of a step that already ran.
    pub(crate) fn set_detail(&mut self, step: Step, detail: String) {
        self.of_mut(step).detail = Some(detail);
    }

    /// Turns a step that already ran into the failed step.
    pub(crate) fn fail_after(&mut self, step: Step, reason: String) {
        self.of_mut(step).status = StepStatus::Fail(reason);
        self.failed_step = Some(step.number());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_numbers_and_names_come_from_one_table() {
        for (i, step) in Step::ALL.iter().enumerate() {
            assert_eq!(usize::from(step.number()), i);
            assert_eq!(Step::from_number(step.number()), Some(*step));
            assert_eq!(STEP_NAMES[i], step.name());
        }
        assert_eq!(Step::from_number(9), None);
    }

    /// `web/verify.js` keeps the same table: its `STEP_NAMES` array lists these names in
    /// this order.
    #[test]
    fn step_table_agrees_with_verify_js() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/verify.js");
        let js = std::fs::read_to_string(path).expect("web/verify.js beside the crate");
        let start = js
            .find("export const STEP_NAMES = Object.freeze([")
            .expect("verify.js exports STEP_NAMES");
        let body = &js[start..];
        let body = &body[body.find('[').unwrap() + 1..body.find("])").unwrap()];
        let names: Vec<&str> = body
            .split(',')
            .map(|n| n.trim().trim_matches('\''))
            .filter(|n| !n.is_empty())
            .collect();
        assert_eq!(names, STEP_NAMES);
    }
}
