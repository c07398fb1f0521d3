//! The publishing CLI: `civicproof publish | datasets | get`, for people who have files, not
//! code. It is a plain HTTP client of any civicproof server (no database, no server
//! internals): [`http`] holds the connection (token, retries, problem documents), [`input`]
//! the streaming file readers, and each command has its own file.
//!
//! Exit codes (the same for every command, scripts rely on them):
//! - 0: done;
//! - 1: the server (or the input file) rejected the data: a validation error, an unknown or
//!   invisible dataset, missing or bad credentials;
//! - 2: usage: bad flags, an unreadable file, an unknown format;
//! - 3: the server stayed unreachable or unavailable after every retry.

pub mod datasets;
pub mod get;
pub mod http;
pub mod ingest;
pub mod input;
pub mod publish;

use std::io::Write;

/// The client subcommands, flattened into the `civicproof` binary's command list.
#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Publish a CSV, NDJSON or JSON file to a dataset in batches. Re-running the same file
    /// never duplicates data: each batch carries an Idempotency-Key derived from the file's
    /// content hash and the batch's index.
    Publish(publish::PublishArgs),
    /// List the datasets of a server's catalog (every page).
    Datasets(datasets::DatasetsArgs),
    /// Show a dataset (`inst/ds`), one record (`inst/ds/SEQ`) or its proof bundle (`--proof`).
    Get(get::GetArgs),
    /// Bridge a message broker into datasets: `civicproof ingest mqtt --config bridge.toml`.
    Ingest(ingest::IngestArgs),
}

/// Exit codes, documented in the module header and docs/USING.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const REJECTED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNAVAILABLE: u8 = 3;
}

/// Why a command stopped; each maps to one exit code.
#[derive(Debug)]
pub enum Failure {
    /// The server or the input file rejected the data (exit 1).
    Rejected(String),
    /// Bad flags or an unreadable file (exit 2).
    Usage(String),
    /// The server stayed unreachable or unavailable after every retry (exit 3).
    Unavailable(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Self::Rejected(_) => exit::REJECTED,
            Self::Usage(_) => exit::USAGE,
            Self::Unavailable(_) => exit::UNAVAILABLE,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Rejected(m) | Self::Usage(m) | Self::Unavailable(m) => m,
        }
    }
}

/// Runs one client command, writing results to `out` (stdout in the binary) and the reason it
/// failed to `err` (stderr; progress and retries go to stderr directly); returns the exit code.
pub fn run(command: ClientCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = match command {
        ClientCommand::Publish(args) => publish::run(&args, out),
        ClientCommand::Datasets(args) => datasets::run(&args, out),
        ClientCommand::Get(args) => get::run(&args, out),
        ClientCommand::Ingest(args) => ingest::run(&args),
    };
    match result {
        Ok(()) => exit::OK,
        Err(failure) => {
            let _ = writeln!(err, "civicproof: {}", failure.message());
            failure.code()
        }
    }
}

/// The client commands on their own, for [`run_from_args`].
#[derive(clap::Parser)]
#[command(name = "civicproof")]
struct Standalone {
    #[command(subcommand)]
    command: ClientCommand,
}

/// Parses `civicproof <publish|datasets|get> …` (the first item is the program name) and runs
/// it: what the binary does, callable in-process (the e2e tests use it).
pub fn run_from_args<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    match Standalone::try_parse_from(args) {
        Ok(cli) => run(cli.command, out, err),
        Err(e) => {
            let _ = write!(err, "{}", e.render());
            if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            }
        }
    }
}

/// Splits `inst/ds` (or `inst/ds/SEQ` when `allow_seq`) into its parts.
pub fn parse_dataset_path(
    s: &str,
    allow_seq: bool,
) -> Result<(String, String, Option<u64>), Failure> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || {
        Failure::Usage(if allow_seq {
            format!("`{s}` is not `institution/dataset` or `institution/dataset/SEQ`")
        } else {
            format!("`{s}` is not `institution/dataset`")
        })
    };
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let seq = match parts.get(2) {
        Some(_) if !allow_seq => return Err(bad()),
        Some(s) => Some(s.parse::<u64>().map_err(|_| bad())?),
        None => None,
    };
    Ok((parts[0].to_owned(), parts[1].to_owned(), seq))
}
