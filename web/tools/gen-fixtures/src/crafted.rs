//! Hand-built Ed25519 signatures for the edges where verifiers disagree: S not reduced, small-order
//! or non-canonical R, and a public key with a torsion component, where the cofactored equation
//! (what @noble/ed25519 checks even with zip215: false) accepts a signature that the
//! cofactorless one (ed25519-dalek's verify_strict, which PROTOCOL.md section 7.3, step 4 requires) refuses.

use civicproof_verify::note;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` of two little-endian 256-bit numbers (no overflow for the values used here).
pub fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// S + L: the same signature with S no longer reduced (accepted by lax verifiers).
pub fn unreduced_s(s: &[u8; 32]) -> [u8; 32] {
    add_le(s, &L)
}

/// A key pair whose public key is `a·B + T` with `T` of order 8, and a signature over `text`
/// computed as if the key were `a·B`. With `k ≡ 0 (mod 8)` both equations hold; otherwise only
/// the cofactored one does. Returns (public key, signature) for the requested case.
pub fn torsion_key_signature(text: &str, k_multiple_of_8: bool) -> ([u8; 32], [u8; 64]) {
    let a = Scalar::from_bytes_mod_order([11u8; 32]);
    let public = (ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[1])
        .compress()
        .to_bytes();
    for i in 1u8..=255 {
        let r = Scalar::from_bytes_mod_order([i; 32]);
        let big_r = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
        let hash: [u8; 64] = Sha512::new()
            .chain_update(big_r)
            .chain_update(public)
            .chain_update(text.as_bytes())
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&hash);
        if (EIGHT_TORSION[1] * k).is_identity() != k_multiple_of_8 {
            continue;
        }
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        return (public, sig);
    }
    unreachable!("one in eight nonces gives k ≡ 0 (mod 8)")
}

/// A one-signature note over `text` under key name `name` with the given key id bytes.
pub fn note_with(text: &str, name: &str, key_id: [u8; 4], signature: Vec<u8>) -> String {
    note::format(&note::Note {
        text: text.to_owned(),
        signatures: vec![note::NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        }],
    })
}
