//! C2SP signed-note v1.0.0: text plus signature lines (PROTOCOL.md sections 4 and 7, step 4).
//!
//! Checkpoints are signed notes, so everything a verifier trusts about a tree arrives in this
//! format. Parsing is strict (the limits of PROTOCOL.md section 7.3, step 4 and the base64 of section 1) because
//! every verifier must split the same bytes into the same text and signatures.

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::encoding::{base64_decode, base64_encode};

/// Largest note accepted, in bytes (PROTOCOL.md section 7.3, step 4).
pub const MAX_NOTE_BYTES: usize = 128 * 1024;

/// The signed-note signature type byte of Ed25519.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// What starts every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A parsed note; its text is untrusted until a signature over it has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline but not the blank separator line.
    pub text: String,
    /// The signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// One signature line, `— <name> base64(key_id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id (big-endian uint32 in C2SP terms), see [`key_id`].
    pub key_id: [u8; 4],
    /// The signature bytes after the key id (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// Why bytes are not a well-formed signed note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes; at most 131072 are allowed")]
    TooLarge(usize),
    /// The note is not UTF-8.
    #[error("note is not valid UTF-8")]
    InvalidUtf8,
    /// The note contains a control character other than newline.
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    /// There is no blank line separating text and signatures.
    #[error("note has no blank line before its signatures")]
    MissingBlankLine,
    /// Nothing follows the blank line.
    #[error("note has no signature lines")]
    NoSignatures,
    /// The signature block does not end with a newline.
    #[error("note's last signature line does not end with a newline")]
    UnterminatedSignature,
    /// A signature line is not `— <name> <base64>`.
    #[error("signature line {0} is not \"\u{2014} <name> <base64>\"")]
    MalformedSignatureLine(usize),
    /// A key name is empty or contains a space or `+`.
    #[error("signature line {0} has an invalid key name")]
    InvalidKeyName(usize),
    /// A signature is not canonical standard base64.
    #[error("signature line {0} is not canonical base64 (RFC 4648 section 4, padded)")]
    InvalidBase64(usize),
    /// A signature decodes to fewer than 5 bytes (4-byte key id and at least one byte).
    #[error("signature line {0} is shorter than a key id and a signature")]
    SignatureTooShort(usize),
}

/// The signed-note key id: the first 4 bytes of `SHA-256(name || 0x0A || 0x01 || public)`.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    typed_key_id(name, ED25519_SIGNATURE_TYPE, public)
}

/// The verifier key string `<name>+<key id as 8 hex>+<base64(0x01 || public)>`.
pub fn vkey(name: &str, public: &[u8; 32]) -> String {
    typed_vkey(name, ED25519_SIGNATURE_TYPE, public)
}

/// `SHA-256(name || 0x0A || type || public)[:4]`: the key id of any signature type (signed-note
/// Ed25519 is `0x01`, `cosignature/v1` is `0x04`).
pub fn typed_key_id(name: &str, signature_type: u8, public: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([0x0a, signature_type])
        .chain_update(public)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// `<name>+<key id as 8 hex>+<base64(type || public)>`.
pub fn typed_vkey(name: &str, signature_type: u8, public: &[u8; 32]) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(signature_type);
    typed.extend_from_slice(public);
    format!(
        "{name}+{}+{}",
        hex::encode(typed_key_id(name, signature_type, public)),
        base64_encode(&typed)
    )
}

/// Parses a signed note (C2SP signed-note plus the limits of PROTOCOL.md section 7.3, step 4).
///
/// The text ends at the last blank line; at least one signature line must follow. Signatures are
/// not verified here.
pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(bytes.len()));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| NoteError::InvalidUtf8)?;
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let (text, block) = (&s[..=split], &s[split + 2..]);
    if block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let block = block
        .strip_suffix('\n')
        .ok_or(NoteError::UnterminatedSignature)?;
    let signatures = block
        .split('\n')
        .enumerate()
        .map(|(i, line)| parse_signature_line(i + 1, line))
        .collect::<Result<_, _>>()?;
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses line number `n` (1-based) of the signature block.
fn parse_signature_line(n: usize, line: &str) -> Result<NoteSignature, NoteError> {
    let (name, b64) = line
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|rest| rest.split_once(' '))
        .ok_or(NoteError::MalformedSignatureLine(n))?;
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName(n));
    }
    let bytes = base64_decode(b64).ok_or(NoteError::InvalidBase64(n))?;
    if bytes.len() < 5 {
        return Err(NoteError::SignatureTooShort(n));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: [bytes[0], bytes[1], bytes[2], bytes[3]],
        signature: bytes[4..].to_vec(),
    })
}

/// Key names are non-empty, with no Unicode space and no `+` (C2SP signed-note).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// Serializes `note`: its text, a blank line, one line per signature.
pub fn format(note: &Note) -> String {
    let mut out = note.text.clone();
    out.push('\n');
    for sig in &note.signatures {
        out.push_str(&signature_line(sig));
    }
    out
}

/// One signature line, `— <name> base64(key id || signature)` and its newline.
pub fn signature_line(sig: &NoteSignature) -> String {
    let mut bytes = sig.key_id.to_vec();
    bytes.extend_from_slice(&sig.signature);
    format!("{SIGNATURE_PREFIX}{} {}\n", sig.name, base64_encode(&bytes))
}

/// Signs `text` (which must end with a newline) under key `name` and returns the whole note.
pub fn sign_ed25519(text: &str, name: &str, key: &SigningKey) -> String {
    debug_assert!(text.ends_with('\n'), "note text must end with a newline");
    let public = key.verifying_key().to_bytes();
    format(&Note {
        text: text.to_owned(),
        signatures: vec![NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, &public),
            signature: key.sign(text.as_bytes()).to_bytes().to_vec(),
        }],
    })
}
