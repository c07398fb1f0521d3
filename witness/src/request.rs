//! The `add-checkpoint` request body (C2SP tlog-witness): `old <size>`, up to 63 base64
//! consistency-proof lines, an empty line, then the checkpoint note.

use civicproof_verify::encoding::{base64_decode, parse_decimal};
use civicproof_verify::merkle::Hash;

/// Most proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed request; the note is still unverified bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint<'a> {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: &'a [u8],
}

/// Why a body is not an `add-checkpoint` request (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body must start with \"old <size>\\n\"")]
    OldSize,
    #[error("proof line {0} is not base64 of 32 bytes")]
    ProofLine(usize),
    #[error("more than 63 consistency proof lines")]
    TooManyProofLines,
    #[error("no empty line before the checkpoint")]
    MissingCheckpoint,
}

/// Parses `body`.
pub fn parse(body: &[u8]) -> Result<AddCheckpoint<'_>, RequestError> {
    let mut rest = body;
    let line = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let l = rest[..end].to_vec();
        *rest = &rest[end + 1..];
        Some(l)
    };
    let old = line(&mut rest).ok_or(RequestError::OldSize)?;
    let old_size = std::str::from_utf8(&old)
        .ok()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(parse_decimal)
        .ok_or(RequestError::OldSize)?;
    let mut proof = Vec::new();
    loop {
        let l = line(&mut rest).ok_or(RequestError::MissingCheckpoint)?;
        if l.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(RequestError::TooManyProofLines);
        }
        let n = proof.len() + 1;
        let hash = std::str::from_utf8(&l)
            .ok()
            .and_then(base64_decode)
            .and_then(|h| Hash::try_from(h).ok())
            .ok_or(RequestError::ProofLine(n))?;
        proof.push(hash);
    }
    Ok(AddCheckpoint {
        old_size,
        proof,
        note: rest,
    })
}

/// The body a log sends (the inverse of [`parse`]).
pub fn format(old_size: u64, proof: &[Hash], note: &str) -> String {
    let mut out = format!("old {old_size}\n");
    for h in proof {
        out.push_str(&civicproof_verify::encoding::base64_encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request of C2SP tlog-witness (proof lines and checkpoint), round-tripped.
    #[test]
    fn parses_the_spec_example() {
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let r = parse(body.as_bytes()).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 2);
        assert!(
            r.note
                .starts_with(b"example.com/behind-the-sofa\n20852163\n")
        );
        let note = std::str::from_utf8(r.note).unwrap();
        assert_eq!(format(r.old_size, &r.proof, note), body);
    }

    #[test]
    fn refuses_malformed_bodies() {
        assert_eq!(parse(b"old 01\n\nx"), Err(RequestError::OldSize));
        assert_eq!(parse(b"new 1\n\nx"), Err(RequestError::OldSize));
        assert_eq!(parse(b"old 1\nAAAA\n\nx"), Err(RequestError::ProofLine(1)));
        assert_eq!(parse(b"old 1\n"), Err(RequestError::MissingCheckpoint));
        let many = format!(
            "old 1\n{}\nx",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
        );
        assert_eq!(parse(many.as_bytes()), Err(RequestError::TooManyProofLines));
        assert!(parse(b"old 0\n\n").unwrap().note.is_empty());
    }
}
