//! `civicproof-verify consistency`: verify a consistency proof between two signed checkpoints,
//! fetched from a server or read from files.

use std::path::Path;
use std::process::ExitCode;

use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::note;

use crate::args::ConsistencyArgs;
use crate::bundle_cmd::{open_store, token};
use crate::consistency::{self, Failure, Response};
use crate::error::{CliError, usage};
use crate::fetch::Http;
use crate::output::ConsistencyOutcome;
use crate::source;
use crate::trust;

pub fn run(args: &ConsistencyArgs) -> Result<ExitCode, CliError> {
    let (inst, ds) = source::parse_dataset(&args.dataset)?;
    let server = args.server.as_deref().map(source::parse_base).transpose()?;
    if server.is_none() && args.proof_file.is_none() {
        return Err(usage(
            "give --server BASE --first M --second N, or --proof-file FILE (offline)",
        ));
    }
    let mut store = open_store(args.common.trust_file.as_deref())?;
    let http = Http::new(token(&args.common));
    let resolved = trust::resolve(&args.common, None, &mut store, server.as_ref(), &http)?;
    let origin = format!("{}/{inst}/{ds}", resolved.trust.prefix);
    let response = match &server {
        Some(server) => {
            let (m, n) = match (args.first, args.second) {
                (Some(m), Some(n)) if 1 <= m && m <= n => (m, n),
                (Some(_), Some(_)) => return Err(usage("need 1 ≤ --first ≤ --second")),
                _ => return Err(usage("--server needs --first and --second")),
            };
            let url = source::join(
                server,
                &format!("v1/datasets/{inst}/{ds}/consistency?first={m}&second={n}"),
            );
            let bytes = http.get(&url, "application/json")?;
            consistency::parse_response(&bytes).and_then(|r| {
                if (r.first, r.second) == (m, n) {
                    Ok(r)
                } else {
                    Err(format!(
                        "asked for consistency {m} → {n}, the server answered {} → {}",
                        r.first, r.second
                    ))
                }
            })
        }
        None => Ok(offline(args)?),
    };
    let result = response
        .map_err(|reason| Failure {
            reason,
            evidence: Vec::new(),
        })
        .and_then(|r| consistency::verify(&r, &resolved.trust.public_key, &origin));
    let outcome = ConsistencyOutcome {
        origin: &origin,
        trust: &resolved,
        result: &result,
    };
    if args.common.json {
        println!("{:#}", outcome.json());
    } else {
        println!("{}", outcome.text());
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// The proof and notes from files: a saved consistency response, whose notes `--first-note` and
/// `--second-note` replace when given; or hex lines, which need both note files.
fn offline(args: &ConsistencyArgs) -> Result<Response, CliError> {
    let proof_file = args.proof_file.as_deref().expect("checked by the caller");
    let bytes = source::read_path(proof_file)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("{} is not UTF-8", proof_file.display())))?;
    let first_note = args.first_note.as_deref().map(read_note).transpose()?;
    let second_note = args.second_note.as_deref().map(read_note).transpose()?;
    let mut response = if text.trim_start().starts_with('{') {
        consistency::parse_response(text.as_bytes())
            .map_err(|e| usage(format!("{}: {e}", proof_file.display())))?
    } else {
        let (Some(first), Some(second)) = (&first_note, &second_note) else {
            return Err(usage(
                "a proof file of hex lines needs --first-note and --second-note",
            ));
        };
        Response {
            first: note_size(first).unwrap_or_default(),
            second: note_size(second).unwrap_or_default(),
            path: consistency::parse_hex_lines(&text)
                .map_err(|e| usage(format!("{}: {e}", proof_file.display())))?,
            first_checkpoint: first.clone(),
            second_checkpoint: second.clone(),
        }
    };
    if let Some(note) = first_note {
        response.first_checkpoint = note;
    }
    if let Some(note) = second_note {
        response.second_checkpoint = note;
    }
    for (flag, want, got) in [
        ("--first", args.first, response.first),
        ("--second", args.second, response.second),
    ] {
        if let Some(want) = want.filter(|w| *w != got) {
            return Err(usage(format!(
                "{flag} {want} but the proof is for size {got}"
            )));
        }
    }
    Ok(response)
}

fn read_note(path: &Path) -> Result<String, CliError> {
    String::from_utf8(source::read_path(path)?)
        .map_err(|_| usage(format!("{} is not UTF-8", path.display())))
}

/// The size a note claims (its signature is verified later).
fn note_size(text: &str) -> Option<u64> {
    let note = note::parse(text.as_bytes()).ok()?;
    Checkpoint::parse_text(&note.text).ok().map(|c| c.size)
}
