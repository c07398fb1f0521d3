//! Following one log over C2SP tlog-tiles alone (PROTOCOL.md section 9), as any tlog client
//! could: the newest checkpoint, verified under the pinned key (and witness policy), then proven
//! to extend the last one verified with a consistency proof whose hashes come from the tiles.
//!
//! Tiles are untrusted: every hash read from them enters a root or a consistency proof that is
//! checked against signed roots, so a wrong tile shows as a violation, never as a false "ok".
//! The first checkpoint is checked by rebuilding its root from the tiles. With `audit_entries`
//! every entry bundle is read too, and the entries' leaf hashes themselves must rebuild every
//! signed root (a frontier of at most 64 subtree hashes carries the tree from round to round):
//! the entries are then proven, not merely compared with level-0 tiles that no root covered.
//!
//! [`TileFollower::compare_anchored`] joins this to the chain: an anchored checkpoint of the
//! same origin must be a checkpoint of the followed history (equal root at equal size, or a
//! consistency proof from it to the followed size).

use std::collections::HashMap;

use super::history::Anchored;
use super::violation::{MonitorError, Violation};
use super::watch::Server;
use crate::checkpoint;
use crate::consistency::Signed;
use crate::cosignature::{CosignatureError, WitnessPolicy};
use crate::merkle::{Hash, empty_root, leaf_hash, node_hash, verify_consistency};

/// Hashes (or entries) in a full tile.
const WIDTH: u64 = 256;
/// Full tiles kept in memory; the cache is emptied when it grows past this (about 8 MiB).
const CACHED_TILES: usize = 1024;

/// Reads tree hashes of one log from its tiles: any perfect subtree, any range, a root or a
/// consistency proof, for a tree size the caller has a signed checkpoint of.
pub struct TileReader<'a> {
    server: &'a dyn Server,
    /// The log's tlog-tiles prefix relative to the server, ending in `/`.
    prefix: String,
    full: HashMap<(u8, u64), Vec<Hash>>,
    fetched: u64,
}

impl<'a> TileReader<'a> {
    /// A reader of the tiles under `prefix` (e.g. `v1/datasets/city/air/`).
    pub fn new(server: &'a dyn Server, prefix: &str) -> TileReader<'a> {
        TileReader {
            server,
            prefix: format!("{}/", prefix.trim_end_matches('/')),
            full: HashMap::new(),
            fetched: 0,
        }
    }

    /// Tiles fetched so far.
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    fn get(&mut self, path: &str) -> Result<Vec<u8>, MonitorError> {
        let url = format!("{}{path}", self.prefix);
        let (status, body) = self.server.get(&url).map_err(MonitorError::Server)?;
        self.fetched += 1;
        if status != 200 {
            // Tiles covered by a signed checkpoint must exist, but a replica that has not seen
            // the newest checkpoint yet answers 404: retry rather than conclude.
            return Err(MonitorError::Server(format!("GET {url}: status {status}")));
        }
        Ok(body)
    }

    /// How many items of tile `index` at `level` a tree of `size` has (0 to 256).
    fn width(level: u8, index: u64, size: u64) -> u64 {
        (size >> (8 * u32::from(level)))
            .saturating_sub(index.saturating_mul(WIDTH))
            .min(WIDTH)
    }

    /// The hashes of tile `level/index` as a tree of `size` has them.
    fn tile(&mut self, level: u8, index: u64, size: u64) -> Result<Vec<Hash>, MonitorError> {
        let width = Self::width(level, index, size);
        if width == 0 {
            return Err(MonitorError::Server(format!(
                "tile {level}/{index} is not covered by size {size}"
            )));
        }
        if let Some(hit) = self.full.get(&(level, index)) {
            return Ok(hit[..width as usize].to_vec());
        }
        let path = format!("tile/{}", tile_path(level, index, width));
        let body = self.get(&path)?;
        if body.len() as u64 != width * 32 {
            return Err(Violation::Unverifiable {
                what: path,
                reason: format!("{} bytes, not {width} hashes", body.len()),
            }
            .into());
        }
        let hashes: Vec<Hash> = body
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunk"))
            .collect();
        if width == WIDTH {
            if self.full.len() >= CACHED_TILES {
                self.full.clear();
            }
            self.full.insert((level, index), hashes.clone());
        }
        Ok(hashes)
    }

    /// The root of the perfect subtree of height `height` whose leaves start at
    /// `index · 2^height`, in a tree of `size` (which must contain it).
    pub fn node(&mut self, height: u32, index: u64, size: u64) -> Result<Hash, MonitorError> {
        let level = (height / 8) as u8;
        let below = height % 8;
        let first = index << below;
        let count = 1usize << below;
        let tile = self.tile(level, first / WIDTH, size)?;
        let offset = (first % WIDTH) as usize;
        let Some(hashes) = tile.get(offset..offset + count) else {
            return Err(MonitorError::Server(format!(
                "tile {level}/{} does not reach node {height}/{index} at size {size}",
                first / WIDTH
            )));
        };
        let mut hashes = hashes.to_vec();
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
        }
        Ok(hashes[0])
    }

    /// RFC 6962's MTH of leaves `lo..hi` (non-empty) of a tree of `size`.
    pub fn range(&mut self, lo: u64, hi: u64, size: u64) -> Result<Hash, MonitorError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), lo / n, size);
        }
        // The largest power of two smaller than n (n/2 when n is one, misaligned).
        let k = if n.is_power_of_two() {
            n / 2
        } else {
            1 << (63 - n.leading_zeros())
        };
        let left = self.range(lo, lo + k, size)?;
        let right = self.range(lo + k, hi, size)?;
        Ok(node_hash(&left, &right))
    }

    /// The root of the first `size` leaves.
    pub fn root(&mut self, size: u64) -> Result<Hash, MonitorError> {
        if size == 0 {
            return Ok(empty_root());
        }
        self.range(0, size, size)
    }

    /// The RFC 6962 consistency proof from size `m` to size `n` (0 < m ≤ n), read from the
    /// tiles of the tree of size `n`.
    pub fn consistency(&mut self, m: u64, n: u64) -> Result<Vec<Hash>, MonitorError> {
        let mut ranges = Vec::new();
        subproof(m, 0, n, true, &mut ranges);
        ranges
            .into_iter()
            .map(|(lo, hi)| self.range(lo, hi, n))
            .collect()
    }

    /// The entries of entry bundle `index` as a tree of `size` has them.
    pub fn entries(&mut self, index: u64, size: u64) -> Result<Vec<Vec<u8>>, MonitorError> {
        let width = Self::width(0, index, size);
        let path = format!("tile/entries/{}", index_path(index, width));
        let body = self.get(&path)?;
        parse_entry_bundle(&body, width as usize)
            .map_err(|reason| Violation::Unverifiable { what: path, reason }.into())
    }
}

/// RFC 6962 SUBPROOF(m, D[lo:hi], b), as the ranges whose hashes form the proof.
fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = if n.is_power_of_two() {
        n / 2
    } else {
        1 << (63 - n.leading_zeros())
    };
    if m <= k {
        subproof(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// A hash tile's path after `tile/`: `<L>/<N>[.p/<W>]` with N in 3-digit groups
/// (`x001/x234/067`).
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    format!("{level}/{}", index_path(index, width))
}

/// `<N>[.p/<W>]`, the part of a tile path after its level (or `entries`).
fn index_path(index: u64, width: u64) -> String {
    let mut n = index;
    let mut path = format!("{:03}", n % 1000);
    n /= 1000;
    while n > 0 {
        path = format!("x{:03}/{path}", n % 1000);
        n /= 1000;
    }
    if width < WIDTH {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

/// An entry bundle: `count` entries, each a big-endian uint16 length and that many bytes.
fn parse_entry_bundle(body: &[u8], count: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut entries = Vec::with_capacity(count);
    let mut rest = body;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let Some(entry) = tail.get(..len) else {
            return Err(format!("entry {} is cut short", entries.len()));
        };
        entries.push(entry.to_vec());
        rest = &tail[len..];
    }
    if !rest.is_empty() || entries.len() != count {
        return Err(format!(
            "{} entries (and {} stray bytes), not {count}",
            entries.len(),
            rest.len()
        ));
    }
    Ok(entries)
}

/// What a follower pins for one log.
#[derive(Debug, Clone)]
pub struct TileLogConfig {
    /// The log's origin, `<prefix>/<institution>/<dataset>`, from the pinned prefix.
    pub origin: String,
    /// Its tlog-tiles prefix relative to the server, e.g. `v1/datasets/city/air/`.
    pub prefix: String,
    /// The pinned log public key.
    pub public_key: [u8; 32],
    /// The pinned witness policy, if any: checkpoints below it are not accepted.
    pub witnesses: Option<WitnessPolicy>,
    /// Read every entry bundle and check each entry against its leaf hash.
    pub audit_entries: bool,
}

impl TileLogConfig {
    /// Dataset `inst/ds` of the instance with origin prefix `instance_prefix` (PROTOCOL.md
    /// sections 1.2 and 9): its origin and tlog-tiles prefix, no witness policy, no audit.
    pub fn for_dataset(instance_prefix: &str, inst: &str, ds: &str, public_key: [u8; 32]) -> Self {
        TileLogConfig {
            origin: format!("{instance_prefix}/{inst}/{ds}"),
            prefix: format!("v1/datasets/{inst}/{ds}/"),
            public_key,
            witnesses: None,
            audit_entries: false,
        }
    }
}

/// One round's progress on a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowReport {
    /// The origin.
    pub origin: String,
    /// The size verified before this round, `None` on the first.
    pub from: Option<u64>,
    /// The size verified now.
    pub to: u64,
    /// The hashes in the consistency proof read from tiles (0 on the first round).
    pub proof_hashes: usize,
    /// Entries read and checked against the tiles this round.
    pub entries_checked: u64,
    /// Tiles fetched this round.
    pub tiles: u64,
    /// The pinned witnesses whose cosignatures verified.
    pub cosigned_by: Vec<String>,
}

/// An anchored checkpoint found in the followed history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorMatch {
    /// The origin.
    pub origin: String,
    /// The anchor batch.
    pub batch_seq: u64,
    /// The anchored size.
    pub anchored: u64,
    /// The followed size it was proven against.
    pub followed: u64,
}

/// Follows one log over its tiles.
#[derive(Debug, Clone)]
pub struct TileFollower {
    config: TileLogConfig,
    verified: Option<Signed>,
    /// The anchor batch last compared, so each is compared once.
    compared_batch: Option<u64>,
    /// With `audit_entries`: the tree of the audited entries so far.
    entries: Frontier,
}

/// The right edge of a tree built from the left: its perfect subtrees, largest first, as
/// (height, hash). Enough to append leaves and to compute the root.
#[derive(Debug, Clone, Default)]
struct Frontier {
    size: u64,
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    fn push(&mut self, leaf: Hash) {
        let mut node = (0, leaf);
        while let Some(&(height, left)) = self.subtrees.last() {
            if height != node.0 {
                break;
            }
            self.subtrees.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.subtrees.push(node);
        self.size += 1;
    }

    /// RFC 6962's root: the subtrees folded from the right.
    fn root(&self) -> Hash {
        let mut right: Option<Hash> = None;
        for (_, hash) in self.subtrees.iter().rev() {
            right = Some(match right {
                None => *hash,
                Some(r) => node_hash(hash, &r),
            });
        }
        right.unwrap_or_else(empty_root)
    }
}

impl TileFollower {
    /// A follower that has verified nothing yet.
    pub fn new(config: TileLogConfig) -> TileFollower {
        TileFollower {
            config,
            verified: None,
            compared_batch: None,
            entries: Frontier::default(),
        }
    }

    /// The origin followed.
    pub fn origin(&self) -> &str {
        &self.config.origin
    }

    /// The newest checkpoint verified so far.
    pub fn verified(&self) -> Option<&Signed> {
        self.verified.as_ref()
    }

    /// Fetches the newest checkpoint and, when it grew, proves it from the tiles. `None` when
    /// nothing changed.
    pub fn poll(&mut self, server: &dyn Server) -> Result<Option<FollowReport>, MonitorError> {
        let mut tiles = TileReader::new(server, &self.config.prefix);
        let next = self.fetch_checkpoint(server)?;
        let cosigned_by = self.check_witnesses(&next)?;
        let (size, root) = (next.checkpoint.size, next.checkpoint.root);
        // Size 0 proves nothing about what follows (no consistency proof starts from it).
        let previous = self.verified.as_ref().filter(|v| v.checkpoint.size > 0);
        let from = self.verified.as_ref().map(|v| v.checkpoint.size);
        let mut proof_hashes = 0;
        match previous {
            None => {
                let rebuilt = tiles.root(size)?;
                if rebuilt != root {
                    return Err(Violation::TileRoot {
                        origin: self.config.origin.clone(),
                        size,
                        rebuilt: hex::encode(rebuilt),
                        signed: hex::encode(root),
                        evidence: vec![("the signed checkpoint".to_owned(), next.note.clone())],
                    }
                    .into());
                }
            }
            Some(prev) => {
                let p = &prev.checkpoint;
                if size < p.size {
                    // Two signed checkpoints of different sizes do not contradict each other: a
                    // replica or cache behind the newest serves this. Nothing is concluded.
                    return Err(MonitorError::Server(format!(
                        "{} served size {size} after size {} was verified (a lagging replica?)",
                        self.config.origin, p.size
                    )));
                }
                if size == p.size {
                    if root != p.root {
                        return Err(Violation::SplitView {
                            origin: self.config.origin.clone(),
                            size,
                            first: format!("{} (verified earlier)", hex::encode(p.root)),
                            second: format!("{} (served now)", hex::encode(root)),
                            evidence: evidence(prev, &next),
                        }
                        .into());
                    }
                    return Ok(None);
                }
                let proof = tiles.consistency(p.size, size)?;
                proof_hashes = proof.len();
                let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
                if let Err(e) = verify_consistency(p.size, size, &p.root, &root, &proof) {
                    return Err(Violation::TileInconsistent {
                        origin: self.config.origin.clone(),
                        first: p.size,
                        second: size,
                        reason: e.to_string(),
                        evidence: evidence(prev, &next),
                    }
                    .into());
                }
            }
        }
        if from == Some(size) {
            return Ok(None);
        }
        let entries_checked = if self.config.audit_entries {
            let audited = self.audit_entries(&mut tiles, size)?;
            if audited.root() != root {
                return Err(Violation::TileRoot {
                    origin: self.config.origin.clone(),
                    size,
                    rebuilt: format!("{} (from the entries)", hex::encode(audited.root())),
                    signed: hex::encode(root),
                    evidence: vec![("the signed checkpoint".to_owned(), next.note.clone())],
                }
                .into());
            }
            let checked = audited.size - self.entries.size;
            self.entries = audited;
            checked
        } else {
            0
        };
        self.verified = Some(next);
        Ok(Some(FollowReport {
            origin: self.config.origin.clone(),
            from,
            to: size,
            proof_hashes,
            entries_checked,
            tiles: tiles.fetched(),
            cosigned_by,
        }))
    }

    /// Checks that an anchored checkpoint of this origin is one of the followed history. `None`
    /// when there is nothing to compare yet (another origin, a batch compared before, or an
    /// anchored size the followed checkpoint has not reached).
    pub fn compare_anchored(
        &mut self,
        server: &dyn Server,
        anchored: &Anchored,
    ) -> Result<Option<AnchorMatch>, MonitorError> {
        let a = &anchored.signed.checkpoint;
        let Some(v) = self.verified.as_ref() else {
            return Ok(None);
        };
        let followed = &v.checkpoint;
        if a.origin != self.config.origin
            || self.compared_batch == Some(anchored.batch_seq)
            || a.size > followed.size
        {
            return Ok(None);
        }
        let mismatch = |reason: String| Violation::AnchorMismatch {
            origin: a.origin.clone(),
            batch_seq: anchored.batch_seq,
            anchored: a.size,
            followed: followed.size,
            reason,
            evidence: vec![
                (
                    format!("the checkpoint anchored in batch {}", anchored.batch_seq),
                    anchored.signed.note.clone(),
                ),
                (
                    "the checkpoint followed over tiles".to_owned(),
                    v.note.clone(),
                ),
            ],
        };
        if a.size == followed.size {
            if a.root != followed.root {
                return Err(mismatch("same size, another root (a split view)".to_owned()).into());
            }
        } else {
            let proof =
                TileReader::new(server, &self.config.prefix).consistency(a.size, followed.size)?;
            let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
            if let Err(e) =
                verify_consistency(a.size, followed.size, &a.root, &followed.root, &proof)
            {
                return Err(mismatch(format!("the tiles do not prove it: {e}")).into());
            }
        }
        self.compared_batch = Some(anchored.batch_seq);
        Ok(Some(AnchorMatch {
            origin: a.origin.clone(),
            batch_seq: anchored.batch_seq,
            anchored: a.size,
            followed: followed.size,
        }))
    }

    fn fetch_checkpoint(&self, server: &dyn Server) -> Result<Signed, MonitorError> {
        let path = format!("{}checkpoint", self.config.prefix);
        let (status, body) = server.get(&path).map_err(MonitorError::Server)?;
        if status != 200 {
            return Err(MonitorError::Server(format!("GET {path}: status {status}")));
        }
        let unverifiable = |reason: String| Violation::Unverifiable {
            what: path.clone(),
            reason,
        };
        let (cp, _) = checkpoint::verify_note(&body, &self.config.public_key)
            .map_err(|e| unverifiable(e.to_string()))?;
        if cp.origin != self.config.origin {
            return Err(unverifiable(format!(
                "origin {} is not the pinned {}",
                cp.origin, self.config.origin
            ))
            .into());
        }
        let note = String::from_utf8(body).map_err(|e| unverifiable(e.to_string()))?;
        Ok(Signed {
            checkpoint: cp,
            note,
        })
    }

    /// The pinned witnesses that cosigned `next`. Too few is not (yet) a violation: witnesses
    /// cosign within moments of signing, or may be down; the next round tries again.
    fn check_witnesses(&self, next: &Signed) -> Result<Vec<String>, MonitorError> {
        let Some(policy) = &self.config.witnesses else {
            return Ok(Vec::new());
        };
        let parsed =
            crate::note::parse(next.note.as_bytes()).map_err(|e| Violation::Unverifiable {
                what: format!("{}checkpoint", self.config.prefix),
                reason: e.to_string(),
            })?;
        match policy.check(&parsed) {
            Ok(names) => Ok(names),
            Err(e @ CosignatureError::BelowThreshold { .. }) => Err(MonitorError::Server(format!(
                "{} at size {}: {e}",
                self.config.origin, next.checkpoint.size
            ))),
            Err(e) => Err(Violation::Unverifiable {
                what: format!(
                    "{}checkpoint at size {}",
                    self.config.prefix, next.checkpoint.size
                ),
                reason: e.to_string(),
            }
            .into()),
        }
    }

    /// Reads the entries after the audited ones up to `to`, each checked against its level-0
    /// tile hash (to name the first bad one), and returns the audited tree extended by them;
    /// the caller compares its root with the signed one.
    fn audit_entries(&self, tiles: &mut TileReader<'_>, to: u64) -> Result<Frontier, MonitorError> {
        let mut audited = self.entries.clone();
        let from = audited.size;
        for index in from / WIDTH..to.div_ceil(WIDTH) {
            let hashes = tiles.tile(0, index, to)?;
            let entries = tiles.entries(index, to)?;
            for (i, (entry, hash)) in entries.iter().zip(&hashes).enumerate() {
                let seq = index * WIDTH + i as u64;
                if seq < from {
                    continue;
                }
                let leaf = leaf_hash(entry);
                if leaf != *hash {
                    return Err(Violation::TileEntry {
                        origin: self.config.origin.clone(),
                        seq,
                    }
                    .into());
                }
                audited.push(leaf);
            }
        }
        Ok(audited)
    }
}

fn evidence(earlier: &Signed, later: &Signed) -> Vec<(String, String)> {
    vec![
        (
            "the checkpoint verified earlier".to_owned(),
            earlier.note.clone(),
        ),
        ("the checkpoint served now".to_owned(), later.note.clone()),
    ]
}

#[cfg(test)]
mod tests {
    //! The reader against a tile server held in memory (the tiles of a tree built here), and
    //! the follower against tampered copies of it: every tampering must be reported.

    use super::*;
    use crate::merkle::{consistency_path, root};
    use std::cell::RefCell;

    const ORIGIN: &str = "data.example/city/air";

    /// A log held in memory: its leaves (any of which a test may tamper with) and the size of
    /// its current checkpoint, signed on each request.
    struct Tiles {
        leaves: RefCell<Vec<Hash>>,
        size: RefCell<u64>,
        /// When set, the checkpoint is signed over this root instead of the tree's.
        forged_root: RefCell<Option<Hash>>,
        /// An entry served with other bytes than its leaf hashes.
        bad_entry: RefCell<Option<u64>>,
        /// A leaf hash served in level-0 tiles only (higher tiles stay honest).
        forged_level0: RefCell<Option<(u64, Hash)>>,
    }

    impl Tiles {
        fn new(n: u64) -> Tiles {
            Tiles {
                leaves: RefCell::new((0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()),
                size: RefCell::new(n),
                forged_root: RefCell::new(None),
                bad_entry: RefCell::new(None),
                forged_level0: RefCell::new(None),
            }
        }

        fn key() -> ed25519_dalek::SigningKey {
            ed25519_dalek::SigningKey::from_bytes(&[4; 32])
        }

        fn checkpoint(&self) -> String {
            let size = *self.size.borrow();
            let root = self
                .forged_root
                .borrow()
                .unwrap_or_else(|| root(&self.leaves.borrow()[..size as usize]));
            crate::checkpoint::Checkpoint {
                origin: ORIGIN.into(),
                size,
                root,
            }
            .sign(&Self::key())
        }
    }

    impl Server for Tiles {
        fn base(&self) -> String {
            "mem://".into()
        }

        fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
            if path == "log/checkpoint" {
                return Ok((200, self.checkpoint().into_bytes()));
            }
            let rest = path.strip_prefix("log/tile/").ok_or("no such path")?;
            if let Some(tail) = rest.strip_prefix("entries/") {
                // Entry i is its seq as 8 bytes (what the leaves hash), but for the one in
                // `bad_entry`.
                let (index, width) = match tail.split_once(".p/") {
                    Some((i, w)) => (i, w.parse::<u64>().unwrap()),
                    None => (tail, 256),
                };
                let index: u64 = index.replace(['x', '/'], "").parse().unwrap();
                let mut out = Vec::new();
                for seq in index * 256..index * 256 + width {
                    let entry = if Some(seq) == *self.bad_entry.borrow() {
                        b"tampered".to_vec()
                    } else {
                        seq.to_be_bytes().to_vec()
                    };
                    out.extend_from_slice(&(entry.len() as u16).to_be_bytes());
                    out.extend_from_slice(&entry);
                }
                return Ok((200, out));
            }
            let (level, tail) = rest.split_once('/').unwrap();
            let level: u32 = level.parse().unwrap();
            let (index, width) = match tail.split_once(".p/") {
                Some((i, w)) => (i, w.parse::<usize>().unwrap()),
                None => (tail, 256),
            };
            let index: u64 = index.replace(['x', '/'], "").parse().unwrap();
            let leaves = self.leaves.borrow();
            let per = 1usize << (8 * level);
            let mut out = Vec::new();
            for i in 0..width {
                let start = (index as usize * 256 + i) * per;
                let Some(chunk) = leaves.get(start..start + per) else {
                    return Ok((404, Vec::new()));
                };
                match *self.forged_level0.borrow() {
                    Some((seq, hash)) if level == 0 && seq == start as u64 => {
                        out.extend_from_slice(&hash)
                    }
                    _ => out.extend_from_slice(&root(chunk)),
                }
            }
            Ok((200, out))
        }
    }

    fn config() -> TileLogConfig {
        TileLogConfig {
            prefix: "log/".into(),
            ..TileLogConfig::for_dataset(
                "data.example",
                "city",
                "air",
                Tiles::key().verifying_key().to_bytes(),
            )
        }
    }

    fn follower() -> TileFollower {
        TileFollower::new(config())
    }

    /// A follower with `--audit-entries`.
    fn auditor() -> TileFollower {
        TileFollower::new(TileLogConfig {
            audit_entries: true,
            ..config()
        })
    }

    fn violation(r: Result<Option<FollowReport>, MonitorError>) -> Violation {
        match r {
            Err(MonitorError::Violation(v)) => v,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn an_honest_log_is_followed_from_its_tiles() {
        let log = Tiles::new(1000);
        *log.size.borrow_mut() = 300;
        let mut f = follower();
        let first = f.poll(&log).unwrap().unwrap();
        assert_eq!((first.from, first.to, first.proof_hashes), (None, 300, 0));
        assert_eq!(f.poll(&log).unwrap(), None, "nothing new");
        *log.size.borrow_mut() = 1000;
        let grown = f.poll(&log).unwrap().unwrap();
        assert_eq!((grown.from, grown.to), (Some(300), 1000));
        assert!(grown.proof_hashes > 0);
    }

    #[test]
    fn tampered_tiles_a_rollback_and_a_split_view_are_violations() {
        // Tiles that do not rebuild the signed root.
        let log = Tiles::new(700);
        log.leaves.borrow_mut()[600] = [9; 32];
        *log.forged_root.borrow_mut() = Some(root(&Tiles::new(700).leaves.borrow()));
        assert!(matches!(
            violation(follower().poll(&log)),
            Violation::TileRoot { size: 700, .. }
        ));

        // A history rewritten below a verified checkpoint: the tiles cannot prove the new one.
        let log = Tiles::new(703);
        *log.size.borrow_mut() = 700;
        let mut f = follower();
        f.poll(&log).unwrap();
        log.leaves.borrow_mut()[600] = [9; 32];
        *log.size.borrow_mut() = 703;
        assert!(matches!(
            violation(f.poll(&log)),
            Violation::TileInconsistent {
                first: 700,
                second: 703,
                ..
            }
        ));

        // Smaller than verified: a lagging replica, not evidence; then the same size with
        // another root, which is.
        let log = Tiles::new(10);
        let mut f = follower();
        f.poll(&log).unwrap();
        *log.size.borrow_mut() = 9;
        assert!(matches!(f.poll(&log), Err(MonitorError::Server(_))));
        assert_eq!(
            f.verified().unwrap().checkpoint.size,
            10,
            "still the larger one"
        );
        *log.size.borrow_mut() = 10;
        *log.forged_root.borrow_mut() = Some([1; 32]);
        let v = violation(f.poll(&log));
        assert!(matches!(v, Violation::SplitView { size: 10, .. }));
        assert_eq!(v.evidence().len(), 2, "both signed notes are the evidence");
    }

    #[test]
    fn a_log_first_seen_empty_is_followed_as_it_grows() {
        let log = Tiles::new(40);
        *log.size.borrow_mut() = 0;
        let mut f = auditor();
        assert_eq!(f.poll(&log).unwrap().unwrap().to, 0);
        *log.size.borrow_mut() = 40;
        let grown = f.poll(&log).unwrap().unwrap();
        assert_eq!(
            (grown.from, grown.to, grown.entries_checked),
            (Some(0), 40, 40)
        );
    }

    #[test]
    fn audited_entries_must_hash_to_their_leaves() {
        let log = Tiles::new(600);
        *log.size.borrow_mut() = 300;
        let mut f = auditor();
        assert_eq!(f.poll(&log).unwrap().unwrap().entries_checked, 300);
        *log.size.borrow_mut() = 600;
        let grown = f.poll(&log).unwrap().unwrap();
        assert_eq!(grown.entries_checked, 300, "only the new entries");
        let log = Tiles::new(600);
        *log.bad_entry.borrow_mut() = Some(513);
        let mut f = auditor();
        assert!(matches!(
            violation(f.poll(&log)),
            Violation::TileEntry { seq: 513, .. }
        ));

        // A level-0 tile and its entry forged together, in a full tile no root reads from (the
        // root of 300 comes from tile 1/000.p/1): the entries themselves must rebuild the root.
        let log = Tiles::new(300);
        *log.bad_entry.borrow_mut() = Some(100);
        *log.forged_level0.borrow_mut() = Some((100, leaf_hash(b"tampered")));
        let mut plain = follower();
        assert!(
            plain.poll(&log).unwrap().is_some(),
            "without the audit the tiles agree"
        );
        let mut f = auditor();
        assert!(matches!(
            violation(f.poll(&log)),
            Violation::TileRoot { size: 300, .. }
        ));
    }

    #[test]
    fn a_checkpoint_under_another_key_is_not_followed() {
        let log = Tiles::new(5);
        let mut f = TileFollower::new(TileLogConfig {
            public_key: [7; 32],
            ..config()
        });
        assert!(matches!(
            violation(f.poll(&log)),
            Violation::Unverifiable { .. }
        ));
    }

    #[test]
    fn tile_paths_follow_the_spec() {
        assert_eq!(tile_path(0, 0, 256), "0/000");
        assert_eq!(tile_path(1, 1_234_067, 256), "1/x001/x234/067");
        assert_eq!(tile_path(2, 5, 17), "2/005.p/17");
        assert_eq!(tile_path(0, 1000, 1), "0/x001/000.p/1");
        assert_eq!(index_path(1000, 256), "x001/000");
    }

    #[test]
    fn roots_and_consistency_proofs_from_tiles_equal_the_tree_s() {
        // Sizes around tile edges at levels 0 and 1 (256 and 65,536 leaves).
        let all = Tiles::new(70_000);
        let leaves = all.leaves.borrow().clone();
        let mut reader = TileReader::new(&all, "log");
        for n in [1, 2, 255, 256, 257, 513, 65_535, 65_536, 65_537, 70_000] {
            assert_eq!(
                reader.root(n).unwrap(),
                root(&leaves[..n as usize]),
                "root {n}"
            );
        }
        for (m, n) in [
            (1, 2),
            (3, 7),
            (256, 257),
            (255, 70_000),
            (65_536, 70_000),
            (7, 7),
        ] {
            assert_eq!(
                reader.consistency(m, n).unwrap(),
                consistency_path(&leaves[..n as usize], m),
                "proof {m} → {n}"
            );
        }
    }

    #[test]
    fn entry_bundles_parse_strictly() {
        assert_eq!(
            parse_entry_bundle(&[0, 1, 7, 0, 0], 2).unwrap(),
            vec![vec![7], vec![]]
        );
        assert!(parse_entry_bundle(&[0, 2, 7], 1).is_err(), "cut short");
        assert!(parse_entry_bundle(&[0, 1, 7, 9], 1).is_err(), "stray byte");
        assert!(parse_entry_bundle(&[0, 1, 7], 2).is_err(), "too few");
    }
}
