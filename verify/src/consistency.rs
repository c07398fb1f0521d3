//! Verifying a consistency proof between two signed checkpoints (PROTOCOL.md section 7,
//! "Consistency"): both notes under the pinned key and of the expected origin, then RFC 9162
//! section 2.1.4.2 between their roots. Pure: no I/O. Used by the CLI's stateful check and
//! `consistency` command and by the monitor.

use crate::checkpoint::{Checkpoint, verify_note};
use crate::encoding::decode_lower_hex;
use crate::json::{self, MAX_SAFE_INTEGER};
use crate::merkle::{self, Hash};
use serde_json::Value;

/// A checkpoint whose signature verified, with its note as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// The answer of `GET …/consistency?first=M&second=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub first: u64,
    pub second: u64,
    pub path: Vec<Hash>,
    pub first_checkpoint: String,
    pub second_checkpoint: String,
}

/// Why a consistency proof was refused, with the notes involved as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// (label, note) pairs.
    pub evidence: Vec<(String, String)>,
}

/// Reads a consistency response strictly (I-JSON, every field with its type).
pub fn parse_response(bytes: &[u8]) -> Result<Response, String> {
    let value =
        json::parse_strict(bytes).map_err(|e| format!("not a consistency response: {e}"))?;
    let size = |name: &str| {
        value[name]
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_SAFE_INTEGER as f64)
            .map(|f| f as u64)
            .ok_or(format!("consistency response: {name} is not a size"))
    };
    let note = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("consistency response: {name} is not a note"))
    };
    let path = value["path"]
        .as_array()
        .ok_or("consistency response: path is not an array")?
        .iter()
        .map(|h| h.as_str().and_then(decode_lower_hex::<32>))
        .collect::<Option<Vec<Hash>>>()
        .ok_or("consistency response: path holds something other than 64 lowercase hex digits")?;
    Ok(Response {
        first: size("first")?,
        second: size("second")?,
        path,
        first_checkpoint: note("first_checkpoint")?,
        second_checkpoint: note("second_checkpoint")?,
    })
}

/// Reads a proof as lowercase hex hashes, one a line (blank lines ignored).
pub fn parse_hex_lines(text: &str) -> Result<Vec<Hash>, String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            decode_lower_hex::<32>(l).ok_or(format!(
                "proof line {} is not 64 lowercase hex digits",
                i + 1
            ))
        })
        .collect()
}

/// Verifies `response` under `key` for `origin`.
pub fn verify(
    response: &Response,
    key: &[u8; 32],
    origin: &str,
) -> Result<(Signed, Signed), Failure> {
    let evidence = vec![
        (
            "first checkpoint".to_owned(),
            response.first_checkpoint.clone(),
        ),
        (
            "second checkpoint".to_owned(),
            response.second_checkpoint.clone(),
        ),
    ];
    let fail = |reason: String| Failure {
        reason,
        evidence: evidence.clone(),
    };
    let check = |label: &str, note: &str, size: u64| -> Result<Signed, Failure> {
        let (checkpoint, _) = verify_note(note.as_bytes(), key)
            .map_err(|e| fail(format!("{label} checkpoint: {e}")))?;
        if checkpoint.origin != origin {
            return Err(fail(format!(
                "{label} checkpoint is of origin {}, not {origin}",
                checkpoint.origin
            )));
        }
        if checkpoint.size != size {
            return Err(fail(format!(
                "{label} checkpoint has size {}, not {size}",
                checkpoint.size
            )));
        }
        Ok(Signed {
            checkpoint,
            note: note.to_owned(),
        })
    };
    let first = check("first", &response.first_checkpoint, response.first)?;
    let second = check("second", &response.second_checkpoint, response.second)?;
    let path: Vec<Vec<u8>> = response.path.iter().map(|h| h.to_vec()).collect();
    merkle::verify_consistency(
        first.checkpoint.size,
        second.checkpoint.size,
        &first.checkpoint.root,
        &second.checkpoint.root,
        &path,
    )
    .map_err(|e| {
        fail(format!(
            "consistency proof {} → {}: {e}",
            response.first, response.second
        ))
    })?;
    Ok((first, second))
}

/// The JSON form of a checkpoint: origin, size and the root as lowercase hex.
pub fn checkpoint_json(c: &Checkpoint) -> Value {
    serde_json::json!({"origin": c.origin, "size": c.size, "root": hex::encode(c.root)})
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "t.example/c/d";

    fn leaves(n: u8) -> Vec<Hash> {
        (0..n).map(|i| merkle::leaf_hash(&[i])).collect()
    }

    fn response(m: u64, n: u64, key: &SigningKey) -> Response {
        let all = leaves(n as u8);
        let note = |size: u64| {
            Checkpoint {
                origin: ORIGIN.to_owned(),
                size,
                root: merkle::root(&all[..size as usize]),
            }
            .sign(key)
        };
        Response {
            first: m,
            second: n,
            path: merkle::consistency_path(&all, m),
            first_checkpoint: note(m),
            second_checkpoint: note(n),
        }
    }

    #[test]
    fn verifies_and_refuses() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = key.verifying_key().to_bytes();
        let good = response(3, 7, &key);
        let (a, b) = verify(&good, &public, ORIGIN).unwrap();
        assert_eq!((a.checkpoint.size, b.checkpoint.size), (3, 7));

        let mut bad = good.clone();
        bad.path[0][0] ^= 1;
        let err = verify(&bad, &public, ORIGIN).unwrap_err();
        assert!(
            err.reason.contains("consistency proof 3 → 7"),
            "{}",
            err.reason
        );
        assert_eq!(err.evidence.len(), 2);

        assert!(verify(&good, &[1; 32], ORIGIN).is_err());
        assert!(verify(&good, &public, "t.example/c/e").is_err());
        let mut sizes = good.clone();
        sizes.first = 4;
        assert!(
            verify(&sizes, &public, ORIGIN)
                .unwrap_err()
                .reason
                .contains("size 3, not 4")
        );
    }

    #[test]
    fn parses_responses_and_hex_lines() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let r = response(2, 5, &key);
        let json = serde_json::json!({
            "first": 2, "second": 5,
            "path": r.path.iter().map(hex::encode).collect::<Vec<_>>(),
            "first_checkpoint": r.first_checkpoint, "second_checkpoint": r.second_checkpoint,
        });
        assert_eq!(parse_response(json.to_string().as_bytes()).unwrap(), r);
        let lines: String = r
            .path
            .iter()
            .map(|h| format!("{}\n", hex::encode(h)))
            .collect();
        assert_eq!(parse_hex_lines(&lines).unwrap(), r.path);
        assert!(parse_hex_lines("ABCD\n").is_err());
        let mut broken = json.clone();
        broken["path"][0] = serde_json::json!("00");
        assert!(parse_response(broken.to_string().as_bytes()).is_err());
        broken["first"] = serde_json::json!(2.5);
        assert!(parse_response(broken.to_string().as_bytes()).is_err());
    }
}
