//! The anchor contract's ABI (PROTOCOL.md section 5) and the exact encodings step 8 compares.

use sha3::{Digest, Keccak256};

use crate::merkle::Hash;

/// `rootOf(address,uint64)`.
pub const ROOT_OF_SELECTOR: [u8; 4] = [0x5c, 0x25, 0x9b, 0xc5];
/// `nextSeq(address)`.
pub const NEXT_SEQ_SELECTOR: [u8; 4] = [0xc1, 0x59, 0x4a, 0xc2];
/// `anchor(uint64,bytes32,uint32,bytes32)`.
pub const ANCHOR_SELECTOR: [u8; 4] = [0x34, 0xfb, 0x3b, 0xc8];
/// topic0 of `Anchored(address indexed,uint64 indexed,bytes32,uint32,bytes32)`.
pub const ANCHORED_TOPIC0: &str =
    "0x78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed";

/// Ethereum's keccak256 (the original Keccak padding, not SHA3-256).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// `0x` and the 32-byte word of `value`, as a topic or an ABI argument is written.
pub fn word_u64(value: u64) -> String {
    format!("0x{value:064x}")
}

/// `0x` and the 32-byte word of an address (left-padded with zeros).
pub fn word_address(address: &[u8; 20]) -> String {
    format!("0x{:0>64}", hex::encode(address))
}

/// The calldata of `rootOf(anchorer, seq)`.
pub fn root_of_call(anchorer: &[u8; 20], seq: u64) -> String {
    format!(
        "0x{}{}{}",
        hex::encode(ROOT_OF_SELECTOR),
        &word_address(anchorer)[2..],
        &word_u64(seq)[2..]
    )
}

/// The calldata of `nextSeq(anchorer)`.
pub fn next_seq_call(anchorer: &[u8; 20]) -> String {
    format!(
        "0x{}{}",
        hex::encode(NEXT_SEQ_SELECTOR),
        &word_address(anchorer)[2..]
    )
}

/// The calldata of `anchor(seq, root, count, prevRoot)` (for tools and tests that anchor).
pub fn anchor_call(seq: u64, root: &Hash, count: u32, prev_root: &Hash) -> String {
    format!(
        "0x{}{}{}{}{}",
        hex::encode(ANCHOR_SELECTOR),
        &word_u64(seq)[2..],
        hex::encode(root),
        &word_u64(u64::from(count))[2..],
        hex::encode(prev_root)
    )
}

/// The `data` of an `Anchored` event: `root || pad32(count) || prevRoot`, lowercase.
pub fn anchored_data(root: &Hash, count: u64, prev_root: &Hash) -> String {
    format!(
        "0x{}{}{}",
        hex::encode(root),
        &word_u64(count)[2..],
        hex::encode(prev_root)
    )
}

/// The topics of the `Anchored` event of `anchorer`'s batch `seq`.
pub fn anchored_topics(anchorer: &[u8; 20], seq: u64) -> [String; 3] {
    [
        ANCHORED_TOPIC0.to_owned(),
        word_address(anchorer),
        word_u64(seq),
    ]
}

/// Reads a `0x`-prefixed hex string of exactly `N` bytes, either case.
pub fn fixed_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.strip_prefix("0x")?;
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Reads a `0x`-prefixed hex byte string of any even length, either case.
pub fn bytes(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(signature: &str) -> [u8; 4] {
        keccak256(signature.as_bytes())[..4].try_into().unwrap()
    }

    #[test]
    fn constants_are_the_contracts() {
        assert_eq!(selector("rootOf(address,uint64)"), ROOT_OF_SELECTOR);
        assert_eq!(selector("nextSeq(address)"), NEXT_SEQ_SELECTOR);
        assert_eq!(
            selector("anchor(uint64,bytes32,uint32,bytes32)"),
            ANCHOR_SELECTOR
        );
        assert_eq!(
            format!(
                "0x{}",
                hex::encode(keccak256(
                    b"Anchored(address,uint64,bytes32,uint32,bytes32)"
                ))
            ),
            ANCHORED_TOPIC0
        );
        // keccak256(""), not SHA3-256("").
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn encodings() {
        let a = [0xab; 20];
        assert_eq!(
            word_address(&a),
            format!("0x{}{}", "0".repeat(24), "ab".repeat(20))
        );
        assert_eq!(word_u64(12), format!("0x{}c", "0".repeat(63)));
        assert_eq!(root_of_call(&a, 1).len(), 2 + 8 + 128);
        assert!(root_of_call(&a, 1).starts_with("0x5c259bc5"));
        assert_eq!(
            anchored_data(&[1; 32], 7, &[2; 32]),
            format!(
                "0x{}{}7{}",
                "01".repeat(32),
                "0".repeat(63),
                "02".repeat(32)
            )
        );
        assert_eq!(fixed_bytes::<2>("0xABcd"), Some([0xab, 0xcd]));
        assert_eq!(fixed_bytes::<2>("abcd"), None);
        assert_eq!(fixed_bytes::<2>("0xabc"), None);
    }
}
