//! Anchoring configuration (API.md, "Operating the binary"). Without an RPC URL the instance
//! does not anchor and every bundle says `anchor: null`.

use clap::Args;
use std::path::PathBuf;

#[derive(Clone, Args)]
pub struct AnchorSettings {
    /// EVM JSON-RPC endpoint; unset: no anchoring.
    #[arg(long = "chain-rpc-url", env = "CIVICPROOF_CHAIN_RPC_URL")]
    pub rpc_url: Option<String>,

    /// Expected chain id, checked at start; default: read from the endpoint.
    #[arg(long = "chain-id", env = "CIVICPROOF_CHAIN_ID")]
    pub chain_id: Option<u64>,

    /// Anchor contract address; unset: deploy at first start if `--anchor-deploy`, else refuse.
    #[arg(long = "anchor-contract", env = "CIVICPROOF_ANCHOR_CONTRACT")]
    pub contract: Option<String>,

    /// Deploy the anchor contract on the first start (never again once one is recorded).
    #[arg(
        long = "anchor-deploy",
        env = "CIVICPROOF_ANCHOR_DEPLOY",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub deploy: bool,

    /// File holding the anchoring account's private key (hex); preferred over the variable.
    #[arg(long = "anchor-key-file", env = "CIVICPROOF_ANCHOR_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// The anchoring account's private key (hex). Never logged.
    #[arg(
        long = "anchor-key",
        env = "CIVICPROOF_ANCHOR_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,

    /// Batch interval in milliseconds.
    #[arg(
        long = "anchor-interval-ms",
        env = "CIVICPROOF_ANCHOR_INTERVAL_MS",
        default_value_t = 30_000
    )]
    pub interval_ms: u64,

    /// Seconds an anchor transaction may wait for inclusion before it is replaced at the same
    /// nonce with 25% higher fees (and as long again before each further bump).
    #[arg(
        long = "anchor-fee-bump-secs",
        env = "CIVICPROOF_ANCHOR_FEE_BUMP_SECS",
        default_value_t = 60
    )]
    pub fee_bump_secs: u64,

    /// Depth that counts as confirmed where the chain has no `finalized` tag; default 2 on
    /// chain 31337, else 64.
    #[arg(long = "anchor-confirmations", env = "CIVICPROOF_ANCHOR_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
}

/// The defaults of the flags above (anchoring off).
impl Default for AnchorSettings {
    fn default() -> Self {
        Self {
            rpc_url: None,
            chain_id: None,
            contract: None,
            deploy: false,
            key_file: None,
            key: None,
            interval_ms: 30_000,
            fee_bump_secs: 60,
            confirmations: None,
        }
    }
}

impl AnchorSettings {
    pub fn enabled(&self) -> bool {
        self.rpc_url.is_some()
    }

    /// The confirmation depth for a chain without a `finalized` tag.
    pub fn confirmations_for(&self, chain_id: u64) -> u64 {
        self.confirmations
            .unwrap_or(if chain_id == 31337 { 2 } else { 64 })
            .max(1)
    }
}

/// Never shows the key.
impl std::fmt::Debug for AnchorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorSettings")
            .field("chain_id", &self.chain_id)
            .field("contract", &self.contract)
            .field("deploy", &self.deploy)
            .field("key_file", &self.key_file)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("interval_ms", &self.interval_ms)
            .field("fee_bump_secs", &self.fee_bump_secs)
            .field("confirmations", &self.confirmations)
            .finish_non_exhaustive()
    }
}
