//! `civicproof monitor` on the command line (feature `monitor`): flags, the polling loop and
//! the report on standard output.
//!
//! Two sources, either or both: the chain (`--rpc` and the anchor pins: every anchored batch is
//! checked) and logs followed over tlog-tiles (`--log <inst>/<ds>`, repeatable). With both, each
//! followed log's anchored checkpoint must be one of the history its tiles prove.
//!
//! Exit status with `--once`: 0 when everything checked out, 1 on the first violation, 2 when
//! the check could not run (usage, RPC or server failure, a checkpoint not yet cosigned as the
//! pinned witness policy requires). Without `--once` the command follows until interrupted,
//! reporting violations and failures as they come.

use std::time::Duration;

use clap::Args;

use super::http::HttpServer;
use super::tiles::{FollowReport, TileFollower, TileLogConfig};
use super::violation::{MonitorError, Violation};
use super::watch::{BatchReport, Monitor, MonitorConfig};
use crate::bundle::Trust;
use crate::chain::{AnchorTrust, Finality, HttpRpc};
use crate::cosignature::{Witness, WitnessPolicy};
use crate::encoding::base64_decode;

/// `civicproof monitor`: check that an instance's anchored history is one history.
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// The server's base URL, e.g. `https://data.katowice.example`.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Your own EVM JSON-RPC endpoint (never one the server names); with the anchor pins below,
    /// every anchored batch is checked.
    #[arg(long, value_name = "URL", env = "CIVICPROOF_MONITOR_RPC_URL")]
    pub rpc: Option<String>,
    /// The pinned instance prefix.
    #[arg(long, value_name = "P")]
    pub prefix: String,
    /// The pinned log public key: base64 of 32 bytes.
    #[arg(long = "public-key", value_name = "BASE64")]
    pub public_key: String,
    /// The pinned chain id.
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: Option<u64>,
    /// The pinned anchor contract, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub contract: Option<String>,
    /// The pinned anchoring account, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub anchorer: Option<String>,
    /// A dataset log to follow over tlog-tiles, `<institution>/<dataset>` (repeatable).
    #[arg(long = "log", value_name = "INST/DS")]
    pub logs: Vec<String>,
    /// A pinned witness vkey (repeatable): followed checkpoints must carry its cosignature.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many pinned witnesses must cosign (default: all of them).
    #[arg(long = "witness-threshold", value_name = "K")]
    pub witness_threshold: Option<usize>,
    /// Read every entry bundle of the followed logs and check each entry against its leaf hash.
    #[arg(long = "audit-entries")]
    pub audit_entries: bool,
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
    fn public_key(&self) -> Result<[u8; 32], String> {
        base64_decode(&self.public_key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| "--public-key must be canonical base64 of 32 bytes".to_owned())
    }

    /// The pinned chain configuration: `None` without `--rpc` and the anchor pins (all of them
    /// or none), or a usage error.
    pub fn config(&self) -> Result<Option<MonitorConfig>, String> {
        let public_key = self.public_key()?;
        let (chain_id, contract, anchorer) =
            match (&self.rpc, self.chain_id, &self.contract, &self.anchorer) {
                (None, None, None, None) => return Ok(None),
                (Some(_), Some(i), Some(c), Some(a)) => (i, c, a),
                _ => {
                    return Err(
                        "--rpc, --chain-id, --contract and --anchorer go together".to_owned()
                    );
                }
            };
        let code_hash = self
            .code_hash
            .clone()
            .unwrap_or_else(|| format!("0x{}", "00".repeat(32)));
        let anchor = AnchorTrust::parse(chain_id, contract, &code_hash, anchorer)
            .map_err(|e| e.to_string())?;
        Ok(Some(MonitorConfig {
            trust: Trust {
                prefix: self.prefix.clone(),
                public_key,
            },
            anchor,
            check_code_hash: self.code_hash.is_some(),
            finality: self.finality,
            from_block: self.from_block,
        }))
    }

    /// One follower per `--log`, with the pinned witness policy, or a usage error.
    pub fn followers(&self) -> Result<Vec<TileFollower>, String> {
        let public_key = self.public_key()?;
        let witnesses = if self.witnesses.is_empty() {
            if self.witness_threshold.is_some() {
                return Err("--witness-threshold needs at least one --witness".to_owned());
            }
            None
        } else {
            let pinned = self
                .witnesses
                .iter()
                .map(|v| Witness::from_vkey(v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let k = self.witness_threshold.unwrap_or(pinned.len());
            Some(WitnessPolicy::new(pinned, k).map_err(|e| e.to_string())?)
        };
        self.logs
            .iter()
            .map(|log| {
                let ok = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                };
                match log.split_once('/') {
                    Some((inst, ds)) if ok(inst) && ok(ds) => {
                        Ok(TileFollower::new(TileLogConfig {
                            witnesses: witnesses.clone(),
                            audit_entries: self.audit_entries,
                            ..TileLogConfig::for_dataset(&self.prefix, inst, ds, public_key)
                        }))
                    }
                    _ => Err(format!(
                        "--log {log:?} is not <institution>/<dataset> (lowercase slugs)"
                    )),
                }
            })
            .collect()
    }
}

/// Runs the command and returns its exit status (see the module documentation).
pub fn run(args: &MonitorArgs) -> u8 {
    let (config, mut followers) = match args.config().and_then(|c| Ok((c, args.followers()?))) {
        Ok((None, f)) if f.is_empty() => {
            eprintln!(
                "civicproof monitor: usage error: give the chain (--rpc, --chain-id, --contract, --anchorer), logs to follow over tiles (--log), or both"
            );
            return 2;
        }
        Ok(both) => both,
        Err(e) => {
            eprintln!("civicproof monitor: usage error: {e}");
            return 2;
        }
    };
    let server = HttpServer::new(&args.server);
    let rpc = args.rpc.as_deref().map(HttpRpc::new);
    if let (Some(config), Some(url)) = (&config, &args.rpc) {
        println!(
            "monitoring {} (prefix {}) against chain {} contract {} anchorer {} via {} (finality: {})",
            args.server,
            config.trust.prefix,
            config.anchor.chain_id,
            config.anchor.contract_hex(),
            config.anchor.anchorer_hex(),
            url,
            config.finality
        );
    }
    for f in &followers {
        println!("following {} over tiles at {}", f.origin(), args.server);
    }
    let mut monitor = config.map(Monitor::new);
    loop {
        let outcome = round(
            &mut monitor,
            rpc.as_ref(),
            &server,
            &mut followers,
            args.once,
        );
        if args.once {
            if outcome.violation {
                println!("result: VIOLATION");
                return 1;
            }
            if let Some(failure) = outcome.failure {
                println!("result: could not check: {failure}");
                return 2;
            }
            if let Some(monitor) = &monitor {
                match monitor.next_seq() {
                    0 => println!("chain: OK: nothing anchored up to the final block yet"),
                    n => println!(
                        "chain: OK: batches 0 to {} check out ({} origins visible)",
                        n - 1,
                        monitor.history().len()
                    ),
                }
            }
            for f in &followers {
                if let Some(v) = f.verified() {
                    println!(
                        "log {}: OK: verified up to size {} over tiles",
                        f.origin(),
                        v.checkpoint.size
                    );
                }
            }
            println!("result: OK");
            return 0;
        }
        std::thread::sleep(Duration::from_secs(args.interval_secs));
    }
}

/// What a round found: whether any source showed a violation (each printed as found), and the
/// first failure that kept a source from being checked (each reported as it happened).
#[derive(Debug, Default)]
struct RoundOutcome {
    violation: bool,
    failure: Option<String>,
}

impl RoundOutcome {
    /// Reports `error` from `source` and remembers it; every source is checked regardless.
    fn failed(&mut self, source: &str, error: MonitorError, printed: bool) {
        match error {
            MonitorError::Violation(v) => {
                if !printed {
                    print_violation(&v);
                }
                self.violation = true;
            }
            other => {
                eprintln!("civicproof monitor: {source}: {other} (retrying)");
                self.failure
                    .get_or_insert_with(|| format!("{source}: {other}"));
            }
        }
    }
}

/// One round: the chain (when pinned), then every followed log, then each followed log's
/// newest anchored checkpoint against its followed history. A source that fails or shows a
/// violation does not keep the others from being checked.
fn round(
    monitor: &mut Option<Monitor>,
    rpc: Option<&HttpRpc>,
    server: &HttpServer,
    followers: &mut [TileFollower],
    once: bool,
) -> RoundOutcome {
    let mut outcome = RoundOutcome::default();
    let mut batch_violation = false;
    let mut print = |result: Result<&BatchReport, &Violation>| match result {
        Ok(report) => println!("{}", describe(report)),
        Err(violation) => {
            batch_violation = true;
            print_violation(violation);
        }
    };
    if let (Some(monitor), Some(rpc)) = (monitor.as_mut(), rpc)
        && let Err(e) = monitor.poll(rpc, server, once, &mut print)
    {
        // Batch-level violations were printed as they were found.
        let printed = matches!(&e, MonitorError::Violation(v) if is_batch_level(v));
        outcome.failed("chain", e, printed);
    }
    outcome.violation |= batch_violation;
    for f in followers.iter_mut() {
        let source = format!("log {}", f.origin());
        match f.poll(server) {
            Ok(Some(report)) => println!("{}", describe_follow(&report)),
            Ok(None) => {}
            Err(e) => {
                outcome.failed(&source, e, false);
                continue;
            }
        }
        let anchored = monitor
            .as_ref()
            .and_then(|m| m.history().latest(f.origin()).cloned());
        if let Some(anchored) = anchored {
            match f.compare_anchored(server, &anchored) {
                Ok(Some(m)) => println!(
                    "log {}: ok: the checkpoint of size {} anchored in batch {} is in the history followed over tiles (size {})",
                    m.origin, m.anchored, m.batch_seq, m.followed
                ),
                Ok(None) => {}
                Err(e) => outcome.failed(&source, e, false),
            }
        }
    }
    outcome
}

/// One line for a log that grew and checked out.
pub fn describe_follow(r: &FollowReport) -> String {
    let how = match r.from {
        None => format!("root rebuilt from tiles at size {}", r.to),
        Some(from) => format!(
            "size {from} → {} proven from tiles ({} hashes)",
            r.to, r.proof_hashes
        ),
    };
    let witnesses = if r.cosigned_by.is_empty() {
        String::new()
    } else {
        format!("; cosigned by {}", r.cosigned_by.join(", "))
    };
    let entries = if r.entries_checked > 0 {
        format!("; {} entries checked", r.entries_checked)
    } else {
        String::new()
    };
    format!(
        "log {}: ok: {how}{witnesses}{entries} ({} tiles)",
        r.origin, r.tiles
    )
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
        let config = w.args.config().unwrap().unwrap();
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

    #[test]
    fn tiles_alone_need_no_chain_and_half_a_chain_is_refused() {
        let key = crate::encoding::base64_encode(&[3; 32]);
        let base = [
            "m",
            "--server",
            "http://s",
            "--prefix",
            "p.example",
            "--public-key",
            &key,
        ];
        let mut tiles = base.to_vec();
        tiles.extend(["--log", "city/air", "--log", "city/trams"]);
        let w = Wrapper::try_parse_from(&tiles).unwrap();
        assert!(w.args.config().unwrap().is_none());
        let followers = w.args.followers().unwrap();
        assert_eq!(followers.len(), 2);
        assert_eq!(followers[0].origin(), "p.example/city/air");
        let mut half = tiles.clone();
        half.extend(["--rpc", "http://r"]);
        let w = Wrapper::try_parse_from(&half).unwrap();
        assert!(w.args.config().unwrap_err().contains("go together"));
        for bad in ["city", "city/Air", "city/air/x", "/air"] {
            let mut args = base.to_vec();
            args.extend(["--log", bad]);
            let w = Wrapper::try_parse_from(&args).unwrap();
            assert!(w.args.followers().is_err(), "{bad}");
        }
        let mut threshold = tiles.clone();
        threshold.extend(["--witness-threshold", "1"]);
        let w = Wrapper::try_parse_from(&threshold).unwrap();
        assert!(w.args.followers().unwrap_err().contains("--witness"));
    }
}
