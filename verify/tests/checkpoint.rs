//! Checkpoints (C2SP tlog-checkpoint, PROTOCOL.md section 4) and their verification (step 4).

use civicproof_verify::checkpoint::{self, Checkpoint, CheckpointError, VerifiedNoteCache};
use civicproof_verify::ed25519::Ed25519Error;
use civicproof_verify::merkle;
use civicproof_verify::note::{self, NoteError, NoteSignature};
use ed25519_dalek::SigningKey;

const ORIGIN: &str = "test.example/city/air";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn public() -> [u8; 32] {
    key().verifying_key().to_bytes()
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 37,
        root: merkle::leaf_hash(b"root"),
    }
}

#[test]
fn text_round_trips() {
    let empty = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 0,
        root: merkle::empty_root(),
    };
    // The empty root spelled as in PROTOCOL.md section 3.
    assert_eq!(
        empty.to_text(),
        "test.example/city/air\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
    for c in [empty, checkpoint()] {
        assert_eq!(Checkpoint::parse_text(&c.to_text()), Ok(c));
    }
}

#[test]
fn refuses_other_texts() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let cases = [
        (format!("{ORIGIN}\n0\n{root}"), CheckpointError::LineCount),
        (format!("{ORIGIN}\n0\n"), CheckpointError::LineCount),
        (
            format!("{ORIGIN}\n0\n{root}\next\n"),
            CheckpointError::LineCount,
        ),
        (
            format!("{ORIGIN}\n0\n{root}\n\n"),
            CheckpointError::LineCount,
        ),
        (format!("\n0\n{root}\n"), CheckpointError::EmptyOrigin),
        (
            format!("{ORIGIN}\n00\n{root}\n"),
            CheckpointError::InvalidSize,
        ),
        (
            format!("{ORIGIN}\n01\n{root}\n"),
            CheckpointError::InvalidSize,
        ),
        (
            format!("{ORIGIN}\n+1\n{root}\n"),
            CheckpointError::InvalidSize,
        ),
        (
            format!("{ORIGIN}\n9007199254740992\n{root}\n"),
            CheckpointError::InvalidSize,
        ),
        (
            format!("{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n"),
            CheckpointError::InvalidRoot,
        ),
        (
            format!("{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n"),
            CheckpointError::InvalidRoot,
        ),
        (format!("{ORIGIN}\n0\nAAAA\n"), CheckpointError::InvalidRoot),
    ];
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse_text(&text), Err(want), "{text:?}");
    }
    assert!(Checkpoint::parse_text(&format!("{ORIGIN}\n9007199254740991\n{root}\n")).is_ok());
}

#[test]
fn verifies_under_the_pinned_key_only() {
    let signed = checkpoint().sign(&key());
    let (c, n) = checkpoint::verify_note(signed.as_bytes(), &public()).unwrap();
    assert_eq!(c, checkpoint());
    assert_eq!(n.text, checkpoint().to_text());

    let other = SigningKey::from_bytes(&[8u8; 32])
        .verifying_key()
        .to_bytes();
    assert_eq!(
        checkpoint::verify_note(signed.as_bytes(), &other),
        Err(CheckpointError::NoSignature {
            origin: ORIGIN.to_owned(),
            key_id: hex::encode(note::key_id(ORIGIN, &other)),
        })
    );
    // Signed under another name (the prefix instead of the origin): no matching line.
    let wrong_name = note::sign_ed25519(&checkpoint().to_text(), "test.example", &key());
    assert!(matches!(
        checkpoint::verify_note(wrong_name.as_bytes(), &public()),
        Err(CheckpointError::NoSignature { .. })
    ));
}

#[test]
fn every_signature_of_the_pinned_key_must_verify() {
    let signed = checkpoint().sign(&key());
    let mut parsed = note::parse(signed.as_bytes()).unwrap();
    // A cosignature by another key is ignored, also when it shares the name or the id.
    let witness = NoteSignature {
        name: "witness.example".to_owned(),
        key_id: [1, 2, 3, 4],
        signature: vec![0; 72],
    };
    let same_name = NoteSignature {
        name: ORIGIN.to_owned(),
        ..witness.clone()
    };
    parsed.signatures.push(witness);
    parsed.signatures.push(same_name);
    let cosigned = note::format(&parsed);
    checkpoint::verify_note(cosigned.as_bytes(), &public()).unwrap();

    // A second line of the pinned key that does not verify rejects the note.
    let mut bad = parsed.signatures[0].clone();
    bad.signature[10] ^= 1;
    parsed.signatures.push(bad);
    assert_eq!(
        checkpoint::verify_note(note::format(&parsed).as_bytes(), &public()),
        Err(CheckpointError::Signature(Ed25519Error::Invalid))
    );
}

#[test]
fn refuses_tampered_notes() {
    let signed = checkpoint().sign(&key());
    let tampered = signed.replacen("37", "38", 1);
    assert_eq!(
        checkpoint::verify_note(tampered.as_bytes(), &public()),
        Err(CheckpointError::Signature(Ed25519Error::Invalid))
    );
    let mut parsed = note::parse(signed.as_bytes()).unwrap();
    parsed.signatures[0].signature.pop();
    assert_eq!(
        checkpoint::verify_note(note::format(&parsed).as_bytes(), &public()),
        Err(CheckpointError::Signature(Ed25519Error::Length(63)))
    );
    assert_eq!(
        checkpoint::verify_note(b"x\n\n", &public()),
        Err(CheckpointError::Note(NoteError::NoSignatures))
    );
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        checkpoint::verify_note(signed.as_bytes(), &identity),
        Err(CheckpointError::PublicKey(Ed25519Error::SmallOrderKey))
    );
}

#[test]
fn cache_verifies_each_note_once_and_stays_bounded() {
    let cache = VerifiedNoteCache::new(2);
    let signed = checkpoint().sign(&key());
    let first = cache.verify(signed.as_bytes(), &public()).unwrap();
    assert_eq!(cache.verify(signed.as_bytes(), &public()).unwrap(), first);
    assert_eq!(cache.len(), 1);
    // Failures are not cached, and a cached note does not verify under another key.
    let other = SigningKey::from_bytes(&[8u8; 32])
        .verifying_key()
        .to_bytes();
    assert!(cache.verify(signed.as_bytes(), &other).is_err());
    assert_eq!(cache.len(), 1);
    for size in 1..5 {
        let c = Checkpoint {
            size,
            ..checkpoint()
        };
        cache.verify(c.sign(&key()).as_bytes(), &public()).unwrap();
        assert!(cache.len() <= 2);
    }
}
