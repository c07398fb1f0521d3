//! `civicproof-verify`: checks proof bundles and consistency proofs against pinned trust
//! (PROTOCOL.md section 7), from files, standard input or a civicproof server.
//!
//! Trust (the instance prefix and its log public key) comes from the command line or the local
//! trust file, or, only when asked with `--tofu`, from the server on first use. The trust file also
//! keeps the largest verified checkpoint per origin, the state of a "stateful verifier".
//!
//! Exit status: 0 verified, 1 not verified, 2 a usage, trust, file or network error.

mod args;
mod bundle_cmd;
mod consistency;
mod consistency_cmd;
mod error;
mod fetch;
mod output;
mod source;
mod state;
mod trust;
mod trust_store;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Bundle(args)) => bundle_cmd::run(&args),
        Some(Command::Consistency(args)) => consistency_cmd::run(&args),
        None => bundle_cmd::run(&cli.bundle),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("civicproof-verify: {e}");
            ExitCode::from(2)
        }
    }
}
