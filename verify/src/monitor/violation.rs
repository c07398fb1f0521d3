//! What the monitor reports: violations (the server or the chain broke a promise) and errors
//! (the check could not run; retried when following).

use crate::chain::RpcError;

/// A broken promise, with the evidence to show for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The endpoint serves another chain than the pinned one.
    #[error("the RPC endpoint's chain id {endpoint} is not the pinned {pinned}")]
    ChainId {
        /// `eth_chainId`.
        endpoint: u64,
        /// The pinned chain id.
        pinned: u64,
    },
    /// The contract's runtime code is not the pinned code.
    #[error("the contract's code hash {actual} is not the pinned {pinned}")]
    CodeHash {
        /// keccak256 of the code.
        actual: String,
        /// The pinned one.
        pinned: String,
    },
    /// The anchoring account's events skip or repeat a seq.
    #[error(
        "missing batch on chain: expected an Anchored event for seq {expected}, found seq {found}"
    )]
    ChainGap {
        /// The next seq.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// An event's prevRoot is not the previous batch's root.
    #[error("rewritten history on chain: batch {seq} has prevRoot {prev_root}, not the root of batch {} ({expected})", seq.wrapping_sub(1))]
    ChainPrevRoot {
        /// The batch.
        seq: u64,
        /// Its event's prevRoot.
        prev_root: String,
        /// The previous root.
        expected: String,
    },
    /// `rootOf(anchorer, seq)` at the final block is not the event's root.
    #[error(
        "rootOf(anchorer, {seq}) at block {block} is {actual}, but the Anchored event says {event}"
    )]
    RootOf {
        /// The batch.
        seq: u64,
        /// The final block.
        block: u64,
        /// The contract state.
        actual: String,
        /// The event's root.
        event: String,
    },
    /// `nextSeq(anchorer)` at the final block disagrees with the events seen.
    #[error(
        "nextSeq(anchorer) at block {block} is {next_seq}, but {seen} Anchored events were found"
    )]
    NextSeq {
        /// The final block.
        block: u64,
        /// The contract state.
        next_seq: u64,
        /// Events seen.
        seen: u64,
    },
    /// The server does not serve an anchored batch.
    #[error("missing batch: batch {seq} is anchored on chain, but the server answers 404 for it")]
    MissingBatch {
        /// The batch.
        seq: u64,
    },
    /// The server's answer cannot be checked.
    #[error("unverifiable answer: {what}: {reason}")]
    Unverifiable {
        /// What was asked.
        what: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// A served batch field differs from the chain (or from the pinned trust).
    #[error("batch {seq}: the server says {field} is {served}, the chain says {chain}")]
    BatchField {
        /// The batch.
        seq: u64,
        /// The field.
        field: &'static str,
        /// The server's value.
        served: String,
        /// The chain's (or pinned) value.
        chain: String,
    },
    /// The served leaf hashes are not as many as the chain's count.
    #[error("batch {seq}: the server lists {served} leaf hashes, the chain counts {chain}")]
    LeafCount {
        /// The batch.
        seq: u64,
        /// Listed.
        served: u64,
        /// On chain.
        chain: u64,
    },
    /// The served leaf hashes do not rebuild the on-chain root: the batch was rewritten.
    #[error(
        "rewritten history: batch {seq}'s served leaf hashes rebuild root {rebuilt}, the chain holds {chain}"
    )]
    BatchRoot {
        /// The batch.
        seq: u64,
        /// RFC 6962 root of the served leaves.
        rebuilt: String,
        /// The on-chain root.
        chain: String,
    },
    /// A visible member's note is not a checkpoint signed under the pinned key.
    #[error("batch {seq} member {index}: {reason}")]
    MemberNote {
        /// The batch.
        seq: u64,
        /// The member's position.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A visible member's origin is not under the pinned prefix.
    #[error("batch {seq} member {index}: origin {origin} is not under the pinned prefix")]
    MemberOrigin {
        /// The batch.
        seq: u64,
        /// The member's position.
        index: usize,
        /// Its origin.
        origin: String,
    },
    /// Visible origins are not in strictly increasing bytewise order.
    #[error("batch {seq} member {index}: origin {origin} does not come after {previous}")]
    MemberOrder {
        /// The batch.
        seq: u64,
        /// The member's position.
        index: usize,
        /// Its origin.
        origin: String,
        /// The previous visible origin.
        previous: String,
    },
    /// A size-0 checkpoint in a batch.
    #[error("batch {seq} member {index}: {origin} has a size-0 checkpoint, which never qualifies")]
    MemberEmpty {
        /// The batch.
        seq: u64,
        /// The member's position.
        index: usize,
        /// Its origin.
        origin: String,
    },
    /// A visible member's leaf hash is not `SHA-256(0x00 || note text)`.
    #[error(
        "batch {seq} member {index}: leaf_hash is not SHA-256(0x00 || note text) of its checkpoint"
    )]
    MemberLeaf {
        /// The batch.
        seq: u64,
        /// The member's position.
        index: usize,
    },
    /// Two different signed roots for one size of one origin.
    #[error("split view: {origin} has root {first} and root {second} for size {size}")]
    SplitView {
        /// The origin.
        origin: String,
        /// The size.
        size: u64,
        /// The earlier root (hex) and where it was seen.
        first: String,
        /// The other root (hex) and where it was seen.
        second: String,
        /// The two notes.
        evidence: Vec<(String, String)>,
    },
    /// An origin's anchored checkpoint got smaller, or stayed the same size, in a later batch.
    #[error(
        "rewritten history: {origin} was anchored at size {earlier} in batch {earlier_batch} and at size {later} in batch {later_batch}"
    )]
    NotGrown {
        /// The origin.
        origin: String,
        /// The earlier size.
        earlier: u64,
        /// Its batch.
        earlier_batch: u64,
        /// The later size.
        later: u64,
        /// Its batch.
        later_batch: u64,
    },
    /// The consistency proof between two anchored checkpoints of an origin fails.
    #[error(
        "rewritten history: {origin} {first} → {second} (batches {first_batch} → {second_batch}): {reason}"
    )]
    Inconsistent {
        /// The origin.
        origin: String,
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
        /// The earlier batch.
        first_batch: u64,
        /// The later batch.
        second_batch: u64,
        /// Why.
        reason: String,
        /// The notes involved.
        evidence: Vec<(String, String)>,
    },
    /// A log's tiles rebuild another root than its signed checkpoint's.
    #[error(
        "{origin}: the tiles rebuild root {rebuilt} for size {size}, the signed checkpoint says {signed}"
    )]
    TileRoot {
        /// The origin.
        origin: String,
        /// The size.
        size: u64,
        /// The root from the tiles (hex).
        rebuilt: String,
        /// The signed root (hex).
        signed: String,
        /// The signed note.
        evidence: Vec<(String, String)>,
    },
    /// The tiles do not prove a newer checkpoint consistent with the one verified before.
    #[error("rewritten history: {origin} {first} → {second} over tiles: {reason}")]
    TileInconsistent {
        /// The origin.
        origin: String,
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
        /// Why.
        reason: String,
        /// The two notes.
        evidence: Vec<(String, String)>,
    },
    /// An entry in an entry bundle does not hash to the leaf hash in the level-0 tile.
    #[error("{origin}: entry {seq} in its entry bundle does not hash to the tree's leaf {seq}")]
    TileEntry {
        /// The origin.
        origin: String,
        /// The entry's seq.
        seq: u64,
    },
    /// A checkpoint anchored on chain is not one of the history followed over tiles.
    #[error(
        "{origin}: the checkpoint of size {anchored} anchored in batch {batch_seq} is not in the history followed over tiles (size {followed}): {reason}"
    )]
    AnchorMismatch {
        /// The origin.
        origin: String,
        /// The batch.
        batch_seq: u64,
        /// The anchored size.
        anchored: u64,
        /// The followed size.
        followed: u64,
        /// Why.
        reason: String,
        /// The two notes.
        evidence: Vec<(String, String)>,
    },
}

impl Violation {
    /// The notes that show the violation, as (label, note) pairs.
    pub fn evidence(&self) -> &[(String, String)] {
        match self {
            Violation::SplitView { evidence, .. }
            | Violation::Inconsistent { evidence, .. }
            | Violation::TileRoot { evidence, .. }
            | Violation::TileInconsistent { evidence, .. }
            | Violation::AnchorMismatch { evidence, .. } => evidence,
            _ => &[],
        }
    }
}

/// Why the monitor stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// A broken promise.
    #[error("VIOLATION: {0}")]
    Violation(Violation),
    /// The RPC endpoint failed or answered nonsense; nothing is concluded.
    #[error("RPC error: {0}")]
    Rpc(String),
    /// The server could not be reached or failed (not 200, not 404); nothing is concluded.
    #[error("server error: {0}")]
    Server(String),
}

impl From<Violation> for MonitorError {
    fn from(v: Violation) -> Self {
        MonitorError::Violation(v)
    }
}

impl From<RpcError> for MonitorError {
    fn from(e: RpcError) -> Self {
        MonitorError::Rpc(e.to_string())
    }
}
