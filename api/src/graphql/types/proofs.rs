//! Checkpoints, proof bundles and anchors.

use crate::error::{ApiError, ApiResult};
use crate::graphql::types::enums::AnchorStatus;
use crate::graphql::types::scalars::Seq;
use async_graphql::{Object, SimpleObject};
use civicproof_verify::checkpoint::Checkpoint as CheckpointText;

/// A signed checkpoint (PROOFS.md section 3): the log `origin` had `size` entries with
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
/// (PROOFS.md sections 4 and 5). Anchoring is not built yet, so no anchor exists.
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
}

/// A proof bundle (PROOFS.md section 5), exactly as REST serves it, with typed fields.
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

    /// The anchor dating this checkpoint; always null until anchoring exists.
    async fn anchor(&self) -> Option<Anchor> {
        None
    }
}
