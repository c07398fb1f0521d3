//! The operator's commands, run against the database (and the chain) directly:
//! - `civicproof anchor status`: the identity, the batches in flight, the active halt with
//!   its evidence, and the halts before it;
//! - `civicproof anchor resume`: reads the chain again ([`audit`]) and clears the active halt
//!   only when the chain and the database agree, recording who cleared it and what the chain
//!   showed. The running worker sees the cleared halt on its next round.

use super::chain::Chain;
use super::settings::AnchorSettings;
use super::setup::{blocking, hex_address};
use alloy::eips::BlockId;
use alloy::primitives::{Address, B256};
use anyhow::Context;
use civicproof_schema::Conn;
use civicproof_schema::queries::anchors::{self as q, AnchorIdentity, BatchRow};
use serde_json::{Value, json};

/// What `anchor status` shows, as JSON (the text form is rendered from it).
pub fn status(conn: &mut Conn) -> anyhow::Result<Value> {
    let Some(id) = q::identity(conn)? else {
        return Ok(json!({ "anchoring": false }));
    };
    let last = q::last_batch(conn)?;
    let open = q::unconfirmed(conn)?;
    let halts = q::halts(conn, 5)?;
    let active = halts.iter().find(|h| h.cleared_at.is_none());
    Ok(json!({
        "anchoring": true,
        "chain_id": id.chain_id,
        "contract": hex_address(Address::from_slice(&id.contract)),
        "anchorer": hex_address(Address::from_slice(&id.anchorer)),
        "batches": last.as_ref().map_or(0, |l| l.batch_seq + 1),
        "confirmed_through": open
            .first()
            .map_or(last.as_ref().map(|l| l.batch_seq), |b| (b.batch_seq > 0).then_some(b.batch_seq - 1)),
        "in_flight": open.iter().map(|b| json!({
            "batch_seq": b.batch_seq,
            "status": b.status,
            "nonce": b.nonce,
            "tx_hash": format!("{}", B256::from_slice(&b.tx_hash)),
            "fee_bumps": b.fee_bumps,
            "created_at": b.created_at,
        })).collect::<Vec<_>>(),
        "halted": active.is_some(),
        "halt": active.map(|h| json!({"reason": h.reason, "since": h.halted_at})),
        "recent_halts": halts.iter().map(|h| json!({
            "reason": h.reason,
            "halted_at": h.halted_at,
            "cleared_at": h.cleared_at,
            "cleared_by": h.cleared_by,
            "clear_evidence": h.clear_evidence,
        })).collect::<Vec<_>>(),
    }))
}

/// `status` for a terminal.
pub fn status_text(s: &Value) -> String {
    if s["anchoring"] != true {
        return "this instance does not anchor (no anchoring identity is recorded)\n".into();
    }
    let mut out = format!(
        "chain {}  contract {}  anchorer {}\nbatches {}  confirmed through {}\n",
        s["chain_id"],
        str_of(&s["contract"]),
        str_of(&s["anchorer"]),
        s["batches"],
        match &s["confirmed_through"] {
            Value::Null => "none".into(),
            v => v.to_string(),
        }
    );
    for b in s["in_flight"].as_array().into_iter().flatten() {
        out += &format!(
            "  batch {} {} nonce {} tx {} fee bumps {}\n",
            b["batch_seq"],
            str_of(&b["status"]),
            b["nonce"],
            str_of(&b["tx_hash"]),
            b["fee_bumps"]
        );
    }
    match &s["halt"] {
        Value::Null => out += "state: running (no active halt)\n",
        h => {
            out += &format!(
                "state: HALTED since {}\n  reason: {}\n  after checking the chain: civicproof anchor resume\n",
                str_of(&h["since"]),
                str_of(&h["reason"])
            );
        }
    }
    for h in s["recent_halts"].as_array().into_iter().flatten() {
        if h["cleared_at"].is_null() {
            continue;
        }
        out += &format!(
            "earlier halt {} – cleared {} by {}: {}\n",
            str_of(&h["halted_at"]),
            str_of(&h["cleared_at"]),
            str_of(&h["cleared_by"]),
            str_of(&h["reason"])
        );
    }
    out
}

fn str_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// How `anchor resume` ended.
#[derive(Debug)]
pub enum Resumed {
    /// Nothing was halted.
    NotHalted,
    /// The halt was cleared; the evidence that the chain agrees.
    Cleared { reason: String, evidence: String },
    /// The chain still disagrees: the halt stays.
    Refused {
        reason: String,
        disagreement: String,
    },
}

/// Re-checks the chain and clears the active halt when it agrees with the database.
pub async fn resume(
    pool: &civicproof_schema::Pool,
    settings: &AnchorSettings,
    by: &str,
) -> anyhow::Result<Resumed> {
    let (identity, halt, batches, open) = blocking(pool, |c| {
        let id = q::identity(c)?;
        let halt = q::active_halt(c)?;
        let last = q::last_batch(c)?;
        let confirmed = q::unconfirmed(c)?;
        let mut open = Vec::new();
        for b in confirmed {
            let hashes = q::tx_hashes(c, b.batch_seq)?;
            open.push((b, hashes));
        }
        let newest_confirmed = match (&last, open.first()) {
            (_, Some((b, _))) if b.batch_seq > 0 => q::batch(c, b.batch_seq - 1)?,
            (_, Some(_)) => None,
            (Some(l), None) => Some(l.clone()),
            (None, None) => None,
        };
        Ok((id, halt, (last, newest_confirmed), open))
    })
    .await?;
    let Some(reason) = halt else {
        return Ok(Resumed::NotHalted);
    };
    let identity = identity.context("a halt is recorded but no anchoring identity")?;
    let url = settings
        .rpc_url
        .as_deref()
        .context("set CIVICPROOF_CHAIN_RPC_URL: resuming reads the chain first")?;
    let chain = Chain::connect(url, Some(identity.chain_id as u64), |id| {
        settings.confirmations_for(id)
    })
    .await?;
    match audit(
        &chain,
        &identity,
        batches.0.as_ref(),
        batches.1.as_ref(),
        &open,
    )
    .await?
    {
        Ok(evidence) => {
            let (by, ev) = (by.to_owned(), evidence.clone());
            let cleared = blocking(pool, move |c| q::clear_halt(c, &by, &ev)).await?;
            tracing::warn!(halt = %reason, evidence = %evidence, "anchoring halt cleared by an operator");
            Ok(match cleared {
                Some(h) => Resumed::Cleared {
                    reason: h.reason,
                    evidence,
                },
                None => Resumed::NotHalted,
            })
        }
        Err(disagreement) => {
            tracing::error!(halt = %reason, %disagreement, "resume refused: the chain still disagrees");
            Ok(Resumed::Refused {
                reason,
                disagreement,
            })
        }
    }
}

/// Reads the chain against the database: the contract's code at the head; `nextSeq` between
/// the confirmed and the made batches; the newest confirmed root at the final block; and an
/// `Anchored` event (in the logs or in a receipt of one of its transactions) for every
/// unconfirmed batch whose nonce the final block has used. `Ok(Ok(evidence))` when all
/// agree, `Ok(Err(disagreement))` when one does not; `Err` when the chain cannot be read.
pub async fn audit(
    chain: &Chain,
    id: &AnchorIdentity,
    last: Option<&BatchRow>,
    newest_confirmed: Option<&BatchRow>,
    open: &[(BatchRow, Vec<Vec<u8>>)],
) -> anyhow::Result<Result<String, String>> {
    let contract = Address::from_slice(&id.contract);
    let anchorer = Address::from_slice(&id.anchorer);
    let (code, len) = chain.code_hash(contract).await?;
    if len == 0 || code.as_slice() != id.code_hash.as_slice() {
        return Ok(Err(format!(
            "the contract {} has {} at the head of chain {}",
            hex_address(contract),
            if len == 0 {
                "no code".to_owned()
            } else {
                format!("code hash {code}")
            },
            chain.chain_id
        )));
    }
    let head = chain.head().await?;
    let final_block = chain.final_block().await?;
    let next = chain
        .next_seq(contract, anchorer, BlockId::latest())
        .await? as i64;
    let made = last.map_or(0, |l| l.batch_seq + 1);
    let confirmed = open.first().map_or(made, |(b, _)| b.batch_seq);
    if next > made || next < confirmed {
        return Ok(Err(format!(
            "the chain's nextSeq is {next} at head {head}, but this database made {made} batches \
             and confirmed {confirmed}"
        )));
    }
    let mut evidence = format!(
        "chain {} head {head} final {final_block}: contract code {code}; nextSeq {next} \
         (database: {made} made, {confirmed} confirmed)",
        chain.chain_id
    );
    if let Some(b) = newest_confirmed {
        let root = chain
            .root_of(
                contract,
                anchorer,
                b.batch_seq as u64,
                BlockId::number(final_block),
            )
            .await?;
        if root.as_slice() != b.root.as_slice() {
            return Ok(Err(format!(
                "rootOf batch {} at the final block {final_block} is {root}, but this database \
                 confirmed {}",
                b.batch_seq,
                B256::from_slice(&b.root)
            )));
        }
        evidence += &format!(
            "; rootOf batch {} at block {final_block} matches",
            b.batch_seq
        );
    }
    let used = chain.nonce_at(anchorer, final_block).await?;
    for (b, hashes) in open {
        if (b.nonce as u64) >= used {
            continue; // its nonce is still free at the final block: the worker carries on
        }
        let seq = b.batch_seq as u64;
        let mut found = chain
            .anchored_log(contract, anchorer, seq, b.search_from as u64)
            .await?;
        for h in hashes {
            if found.is_some() {
                break;
            }
            found = chain
                .mined_tx(B256::from_slice(h), contract, anchorer, seq)
                .await?
                .and_then(|m| m.anchored);
        }
        match found {
            Some(log) if log.root.as_slice() == b.root.as_slice() => {
                evidence += &format!(
                    "; batch {seq} is anchored by {} in block {}",
                    log.tx_hash, log.block_number
                );
            }
            Some(log) => {
                return Ok(Err(format!(
                    "batch {seq} is anchored by {} in block {} with root {}, but this database \
                     made {}",
                    log.tx_hash,
                    log.block_number,
                    log.root,
                    B256::from_slice(&b.root)
                )));
            }
            None => {
                return Ok(Err(format!(
                    "the anchoring account's nonce {} is used at the final block {final_block} \
                     (nonce there {used}), but no Anchored event of batch {seq} exists and none of \
                     its transactions ({}) has a receipt",
                    b.nonce,
                    hashes
                        .iter()
                        .map(|h| B256::from_slice(h).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(Ok(evidence))
}
