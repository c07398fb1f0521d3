//! The chain client: the few JSON-RPC reads and the one write the anchoring worker needs,
//! over alloy's HTTP provider with no fillers (nonces and fees are ours to fix and persist).

use super::contract::{Anchored, anchorCall, nextSeqCall, rootOfCall};
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, anyhow};
use std::time::Duration;

/// Gas limit of an anchor transaction: the call needs about 55,000 (69,000 for seq 0, which
/// pays the first storage writes). Fixed rather than estimated, because an estimate for batch
/// n+1 reverts while batch n is still in the mempool.
pub const ANCHOR_GAS_LIMIT: u64 = 120_000;

/// When a block counts as final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// The chain's `finalized` block tag.
    Finalized,
    /// `k` blocks deep: the anchor's block at or below head − (k − 1).
    Confirmations(u64),
}

impl Finality {
    /// As `/.well-known` shows it.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Finality::Finalized => serde_json::json!("finalized"),
            Finality::Confirmations(k) => serde_json::json!({ "confirmations": k }),
        }
    }
}

/// An `Anchored` event as the node reports it now (a reorg may still move or drop it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredLog {
    pub tx_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub root: B256,
    pub count: u32,
    pub prev_root: B256,
}

/// A mined transaction as its receipt shows it, with the `Anchored` event it emitted for the
/// batch asked about, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedTx {
    pub tx_hash: B256,
    pub ok: bool,
    pub block_number: u64,
    pub block_hash: B256,
    pub gas_used: u64,
    pub anchored: Option<AnchoredLog>,
}

/// Fees for a transaction: EIP-1559 where the chain has a base fee, else legacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fees {
    Eip1559 { max_fee: u128, priority: u128 },
    Legacy { gas_price: u128 },
}

impl Fees {
    /// A replacement must pay at least 10% more on both fields; we add 25%.
    pub fn bumped(self) -> Fees {
        let up = |v: u128| v.saturating_add(v / 4).max(v + 1);
        match self {
            Fees::Eip1559 { max_fee, priority } => Fees::Eip1559 {
                max_fee: up(max_fee),
                priority: up(priority),
            },
            Fees::Legacy { gas_price } => Fees::Legacy {
                gas_price: up(gas_price),
            },
        }
    }
}

/// A signed transaction ready to send, and its hash.
#[derive(Debug, Clone)]
pub struct SignedTx {
    pub raw: Vec<u8>,
    pub hash: B256,
}

/// What the node said to a raw transaction.
#[derive(Debug)]
pub enum SendOutcome {
    Accepted,
    /// The node already has it, or its nonce is used (mined, by this or an earlier version).
    AlreadyKnown,
}

#[derive(Clone)]
pub struct Chain {
    provider: RootProvider,
    pub chain_id: u64,
    pub finality: Finality,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chain({})", self.chain_id)
    }
}

impl Chain {
    /// Connects and reads the chain id (checked against `expected` when given) and whether
    /// the node knows the `finalized` tag.
    pub async fn connect(
        url: &str,
        expected: Option<u64>,
        confirmations: impl Fn(u64) -> u64,
    ) -> anyhow::Result<Self> {
        let url: url::Url = url
            .parse()
            .context("CIVICPROOF_CHAIN_RPC_URL is not a URL")?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url.as_str().parse().context("CIVICPROOF_CHAIN_RPC_URL")?)
            .root()
            .clone();
        let chain_id = timeout(provider.get_chain_id()).await?;
        if let Some(want) = expected
            && want != chain_id
        {
            anyhow::bail!("CIVICPROOF_CHAIN_ID is {want} but the endpoint serves chain {chain_id}");
        }
        let finality =
            match timeout(provider.get_block_by_number(BlockNumberOrTag::Finalized)).await {
                Ok(Some(_)) => Finality::Finalized,
                _ => Finality::Confirmations(confirmations(chain_id)),
            };
        Ok(Self {
            provider,
            chain_id,
            finality,
        })
    }

    pub async fn head(&self) -> anyhow::Result<u64> {
        timeout(self.provider.get_block_number()).await
    }

    /// F: the newest block that counts as final.
    pub async fn final_block(&self) -> anyhow::Result<u64> {
        match self.finality {
            Finality::Finalized => timeout(
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Finalized),
            )
            .await?
            .map(|b| b.header.number)
            .ok_or_else(|| anyhow!("the node has no finalized block")),
            Finality::Confirmations(k) => Ok(self.head().await?.saturating_sub(k - 1)),
        }
    }

    /// keccak256 of the code at `address` (the empty-code hash when nothing is deployed).
    pub async fn code_hash(&self, address: Address) -> anyhow::Result<(B256, usize)> {
        let code = timeout(self.provider.get_code_at(address)).await?;
        Ok((keccak256(&code), code.len()))
    }

    pub async fn next_seq(
        &self,
        contract: Address,
        anchorer: Address,
        block: BlockId,
    ) -> anyhow::Result<u64> {
        let data = nextSeqCall { anchorer }.abi_encode();
        let out = self.call(contract, data, block).await?;
        nextSeqCall::abi_decode_returns(&out).context("decoding nextSeq")
    }

    pub async fn root_of(
        &self,
        contract: Address,
        anchorer: Address,
        seq: u64,
        block: BlockId,
    ) -> anyhow::Result<B256> {
        let data = rootOfCall { anchorer, seq }.abi_encode();
        let out = self.call(contract, data, block).await?;
        rootOfCall::abi_decode_returns(&out).context("decoding rootOf")
    }

    async fn call(&self, to: Address, data: Vec<u8>, block: BlockId) -> anyhow::Result<Bytes> {
        let tx = TransactionRequest::default()
            .to(to)
            .input(Bytes::from(data).into());
        timeout(self.provider.call(tx).block(block)).await
    }

    /// The `Anchored` event of `(anchorer, seq)` the node shows now, searching from `from`.
    pub async fn anchored_log(
        &self,
        contract: Address,
        anchorer: Address,
        seq: u64,
        from: u64,
    ) -> anyhow::Result<Option<AnchoredLog>> {
        let filter = Filter::new()
            .address(contract)
            .event_signature(Anchored::SIGNATURE_HASH)
            .topic1(anchorer.into_word())
            .topic2(B256::from(U256::from(seq)))
            .from_block(from)
            .to_block(BlockNumberOrTag::Latest);
        let logs = timeout(self.provider.get_logs(&filter)).await?;
        let Some(log) = logs.into_iter().rfind(|l| !l.removed) else {
            return Ok(None);
        };
        let event = Anchored::decode_log_data(log.data()).context("decoding Anchored")?;
        Ok(Some(AnchoredLog {
            tx_hash: log
                .transaction_hash
                .context("log without transaction hash")?,
            block_number: log.block_number.context("log without block number")?,
            block_hash: log.block_hash.context("log without block hash")?,
            root: event.root,
            count: event.count,
            prev_root: event.prevRoot,
        }))
    }

    /// A block's hash and timestamp, if the node has it.
    pub async fn block(&self, number: u64) -> anyhow::Result<Option<(B256, u64)>> {
        Ok(timeout(
            self.provider
                .get_block_by_number(BlockNumberOrTag::Number(number)),
        )
        .await?
        .map(|b| (b.header.hash, b.header.timestamp)))
    }

    /// (status ok, gas used, block number) of a mined transaction.
    pub async fn receipt(&self, tx: B256) -> anyhow::Result<Option<(bool, u64, Option<u64>)>> {
        Ok(timeout(self.provider.get_transaction_receipt(tx))
            .await?
            .map(|r| (r.status(), r.gas_used, r.block_number)))
    }

    /// The receipt of `tx`, if the node has it mined, with the `Anchored(anchorer, seq)` event
    /// among its logs (the receipt is read directly: it does not depend on the node's log
    /// index being up to date).
    pub async fn mined_tx(
        &self,
        tx: B256,
        contract: Address,
        anchorer: Address,
        seq: u64,
    ) -> anyhow::Result<Option<MinedTx>> {
        let Some(r) = timeout(self.provider.get_transaction_receipt(tx)).await? else {
            return Ok(None);
        };
        let (Some(block_number), Some(block_hash)) = (r.block_number, r.block_hash) else {
            return Ok(None); // pending
        };
        let topics = [
            Anchored::SIGNATURE_HASH,
            anchorer.into_word(),
            B256::from(U256::from(seq)),
        ];
        let anchored = r
            .inner
            .logs()
            .iter()
            .find(|l| l.address() == contract && l.topics() == topics)
            .map(|l| Anchored::decode_log_data(l.data()).context("decoding Anchored"))
            .transpose()?
            .map(|event| AnchoredLog {
                tx_hash: tx,
                block_number,
                block_hash,
                root: event.root,
                count: event.count,
                prev_root: event.prevRoot,
            });
        Ok(Some(MinedTx {
            tx_hash: tx,
            ok: r.status(),
            block_number,
            block_hash,
            gas_used: r.gas_used,
            anchored,
        }))
    }

    /// Transactions of `account` mined up to and including `block`.
    pub async fn nonce_at(&self, account: Address, block: u64) -> anyhow::Result<u64> {
        timeout(
            self.provider
                .get_transaction_count(account)
                .block_id(BlockId::number(block)),
        )
        .await
    }

    /// Transactions of `account` mined so far (the next nonce at `latest`).
    pub async fn mined_nonce(&self, account: Address) -> anyhow::Result<u64> {
        timeout(self.provider.get_transaction_count(account).latest()).await
    }

    pub async fn fees(&self) -> anyhow::Result<Fees> {
        let latest = timeout(self.provider.get_block_by_number(BlockNumberOrTag::Latest))
            .await?
            .context("the node has no latest block")?;
        match latest.header.base_fee_per_gas {
            Some(base) => {
                let priority = timeout(self.provider.get_max_priority_fee_per_gas())
                    .await
                    .unwrap_or(1_000_000_000);
                Ok(Fees::Eip1559 {
                    max_fee: u128::from(base) * 2 + priority,
                    priority,
                })
            }
            None => Ok(Fees::Legacy {
                gas_price: timeout(self.provider.get_gas_price()).await?,
            }),
        }
    }

    pub async fn send_raw(&self, raw: &[u8]) -> anyhow::Result<SendOutcome> {
        match timeout(self.provider.send_raw_transaction(raw)).await {
            Ok(_) => Ok(SendOutcome::Accepted),
            Err(e) => {
                let text = format!("{e:#}").to_ascii_lowercase();
                if text.contains("already known")
                    || text.contains("nonce too low")
                    || text.contains("already imported")
                    || text.contains("known transaction")
                {
                    Ok(SendOutcome::AlreadyKnown)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Polls for the receipt of `tx` until `deadline` (deployments at startup).
    pub async fn wait_mined(&self, tx: B256, deadline: Duration) -> anyhow::Result<u64> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some((ok, _, Some(block))) = self.receipt(tx).await? {
                anyhow::ensure!(ok, "transaction {tx} reverted");
                return Ok(block);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < until,
                "transaction {tx} not mined within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Every RPC call gets a bound: a hung node must not stall the worker forever.
async fn timeout<T, E: std::fmt::Display>(
    fut: impl std::future::IntoFuture<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(Duration::from_secs(15), fut.into_future()).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(anyhow!("chain RPC: {e}")),
        Err(_) => Err(anyhow!("chain RPC: timed out")),
    }
}

/// Signs a call or deployment at a fixed nonce: EIP-1559 (type 2) or legacy with EIP-155.
pub fn sign(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    fees: Fees,
    gas_limit: u64,
    to: TxKind,
    input: Vec<u8>,
) -> anyhow::Result<SignedTx> {
    let envelope: TxEnvelope = match fees {
        Fees::Eip1559 { max_fee, priority } => {
            let mut tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: priority,
                to,
                value: U256::ZERO,
                access_list: Default::default(),
                input: input.into(),
            };
            let sig = signer.sign_transaction_sync(&mut tx)?;
            tx.into_signed(sig).into()
        }
        Fees::Legacy { gas_price } => {
            let mut tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price,
                gas_limit,
                to,
                value: U256::ZERO,
                input: input.into(),
            };
            let sig = signer.sign_transaction_sync(&mut tx)?;
            tx.into_signed(sig).into()
        }
    };
    Ok(SignedTx {
        raw: envelope.encoded_2718(),
        hash: *envelope.tx_hash(),
    })
}

/// The calldata of `anchor(seq, root, count, prevRoot)`.
pub fn anchor_calldata(seq: u64, root: B256, count: u32, prev_root: B256) -> Vec<u8> {
    anchorCall {
        seq,
        root,
        count,
        prevRoot: prev_root,
    }
    .abi_encode()
}
