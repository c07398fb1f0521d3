//! `civicproof get inst/ds` (dataset metadata), `civicproof get inst/ds/SEQ` (one record as
//! read) and `--proof` (its proof bundle, byte for byte what the server sent, ready for
//! `civicproof-verify`).

use super::http::{Api, ServerArgs, rejected};
use super::{Failure, parse_dataset_path};
use serde_json::Value;
use std::io::Write;

#[derive(clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// `institution/dataset` or `institution/dataset/SEQ`.
    pub path: String,
    /// Fetch the record's proof bundle (PROTOCOL.md section 6) instead of the record.
    #[arg(long)]
    pub proof: bool,
    /// Print the server's JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &GetArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let (inst, ds, seq) = parse_dataset_path(&args.path, true)?;
    let api = Api::new(&args.server)?;
    let text = match seq {
        None if args.proof => {
            return Err(Failure::Usage(
                "--proof needs a record: institution/dataset/SEQ".into(),
            ));
        }
        None => {
            let d = api.get_json(
                api.url(&["v1", "datasets", &inst, &ds], &[]),
                &format!("dataset {inst}/{ds}"),
            )?;
            if args.json {
                format!("{d:#}\n")
            } else {
                dataset_text(&d)
            }
        }
        Some(seq) => {
            let seq = seq.to_string();
            let mut segments = vec!["v1", "datasets", &inst, &ds, "records", &seq];
            if args.proof {
                segments.push("proof");
            }
            let what = format!("record {inst}/{ds}/{seq}");
            let answer = api.get(api.url(&segments, &[]), &what)?;
            if !answer.status.is_success() {
                return Err(rejected(&what, &answer));
            }
            if args.proof {
                // Verbatim: the bundle is what a verifier checks.
                let mut body = String::from_utf8_lossy(&answer.body).into_owned();
                if !body.ends_with('\n') {
                    body.push('\n');
                }
                body
            } else {
                let r = answer.json()?;
                if args.json {
                    format!("{r:#}\n")
                } else {
                    record_text(&r)
                }
            }
        }
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::Usage(format!("cannot write the output: {e}")))
}

fn field(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(field).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn dataset_text(d: &Value) -> String {
    let mut text = String::new();
    for (label, value) in [
        (
            "dataset",
            Value::from(format!(
                "{}/{}",
                field(&d["institution"]),
                field(&d["slug"])
            )),
        ),
        ("title", d["title"].clone()),
        ("description", d["description"].clone()),
        ("license", d["license"].clone()),
        ("access", d["access"].clone()),
        ("themes", d["themes"].clone()),
        ("keywords", d["keywords"].clone()),
        ("records", d["record_count"].clone()),
        ("entries", d["entry_count"].clone()),
        ("origin", d["origin"].clone()),
        ("vkey", d["vkey"].clone()),
        (
            "schema",
            Value::from(if d["schema"].is_null() {
                "none"
            } else {
                "yes (--json shows it)"
            }),
        ),
        ("anchor", d["anchor"]["tx_hash"].clone()),
        ("created", d["created_at"].clone()),
        ("updated", d["updated_at"].clone()),
    ] {
        text.push_str(&format!("{label:<12} {}\n", field(&value)));
    }
    if let Some(checkpoint) = d["checkpoint"].as_str() {
        text.push_str("checkpoint\n");
        for line in checkpoint.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text
}

fn record_text(r: &Value) -> String {
    let e = &r["envelope"];
    let mut text = String::new();
    for (label, value) in [
        ("seq", &e["seq"]),
        ("kind", &e["kind"]),
        ("key", &e["key"]),
        ("published", &e["published_at"]),
        ("leaf_hash", &r["leaf_hash"]),
    ] {
        text.push_str(&format!("{label:<10} {}\n", field(value)));
    }
    text.push_str(&format!("payload\n{:#}\n", r["payload"]));
    text
}
