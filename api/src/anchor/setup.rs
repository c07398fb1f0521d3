//! Start-up: the anchoring identity (chain id, contract, anchoring account) is recorded on the
//! first start (deploying the contract when asked) and must be the same on every later start
//! (PROTOCOL.md section 4.4, "Fixed identity"). Differences are fatal and name the setting.

use super::chain::{self, Chain, Finality};
use super::contract::ARTIFACT_CODE;
use super::keys::AnchorKey;
use super::settings::AnchorSettings;
use super::worker::AnchorMetrics;
use crate::metrics::Metrics;
use alloy::primitives::{Address, B256, TxKind};
use anyhow::{Context, bail};
use civicproof_schema::Pool;
use civicproof_schema::queries::anchors::{self as q, AnchorIdentity};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Gas limit of the deployment (the contract is about 1 KB of runtime code).
const DEPLOY_GAS_LIMIT: u64 = 1_000_000;

/// Everything the worker, routes and bundles need to know about anchoring.
pub struct Anchoring {
    pub chain_id: u64,
    pub contract: Address,
    pub code_hash: B256,
    pub anchorer: Address,
    pub finality: Mutex<Finality>,
    pub key: AnchorKey,
    /// The client connected at start, if the chain answered then.
    pub chain: Mutex<Option<Chain>>,
    pub metrics: AnchorMetrics,
    /// The endpoint, for reconnecting (never shown: it may carry an API key).
    pub rpc_url: String,
    /// `CIVICPROOF_ANCHOR_CONFIRMATIONS`, for reconnecting.
    pub confirmations: Option<u64>,
    /// Batch paths of confirmed (immutable) batches by (batch seq, member index).
    pub paths: crate::cache::TtlCache<(i64, i32), Arc<Vec<civicproof_verify::merkle::Hash>>>,
    /// What `/readyz` reports: "up", "unreachable" or "halted: …".
    pub health: Mutex<String>,
}

impl std::fmt::Debug for Anchoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Anchoring(chain {}, contract {})",
            self.chain_id, self.contract
        )
    }
}

impl Anchoring {
    pub fn finality(&self) -> Finality {
        *self.finality.lock().expect("finality lock")
    }

    pub fn health(&self) -> String {
        self.health.lock().expect("health lock").clone()
    }

    pub fn set_health(&self, text: impl Into<String>) {
        *self.health.lock().expect("health lock") = text.into();
    }

    /// The `anchor` object of `/.well-known/civicproof.json`.
    pub fn well_known(&self) -> serde_json::Value {
        serde_json::json!({
            "chain_id": self.chain_id,
            "contract": hex_address(self.contract),
            "contract_code_hash": format!("0x{}", hex::encode(self.code_hash)),
            "anchorer": hex_address(self.anchorer),
            "finality": self.finality().to_json(),
        })
    }
}

fn paths_cache() -> crate::cache::TtlCache<(i64, i32), Arc<Vec<civicproof_verify::merkle::Hash>>> {
    crate::cache::TtlCache::new(Duration::from_secs(3600), 100_000)
}

/// `0x` + 40 lowercase hex digits, as bundles and `/.well-known` write addresses.
pub fn hex_address(a: Address) -> String {
    format!("0x{}", hex::encode(a))
}

/// Anchoring, when configured (`None` otherwise); fatal on an identity mismatch.
pub async fn attach(
    pool: &Pool,
    settings: &AnchorSettings,
    origin_prefix: &str,
    metrics: &Metrics,
) -> anyhow::Result<Option<Arc<Anchoring>>> {
    let settings = settings.clone();
    let pool = pool.clone();
    let recorded = blocking(&pool, q::identity).await?;
    if !settings.enabled() {
        if let Some(r) = recorded {
            bail!(
                "this instance anchors on chain {} (contract {}): set CIVICPROOF_CHAIN_RPC_URL",
                r.chain_id,
                hex_address(Address::from_slice(&r.contract))
            );
        }
        return Ok(None);
    }
    let metrics = AnchorMetrics::register(metrics)?;
    let url = settings.rpc_url.clone().unwrap_or_default();
    let chain = connect(&url, &settings, recorded.is_some()).await;
    let chain_id = match (&recorded, &chain) {
        (Some(r), _) => Some(r.chain_id as u64),
        (None, Ok(c)) => Some(c.chain_id),
        (None, Err(_)) => None,
    };
    if let Some(id) = chain_id {
        check_prefix(origin_prefix, id)?;
    }
    let anchoring = match recorded {
        Some(r) => from_recorded(r, &settings, chain, metrics)?,
        None => {
            let chain = chain.context(
                "anchoring is configured but the chain is unreachable on the first start, so its \
                 identity cannot be recorded (CIVICPROOF_CHAIN_RPC_URL)",
            )?;
            first_start(&pool, &settings, chain, metrics).await?
        }
    };
    let depth = match anchoring.finality() {
        Finality::Finalized => None,
        Finality::Confirmations(k) => Some(k as i64),
    };
    blocking(&pool, move |c| q::set_finality(c, depth)).await?;
    tracing::info!(
        chain_id = anchoring.chain_id,
        contract = %anchoring.contract,
        anchorer = %anchoring.anchorer,
        "anchoring enabled"
    );
    Ok(Some(Arc::new(anchoring)))
}

/// PROTOCOL.md section 1: the default prefix `localhost` names no instance anyone can find,
/// so it is refused unless the anchor chain is anvil's 31337 (development).
fn check_prefix(prefix: &str, chain_id: u64) -> anyhow::Result<()> {
    let host = prefix.split(['/', ':']).next().unwrap_or_default();
    if host == "localhost" && chain_id != 31337 {
        bail!(
            "CIVICPROOF_ORIGIN_PREFIX is {prefix:?}, but `localhost` is refused when anchoring on \
             chain {chain_id} (only anvil's 31337 allows it): set the instance's public name, \
             e.g. data.city.example"
        );
    }
    Ok(())
}

/// Connects, retrying briefly; a later start tolerates an unreachable chain (the worker keeps
/// retrying), the first start does not.
async fn connect(url: &str, s: &AnchorSettings, tolerate: bool) -> anyhow::Result<Chain> {
    let mut last = None;
    for attempt in 0..5 {
        match Chain::connect(url, s.chain_id, |id| s.confirmations_for(id)).await {
            Ok(c) => return Ok(c),
            Err(e) if e.to_string().contains("CIVICPROOF_CHAIN_ID") => return Err(e),
            Err(e) => last = Some(e),
        }
        if tolerate {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
    }
    Err(last.expect("at least one attempt"))
}

fn from_recorded(
    r: AnchorIdentity,
    s: &AnchorSettings,
    chain: anyhow::Result<Chain>,
    metrics: AnchorMetrics,
) -> anyhow::Result<Anchoring> {
    let chain_id = r.chain_id as u64;
    let contract = Address::from_slice(&r.contract);
    let anchorer = Address::from_slice(&r.anchorer);
    if let Some(want) = s.chain_id
        && want != chain_id
    {
        bail!("CIVICPROOF_CHAIN_ID is {want} but this instance anchors on chain {chain_id}");
    }
    if let Some(c) = &s.contract {
        let configured: Address = c
            .parse()
            .context("CIVICPROOF_ANCHOR_CONTRACT is not an address")?;
        if configured != contract {
            bail!(
                "CIVICPROOF_ANCHOR_CONTRACT is {} but this instance anchors with {}",
                hex_address(configured),
                hex_address(contract)
            );
        }
    }
    let key = AnchorKey::load(s, chain_id)?;
    if key.address() != anchorer {
        bail!(
            "the anchoring key (CIVICPROOF_ANCHOR_KEY_FILE / CIVICPROOF_ANCHOR_KEY) is for {} but this \
             instance anchors from {}: restore the original key",
            hex_address(key.address()),
            hex_address(anchorer)
        );
    }
    let (chain, health) = match chain {
        Ok(c) if c.chain_id != chain_id => bail!(
            "CIVICPROOF_CHAIN_RPC_URL serves chain {} but this instance anchors on chain {chain_id}",
            c.chain_id
        ),
        Ok(c) => (Some(c), "up"),
        Err(e) => {
            tracing::warn!(error = %e, "chain unreachable at start; anchoring will retry");
            (None, "unreachable")
        }
    };
    let finality = match (&chain, r.finality_depth) {
        (Some(c), _) => c.finality,
        (None, Some(k)) => Finality::Confirmations(k as u64),
        (None, None) => Finality::Finalized,
    };
    Ok(Anchoring {
        chain_id,
        contract,
        code_hash: B256::from_slice(&r.code_hash),
        anchorer,
        finality: Mutex::new(finality),
        key,
        chain: Mutex::new(chain),
        metrics,
        rpc_url: s.rpc_url.clone().unwrap_or_default(),
        confirmations: s.confirmations,
        paths: paths_cache(),
        health: Mutex::new(health.into()),
    })
}

async fn first_start(
    pool: &Pool,
    s: &AnchorSettings,
    chain: Chain,
    metrics: AnchorMetrics,
) -> anyhow::Result<Anchoring> {
    let key = AnchorKey::load(s, chain.chain_id)?;
    let anchorer = key.address();
    let want = ARTIFACT_CODE.code_hash;
    let (contract, deploy_tx) = match (&s.contract, s.deploy) {
        (Some(c), _) => {
            let contract: Address = c
                .parse()
                .context("CIVICPROOF_ANCHOR_CONTRACT is not an address")?;
            (contract, None)
        }
        (None, true) => {
            let (contract, tx) = deploy(&chain, &key).await?;
            tracing::info!(%contract, %tx, "anchor contract deployed");
            (contract, Some(tx))
        }
        (None, false) => bail!(
            "anchoring is configured but no contract is: set CIVICPROOF_ANCHOR_CONTRACT, or \
             CIVICPROOF_ANCHOR_DEPLOY=1 to deploy one on this first start"
        ),
    };
    let (code_hash, len) = chain.code_hash(contract).await?;
    if len == 0 {
        bail!(
            "CIVICPROOF_ANCHOR_CONTRACT {} has no code on chain {}",
            hex_address(contract),
            chain.chain_id
        );
    }
    if code_hash != want {
        bail!(
            "the code at CIVICPROOF_ANCHOR_CONTRACT {} (keccak256 {code_hash}) is not the civicproof \
             anchor contract (expected {want})",
            hex_address(contract)
        );
    }
    let identity = AnchorIdentity {
        chain_id: chain.chain_id as i64,
        contract: contract.to_vec(),
        code_hash: code_hash.to_vec(),
        anchorer: anchorer.to_vec(),
        deploy_tx: deploy_tx.map(|t| t.to_vec()),
        finality_depth: None,
    };
    let mine = identity.clone();
    let stored = blocking(pool, move |c| q::record_identity(c, &mine)).await?;
    if (stored.chain_id, &stored.contract, &stored.anchorer)
        != (identity.chain_id, &identity.contract, &identity.anchorer)
    {
        bail!(
            "another server process recorded a different anchoring identity at the same time; restart"
        );
    }
    Ok(Anchoring {
        chain_id: chain.chain_id,
        contract,
        code_hash,
        anchorer,
        finality: Mutex::new(chain.finality),
        key,
        chain: Mutex::new(Some(chain)),
        metrics,
        rpc_url: s.rpc_url.clone().unwrap_or_default(),
        confirmations: s.confirmations,
        paths: paths_cache(),
        health: Mutex::new("up".into()),
    })
}

/// Deploys the committed artifact from the anchoring account and waits for it to be mined.
async fn deploy(chain: &Chain, key: &AnchorKey) -> anyhow::Result<(Address, B256)> {
    let nonce = chain.mined_nonce(key.address()).await?;
    let fees = chain.fees().await?;
    let tx = chain::sign(
        &key.signer,
        chain.chain_id,
        nonce,
        fees,
        DEPLOY_GAS_LIMIT,
        TxKind::Create,
        ARTIFACT_CODE.bytecode.to_vec(),
    )?;
    chain.send_raw(&tx.raw).await?;
    chain.wait_mined(tx.hash, Duration::from_secs(120)).await?;
    Ok((key.address().create(nonce), tx.hash))
}

/// Runs a query on a pooled connection off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    pool: &Pool,
    f: impl FnOnce(&mut civicproof_schema::Conn) -> diesel::QueryResult<T> + Send + 'static,
) -> anyhow::Result<T> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        Ok(f(&mut conn)?)
    })
    .await?
}

#[cfg(test)]
mod tests {
    #[test]
    fn localhost_is_refused_off_anvil_only() {
        for prefix in ["localhost", "localhost:8080", "localhost/city"] {
            assert!(super::check_prefix(prefix, 31337).is_ok(), "{prefix}");
            let err = super::check_prefix(prefix, 1).unwrap_err().to_string();
            assert!(err.contains("refused"), "{prefix}: {err}");
        }
        for prefix in ["data.city.example", "localhost.example", "a.localhost"] {
            assert!(super::check_prefix(prefix, 1).is_ok(), "{prefix}");
        }
    }
}
