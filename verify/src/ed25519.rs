//! Strict Ed25519 verification (RFC 8032 with the rules of PROTOCOL.md section 7, step 4).
//!
//! Ed25519 implementations disagree on edge cases (non-canonical encodings, small-order points,
//! cofactored equations), so a signature one verifier accepts could be refused by another. The
//! spec pins the strict rules; ed25519-dalek's `verify_strict` implements them, and the explicit
//! checks here keep that guarantee visible and give each refusal its own reason.

use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, VerifyingKey};

/// Length of an Ed25519 signature (R || S).
pub const SIGNATURE_LEN: usize = 64;

/// Why a public key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ed25519Error {
    /// The public key is not the canonical encoding of a curve point.
    #[error("public key is not a canonical Ed25519 point")]
    NonCanonicalKey,
    /// The public key has small order, so it would accept forged signatures.
    #[error("public key is a small-order point")]
    SmallOrderKey,
    /// The signature is not 64 bytes.
    #[error("signature is {0} bytes, not 64")]
    Length(usize),
    /// R is not the canonical encoding of a curve point.
    #[error("signature R is not a canonical Ed25519 point")]
    NonCanonicalR,
    /// R has small order.
    #[error("signature R is a small-order point")]
    SmallOrderR,
    /// S is not below the group order L.
    #[error("signature S is not reduced modulo L")]
    NonCanonicalS,
    /// The signature does not verify under the cofactorless equation.
    #[error("signature does not verify")]
    Invalid,
}

/// What a 32-byte point encoding turned out to be.
enum Point {
    /// Not a point, or a point spelled other than by its canonical encoding.
    NonCanonical,
    /// A point in the small (torsion) subgroup.
    SmallOrder,
    /// Canonical and not of small order.
    Strict,
}

fn classify(bytes: &[u8; 32]) -> Point {
    match CompressedEdwardsY(*bytes).decompress() {
        Some(p) if p.compress().as_bytes() != bytes => Point::NonCanonical,
        Some(p) if p.is_small_order() => Point::SmallOrder,
        Some(_) => Point::Strict,
        None => Point::NonCanonical,
    }
}

/// Accepts `public` as a verification key only if it is canonical and not of small order.
pub fn verifying_key(public: &[u8; 32]) -> Result<VerifyingKey, Ed25519Error> {
    match classify(public) {
        Point::NonCanonical => Err(Ed25519Error::NonCanonicalKey),
        Point::SmallOrder => Err(Ed25519Error::SmallOrderKey),
        Point::Strict => {
            VerifyingKey::from_bytes(public).map_err(|_| Ed25519Error::NonCanonicalKey)
        }
    }
}

/// Verifies `signature` (R || S) over `message` under the strict rules.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), Ed25519Error> {
    let signature: &[u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| Ed25519Error::Length(signature.len()))?;
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    s.copy_from_slice(&signature[32..]);
    match classify(&r) {
        Point::NonCanonical => return Err(Ed25519Error::NonCanonicalR),
        Point::SmallOrder => return Err(Ed25519Error::SmallOrderR),
        Point::Strict => {}
    }
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).is_none() {
        return Err(Ed25519Error::NonCanonicalS);
    }
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| Ed25519Error::Invalid)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    /// RFC 8032 section 7.1, TEST 1 (empty message).
    #[test]
    fn rfc8032_test_1() {
        let secret =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap();
        let key = SigningKey::from_bytes(&secret.try_into().unwrap());
        let public = key.verifying_key().to_bytes();
        assert_eq!(
            hex::encode(public),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = key.sign(b"").to_bytes();
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        let vk = verifying_key(&public).unwrap();
        verify(&vk, b"", &sig).unwrap();
        assert_eq!(verify(&vk, b"x", &sig), Err(Ed25519Error::Invalid));
    }

    #[test]
    fn refuses_weak_and_malleable_encodings() {
        // The identity point (small order) as a key, and y = p (non-canonical encoding of 0).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(verifying_key(&identity), Err(Ed25519Error::SmallOrderKey));
        let mut y_is_p = [0xffu8; 32];
        y_is_p[0] = 0xed;
        y_is_p[31] = 0x7f;
        assert_eq!(verifying_key(&y_is_p), Err(Ed25519Error::NonCanonicalKey));

        let key = SigningKey::from_bytes(&[7u8; 32]);
        let vk = verifying_key(&key.verifying_key().to_bytes()).unwrap();
        let sig = key.sign(b"m").to_bytes();
        let mut small_r = sig;
        small_r[..32].copy_from_slice(&identity);
        assert_eq!(verify(&vk, b"m", &small_r), Err(Ed25519Error::SmallOrderR));
        let mut big_s = sig;
        big_s[63] |= 0xf0;
        assert_eq!(verify(&vk, b"m", &big_s), Err(Ed25519Error::NonCanonicalS));
        assert_eq!(verify(&vk, b"m", &sig[..63]), Err(Ed25519Error::Length(63)));
    }
}
