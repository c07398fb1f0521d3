//! Runs the steps of PROTOCOL.md section 7 in order and stops at the first failure.
//!
//! The anchor steps follow `web/verify.js` exactly: without an anchor both 7 and 8 are skipped
//! ("bundle has no anchor"), or step 7 fails when an anchor is required; step 8 is skipped
//! without pinned anchor trust or an RPC endpoint, or fails then when an anchor is required.

use super::online::{self, OnlineCheck};
use super::payload::{self, Payload};
use super::report::{ANCHOR_CONFIRMED, ANCHOR_UNCHECKED, Report, Step, StepReport, StepStatus};
use super::{Bundle, anchor, binding, leaf, lengths};
use crate::chain::{AnchorTrust, ChainRpc, CodeHashCache, Finality};
use crate::checkpoint::{self, CheckpointError, VerifiedNoteCache};
use crate::cosignature::WitnessPolicy;
use crate::merkle;

/// What the client pins: the instance prefix and its log public key. Never taken from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The instance prefix, e.g. `data.katowice.example`.
    pub prefix: String,
    /// The instance's Ed25519 log public key.
    pub public_key: [u8; 32],
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The dataset origin the record must belong to.
    pub origin: String,
    /// The entry requested, when a specific one was.
    pub seq: Option<u64>,
}

/// The client's options beyond the log trust: the anchor checks of steps 7 and 8.
///
/// Everything here comes from the client (flags, its own configuration), never from a bundle or
/// a server.
#[derive(Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// Lets many bundles that share a checkpoint verify its signature once.
    pub cache: Option<&'a VerifiedNoteCache>,
    /// The pinned anchor trust; without it step 8 is skipped.
    pub anchor_trust: Option<&'a AnchorTrust>,
    /// The client's own JSON-RPC endpoint; without it step 8 is skipped.
    pub rpc: Option<&'a dyn ChainRpc>,
    /// The finality policy of step 8 (default: the `finalized` tag).
    pub finality: Finality,
    /// `--require-anchor`: a skipped step 7 or 8 fails. `None` means the default: required
    /// exactly when anchor trust is pinned.
    pub require_anchor: Option<bool>,
    /// Contracts whose code hash was already checked; without it every run checks it again.
    pub code_hashes: Option<&'a CodeHashCache>,
    /// The pinned witnesses, `k` of which must have cosigned the checkpoint (step 4).
    pub witnesses: Option<&'a WitnessPolicy>,
}

impl VerifyOptions<'_> {
    /// Whether a skipped step 7 or 8 fails.
    pub fn anchor_required(&self) -> bool {
        self.require_anchor.unwrap_or(self.anchor_trust.is_some())
    }
}

/// Verifies bundle `bytes` against the pinned `trust` and the client's `expect`ation, offline:
/// step 8 is skipped and a missing anchor is not required.
///
/// `cache` lets many bundles that share a checkpoint verify its signature once.
pub fn verify_bundle(
    bytes: &[u8],
    trust: &Trust,
    expect: &Expect,
    cache: Option<&VerifiedNoteCache>,
) -> Report {
    verify_bundle_with(
        bytes,
        trust,
        expect,
        &VerifyOptions {
            cache,
            ..VerifyOptions::default()
        },
    )
}

/// Verifies bundle `bytes` by all steps of PROTOCOL.md section 7, step 8 included when `options`
/// pin anchor trust and name an RPC endpoint.
pub fn verify_bundle_with(
    bytes: &[u8],
    trust: &Trust,
    expect: &Expect,
    options: &VerifyOptions<'_>,
) -> Report {
    let mut run = Run {
        report: Report {
            steps: Vec::with_capacity(Step::ALL.len()),
            failed_step: None,
            erased_by: None,
            checkpoint: None,
            anchor: None,
        },
    };
    // `None` means a step failed; the report already says which.
    let _ = run.steps(bytes, trust, expect, options);
    run.finish()
}

/// A report being filled step by step.
struct Run {
    report: Report,
}

impl Run {
    fn steps(
        &mut self,
        bytes: &[u8],
        trust: &Trust,
        expect: &Expect,
        options: &VerifyOptions<'_>,
    ) -> Option<()> {
        let cache = options.cache;
        let bundle = self.record(Step::Format, Bundle::from_json_strict(bytes))?;
        let decoded = self.record(Step::Lengths, lengths::decode(&bundle))?;
        let payload = match payload::check(&bundle, decoded.salt.as_ref()) {
            Ok(Payload::Erased(erased)) => {
                self.push(
                    Step::Payload,
                    StepStatus::Erased {
                        seq: erased.seq,
                        reason: erased.reason.to_string(),
                    },
                );
                Payload::Erased(erased)
            }
            other => self.record(Step::Payload, other)?,
        };
        let envelope = self.record(
            Step::Leaf,
            leaf::check(&bundle.envelope, &decoded.leaf_hash),
        )?;
        let note = bundle.checkpoint.as_bytes();
        let verified = match cache {
            Some(cache) => cache.verify(note, &trust.public_key),
            None => checkpoint::verify_note(note, &trust.public_key),
        };
        // The witness policy is part of step 4: a checkpoint too few witnesses vouch for is
        // refused like a badly signed one (PROTOCOL.md section 10.4).
        let verified = verified.and_then(|(checkpoint, note)| match options.witnesses {
            Some(policy) => policy
                .check(&note)
                .map(|_| (checkpoint, note))
                .map_err(CheckpointError::Witness),
            None => Ok((checkpoint, note)),
        });
        let (checkpoint, note) = self.record(Step::CheckpointSignature, verified)?;
        self.report.checkpoint = Some(checkpoint.clone());
        if let Payload::Erased(erased) = &payload {
            let path = decoded.erasure_path.as_deref().unwrap_or_default();
            if let Err(e) = payload::check_erasure_included(erased, path, &checkpoint) {
                self.report.fail_after(Step::Payload, e.to_string());
                return None;
            }
            self.report.erased_by = Some((erased.seq, erased.reason.to_string()));
        }
        self.record(
            Step::CheckpointBinding,
            binding::check(
                &checkpoint,
                &envelope,
                bundle.inclusion.tree_size,
                trust,
                expect,
            ),
        )?;
        let path: Vec<Vec<u8>> = decoded.path.iter().map(|h| h.to_vec()).collect();
        self.record(
            Step::Inclusion,
            merkle::verify_inclusion(
                &decoded.leaf_hash,
                envelope.seq(),
                checkpoint.size,
                &path,
                &checkpoint.root,
            ),
        )?;
        let mut published = vec![(envelope.seq(), envelope.published_at().to_owned())];
        if let Payload::Erased(erased) = &payload {
            published.push((erased.seq, erased.published_at.clone()));
        }
        let batch = decoded
            .batch
            .as_ref()
            .map(|(root, path)| (root, path.as_slice()));
        self.anchor_steps(&bundle, batch, &note.text, &published, options)
    }

    /// Steps 7 and 8. `published` holds the `(seq, published_at)` that step 8 bounds.
    fn anchor_steps(
        &mut self,
        bundle: &Bundle,
        batch: Option<(&merkle::Hash, &[merkle::Hash])>,
        note_text: &str,
        published: &[(u64, String)],
        options: &VerifyOptions<'_>,
    ) -> Option<()> {
        let required = options.anchor_required();
        let (Some(claim), Some((root, path))) = (&bundle.anchor, batch) else {
            if required {
                return self.fail(
                    Step::AnchorOffline,
                    "bundle has no anchor, and an anchor is required",
                );
            }
            self.push(
                Step::AnchorOffline,
                StepStatus::Skipped("bundle has no anchor".to_owned()),
            );
            self.push(
                Step::AnchorOnline,
                StepStatus::Skipped("bundle has no anchor".to_owned()),
            );
            return Some(());
        };
        self.record(
            Step::AnchorOffline,
            anchor::check(note_text, claim, root, path),
        )?;
        self.report
            .set_detail(Step::AnchorOffline, ANCHOR_UNCHECKED.to_owned());
        let (Some(anchor_trust), Some(rpc)) = (options.anchor_trust, options.rpc) else {
            let why = match options.anchor_trust {
                None => "no anchor trust pinned",
                Some(_) => "no RPC endpoint given",
            };
            if required {
                return self.fail(
                    Step::AnchorOnline,
                    &format!("{why}, and an on-chain check is required"),
                );
            }
            self.push(Step::AnchorOnline, StepStatus::Skipped(why.to_owned()));
            return Some(());
        };
        let fresh = CodeHashCache::new();
        let online = OnlineCheck {
            trust: anchor_trust,
            rpc,
            finality: options.finality,
            code_hashes: options.code_hashes.unwrap_or(&fresh),
        };
        let endpoint = rpc.endpoint();
        let findings =
            online::check(claim, published, &online).map_err(|e| format!("{e} (RPC {endpoint})"));
        let findings = self.record(Step::AnchorOnline, findings)?;
        self.report
            .set_detail(Step::AnchorOffline, ANCHOR_CONFIRMED.to_owned());
        self.report
            .set_detail(Step::AnchorOnline, findings.detail.clone());
        self.report.anchor = Some(findings);
        Some(())
    }

    /// Fails `step` with `reason`.
    fn fail(&mut self, step: Step, reason: &str) -> Option<()> {
        self.push(step, StepStatus::Fail(reason.to_owned()));
        self.report.failed_step = Some(step.number());
        None
    }

    /// Records a step's result; on failure marks it as the failed step.
    fn record<T, E: std::fmt::Display>(&mut self, step: Step, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => {
                self.push(step, StepStatus::Pass);
                Some(value)
            }
            Err(e) => {
                self.push(step, StepStatus::Fail(e.to_string()));
                self.report.failed_step = Some(step.number());
                None
            }
        }
    }

    fn push(&mut self, step: Step, status: StepStatus) {
        debug_assert_eq!(usize::from(step.number()), self.report.steps.len());
        self.report.steps.push(StepReport {
            step: step.number(),
            name: step.name(),
            status,
            detail: None,
        });
    }

    /// Reports every step that did not run as skipped.
    fn finish(mut self) -> Report {
        for &step in &Step::ALL[self.report.steps.len()..] {
            self.push(step, StepStatus::Skipped("earlier step failed".to_owned()));
        }
        self.report
    }
}
