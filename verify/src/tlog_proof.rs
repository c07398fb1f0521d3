//! C2SP tlog-proof@v1 text, the `?format=tlog-proof` form of an inclusion proof (PROTOCOL.md
//! section 6), so tools that know only C2SP formats can check civicproof entries.
//!
//! civicproof never emits the optional `extra` line, and [`parse`] refuses one rather than drop
//! data silently. The checkpoint is returned as text; verify it with
//! [`crate::checkpoint::verify_note`].

use crate::encoding::{base64_decode, base64_encode, parse_decimal};
use crate::merkle::Hash;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Longest inclusion path accepted (trees of up to 2^64 leaves).
pub const MAX_PATH_LEN: usize = 64;

/// Why a text is not a tlog-proof@v1 this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("first line must be \"c2sp.org/tlog-proof@v1\"")]
    Header,
    /// An `extra` line is present.
    #[error("\"extra\" lines are not supported")]
    Extra,
    /// The index line is not `index <decimal without leading zeros>`.
    #[error("second line must be \"index <decimal without leading zeros>\"")]
    Index,
    /// A path line is not canonical base64 of 32 bytes.
    #[error("path line {0} is not canonical base64 of 32 bytes")]
    PathHash(usize),
    /// More path lines than any tree needs.
    #[error("inclusion path has more than 64 lines")]
    PathTooLong,
    /// The blank line before the checkpoint is missing.
    #[error("no blank line before the checkpoint")]
    MissingBlankLine,
    /// Nothing follows the blank line.
    #[error("checkpoint is missing")]
    MissingCheckpoint,
}

/// Formats a proof: header, `index N`, path lines from the leaf's sibling up, blank line, note.
pub fn format(index: u64, path: &[Hash], checkpoint_note: &str) -> String {
    let mut out = format!("{HEADER}\nindex {index}\n");
    for hash in path {
        out.push_str(&base64_encode(hash));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint_note);
    out
}

/// Parses a proof into (index, path, checkpoint note text).
pub fn parse(text: &str) -> Result<(u64, Vec<Hash>, String), TlogProofError> {
    let rest = text
        .strip_prefix(HEADER)
        .and_then(|r| r.strip_prefix('\n'))
        .ok_or(TlogProofError::Header)?;
    if rest.starts_with("extra ") {
        return Err(TlogProofError::Extra);
    }
    let (index_line, mut rest) = rest.split_once('\n').ok_or(TlogProofError::Index)?;
    let index = index_line
        .strip_prefix("index ")
        .and_then(parse_decimal)
        .ok_or(TlogProofError::Index)?;
    let mut path = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or(TlogProofError::MissingBlankLine)?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if path.len() == MAX_PATH_LEN {
            return Err(TlogProofError::PathTooLong);
        }
        let hash = base64_decode(line)
            .and_then(|h| Hash::try_from(h).ok())
            .ok_or(TlogProofError::PathHash(path.len() + 1))?;
        path.push(hash);
    }
    if rest.is_empty() {
        return Err(TlogProofError::MissingCheckpoint);
    }
    Ok((index, path, rest.to_owned()))
}
