//! `civicproof publish --dataset inst/ds FILE`: a file streamed to the server in batches.
//!
//! Re-running is safe. Every batch carries `Idempotency-Key:
//! civicproof-cli-<sha256 of the file>-<batch index>`, so after an interruption the same
//! command replays the batches the server already committed (it answers them from its
//! idempotency store, kept at least 24 h, without appending) and publishes the rest. Changing
//! `--batch` or `--shape` for a file already partly published changes the batch bodies: the
//! server then answers 422 (key reused with another body) instead of duplicating anything.
//! `--resume-from-batch N` skips sending batches before N altogether (for a resume more than
//! 24 h later, when the server no longer remembers the keys).

use super::http::{Answer, Api, ServerArgs, rejected};
use super::input::{Batch, Batches, Format, Shape, file_sha256};
use super::{Failure, parse_dataset_path};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The dataset, `institution/dataset`.
    #[arg(long)]
    pub dataset: String,
    /// The file: `.csv`, `.ndjson`/`.jsonl` or `.json` (or say which with `--format`).
    pub file: PathBuf,
    /// The file's format, when its extension does not tell.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// JSON/NDJSON objects: `auto` (an object with only `payload` and `key` is a record,
    /// anything else a payload), `records` or `payloads`.
    #[arg(long, value_enum, default_value_t = Shape::Auto)]
    pub shape: Shape,
    /// Records per batch (each batch is all-or-nothing).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
    /// Do not send batches before this 0-based index (they are still read, to keep indexes).
    #[arg(long, default_value_t = 0)]
    pub resume_from_batch: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What a run did, printed at the end (also after a failure).
#[derive(Default)]
struct Summary {
    records: u64,
    /// Records of batches the server answered from its idempotency store (not appended again).
    records_replayed: u64,
    batches: u64,
    replayed: u64,
    skipped: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    /// Requests retried (network errors, 409, 429, 502–504).
    retries: u64,
}

pub fn run(args: &PublishArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let (inst, ds, _) = parse_dataset_path(&args.dataset, false)?;
    let format = match args.format.or_else(|| Format::from_path(&args.file)) {
        Some(f) => f,
        None => {
            return Err(Failure::Usage(format!(
                "cannot tell the format of {} from its extension: pass --format csv|ndjson|json",
                args.file.display()
            )));
        }
    };
    let api = Api::new(&args.server)?;
    if !api.has_token() {
        return Err(Failure::Usage(
            "publishing needs a publisher token: --token-file, --token or CIVICPROOF_TOKEN".into(),
        ));
    }
    let unreadable = |e: std::io::Error| Failure::Usage(format!("{}: {e}", args.file.display()));
    let total_bytes = std::fs::metadata(&args.file).map_err(unreadable)?.len();
    let digest = hex::encode(file_sha256(&args.file).map_err(unreadable)?);
    // Fail early (and before reading the file) on an unknown dataset or a bad token.
    api.get_json(
        api.url(&["v1", "datasets", &inst, &ds], &[]),
        &format!("dataset {inst}/{ds}"),
    )?;

    let mut batches =
        Batches::open(&args.file, format, args.shape, args.batch as usize).map_err(unreadable)?;
    let records_url = api.url(&["v1", "datasets", &inst, &ds, "records"], &[]);
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut progress = Progress::new(total_bytes);
    let result = loop {
        let batch = match batches.next_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => break Ok(()),
            Err(e) => {
                let at = match e.record {
                    Some(r) => format!(" (record {})", r + 1),
                    None => String::new(),
                };
                break Err(Failure::Rejected(format!(
                    "{}{at}: {}; nothing of that batch was sent",
                    args.file.display(),
                    e.detail
                )));
            }
        };
        if batch.index < args.resume_from_batch {
            summary.skipped += 1;
            continue;
        }
        let key = format!("civicproof-cli-{digest}-{}", batch.index);
        let what = format!("batch {}", batch.index + 1);
        let answer = match api.send(&what, || {
            api.client()
                .post(records_url.clone())
                .header(reqwest::header::CONTENT_TYPE, format.content_type())
                .header("Idempotency-Key", &key)
                .body(batch.body.clone())
        }) {
            Ok(a) => a,
            Err(e) => break Err(e),
        };
        if let Err(e) = record_answer(&answer, &batch, &what, &mut summary) {
            break Err(e);
        }
        progress.update(batches.consumed.load(Ordering::Relaxed), &summary);
    };
    progress.finish();
    summary.retries = api.retried();
    let elapsed = started.elapsed();
    print_summary(args, &inst, &ds, format, &summary, elapsed, &result, out);
    result
}

/// Checks one batch's answer and adds it to the summary; a rejection names the input lines.
fn record_answer(
    answer: &Answer,
    batch: &Batch,
    what: &str,
    summary: &mut Summary,
) -> Result<(), Failure> {
    if !answer.status.is_success() {
        return Err(explain_rejection(answer, batch, what));
    }
    let body = answer.json()?;
    let seqs: Vec<u64> = body["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["seq"].as_u64()).collect())
        .unwrap_or_default();
    if seqs.len() != batch.lines.len() {
        return Err(Failure::Unavailable(format!(
            "{what}: the server answered {} entries for {} records",
            seqs.len(),
            batch.lines.len()
        )));
    }
    summary.records += seqs.len() as u64;
    summary.batches += 1;
    if answer.replayed {
        summary.replayed += 1;
        summary.records_replayed += seqs.len() as u64;
    }
    if summary.first_seq.is_none() {
        summary.first_seq = seqs.first().copied();
    }
    summary.last_seq = seqs.last().copied().or(summary.last_seq);
    Ok(())
}

fn explain_rejection(answer: &Answer, batch: &Batch, what: &str) -> Failure {
    let last = batch.first_record + batch.lines.len() as u64;
    let head = format!(
        "{what} (records {}–{}, lines {}–{}) rejected, nothing of it was published",
        batch.first_record + 1,
        last,
        batch.lines.first().copied().unwrap_or(0),
        batch.lines.last().copied().unwrap_or(0),
    );
    let failure = rejected(&head, answer);
    let Failure::Rejected(mut text) = failure else {
        return failure;
    };
    let problem: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    for error in problem["errors"].as_array().into_iter().flatten() {
        let detail = error["detail"].as_str().unwrap_or("invalid");
        match error["index"].as_u64() {
            Some(i) => {
                let line = batch.lines.get(i as usize).copied().unwrap_or(0);
                text.push_str(&format!(
                    "\n  line {line} (record {}): {detail}",
                    batch.first_record + i + 1
                ));
            }
            None => {
                let pointer = error["pointer"].as_str().unwrap_or("");
                text.push_str(&format!("\n  {pointer}: {detail}"));
            }
        }
    }
    match answer.problem_code().as_deref() {
        Some("idempotency-key-reused") => text.push_str(
            "\n  this file was published before with other options (--batch, --shape or \
             --format): re-run with the same ones",
        ),
        Some("payload-too-large") => {
            text.push_str("\n  the batch is over the server's body limit: lower --batch")
        }
        _ => {}
    }
    Failure::Rejected(text)
}

#[allow(clippy::too_many_arguments)]
fn print_summary(
    args: &PublishArgs,
    inst: &str,
    ds: &str,
    format: Format,
    s: &Summary,
    elapsed: Duration,
    result: &Result<(), Failure>,
    out: &mut dyn Write,
) {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.records as f64 / secs
    } else {
        0.0
    };
    let outcome = match result {
        Ok(()) => "ok",
        Err(Failure::Rejected(_)) => "rejected",
        Err(Failure::Usage(_)) => "usage",
        Err(Failure::Unavailable(_)) => "unavailable",
    };
    let text = if args.json {
        let mut v = json!({
            "outcome": outcome,
            "dataset": format!("{inst}/{ds}"),
            "file": args.file.display().to_string(),
            "format": format.name(),
            "records": s.records,
            "records_appended": s.records - s.records_replayed,
            "batches": s.batches,
            "batches_replayed": s.replayed,
            "batches_skipped": s.skipped,
            "retries": s.retries,
            "first_seq": s.first_seq,
            "last_seq": s.last_seq,
            "elapsed_ms": elapsed.as_millis() as u64,
            "records_per_second": (rate * 10.0).round() / 10.0,
        });
        if let Err(e) = result {
            v["error"] = json!(e.message());
        }
        format!("{v}\n")
    } else {
        let seqs = match (s.first_seq, s.last_seq) {
            (Some(a), Some(b)) => format!(", seq {a}–{b}"),
            _ => String::new(),
        };
        let mut extra = String::new();
        if s.replayed > 0 {
            extra.push_str(&format!(
                " ({} batches, {} records already published: replayed, not appended)",
                s.replayed, s.records_replayed
            ));
        }
        if s.retries > 0 {
            extra.push_str(&format!(" ({} retries)", s.retries));
        }
        if s.skipped > 0 {
            extra.push_str(&format!(" ({} skipped by --resume-from-batch)", s.skipped));
        }
        format!(
            "{outcome}: {} records in {} batches{extra} to {inst}/{ds}{seqs}, {:.1} s, {:.0} records/s\n",
            s.records, s.batches, secs, rate
        )
    };
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A bar on stderr when it is a terminal, else a plain line every few seconds.
struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
    total: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
            total,
        }
    }

    fn update(&mut self, bytes: u64, s: &Summary) {
        let bytes = bytes.min(self.total);
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{} records, {} batches", s.records, s.batches));
            }
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                eprintln!(
                    "civicproof: published {} records in {} batches ({:.0} % of the file)",
                    s.records,
                    s.batches,
                    if self.total == 0 {
                        100.0
                    } else {
                        bytes as f64 * 100.0 / self.total as f64
                    }
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
