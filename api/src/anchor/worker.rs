//! The anchoring worker: a persisted state machine per batch, `pending` (persisted with its
//! signed transaction, maybe not sent) → `submitted` (sent; maybe mined, maybe reorged out) →
//! `confirmed` (its block is final). Every step re-reads the chain, so a crash anywhere resumes
//! correctly: a pending batch is sent (again), a submitted one is re-broadcast unchanged until
//! its event appears, and an event found at a different transaction (an earlier fee level
//! re-included) is adopted. Nothing is ever re-numbered, so no seq is skipped or anchored twice.
//!
//! Exactly one process anchors: the worker holds a PostgreSQL session advisory lock on a
//! dedicated connection. When the chain disagrees with the database (a seq or root it never
//! made, confirmed anchors missing, the account's nonce used by something else), the worker
//! halts with an alert (`anchor_halted` = 1, a row in `anchor_halts`) until an operator runs
//! `civicproof anchor resume`.
//!
//! A node's reads are not atomic: its account nonce can move before its log index shows the
//! block that moved it. So a disagreement seen once is only a suspicion. Before suspecting a
//! used nonce, the worker reads the receipt of every transaction the batch was ever sent as
//! (fee bumps included) and the logs up to `latest` again; where the evidence is chain state
//! it must hold at the final block; and it halts only when the same evidence is read again
//! in [`HALT_AFTER_SIGHTINGS`] rounds over at least [`HALT_AFTER`]. The halt reason quotes
//! the evidence (transactions, blocks, values).

use super::batch;
use super::chain::{self, AnchoredLog, Chain, Fees, SendOutcome};
use super::settings::AnchorSettings;
use super::setup::Anchoring;
use crate::metrics::Metrics;
use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::BlockId;
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{B256, TxKind};
use anyhow::{Context, anyhow};
use chrono::Utc;
use civicproof_schema::Conn;
use civicproof_schema::queries::anchors::{self as q, BatchRow, MemberRow, NewBatch, status};
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many batches in flight (sent, not yet final).
const MAX_IN_FLIGHT: usize = 8;
/// A disagreement halts anchoring only once read this many times in a row…
pub const HALT_AFTER_SIGHTINGS: u32 = 3;
/// …over at least this long.
pub const HALT_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AnchorMetrics {
    pub batches: IntCounterVec,
    pub failures: IntCounter,
    pub gas_used: Histogram,
    pub lag_seconds: Gauge,
    pub halted: IntGauge,
    pub in_flight: IntGauge,
    pub suspicions: IntCounter,
}

impl AnchorMetrics {
    pub fn register(metrics: &Metrics) -> anyhow::Result<Self> {
        let m = Self {
            batches: IntCounterVec::new(
                Opts::new(
                    "anchor_batches_total",
                    "Anchor batches by event: created, confirmed, adopted (mined at an earlier fee level), reorged, fee_bumped",
                ),
                &["event"],
            )?,
            failures: IntCounter::new(
                "anchor_failures_total",
                "Anchoring rounds that failed (chain unreachable or erroring); retried with backoff",
            )?,
            gas_used: Histogram::with_opts(
                HistogramOpts::new(
                    "anchor_gas_used",
                    "Gas used per confirmed anchor transaction",
                )
                .buckets(vec![40e3, 50e3, 55e3, 60e3, 70e3, 80e3, 100e3, 120e3]),
            )?,
            lag_seconds: Gauge::new(
                "anchor_lag_seconds",
                "Age of the oldest batch not yet confirmed (0 when all are final)",
            )?,
            halted: IntGauge::new(
                "anchor_halted",
                "1 when anchoring halted because the chain disagrees with the database (alert)",
            )?,
            in_flight: IntGauge::new("anchor_in_flight", "Batches persisted but not yet final")?,
            suspicions: IntCounter::new(
                "anchor_suspicions_total",
                "Reads where the chain seemed to disagree with the database; halting needs the same evidence read again",
            )?,
        };
        metrics.register(Box::new(m.batches.clone()))?;
        metrics.register(Box::new(m.failures.clone()))?;
        metrics.register(Box::new(m.gas_used.clone()))?;
        metrics.register(Box::new(m.lag_seconds.clone()))?;
        metrics.register(Box::new(m.halted.clone()))?;
        metrics.register(Box::new(m.in_flight.clone()))?;
        metrics.register(Box::new(m.suspicions.clone()))?;
        Ok(m)
    }
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The chain disagrees with the database: stop until an operator acts.
    #[error("anchoring halted: {0}")]
    Halted(String),
    /// The chain seemed to disagree: read it again next round before believing it.
    #[error("checking: {0}")]
    Suspect(String),
    /// The chain or database could not be reached; retried with backoff.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

struct Worker {
    /// The worker's own connection is opened from this URL, outside the pool: the session
    /// advisory lock lives and dies with it, and never goes back to a pool.
    database_url: String,
    prefix: String,
    interval: Duration,
    /// How long a transaction may wait for inclusion before each fee bump.
    bump_after: Duration,
    a: Arc<Anchoring>,
    /// Holds the advisory lock for as long as it lives.
    conn: Option<Conn>,
    chain: Option<Chain>,
    /// The chain's code was checked since (re)connecting.
    code_checked: bool,
    last_batch: Option<Instant>,
    /// Evidence of a disagreement read in earlier rounds, not yet believed.
    suspicion: Option<Suspicion>,
}

/// A disagreement read once or more: `key` names what disagrees (so that different
/// evidence starts afresh), `evidence` says it with transactions, blocks and values.
#[derive(Debug)]
struct Suspicion {
    key: String,
    evidence: String,
    sightings: u32,
    first: Instant,
}

/// What the worker needs of the configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker opens its own connection (it holds the anchoring lock).
    pub database_url: String,
    pub origin_prefix: String,
    pub settings: AnchorSettings,
}

/// Runs until `shutdown` fires.
pub async fn run(
    config: WorkerConfig,
    anchoring: Arc<Anchoring>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(config.settings.interval_ms.max(100));
    let tick = interval.min(Duration::from_millis(500));
    let chain = anchoring.chain.lock().expect("chain lock").take();
    let mut w = Worker {
        database_url: config.database_url.clone(),
        prefix: config.origin_prefix.clone(),
        interval,
        bump_after: Duration::from_secs(config.settings.fee_bump_secs.max(1)),
        code_checked: false,
        a: anchoring,
        conn: None,
        chain,
        last_batch: None,
        suspicion: None,
    };
    let mut backoff = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick + backoff) => {}
            _ = shutdown.changed() => return,
        }
        match w.round().await {
            Ok(()) => backoff = Duration::ZERO,
            Err(RoundError::Halted(reason)) => {
                w.a.metrics.halted.set(1);
                w.a.set_health(format!("halted: {reason}"));
                backoff = Duration::from_secs(5);
            }
            Err(RoundError::Suspect(evidence)) => {
                w.a.set_health(format!("checking: {evidence}"));
                backoff = Duration::ZERO;
            }
            Err(RoundError::Transient(e)) => {
                w.a.metrics.failures.inc();
                tracing::warn!(error = %format!("{e:#}"), "anchoring round failed; retrying");
                w.a.set_health("unreachable");
                // A failed call may have left either connection broken: start both afresh.
                w.chain = None;
                w.code_checked = false;
                backoff = (backoff * 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
            }
        }
    }
}

impl Worker {
    async fn round(&mut self) -> Result<(), RoundError> {
        if !self.db(q::try_worker_lock).await? {
            self.conn = None;
            self.a.set_health("standby: another process anchors");
            return Ok(());
        }
        if let Some(reason) = self.db(q::active_halt).await? {
            return Err(RoundError::Halted(reason));
        }
        self.a.metrics.halted.set(0);
        let chain = self.connect().await?;
        let open = self.db(q::unconfirmed).await?;
        for b in &open {
            self.advance(&chain, b).await?;
        }
        let open = self.db(q::unconfirmed).await?;
        self.a.metrics.in_flight.set(open.len() as i64);
        let lag = open.first().map_or(0.0, |b| {
            (Utc::now() - b.created_at).num_milliseconds() as f64 / 1e3
        });
        self.a.metrics.lag_seconds.set(lag);
        self.maybe_new_batch(&chain, &open).await?;
        // A whole round without a disagreement: whatever was suspected did not persist.
        if let Some(s) = self.suspicion.take() {
            tracing::info!(evidence = %s.evidence, "the suspected disagreement did not persist");
        }
        self.a.set_health("up");
        Ok(())
    }

    /// The chain client, connecting (and checking the contract's code) when needed.
    async fn connect(&mut self) -> Result<Chain, RoundError> {
        if self.chain.is_none() {
            let confirmations = self.a.confirmations;
            let chain = Chain::connect(&self.a.rpc_url, Some(self.a.chain_id), |id| {
                super::settings::AnchorSettings {
                    confirmations,
                    ..Default::default()
                }
                .confirmations_for(id)
            })
            .await?;
            self.chain = Some(chain);
        }
        let chain = self.chain.clone().expect("connected");
        if !self.code_checked {
            let (hash, len) = chain.code_hash(self.a.contract).await?;
            if len == 0 || hash != self.a.code_hash {
                return self
                    .suspect("code", format!(
                        "the anchor contract {} has {} on chain {} (a fresh or different chain?)",
                        super::setup::hex_address(self.a.contract),
                        if len == 0 {
                            "no code".to_owned()
                        } else {
                            format!("code hash {hash}")
                        },
                        self.a.chain_id
                    ))
                    .await;
            }
            self.code_checked = true;
        }
        Ok(chain)
    }

    /// Moves one unconfirmed batch forward as far as the chain allows.
    async fn advance(&mut self, chain: &Chain, b: &BatchRow) -> Result<(), RoundError> {
        let (contract, anchorer) = (self.a.contract, self.a.anchorer);
        let seq = b.batch_seq;
        if b.status == status::PENDING {
            chain.send_raw(&b.raw_tx).await?;
            self.db(move |c| q::mark_submitted(c, seq)).await?;
        }
        // The nonce first, then the logs: a transaction mined before the nonce read is
        // normally in the logs read after it (but see `find_by_receipts`).
        let mined_nonce = chain.mined_nonce(anchorer).await?;
        let log = chain
            .anchored_log(contract, anchorer, seq as u64, b.search_from as u64)
            .await?;
        let log = match log {
            Some(log) => log,
            None => match self.find_by_receipts(chain, b).await? {
                Some(log) => log,
                None => return self.not_in_chain(chain, b, mined_nonce).await,
            },
        };
        if log.root.as_slice() != b.root.as_slice()
            || i64::from(log.count) != i64::from(b.size)
            || log.prev_root.as_slice() != b.prev_root.as_slice()
        {
            return self
                .suspect(
                    format!("root:{seq}"),
                    format!(
                        "the chain holds batch {seq} as root {} count {} prevRoot {} (transaction \
                         {}, block {} {}), but this database made root {} count {} prevRoot {}",
                        log.root,
                        log.count,
                        log.prev_root,
                        log.tx_hash,
                        log.block_number,
                        log.block_hash,
                        B256::from_slice(&b.root),
                        b.size,
                        B256::from_slice(&b.prev_root)
                    ),
                )
                .await;
        }
        let Some((block_hash, block_time)) = chain.block(log.block_number).await? else {
            return Ok(());
        };
        if block_hash != log.block_hash {
            return Ok(()); // the chain moved between two reads: look again next round
        }
        let gas = chain
            .receipt(log.tx_hash)
            .await?
            .map_or(0, |(_, gas, _)| gas as i64);
        let final_block = chain.final_block().await?;
        if log.block_number > final_block {
            let hash = block_hash.to_vec();
            let number = log.block_number as i64;
            self.db(move |c| {
                q::set_inclusion(c, seq, Some((number, &hash, block_time as i64, gas)))
            })
            .await?;
            return Ok(());
        }
        // Final: the root must be readable at the finalized block itself.
        let at_final = chain
            .root_of(contract, anchorer, seq as u64, BlockId::number(final_block))
            .await?;
        if at_final.as_slice() != b.root.as_slice() {
            return Ok(());
        }
        if log.tx_hash.as_slice() != b.tx_hash.as_slice() {
            self.a.metrics.batches.with_label_values(&["adopted"]).inc();
        }
        let (tx, hash) = (log.tx_hash.to_vec(), block_hash.to_vec());
        let number = log.block_number as i64;
        self.db(move |c| q::mark_confirmed(c, seq, &tx, number, &hash, block_time as i64, gas))
            .await?;
        self.a
            .metrics
            .batches
            .with_label_values(&["confirmed"])
            .inc();
        self.a.metrics.gas_used.observe(gas as f64);
        tracing::info!(batch_seq = seq, block = number, gas, "anchor confirmed");
        Ok(())
    }

    /// The batch's event read from the receipts of every transaction it was ever sent as
    /// (the log index can lag behind the node's state). A transaction mined without the
    /// event is evidence once its block is final: the contract refused it.
    async fn find_by_receipts(
        &mut self,
        chain: &Chain,
        b: &BatchRow,
    ) -> Result<Option<AnchoredLog>, RoundError> {
        let (contract, anchorer, seq) = (self.a.contract, self.a.anchorer, b.batch_seq);
        for hash in self.sent_as(b).await? {
            let Some(mined) = chain.mined_tx(hash, contract, anchorer, seq as u64).await? else {
                continue;
            };
            if let Some(log) = mined.anchored {
                return Ok(Some(log));
            }
            let final_block = chain.final_block().await?;
            if mined.block_number > final_block {
                return Err(RoundError::Suspect(format!(
                    "the anchor transaction {hash} of batch {seq} was mined without an Anchored \
                     event in block {}, not final yet",
                    mined.block_number
                )));
            }
            return self
                .suspect(
                    format!("reverted:{seq}"),
                    format!(
                        "the anchor transaction {hash} of batch {seq} was mined in block {} ({}) \
                         with status {} and no Anchored event, and that block is final (finalized \
                         block {final_block}): the contract refused it (nextSeq or prevRoot \
                         disagree with this database)",
                        mined.block_number,
                        mined.block_hash,
                        u8::from(mined.ok)
                    ),
                )
                .await;
        }
        Ok(None)
    }

    /// Every transaction hash the batch was sent as, oldest first.
    async fn sent_as(&mut self, b: &BatchRow) -> Result<Vec<B256>, RoundError> {
        let seq = b.batch_seq;
        let mut hashes: Vec<B256> = self
            .db(move |c| q::tx_hashes(c, seq))
            .await?
            .iter()
            .map(|h| B256::from_slice(h))
            .collect();
        let current = B256::from_slice(&b.tx_hash);
        if !hashes.contains(&current) {
            hashes.push(current);
        }
        Ok(hashes)
    }

    /// Neither the logs nor the receipts show the batch's event: it was dropped by a reorg,
    /// is still waiting in a mempool, or its nonce went to another transaction. Only the
    /// last halts, and only when the nonce is used at the final block.
    async fn not_in_chain(
        &mut self,
        chain: &Chain,
        b: &BatchRow,
        mined_nonce: u64,
    ) -> Result<(), RoundError> {
        let (contract, anchorer, seq) = (self.a.contract, self.a.anchorer, b.batch_seq);
        if b.block_number.is_some() {
            // It was in a block and is not any more: a reorg dropped it.
            self.a.metrics.batches.with_label_values(&["reorged"]).inc();
            tracing::warn!(
                batch_seq = seq,
                "anchor dropped by a reorg; re-sending unchanged"
            );
            self.db(move |c| q::set_inclusion(c, seq, None)).await?;
        }
        if mined_nonce <= b.nonce as u64 {
            return self.rebroadcast(chain, b).await;
        }
        let final_block = chain.final_block().await?;
        let at_final = chain.nonce_at(anchorer, final_block).await?;
        if at_final <= b.nonce as u64 {
            // The nonce is used only above the final block: a reorg may still undo that.
            return self.rebroadcast(chain, b).await;
        }
        // Used for good: read the logs once more, now up to the head, before suspecting.
        let head = chain.head().await?;
        if chain
            .anchored_log(contract, anchorer, seq as u64, b.search_from as u64)
            .await?
            .is_some()
        {
            return Err(RoundError::Suspect(format!(
                "batch {seq}'s event appeared on a second read; taking it next round"
            )));
        }
        let hashes = self
            .sent_as(b)
            .await?
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.suspect(
            format!("nonce:{seq}"),
            format!(
                "the anchoring account's nonce {} is used at the final block {final_block} (its \
                 nonce there is {at_final}), yet none of batch {seq}'s transactions ({hashes}) \
                 has a receipt and no Anchored event of seq {seq} appears from block {} to the \
                 head {head}: another transaction took the nonce",
                b.nonce, b.search_from
            ),
        )
        .await
    }

    /// Re-sends the batch's transaction unchanged (a no-op when the node has it), or replaces
    /// it at the same nonce with higher fees once it has waited too long.
    async fn rebroadcast(&mut self, chain: &Chain, b: &BatchRow) -> Result<(), RoundError> {
        let waited = b.submitted_at.map_or(Duration::ZERO, |t| {
            (Utc::now() - t).to_std().unwrap_or_default()
        });
        let due = self.bump_after * (b.fee_bumps as u32 + 1);
        if waited < due {
            chain.send_raw(&b.raw_tx).await?;
            return Ok(());
        }
        let old = fees_of(&b.raw_tx)?;
        let now = chain.fees().await?;
        let fees = higher(old.bumped(), now);
        let signed = chain::sign(
            &self.a.key.signer,
            self.a.chain_id,
            b.nonce as u64,
            fees,
            chain::ANCHOR_GAS_LIMIT,
            TxKind::Call(self.a.contract),
            chain::anchor_calldata(
                b.batch_seq as u64,
                B256::from_slice(&b.root),
                b.size as u32,
                B256::from_slice(&b.prev_root),
            ),
        )?;
        let (seq, raw, hash) = (b.batch_seq, signed.raw.clone(), signed.hash.to_vec());
        self.db(move |c| q::replace_tx(c, seq, &raw, &hash, true))
            .await?;
        self.a
            .metrics
            .batches
            .with_label_values(&["fee_bumped"])
            .inc();
        tracing::info!(
            batch_seq = seq,
            "anchor transaction replaced with higher fees"
        );
        match chain.send_raw(&signed.raw).await? {
            SendOutcome::Accepted | SendOutcome::AlreadyKnown => Ok(()),
        }
    }

    /// Builds, persists and sends the next batch when the interval has passed and any
    /// origin grew.
    async fn maybe_new_batch(
        &mut self,
        chain: &Chain,
        open: &[BatchRow],
    ) -> Result<(), RoundError> {
        if open.len() >= MAX_IN_FLIGHT {
            return Ok(());
        }
        // Not due yet by this process's own clock: no database read at all.
        if self.last_batch.is_some_and(|t| t.elapsed() < self.interval) {
            return Ok(());
        }
        let last = self.db(q::last_batch).await?;
        // After a restart, the newest batch's age decides.
        if self.last_batch.is_none()
            && let Some(l) = &last
            && (Utc::now() - l.created_at).to_std().unwrap_or_default() < self.interval
        {
            return Ok(());
        }
        let prefix = self.prefix.clone();
        let Some(planned) = batch::plan(&prefix, self.db(q::candidates).await?)? else {
            return Ok(());
        };
        self.check_agreement(chain, open, last.as_ref()).await?;
        let (seq, prev_root, nonce) = match &last {
            Some(l) => (
                l.batch_seq + 1,
                B256::from_slice(&l.root),
                l.nonce as u64 + 1,
            ),
            None => (0, B256::ZERO, chain.mined_nonce(self.a.anchorer).await?),
        };
        let root = B256::from(planned.root);
        let count = planned.members.len() as u32;
        let fees = chain.fees().await?;
        let head = chain.head().await?;
        let signed = chain::sign(
            &self.a.key.signer,
            self.a.chain_id,
            nonce,
            fees,
            chain::ANCHOR_GAS_LIMIT,
            TxKind::Call(self.a.contract),
            chain::anchor_calldata(seq as u64, root, count, prev_root),
        )?;
        let row = NewBatch {
            batch_seq: seq,
            root: root.to_vec(),
            prev_root: prev_root.to_vec(),
            size: count as i32,
            nonce: nonce as i64,
            status: status::PENDING,
            raw_tx: signed.raw.clone(),
            tx_hash: signed.hash.to_vec(),
            search_from: head as i64,
        };
        let members: Vec<MemberRow> = planned
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberRow {
                batch_seq: seq,
                idx: i as i32,
                dataset_id: m.dataset_id,
                size: m.size,
                leaf_hash: m.leaf.to_vec(),
            })
            .collect();
        // Persisted before anything is sent: from here on seq, root and nonce are fixed.
        self.db(move |c| q::insert_batch(c, &row, &members)).await?;
        self.last_batch = Some(Instant::now());
        self.a.metrics.batches.with_label_values(&["created"]).inc();
        tracing::info!(
            batch_seq = seq,
            members = count,
            nonce,
            "anchor batch persisted"
        );
        chain.send_raw(&signed.raw).await?;
        self.db(move |c| q::mark_submitted(c, seq)).await?;
        Ok(())
    }

    /// The chain's `nextSeq` and the newest confirmed root must match what this database
    /// made; anything else halts anchoring.
    async fn check_agreement(
        &mut self,
        chain: &Chain,
        open: &[BatchRow],
        last: Option<&BatchRow>,
    ) -> Result<(), RoundError> {
        let (contract, anchorer) = (self.a.contract, self.a.anchorer);
        let next = chain
            .next_seq(contract, anchorer, BlockId::latest())
            .await? as i64;
        let made = last.map_or(0, |l| l.batch_seq + 1);
        let confirmed = open.first().map_or(made, |b| b.batch_seq);
        if next > made {
            return self
                .suspect(
                    "next-seq",
                    format!(
                        "the chain's nextSeq is {next} at the head but this database made only \
                         {made} batches"
                    ),
                )
                .await;
        }
        if next < confirmed {
            return self
                .suspect(
                    "next-seq",
                    format!(
                        "the chain's nextSeq is {next} at the head but batches up to {} were \
                         confirmed: a reorg deeper than the finality policy ({}) undid \
                         confirmed anchors, or the chain was replaced",
                        confirmed - 1,
                        describe(self.a.finality())
                    ),
                )
                .await;
        }
        if confirmed > 0 {
            let seq = confirmed - 1;
            let Some(row) = self.db(move |c| q::batch(c, seq)).await? else {
                return Err(anyhow!("batch {seq} vanished").into());
            };
            let on_chain = chain
                .root_of(contract, anchorer, seq as u64, BlockId::latest())
                .await?;
            if on_chain.as_slice() != row.root.as_slice() {
                return self
                    .suspect(
                        format!("root:{seq}"),
                        format!(
                            "the chain's rootOf batch {seq} is {on_chain} at the head, not {} \
                             (confirmed in transaction {} block {})",
                            B256::from_slice(&row.root),
                            B256::from_slice(&row.tx_hash),
                            row.block_number.unwrap_or_default()
                        ),
                    )
                    .await;
            }
        }
        Ok(())
    }

    /// Records a sighting of a disagreement; halts when the same evidence was read
    /// [`HALT_AFTER_SIGHTINGS`] times over [`HALT_AFTER`], else ends the round to read the
    /// chain again.
    async fn suspect<T>(
        &mut self,
        key: impl Into<String>,
        evidence: String,
    ) -> Result<T, RoundError> {
        let key = key.into();
        let s = match self.suspicion.take() {
            Some(mut s) if s.key == key => {
                s.sightings += 1;
                s.evidence = evidence;
                s
            }
            _ => Suspicion {
                key,
                evidence,
                sightings: 1,
                first: Instant::now(),
            },
        };
        self.a.metrics.suspicions.inc();
        if s.sightings >= HALT_AFTER_SIGHTINGS && s.first.elapsed() >= HALT_AFTER {
            let reason = format!(
                "{} (read {} times over {} s)",
                s.evidence,
                s.sightings,
                s.first.elapsed().as_secs()
            );
            return self.halt(reason).await;
        }
        tracing::warn!(
            evidence = %s.evidence,
            sightings = s.sightings,
            "the chain seems to disagree with the database; reading it again before halting"
        );
        let evidence = s.evidence.clone();
        self.suspicion = Some(s);
        Err(RoundError::Suspect(evidence))
    }

    async fn halt<T>(&mut self, reason: String) -> Result<T, RoundError> {
        tracing::error!(reason = %reason, "ALERT: anchoring halted");
        let r = reason.clone();
        self.db(move |c| q::halt(c, &r)).await?;
        Err(RoundError::Halted(reason))
    }

    /// Runs `f` on the dedicated (lock-holding) connection, off the async executor. A failed
    /// query closes the connection, and with it the session and its advisory lock (a pooled
    /// connection would have gone back to the pool still holding the lock, and every
    /// replica, this one included, would have stood by), so the lock is taken afresh on
    /// the next round.
    async fn db<T, F>(&mut self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut Conn) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let url = self.database_url.clone();
        let conn = self.conn.take();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(c) => c,
                None => match civicproof_schema::establish(&url)
                    .map_err(|e| anyhow!("database: {e}"))
                    .and_then(|mut c| {
                        q::name_worker_session(&mut c).map_err(|e| anyhow!("database: {e}"))?;
                        Ok(c)
                    }) {
                    Ok(c) => c,
                    Err(e) => return (None, Err(e)),
                },
            };
            match f(&mut conn) {
                Ok(v) => (Some(conn), Ok(v)),
                Err(e) => (None, Err(anyhow!("database: {e}"))),
            }
        })
        .await
        .context("database task")?;
        self.conn = conn;
        result
    }
}

fn describe(f: super::chain::Finality) -> String {
    match f {
        super::chain::Finality::Finalized => "the chain's finalized tag".into(),
        super::chain::Finality::Confirmations(k) => format!("{k} confirmations"),
    }
}

/// The fees a signed transaction offers.
fn fees_of(raw: &[u8]) -> anyhow::Result<Fees> {
    let tx = TxEnvelope::decode_2718(&mut &raw[..]).context("stored transaction")?;
    Ok(match tx.max_priority_fee_per_gas() {
        Some(priority) => Fees::Eip1559 {
            max_fee: tx.max_fee_per_gas(),
            priority,
        },
        None => Fees::Legacy {
            gas_price: tx.gas_price().unwrap_or_else(|| tx.max_fee_per_gas()),
        },
    })
}

/// The larger of two fee levels of the same kind (field by field).
fn higher(a: Fees, b: Fees) -> Fees {
    match (a, b) {
        (
            Fees::Eip1559 { max_fee, priority },
            Fees::Eip1559 {
                max_fee: m2,
                priority: p2,
            },
        ) => Fees::Eip1559 {
            max_fee: max_fee.max(m2),
            priority: priority.max(p2),
        },
        (Fees::Legacy { gas_price }, Fees::Legacy { gas_price: g2 }) => Fees::Legacy {
            gas_price: gas_price.max(g2),
        },
        (a, _) => a,
    }
}
