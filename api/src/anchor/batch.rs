//! Batches (PROTOCOL.md section 5): the newest checkpoint of every origin that grew since its
//! last batch, one leaf per origin in strictly increasing bytewise origin order, batch leaf =
//! `SHA-256(0x00 || note text)`, batch root = the RFC 6962 root (computed with rs_merkle).

use civicproof_schema::queries::anchors::Candidate;
use civicproof_verify::merkle::{self, Hash};
use civicproof_verify::note;
use rs_merkle::{Hasher, MerkleTree};

/// RFC 6962 interior nodes for rs_merkle: `SHA-256(0x01 || left || right)`. Leaves arrive
/// already hashed with the 0x00 prefix. (Only single-leaf proofs are ever used: rs_merkle's
/// multi-proof verification accepts forged leaves, antouhou/rs-merkle PR #52.)
#[derive(Clone)]
pub struct Rfc6962;

impl Hasher for Rfc6962 {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => {
                let mut buf = [0u8; 65];
                buf[0] = 1;
                buf[1..33].copy_from_slice(left);
                buf[33..].copy_from_slice(r);
                Self::hash(&buf)
            }
            // RFC 6962 promotes an odd node unchanged.
            None => *left,
        }
    }
}

/// One checkpoint of a batch being built.
#[derive(Debug, Clone)]
pub struct Member {
    pub dataset_id: i64,
    pub size: i64,
    pub origin: String,
    pub leaf: Hash,
}

/// A batch ready to persist.
#[derive(Debug, Clone)]
pub struct Planned {
    pub members: Vec<Member>,
    pub root: Hash,
}

/// Plans the next batch from the qualifying checkpoints; `None` when nothing qualifies.
pub fn plan(prefix: &str, candidates: Vec<Candidate>) -> anyhow::Result<Option<Planned>> {
    let mut members = candidates
        .into_iter()
        .map(|c| {
            let parsed = note::parse(c.note.as_bytes())
                .map_err(|e| anyhow::anyhow!("stored checkpoint does not parse: {e}"))?;
            Ok(Member {
                dataset_id: c.dataset_id,
                size: c.size,
                origin: format!("{prefix}/{}/{}", c.institution, c.dataset),
                leaf: merkle::leaf_hash(parsed.text.as_bytes()),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if members.is_empty() {
        return Ok(None);
    }
    members.sort_by(|a, b| a.origin.as_bytes().cmp(b.origin.as_bytes()));
    let leaves: Vec<Hash> = members.iter().map(|m| m.leaf).collect();
    Ok(Some(Planned {
        root: root(&leaves),
        members,
    }))
}

/// The RFC 6962 root over batch leaves (non-empty).
pub fn root(leaves: &[Hash]) -> Hash {
    MerkleTree::<Rfc6962>::from_leaves(leaves)
        .root()
        .expect("a batch has at least one leaf")
}

/// The inclusion path of leaf `index`, from its sibling upwards.
pub fn path(leaves: &[Hash], index: usize) -> Vec<Hash> {
    MerkleTree::<Rfc6962>::from_leaves(leaves)
        .proof(&[index])
        .proof_hashes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// rs_merkle with the RFC 6962 hasher agrees with the verify crate's RFC 9162 verifier
    /// for every index of every batch size up to 70.
    #[test]
    fn paths_verify_under_rfc_9162() {
        for n in 1..=70 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p: Vec<Vec<u8>> = path(&l, i).iter().map(|h| h.to_vec()).collect();
                merkle::verify_inclusion(&l[i], i as u64, n as u64, &p, &r)
                    .unwrap_or_else(|e| panic!("n={n} i={i}: {e}"));
            }
        }
    }

    #[test]
    fn members_sort_by_origin_bytes() {
        let note = |origin: &str| {
            let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
            note::sign_ed25519(
                &format!("{origin}\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"),
                origin,
                &key,
            )
        };
        let cand = |id: i64, inst: &str, ds: &str| Candidate {
            dataset_id: id,
            size: 1,
            note: note(&format!("x/{inst}/{ds}")),
            institution: inst.into(),
            dataset: ds.into(),
        };
        let planned = plan(
            "x",
            vec![
                cand(1, "b", "a"),
                cand(2, "a", "z"),
                cand(3, "a", "a-b"),
                cand(4, "a", "a"),
            ],
        )
        .unwrap()
        .unwrap();
        let origins: Vec<&str> = planned.members.iter().map(|m| m.origin.as_str()).collect();
        assert_eq!(origins, ["x/a/a", "x/a/a-b", "x/a/z", "x/b/a"]);
        assert!(plan("x", vec![]).unwrap().is_none());
    }
}
