//! `civicproof monitor` on the command line (feature `monitor`): flags, the polling loop and
//! the report on standard output.
//!
//! Exit status with `--once`: 0 when every anchored batch checked out, 1 on the first violation,
//! 2 when the check could not run (usage, RPC or server failure). Without `--once` the command
//! follows the chain until interrupted, reporting violations and failures as they come.

use std::time::Duration;

use clap::Args;

use super::http::HttpServer;
use super::violation::{MonitorError, Violation};
use super::watch::{BatchReport, Monitor, MonitorConfig};
use crate::bundle::Trust;
use crate::chain::{AnchorTrust, Finality, HttpRpc};
use crate::encoding::base64_decode;

/// `civicproof monitor`: check that an instance's anchored history is one history.
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// The server's base URL, e.g. `https://data.katowice.example`.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Your own EVM JSON-RPC endpoint (never one the server names).
    #[arg(long, value_name = "URL", env = "CIVICPROOF_MONITOR_RPC_URL")]
    pub rpc: String,
    /// The pinned instance prefix.
    #[arg(long, value_name = "P")]
    pub prefix: String,
    /// The pinned log public key: base64 of 32 bytes.
    #[arg(long = "public-key", value_name = "BASE64")]
    pub public_key: String,
    /// The pinned chain id.
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: u64,
    /// The pinned anchor contract, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub contract: String,
    /// The pinned anchoring account, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub anchorer: String,
    /// The pinned keccak256 of the contract's runtime code; checked once when given.
    #[arg(long = "code-hash", value_name = "0xHASH")]
    pub code_hash: Option<String>,
    /// Which block counts as final: `finalized` (default; where the chain has no such tag, 64
    /// blocks deep, 2 on chain 31337) or a number of confirmations.
    #[arg(long, value_name = "finalized|N", default_value = "finalized", value_parser = parse_finality)]
    pub finality: Finality,
    /// The first block to look for Anchored events in (the contract's deployment block).
    #[arg(long = "from-block", value_name = "N", default_value_t = 0)]
    pub from_block: u64,
    /// Check everything anchored so far and exit: non-zero on the first violation.
    #[arg(long)]
    pub once: bool,
    /// Seconds between rounds when following.
    #[arg(long = "interval-secs", value_name = "S", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_secs: u64,
}

fn parse_finality(s: &str) -> Result<Finality, String> {
    s.parse()
}

impl MonitorArgs {
    /// The pinned configuration, or a usage error.
    pub fn config(&self) -> Result<MonitorConfig, String> {
        let public_key: [u8; 32] = base64_decode(&self.public_key)
            .and_then(|k| k.try_into().ok())
            .ok_or("--public-key must be canonical base64 of 32 bytes")?;
        let code_hash = self
            .code_hash
            .clone()
            .unwrap_or_else(|| format!("0x{}", "00".repeat(32)));
        let anchor = AnchorTrust::parse(self.chain_id, &self.contract, &code_hash, &self.anchorer)
            .map_err(|e| e.to_string())?;
        Ok(MonitorConfig {
            trust: Trust {
                prefix: self.prefix.clone(),
                public_key,
            },
            anchor,
            check_code_hash: self.code_hash.is_some(),
            finality: self.finality,
            from_block: self.from_block,
        })
    }
}

/// Runs the command and returns its exit status (see the module documentation).
pub fn run(args: &MonitorArgs) -> u8 {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("civicproof monitor: usage error: {e}");
            return 2;
        }
    };
    let rpc = HttpRpc::new(&args.rpc);
    let server = HttpServer::new(&args.server);
    println!(
        "monitoring {} (prefix {}) against chain {} contract {} anchorer {} via {} (finality: {})",
        args.server,
        config.trust.prefix,
        config.anchor.chain_id,
        config.anchor.contract_hex(),
        config.anchor.anchorer_hex(),
        args.rpc,
        config.finality
    );
    let mut monitor = Monitor::new(config);
    let mut print = |outcome: Result<&BatchReport, &Violation>| match outcome {
        Ok(report) => println!("{}", describe(report)),
        Err(violation) => print_violation(violation),
    };
    loop {
        let round = monitor.poll(&rpc, &server, args.once, &mut print);
        match (round, args.once) {
            (Ok(_), true) => {
                match monitor.next_seq() {
                    0 => println!("result: OK: nothing anchored up to the final block yet"),
                    n => println!(
                        "result: OK: batches 0 to {} check out ({} origins visible)",
                        n - 1,
                        monitor.history().len()
                    ),
                }
                return 0;
            }
            (Err(MonitorError::Violation(v)), true) => {
                // Batch-level violations were printed as they were found.
                if !is_batch_level(&v) {
                    print_violation(&v);
                }
                println!("result: VIOLATION");
                return 1;
            }
            (Err(e), true) => {
                println!("result: could not check: {e}");
                return 2;
            }
            (Ok(_), false) => {}
            (Err(MonitorError::Violation(v)), false) => print_violation(&v),
            (Err(e), false) => eprintln!("civicproof monitor: {e} (retrying)"),
        }
        std::thread::sleep(Duration::from_secs(args.interval_secs));
    }
}

fn is_batch_level(v: &Violation) -> bool {
    !matches!(
        v,
        Violation::ChainId { .. }
            | Violation::CodeHash { .. }
            | Violation::ChainGap { .. }
            | Violation::ChainPrevRoot { .. }
            | Violation::RootOf { .. }
            | Violation::NextSeq { .. }
    )
}

/// One line for a batch that checked out.
pub fn describe(r: &BatchReport) -> String {
    let visible: Vec<String> = r
        .visible
        .iter()
        .map(|(origin, size)| format!("{origin}@{size}"))
        .collect();
    format!(
        "batch {} (block {}, server status {}): ok: {} leaves rebuild root {}; {} visible \
         checkpoint(s) verified [{}]; {} consistency proof(s) verified",
        r.seq,
        r.block_number,
        r.status,
        r.leaves,
        hex::encode(r.root),
        r.visible.len(),
        visible.join(", "),
        r.proofs
    )
}

fn print_violation(v: &Violation) {
    println!("VIOLATION: {v}");
    for (label, note) in v.evidence() {
        println!("--- {label} ---");
        print!("{note}");
        if !note.ends_with('\n') {
            println!();
        }
    }
    if !v.evidence().is_empty() {
        println!("--- end of evidence ---");
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: MonitorArgs,
    }

    #[test]
    fn flags_parse_into_a_pinned_configuration() {
        Wrapper::command().debug_assert();
        let key = crate::encoding::base64_encode(&[3; 32]);
        let base = [
            "m",
            "--server",
            "http://s",
            "--rpc",
            "http://r",
            "--prefix",
            "p.example",
            "--public-key",
            &key,
            "--chain-id",
            "31337",
            "--contract",
            "0x5fbdb2315678afecb367f032d93f642f64180aa3",
            "--anchorer",
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        ];
        let w = Wrapper::try_parse_from(base).unwrap();
        assert!(!w.args.once);
        assert_eq!(w.args.finality, Finality::Finalized);
        let config = w.args.config().unwrap();
        assert!(!config.check_code_hash);
        assert_eq!(config.trust.public_key, [3; 32]);
        let mut more = base.to_vec();
        more.extend(["--once", "--finality", "12", "--code-hash", "0x01"]);
        let w = Wrapper::try_parse_from(&more).unwrap();
        assert_eq!(w.args.finality, Finality::Confirmations(12));
        assert!(w.args.config().unwrap_err().contains("code hash"));
        let mut bad = base.to_vec();
        bad.extend(["--interval-secs", "0"]);
        assert!(Wrapper::try_parse_from(&bad).is_err());
        let mut bad_key = base.to_vec();
        bad_key[8] = "AAAA";
        let w = Wrapper::try_parse_from(&bad_key).unwrap();
        assert!(w.args.config().unwrap_err().contains("--public-key"));
    }
}
