//! C2SP tlog-proof@v1 text (PROTOCOL.md section 6, `?format=tlog-proof`).

use civicproof_verify::checkpoint::{self, Checkpoint};
use civicproof_verify::merkle::{self, Hash};
use civicproof_verify::tlog_proof::{self, TlogProofError};
use ed25519_dalek::SigningKey;

fn tree() -> (Vec<Hash>, String) {
    let leaves: Vec<Hash> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
    let note = Checkpoint {
        origin: "test.example/city/air".to_owned(),
        size: 5,
        root: merkle::root(&leaves),
    }
    .sign(&SigningKey::from_bytes(&[7u8; 32]));
    (leaves, note)
}

#[test]
fn formats_and_parses_a_verifiable_proof() {
    let (leaves, note) = tree();
    let path = merkle::inclusion_path(&leaves, 3);
    let text = tlog_proof::format(3, &path, &note);
    let expected_head = format!(
        "c2sp.org/tlog-proof@v1\nindex 3\n{}\n{}\n{}\n\n",
        base64_of(&path[0]),
        base64_of(&path[1]),
        base64_of(&path[2])
    );
    assert_eq!(text, format!("{expected_head}{note}"));

    let (index, parsed_path, parsed_note) = tlog_proof::parse(&text).unwrap();
    assert_eq!((index, &parsed_path, &parsed_note), (3, &path, &note));
    let pk = SigningKey::from_bytes(&[7u8; 32])
        .verifying_key()
        .to_bytes();
    let (c, _) = checkpoint::verify_note(parsed_note.as_bytes(), &pk).unwrap();
    let path: Vec<Vec<u8>> = parsed_path.iter().map(|h| h.to_vec()).collect();
    merkle::verify_inclusion(&leaves[3], index, c.size, &path, &c.root).unwrap();
}

fn base64_of(h: &Hash) -> String {
    civicproof_verify::encoding::base64_encode(h)
}

#[test]
fn single_leaf_has_no_path_lines() {
    let text = tlog_proof::format(0, &[], "n\n\n\u{2014} k AAAAAAA=\n");
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n\nn\n"));
    assert_eq!(tlog_proof::parse(&text).unwrap().1, Vec::<Hash>::new());
}

#[test]
fn refuses_other_texts() {
    let hash = base64_of(&[0u8; 32]);
    let cases = [
        (
            "c2sp.org/tlog-proof@v2\nindex 0\n\nn\n".to_owned(),
            TlogProofError::Header,
        ),
        (
            "c2sp.org/tlog-proof@v1\nextra AA==\nindex 0\n\nn\n".to_owned(),
            TlogProofError::Extra,
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex 01\n\nn\n".to_owned(),
            TlogProofError::Index,
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex -1\n\nn\n".to_owned(),
            TlogProofError::Index,
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex 0".to_owned(),
            TlogProofError::Index,
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nn\n".to_owned(),
            TlogProofError::PathHash(1),
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n"),
            TlogProofError::MissingBlankLine,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n\n"),
            TlogProofError::MissingCheckpoint,
        ),
        (
            format!(
                "c2sp.org/tlog-proof@v1\nindex 0\n{}\nn\n",
                format!("{hash}\n").repeat(65)
            ),
            TlogProofError::PathTooLong,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(tlog_proof::parse(&text), Err(want), "{text:?}");
    }
}
