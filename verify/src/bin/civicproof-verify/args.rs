//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Usage synopsis:
  civicproof-verify bundle <URL> (--prefix P [--public-key K [--pin]] | --tofu) [--json]
      URL = <base>/v1/datasets/{inst}/{ds}/records/{seq}/proof[?tree_size=N]: the expected origin
      is P/{inst}/{ds} and the expected seq is {seq}, both from the URL.
  civicproof-verify bundle <FILE|-> --origin O (--seq N | --any-seq) --prefix P [--public-key K]
      [--server BASE] [--json]
  civicproof-verify consistency --server BASE --dataset INST/DS --first M --second N --prefix P
  civicproof-verify consistency --dataset INST/DS --proof-file FILE [--first-note F --second-note F]
      --prefix P      (offline; FILE is a saved consistency response, or hex hashes one a line
                       together with both note files)
  civicproof-verify [FILE] --origin O ...   (the flat form: same as `bundle`)

Trust: the log key for --prefix comes from --public-key or from the trust file, a JSON map keyed
by instance prefix (never by URL):
  {\"<prefix>\": {\"log_public_key\": \"<base64>\", \"checkpoints\": {\"<origin>\": \"<note>\"}}}
Its path: --trust-file, else $CIVICPROOF_TRUST_FILE, else $XDG_CONFIG_HOME/civicproof/trust.json,
else ~/.config/civicproof/trust.json. --pin stores a --public-key there; --tofu fetches
<server>/.well-known/civicproof.json and pins its key on first use (loudly; verify the key out of
band). A pinned key is never replaced: a different key is refused.

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
