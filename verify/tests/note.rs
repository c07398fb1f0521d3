//! C2SP signed notes: the known answer of golang.org/x/mod `sumdb/note/note_test.go` (the
//! PeterNeumann key, note and signature, also used by C2SP implementations in other languages),
//! and the strict parsing rules of PROTOCOL.md section 7, step 4.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use civicproof_verify::note::{self, NoteError};
use ed25519_dalek::SigningKey;

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// The key material of `PRIVATE+KEY+PeterNeumann+c74f20a3+<this>`: 0x01 || 32-byte seed.
const SKEY: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn peter() -> SigningKey {
    let material = STANDARD.decode(SKEY).unwrap();
    assert_eq!(material[0], 0x01);
    SigningKey::from_bytes(&material[1..].try_into().unwrap())
}

#[test]
fn go_reference_note() {
    let key = peter();
    let public = key.verifying_key().to_bytes();
    assert_eq!(note::vkey("PeterNeumann", &public), VKEY);
    assert_eq!(
        hex::encode(note::key_id("PeterNeumann", &public)),
        "c74f20a3"
    );
    assert_eq!(note::sign_ed25519(TEXT, "PeterNeumann", &key), SIGNED);
    let parsed = note::parse(SIGNED.as_bytes()).unwrap();
    assert_eq!(parsed.text, TEXT);
    assert_eq!(parsed.signatures.len(), 1);
    assert_eq!(parsed.signatures[0].name, "PeterNeumann");
    assert_eq!(parsed.signatures[0].key_id, [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(parsed.signatures[0].signature.len(), 64);
    assert_eq!(note::format(&parsed), SIGNED);
}

#[test]
fn splits_at_the_last_blank_line() {
    let raw = "a\n\nb\n\n\u{2014} k AAAAAAA=\n\u{2014} l AAAAAAA=\n";
    let parsed = note::parse(raw.as_bytes()).unwrap();
    assert_eq!(parsed.text, "a\n\nb\n");
    assert_eq!(parsed.signatures.len(), 2);
    assert_eq!(note::format(&parsed), raw);
}

#[test]
fn refuses_malformed_notes() {
    let sig = "\u{2014} k AAAAAAA=\n";
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (b"a\n\n\xff\n".to_vec(), NoteError::InvalidUtf8),
        (format!("a\tb\n\n{sig}").into(), NoteError::ControlCharacter),
        (format!("a\r\n\n{sig}").into(), NoteError::ControlCharacter),
        (format!("a\n{sig}").into(), NoteError::MissingBlankLine),
        (b"a\n\n".to_vec(), NoteError::NoSignatures),
        (
            b"a\n\n\xe2\x80\x94 k AAAAAAA=".to_vec(),
            NoteError::UnterminatedSignature,
        ),
        (
            b"a\n\n- k AAAAAAA=\n".to_vec(),
            NoteError::MalformedSignatureLine(1),
        ),
        (
            format!("a\n\n{sig}\u{2014} kAAAAAAA=\n").into(),
            NoteError::MalformedSignatureLine(2),
        ),
        (
            b"a\n\n\xe2\x80\x94  AAAAAAA=\n".to_vec(),
            NoteError::InvalidKeyName(1),
        ),
        (
            b"a\n\n\xe2\x80\x94 k+1 AAAAAAA=\n".to_vec(),
            NoteError::InvalidKeyName(1),
        ),
        (
            b"a\n\n\xe2\x80\x94 k\xc2\xa0x AAAAAAA=\n".to_vec(),
            NoteError::InvalidKeyName(1),
        ),
        (
            b"a\n\n\xe2\x80\x94 k AAAAAAB=\n".to_vec(),
            NoteError::InvalidBase64(1),
        ),
        (
            b"a\n\n\xe2\x80\x94 k AAAAAAA\n".to_vec(),
            NoteError::InvalidBase64(1),
        ),
        (
            b"a\n\n\xe2\x80\x94 k AAAAAA==\n".to_vec(),
            NoteError::SignatureTooShort(1),
        ),
        // A trailing blank line moves the split after the signature lines.
        (format!("a\n\n{sig}\n").into(), NoteError::NoSignatures),
    ];
    for (raw, want) in cases {
        assert_eq!(
            note::parse(&raw),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[test]
fn size_limit_is_128_kib() {
    let sig = "\u{2014} k AAAAAAA=\n";
    let fill = note::MAX_NOTE_BYTES - sig.len() - 2;
    let at_limit = format!("{}\n\n{sig}", "x".repeat(fill));
    assert_eq!(at_limit.len(), note::MAX_NOTE_BYTES);
    note::parse(at_limit.as_bytes()).unwrap();
    let over = format!("x{at_limit}");
    assert_eq!(
        note::parse(over.as_bytes()),
        Err(NoteError::TooLarge(note::MAX_NOTE_BYTES + 1))
    );
}
