//! Command-line arguments.

use std::path::PathBuf;

use civicproof_verify::chain::Finality;
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Usage synopsis:
  civicproof-verify bundle <URL> (--prefix P [--public-key K [--pin]] | --tofu) [--json]
      URL = <base>/v1/datasets/{inst}/{ds}/records/{seq}/proof[?tree_size=N]: the expected origin
      is P/{inst}/{ds} and the expected seq is {seq}, both from the URL.
  civicproof-verify bundle <FILE|-> --origin O (--seq N | --any-seq) --prefix P [--public-key K]
      [--server BASE] [--json]
      Anchor options of both forms: [--chain-id N --contract A --code-hash H --anchorer A]
      [--rpc URL] [--finality finalized|N] [--require-anchor | --no-require-anchor]
  civicproof-verify consistency --server BASE --dataset INST/DS --first M --second N --prefix P
  civicproof-verify consistency --dataset INST/DS --proof-file FILE [--first-note F --second-note F]
      --prefix P      (offline; FILE is a saved consistency response, or hex hashes one a line
                       together with both note files)
  civicproof-verify [FILE] --origin O ...   (the flat form: same as `bundle`)

Trust: the log key for --prefix comes from --public-key or from the trust file, a JSON map keyed
by instance prefix (never by URL):
  {\"<prefix>\": {\"log_public_key\": \"<base64>\", \"checkpoints\": {\"<origin>\": \"<note>\"},
                \"anchor\": {\"chain_id\", \"contract\", \"contract_code_hash\", \"anchorer\",
                           \"finality\": \"finalized\" | {\"confirmations\": N}}}}
Its path: --trust-file, else $CIVICPROOF_TRUST_FILE, else $XDG_CONFIG_HOME/civicproof/trust.json,
else ~/.config/civicproof/trust.json. --pin stores a --public-key there; --tofu fetches
<server>/.well-known/civicproof.json and pins its key on first use (loudly; verify the key out of
band). A pinned key is never replaced: a different key is refused.

Anchors (steps 7 and 8): anchor trust comes from --chain-id --contract --code-hash --anchorer
(stored with --pin) or from the trust file's \"anchor\" (filled by --tofu from the server's
/.well-known); step 8 asks --rpc (or $CIVICPROOF_RPC_URL), your own endpoint, for rootOf at the
final block (--finality). Once anchor trust is pinned an anchor is required (--require-anchor):
a bundle without one, or without an RPC endpoint, does not verify; --no-require-anchor relaxes it.
A verified anchor dates the record: \"existed no later than\" the anchor block's time.

Stateful check: after a bundle verifies, its checkpoint is compared with the largest verified
checkpoint stored for its origin; when they differ and a server is known (the bundle URL or
--server), a consistency proof between them is fetched and verified, and the larger one is
stored. Offline, the check is reported as not done.

Exit status: 0 verified; 1 not verified (with the failed step, or the evidence of a split view);
2 usage, trust-file, file or network error.";

/// Verify civicproof proof bundles and consistency proofs against a pinned log key.
#[derive(Debug, Parser)]
#[command(
    name = "civicproof-verify",
    version,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flat form, without a subcommand: the same as `bundle`.
    #[command(flatten)]
    pub bundle: BundleArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify a proof bundle from a file, standard input or an http(s) URL.
    Bundle(BundleArgs),
    /// Verify a consistency proof between two signed checkpoints of one dataset.
    Consistency(ConsistencyArgs),
}

/// Where trust comes from, and the output format; shared by every command.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The pinned instance prefix, e.g. `data.katowice.example` (required unless --tofu).
    #[arg(long)]
    pub prefix: Option<String>,
    /// The log public key: base64 of 32 bytes. Without it, the trust file's key for --prefix.
    #[arg(long = "public-key", value_name = "BASE64")]
    pub public_key: Option<String>,
    /// Store --public-key in the trust file under --prefix (refused if another key is pinned).
    #[arg(long, requires = "public_key")]
    pub pin: bool,
    /// Trust on first use: pin the server's key from <server>/.well-known/civicproof.json.
    #[arg(long, conflicts_with = "public_key")]
    pub tofu: bool,
    /// The trust file [default: $CIVICPROOF_TRUST_FILE, $XDG_CONFIG_HOME/civicproof/trust.json
    /// or ~/.config/civicproof/trust.json].
    #[arg(long = "trust-file", value_name = "PATH")]
    pub trust_file: Option<PathBuf>,
    /// A witness whose cosignature counts (repeatable): its vkey
    /// `<name>+<key id>+<base64(0x04 || key)>`. With --pin (or a pinned key) the policy is
    /// stored; without this flag the trust file's policy applies.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned the checkpoint [default: all].
    #[arg(long = "witness-threshold", value_name = "K", requires = "witnesses")]
    pub witness_threshold: Option<usize>,
    /// Bearer token for restricted datasets [default: $CIVICPROOF_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// A bundle file, `-` for standard input (the default), or an http(s) URL.
    #[arg(value_name = "FILE|-|URL")]
    pub source: Option<String>,
    /// The dataset origin the record must belong to, `<prefix>/<institution>/<dataset>`
    /// (required for a file; taken from a proof URL).
    #[arg(long)]
    pub origin: Option<String>,
    /// The requested entry (required for a file unless --any-seq; taken from a proof URL).
    #[arg(long)]
    pub seq: Option<u64>,
    /// Accept the bundle of any entry of the origin.
    #[arg(long = "any-seq", conflicts_with = "seq")]
    pub any_seq: bool,
    /// The server's base URL, for the consistency check (and --tofu) of a bundle from a file.
    #[arg(long, value_name = "BASE")]
    pub server: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub anchor: AnchorArgs,
}

/// The anchor trust of steps 7 and 8, the client's RPC endpoint and the finality policy.
#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// Pinned anchor chain id (give all of --chain-id, --contract, --code-hash, --anchorer, or
    /// none to use the trust file's anchor trust for --prefix).
    #[arg(long = "chain-id", value_name = "N")]
    pub chain_id: Option<u64>,
    /// Pinned anchor contract, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub contract: Option<String>,
    /// Pinned keccak256 of the contract's runtime code, 0x and 64 hex digits.
    #[arg(long = "code-hash", value_name = "0xHASH")]
    pub code_hash: Option<String>,
    /// Pinned anchoring account, 0x and 40 hex digits.
    #[arg(long, value_name = "ADDRESS")]
    pub anchorer: Option<String>,
    /// Your own EVM JSON-RPC endpoint for step 8 [default: $CIVICPROOF_RPC_URL]; never taken
    /// from the server or the bundle.
    #[arg(long, value_name = "URL", env = "CIVICPROOF_RPC_URL")]
    pub rpc: Option<String>,
    /// Which block counts as final: `finalized` (where the chain has no such tag: 64 blocks
    /// deep, 2 on chain 31337) or a number of confirmations [default: the trust file's, else
    /// finalized].
    #[arg(long, value_name = "finalized|N", value_parser = parse_finality)]
    pub finality: Option<Finality>,
    /// Fail when the bundle has no anchor or step 8 cannot run (the default once anchor trust
    /// is pinned).
    #[arg(long = "require-anchor", conflicts_with = "no_require_anchor")]
    pub require_anchor: bool,
    /// Accept a bundle without an anchor, or without step 8, even with anchor trust pinned.
    #[arg(long = "no-require-anchor")]
    pub no_require_anchor: bool,
}

impl AnchorArgs {
    /// `Some(true)`, `Some(false)`, or `None` for the default.
    pub fn require(&self) -> Option<bool> {
        match (self.require_anchor, self.no_require_anchor) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

fn parse_finality(s: &str) -> Result<Finality, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The server's base URL, e.g. `https://data.katowice.example`.
    #[arg(long, value_name = "BASE", conflicts_with = "proof_file")]
    pub server: Option<String>,
    /// The dataset, `<institution>/<dataset>`; its origin is `<prefix>/<institution>/<dataset>`.
    #[arg(long, value_name = "INST/DS")]
    pub dataset: String,
    /// The smaller tree size (at least 1).
    #[arg(long)]
    pub first: Option<u64>,
    /// The larger tree size.
    #[arg(long)]
    pub second: Option<u64>,
    /// Offline: the signed checkpoint note of the first size.
    #[arg(long = "first-note", value_name = "FILE", requires = "proof_file")]
    pub first_note: Option<PathBuf>,
    /// Offline: the signed checkpoint note of the second size.
    #[arg(long = "second-note", value_name = "FILE", requires = "proof_file")]
    pub second_note: Option<PathBuf>,
    /// Offline: a saved consistency response (JSON), or lowercase hex hashes one a line.
    #[arg(long = "proof-file", value_name = "FILE")]
    pub proof_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flat_form_and_subcommands_parse() {
        let cli = Cli::try_parse_from(["v", "b.json", "--origin", "p/a/b", "--prefix", "p"]);
        let cli = cli.unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.bundle.source.as_deref(), Some("b.json"));
        let cli = Cli::try_parse_from(["v", "bundle", "http://x/", "--tofu", "--json"]).unwrap();
        let Some(Command::Bundle(b)) = cli.command else {
            panic!("not bundle")
        };
        assert!(b.common.tofu && b.common.json);
        assert!(Cli::try_parse_from(["v", "bundle", "f", "--seq", "1", "--any-seq"]).is_err());
        assert!(Cli::try_parse_from(["v", "bundle", "f", "--tofu", "--public-key", "k"]).is_err());
        assert!(Cli::try_parse_from(["v", "--pin"]).is_err());
    }
}
