//! What the CLI prints: text for people, one JSON object with `--json`, and the exit status.

use std::fmt::Write as _;

use civicproof_verify::bundle::{Expect, Report, SCOPE_NOTE, StepReport, StepStatus, iso_time};
use civicproof_verify::chain::Finality;
use civicproof_verify::checkpoint::Checkpoint;
use serde_json::{Value, json};

use crate::consistency::{Failure, Signed, checkpoint_json};
use crate::state::{StateOutcome, Status};
use crate::trust::Resolved;
use crate::trust_store::finality_json;

/// The client's side of step 8: its endpoint, its finality policy, whether an anchor is required.
#[derive(Debug, Clone, Default)]
pub struct AnchorSetup {
    pub rpc: Option<String>,
    pub finality: Finality,
    pub required: bool,
}

/// Everything a bundle run reports.
#[derive(Debug)]
pub struct BundleOutcome<'a> {
    pub source: String,
    pub expect: &'a Expect,
    pub trust: &'a Resolved,
    pub report: &'a Report,
    pub state: &'a StateOutcome,
    pub online: AnchorSetup,
}

impl BundleOutcome<'_> {
    /// 0 verified, 1 not verified (bundle or stateful check), 2 the stateful check could not run.
    pub fn exit_code(&self) -> u8 {
        match (self.report.ok(), self.state.status) {
            (false, _) | (true, Status::Fail) => 1,
            (true, Status::Error) => 2,
            (true, _) => 0,
        }
    }

    pub fn ok(&self) -> bool {
        self.exit_code() == 0
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let seq = self
            .expect
            .seq
            .map_or_else(|| "any seq".to_owned(), |s| format!("seq {s}"));
        let _ = writeln!(out, "bundle: {}", self.source);
        let _ = writeln!(out, "expected: origin {}, {seq}", self.expect.origin);
        let _ = writeln!(
            out,
            "trust: prefix {}, log key fingerprint {} ({})",
            self.trust.trust.prefix,
            self.trust.fingerprint(),
            self.trust.source.as_str()
        );
        match &self.trust.anchor {
            Some(a) => {
                let _ = writeln!(
                    out,
                    "anchor trust: chain id {}, contract {}, code hash {}, anchorer {} ({})",
                    a.trust.chain_id,
                    a.trust.contract_hex(),
                    a.trust.code_hash_hex(),
                    a.trust.anchorer_hex(),
                    a.source.as_str()
                );
            }
            None => {
                let _ = writeln!(out, "anchor trust: none pinned");
            }
        }
        if let Some(w) = &self.trust.witnesses {
            let names: Vec<&str> = w.witnesses().iter().map(|w| w.name.as_str()).collect();
            let _ = writeln!(
                out,
                "witnesses: {} of {} must cosign ({})",
                w.threshold(),
                names.len(),
                names.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "rpc: {} (finality: {}; anchor {})",
            self.online.rpc.as_deref().unwrap_or("none given"),
            self.online.finality,
            if self.online.required {
                "required"
            } else {
                "not required"
            }
        );
        for s in &self.report.steps {
            let _ = writeln!(out, "step {} {}: {}", s.step, s.name, step_text(s));
        }
        if let Some(a) = &self.report.anchor {
            let _ = writeln!(
                out,
                "existed no later than: {} (block time on chain via {}, final block {}, {}{})",
                iso_time(a.existed_no_later_than),
                a.endpoint,
                a.final_block,
                a.policy,
                a.stale
                    .as_ref()
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &self.report.checkpoint {
            let _ = writeln!(
                out,
                "checkpoint: {} size {} root {}",
                c.origin,
                c.size,
                hex::encode(c.root)
            );
        }
        let _ = writeln!(out, "scope: {SCOPE_NOTE}");
        let state = self.state;
        let status = match state.status {
            Status::Pass => "passed",
            Status::Fail => "FAILED",
            Status::Skipped => "skipped",
            Status::Error => "error",
        };
        let _ = write!(out, "stateful check: {status}: {}", state.detail);
        if state.store.is_some() {
            let _ = write!(out, " (stored in the trust file)");
        }
        out.push('\n');
        write_evidence(&mut out, &state.evidence);
        let verdict = match (self.report.failed_step, state.status) {
            (Some(n), _) => format!(
                "NOT verified: step {n} {} failed",
                step_name(self.report, n)
            ),
            (None, _) if !self.report.ok() => "NOT verified".to_owned(),
            (None, Status::Fail) => "NOT verified: the stateful check failed".to_owned(),
            (None, Status::Error) => "NOT verified: the stateful check could not run".to_owned(),
            (None, _) => "verified".to_owned(),
        };
        let _ = write!(out, "result: {verdict}");
        out
    }

    pub fn json(&self) -> Value {
        let r = self.report;
        let state = self.state;
        json!({
            "ok": self.ok(),
            "failed_step": r.failed_step,
            "steps": r.steps.iter().map(step_json).collect::<Vec<_>>(),
            "erased_by": r.erased_by.as_ref().map(|(seq, reason)| json!({"seq": seq, "reason": reason})),
            "checkpoint": r.checkpoint.as_ref().map(checkpoint_json),
            "consistency": {
                "status": state.status.as_str(),
                "detail": state.detail,
                "stored_checkpoint": state.stored.as_ref().map(|s| checkpoint_json(&s.checkpoint)),
                "first": state.checked.map(|c| c.0),
                "second": state.checked.map(|c| c.1),
                "updated": state.store.is_some(),
                "evidence": evidence_json(&state.evidence),
            },
            "anchor": self.anchor_json(),
            "source": self.source,
            "expected": {"origin": self.expect.origin, "seq": self.expect.seq},
            "trust": {
                "prefix": self.trust.trust.prefix,
                "key_fingerprint": self.trust.fingerprint(),
                "source": self.trust.source.as_str(),
                "witnesses": self.trust.witnesses.as_ref().map(|w| json!({
                    "threshold": w.threshold(),
                    "keys": w.witnesses().iter().map(|w| w.vkey()).collect::<Vec<_>>(),
                })),
            },
            "scope_note": SCOPE_NOTE,
        })
    }
}

impl BundleOutcome<'_> {
    /// The pinned anchor trust, the client's endpoint and policy, and what step 8 established.
    fn anchor_json(&self) -> Value {
        let found = self.report.anchor.as_ref();
        json!({
            "trust": self.trust.anchor.as_ref().map(|a| json!({
                "chain_id": a.trust.chain_id,
                "contract": a.trust.contract_hex(),
                "contract_code_hash": a.trust.code_hash_hex(),
                "anchorer": a.trust.anchorer_hex(),
                "source": a.source.as_str(),
            })),
            "rpc": self.online.rpc,
            "finality": finality_json(self.online.finality),
            "required": self.online.required,
            "endpoint": found.map(|a| &a.endpoint),
            "final_block": found.map(|a| a.final_block),
            "policy": found.map(|a| &a.policy),
            "stale": found.and_then(|a| a.stale.as_ref()),
            "existed_no_later_than": found.map(|a| a.existed_no_later_than),
            "existed_no_later_than_utc": found.map(|a| iso_time(a.existed_no_later_than)),
        })
    }
}

/// `passed`, `FAILED: reason`, `skipped: reason`, or step 2's `erased by seq N (reason R)`.
pub fn step_text(s: &StepReport) -> String {
    match (&s.status, &s.detail) {
        (StepStatus::Pass, None) => "passed".to_owned(),
        (StepStatus::Pass, Some(d)) => format!("passed ({d})"),
        (StepStatus::Fail(why), _) => format!("FAILED: {why}"),
        (StepStatus::Skipped(why), _) => format!("skipped: {why}"),
        (erased @ StepStatus::Erased { .. }, _) => erased.to_string(),
    }
}

fn step_json(s: &StepReport) -> Value {
    let (status, detail) = match &s.status {
        StepStatus::Pass => ("pass", s.detail.clone()),
        StepStatus::Erased { .. } => ("pass", Some(s.status.to_string())),
        StepStatus::Fail(why) => ("fail", Some(why.clone())),
        StepStatus::Skipped(why) => ("skipped", Some(why.clone())),
    };
    json!({"step": s.step, "name": s.name, "status": status, "detail": detail})
}

fn step_name(report: &Report, n: u8) -> &'static str {
    report.step(n).map_or("?", |s| s.name)
}

fn write_evidence(out: &mut String, evidence: &[(String, String)]) {
    for (label, note) in evidence {
        let _ = writeln!(out, "--- {label} ---");
        out.push_str(note);
        if !note.ends_with('\n') {
            out.push('\n');
        }
    }
    if !evidence.is_empty() {
        let _ = writeln!(out, "--- end of evidence ---");
    }
}

fn evidence_json(evidence: &[(String, String)]) -> Value {
    evidence
        .iter()
        .map(|(label, note)| json!({"label": label, "note": note}))
        .collect()
}

/// The result of the `consistency` command.
#[derive(Debug)]
pub struct ConsistencyOutcome<'a> {
    pub origin: &'a str,
    pub trust: &'a Resolved,
    pub result: &'a Result<(Signed, Signed), Failure>,
}

impl ConsistencyOutcome<'_> {
    pub fn exit_code(&self) -> u8 {
        u8::from(self.result.is_err())
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "dataset: {}", self.origin);
        let _ = writeln!(
            out,
            "trust: prefix {}, log key fingerprint {} ({})",
            self.trust.trust.prefix,
            self.trust.fingerprint(),
            self.trust.source.as_str()
        );
        match self.result {
            Ok((first, second)) => {
                for (label, c) in [("first", &first.checkpoint), ("second", &second.checkpoint)] {
                    let _ = writeln!(out, "{label} checkpoint: {}", describe(c));
                }
                let _ = write!(
                    out,
                    "result: consistent (signatures and the proof {} → {} verified)",
                    first.checkpoint.size, second.checkpoint.size
                );
            }
            Err(f) => {
                write_evidence(&mut out, &f.evidence);
                let _ = write!(out, "result: NOT consistent: {}", f.reason);
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let (first, second, detail, evidence) = match self.result {
            Ok((a, b)) => (
                checkpoint_json(&a.checkpoint),
                checkpoint_json(&b.checkpoint),
                Value::Null,
                Vec::new(),
            ),
            Err(f) => (
                Value::Null,
                Value::Null,
                json!(f.reason),
                f.evidence.clone(),
            ),
        };
        json!({
            "ok": self.result.is_ok(),
            "origin": self.origin,
            "first": first,
            "second": second,
            "detail": detail,
            "evidence": evidence_json(&evidence),
            "trust": {
                "prefix": self.trust.trust.prefix,
                "key_fingerprint": self.trust.fingerprint(),
                "source": self.trust.source.as_str(),
            },
        })
    }
}

fn describe(c: &Checkpoint) -> String {
    format!(
        "size {} root {} (signature passed)",
        c.size,
        hex::encode(c.root)
    )
}

#[cfg(test)]
mod tests {
    use civicproof_verify::bundle::{Step, Trust};

    use super::*;
    use crate::trust::KeySource;

    fn report(statuses: Vec<StepStatus>, failed_step: Option<u8>) -> Report {
        let steps = statuses
            .into_iter()
            .zip(Step::ALL)
            .map(|(status, step)| StepReport {
                step: step.number(),
                name: step.name(),
                status,
                detail: (step == Step::AnchorOffline)
                    .then(|| "anchor claimed, not checked on chain".to_owned()),
            })
            .collect();
        Report {
            steps,
            failed_step,
            erased_by: Some((36, "legal-erasure".to_owned())),
            checkpoint: Some(Checkpoint {
                origin: "t.example/c/d".to_owned(),
                size: 37,
                root: [0xab; 32],
            }),
            anchor: None,
        }
    }

    fn erased_report() -> Report {
        let mut s = vec![StepStatus::Pass; 9];
        s[2] = StepStatus::Erased {
            seq: 36,
            reason: "legal-erasure".to_owned(),
        };
        s[8] = StepStatus::Skipped("no anchor trust pinned".to_owned());
        report(s, None)
    }

    fn resolved() -> Resolved {
        Resolved {
            trust: Trust {
                prefix: "t.example".to_owned(),
                public_key: [0; 32],
            },
            source: KeySource::TrustFile,
            stateful: true,
            anchor: None,
            witnesses: None,
        }
    }

    fn expect() -> Expect {
        Expect {
            origin: "t.example/c/d".to_owned(),
            seq: Some(5),
        }
    }

    #[test]
    fn text_names_every_step_scope_and_state() {
        let (report, resolved, expect) = (erased_report(), resolved(), expect());
        let state = StateOutcome::new(
            Status::Skipped,
            "consistency with the stored checkpoint (size 20) not checked (offline)",
        );
        let o = BundleOutcome {
            source: "b.json".to_owned(),
            expect: &expect,
            trust: &resolved,
            report: &report,
            state: &state,
            online: AnchorSetup::default(),
        };
        let text = o.text();
        for line in [
            "anchor trust: none pinned",
            "rpc: none given (finality: finalized; anchor not required)",
            "expected: origin t.example/c/d, seq 5",
            "trust: prefix t.example, log key fingerprint 66687aadf862bd77 (trust file)",
            "step 0 format: passed",
            "step 2 payload: erased by seq 36 (reason legal-erasure)",
            "step 7 anchor-offline: passed (anchor claimed, not checked on chain)",
            "step 8 anchor-online: skipped: no anchor trust pinned",
            &format!("checkpoint: t.example/c/d size 37 root {}", "ab".repeat(32)),
            &format!("scope: {SCOPE_NOTE}"),
            "stateful check: skipped: consistency with the stored checkpoint (size 20) not checked (offline)",
            "result: verified",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(o.exit_code(), 0);

        let json = o.json();
        assert_eq!(json["ok"], true);
        assert_eq!(json["steps"][2]["status"], "pass");
        assert_eq!(
            json["steps"][2]["detail"],
            "erased by seq 36 (reason legal-erasure)"
        );
        assert_eq!(json["steps"][8]["status"], "skipped");
        assert_eq!(json["steps"][0]["detail"], Value::Null);
        assert_eq!(
            json["erased_by"],
            json!({"seq": 36, "reason": "legal-erasure"})
        );
        assert_eq!(json["checkpoint"]["size"], 37);
        assert_eq!(json["consistency"]["status"], "skipped");
        assert_eq!(json["consistency"]["updated"], false);
    }

    #[test]
    fn failures_are_loud_and_set_the_exit_code() {
        let mut s = vec![StepStatus::Pass; 2];
        s.push(StepStatus::Fail("payload digest differs".to_owned()));
        s.extend((3..9).map(|_| StepStatus::Skipped("earlier step failed".to_owned())));
        let (report, resolved, expect) = (report(s, Some(2)), resolved(), expect());
        let state = StateOutcome::new(Status::Skipped, "the bundle did not verify");
        let o = BundleOutcome {
            source: "-".to_owned(),
            expect: &expect,
            trust: &resolved,
            report: &report,
            state: &state,
            online: AnchorSetup::default(),
        };
        let text = o.text();
        assert!(text.contains("step 2 payload: FAILED: payload digest differs"));
        assert!(text.contains("step 3 leaf: skipped: earlier step failed"));
        assert!(text.ends_with("result: NOT verified: step 2 payload failed"));
        assert_eq!(o.exit_code(), 1);
        let json = o.json();
        assert_eq!(
            (json["ok"].clone(), json["failed_step"].clone()),
            (json!(false), json!(2))
        );
        assert_eq!(json["steps"][2]["status"], "fail");
        assert_eq!(json["steps"][2]["detail"], "payload digest differs");

        let report = erased_report();
        let mut state = StateOutcome::new(
            Status::Fail,
            "split view: the log signed two different roots for size 37",
        );
        state.evidence = vec![
            ("stored checkpoint".to_owned(), "A\n".to_owned()),
            ("bundle checkpoint".to_owned(), "B\n".to_owned()),
        ];
        let o = BundleOutcome {
            state: &state,
            report: &report,
            online: AnchorSetup::default(),
            ..o
        };
        let text = o.text();
        assert!(text.contains("stateful check: FAILED: split view"));
        assert!(text.contains(
            "--- stored checkpoint ---\nA\n--- bundle checkpoint ---\nB\n--- end of evidence ---\n"
        ));
        assert!(text.ends_with("result: NOT verified: the stateful check failed"));
        assert_eq!(o.exit_code(), 1);
        assert_eq!(
            o.json()["consistency"]["evidence"][1],
            json!({"label": "bundle checkpoint", "note": "B\n"})
        );
        let state = StateOutcome::new(Status::Error, "network error");
        assert_eq!(
            BundleOutcome {
                state: &state,
                online: AnchorSetup::default(),
                ..o
            }
            .exit_code(),
            2
        );
    }
}
