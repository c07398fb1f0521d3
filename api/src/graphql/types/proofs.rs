//! Checkpoints, proof bundles and anchors.

use crate::error::{ApiError, ApiResult};
use crate::graphql::types::enums::AnchorStatus;
use crate::graphql::types::scalars::Seq;
use async_graphql::{Object, SimpleObject};
use civicproof_verify::checkpoint::Checkpoint as CheckpointText;

/// A signed checkpoint (PROTOCOL.md section 4): the log `origin` had `size` entries with
/// Merkle root `rootHash`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Checkpoint {
    /// The log's origin (also the signing key name).
    pub origin: String,
    /// The tree size: entries covered.
    pub size: Seq,
    /// The RFC 6962 root, hex (the note carries it in base64).
    pub root_hash: String,
    /// The complete C2SP signed note, as `GET …/checkpoint` serves it.
    pub note: String,
}

impl Checkpoint {
    /// Parses a stored signed note (its text part is the checkpoint).
    pub fn from_note(note: &str) -> ApiResult<Self> {
        let parsed = civicproof_verify::note::parse(note.as_bytes())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored checkpoint note: {e}")))?;
        let cp = CheckpointText::parse_text(&parsed.text)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored checkpoint text: {e}")))?;
        Ok(Self {
            origin: cp.origin,
            size: Seq(cp.size),
            root_hash: hex::encode(cp.root),
            note: note.to_owned(),
        })
    }
}

/// An anchor: a batch of checkpoints whose Merkle root was written to an EVM chain
/// (PROTOCOL.md sections 5 and 6). Transaction and block fields are null until the batch is
/// confirmed, except `txHash`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Anchor {
    pub batch_seq: Seq,
    /// Hex root over the batch's members.
    pub batch_root: String,
    pub batch_size: Seq,
    /// The position of the checkpoint this anchor proves, when it proves one.
    pub batch_index: Option<Seq>,
    /// Hex path from that checkpoint to `batchRoot`, when it proves one.
    pub batch_path: Option<Vec<String>>,
    /// Hex root of the previous batch; 64 zeros for batch 0.
    pub prev_root: String,
    pub chain_id: Seq,
    pub contract: String,
    pub anchorer: String,
    pub tx_hash: Option<String>,
    pub block_number: Option<Seq>,
    pub block_hash: Option<String>,
    /// Unix seconds.
    pub block_time: Option<Seq>,
    pub status: AnchorStatus,
    /// The batch's checkpoints in batch order (empty when this anchor comes from a bundle).
    pub members: Vec<AnchorMember>,
}

/// One checkpoint of an anchor batch.
#[derive(SimpleObject, Debug, Clone)]
pub struct AnchorMember {
    /// Hex `SHA-256(0x00 || note text)`.
    pub leaf_hash: String,
    /// The signed note; null where the caller may not see the dataset.
    pub checkpoint: Option<String>,
}

impl Anchor {
    /// From the REST shape (`/v1/anchors/{batch_seq}`).
    pub fn from_batch(b: crate::services::anchors::AnchorBatch) -> Self {
        Self {
            batch_seq: Seq(b.batch_seq),
            batch_root: b.batch_root,
            batch_size: Seq(b.batch_size),
            batch_index: None,
            batch_path: None,
            prev_root: b.prev_root,
            chain_id: Seq(b.chain_id),
            contract: b.contract,
            anchorer: b.anchorer,
            tx_hash: Some(b.tx_hash),
            block_number: b.block_number.map(Seq),
            block_hash: b.block_hash,
            block_time: b.block_time.map(Seq),
            status: match b.status.as_str() {
                "confirmed" => AnchorStatus::Confirmed,
                "submitted" => AnchorStatus::Submitted,
                _ => AnchorStatus::Pending,
            },
            members: b
                .members
                .into_iter()
                .map(|m| AnchorMember {
                    leaf_hash: m.leaf_hash,
                    checkpoint: m.checkpoint,
                })
                .collect(),
        }
    }

    /// From a bundle's `anchor` section (always confirmed).
    fn from_bundle(v: &serde_json::Value) -> Option<Self> {
        let a: civicproof_verify::bundle::Anchor = serde_json::from_value(v.clone()).ok()?;
        Some(Self {
            batch_seq: Seq(a.batch_seq),
            batch_root: a.batch_root,
            batch_size: Seq(a.batch_size),
            batch_index: Some(Seq(a.batch_index)),
            batch_path: Some(a.batch_path),
            prev_root: a.prev_root,
            chain_id: Seq(a.chain_id),
            contract: a.contract,
            anchorer: a.anchorer,
            tx_hash: Some(a.tx_hash),
            block_number: Some(Seq(a.block_number)),
            block_hash: Some(a.block_hash),
            block_time: Some(Seq(a.block_time)),
            status: AnchorStatus::Confirmed,
            members: Vec::new(),
        })
    }
}

/// A proof bundle (PROTOCOL.md section 6), exactly as REST serves it, with typed fields.
pub struct ProofBundle {
    pub raw: serde_json::Value,
}

/// The erasure entry's proof carried by an erased record's bundle.
#[derive(SimpleObject, Debug, Clone)]
pub struct ErasureProof {
    /// The erasure entry's envelope.
    pub envelope: serde_json::Value,
    /// Hex inclusion path of the erasure entry in the same checkpoint.
    pub path: Vec<String>,
}

fn hex_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[Object]
impl ProofBundle {
    /// The whole bundle: the JSON that `GET …/records/{seq}/proof` serves, to hand to any
    /// verifier as is.
    async fn raw(&self) -> &serde_json::Value {
        &self.raw
    }

    /// `civicproof/bundle/v1`.
    async fn format(&self) -> Option<&str> {
        self.raw["format"].as_str()
    }

    /// The size of the tree the inclusion path is for.
    async fn tree_size(&self) -> Seq {
        Seq(self.raw["inclusion"]["tree_size"].as_u64().unwrap_or(0))
    }

    /// Hex hashes from the leaf's sibling upwards (RFC 9162 section 2.1.3).
    async fn path(&self) -> Vec<String> {
        hex_list(&self.raw["inclusion"]["path"])
    }

    /// The signed checkpoint the path leads to.
    async fn checkpoint(&self) -> async_graphql::Result<Checkpoint> {
        let note = self.raw["checkpoint"].as_str().unwrap_or("");
        Ok(Checkpoint::from_note(note)?)
    }

    async fn leaf_hash(&self) -> Option<&str> {
        self.raw["leaf_hash"].as_str()
    }

    /// For an erased record: the erasure entry and its path in the same checkpoint.
    async fn erasure(&self) -> Option<ErasureProof> {
        let e = self.raw.get("erasure").filter(|e| !e.is_null())?;
        Some(ErasureProof {
            envelope: e["envelope"].clone(),
            path: hex_list(&e["path"]),
        })
    }

    /// The confirmed anchor dating this checkpoint, with this checkpoint's batch index and
    /// path; null while the checkpoint is not in a confirmed batch.
    async fn anchor(&self) -> Option<Anchor> {
        self.raw.get("anchor").and_then(Anchor::from_bundle)
    }
}
