//! Known-answer tests for the in-memory reference tree, after rozbb/ct-merkle's
//! `tests/known_answer.rs`, which copies them from transparency-dev/merkle: leaves and roots from
//! `testonly/constants.go` (commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1), proofs from
//! `TestRefInclusionProof` and `TestRefConsistencyProof` in `testonly/reference_test.go` (commit
//! 141d627eab770a7e9a2514f46a8b6338e6d90874).

use civicproof_verify::merkle::{
    self, Hash, consistency_path, inclusion_path, verify_consistency, verify_inclusion,
};

/// `LeafInputs()`.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `RootHashes()` for sizes 1 to 8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (index, size, path) from `TestRefInclusionProof`.
const INCLUSION: [(u64, usize, &[&str]); 7] = [
    (0, 1, &[]),
    (
        0,
        2,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        1,
        2,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (size1, size2, proof) from `TestRefConsistencyProof`.
const CONSISTENCY: [(u64, usize, &[&str]); 4] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn leaves() -> Vec<Hash> {
    LEAVES
        .iter()
        .map(|l| merkle::leaf_hash(&hex::decode(l).unwrap()))
        .collect()
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn bytes(hashes: &[&str]) -> Vec<Vec<u8>> {
    hashes.iter().map(|h| hex::decode(h).unwrap()).collect()
}

#[test]
fn roots() {
    let leaves = leaves();
    assert_eq!(
        hex::encode(merkle::root(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for (size, want) in (1..=8).zip(ROOTS) {
        assert_eq!(
            hex::encode(merkle::root(&leaves[..size])),
            want,
            "size {size}"
        );
    }
}

#[test]
fn inclusion_paths() {
    let leaves = leaves();
    for (index, size, want) in INCLUSION {
        let got = inclusion_path(&leaves[..size], index);
        assert_eq!(hexes(&got), want, "index {index} size {size}");
        let root = hex::decode(ROOTS[size - 1]).unwrap();
        let leaf = leaves[index as usize];
        verify_inclusion(&leaf, index, size as u64, &bytes(want), &root).unwrap();
    }
}

#[test]
fn consistency_paths() {
    let leaves = leaves();
    for (size1, size2, want) in CONSISTENCY {
        let got = consistency_path(&leaves[..size2], size1);
        assert_eq!(hexes(&got), want, "sizes {size1} {size2}");
        let root1 = hex::decode(ROOTS[size1 as usize - 1]).unwrap();
        let root2 = hex::decode(ROOTS[size2 - 1]).unwrap();
        verify_consistency(size1, size2 as u64, &root1, &root2, &bytes(want)).unwrap();
    }
}
