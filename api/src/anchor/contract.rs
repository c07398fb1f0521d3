//! The anchor contract (PROTOCOL.md section 5): ABI bindings and the committed artifact, whose
//! runtime code hash `/.well-known` publishes and a recorded contract must match.

use alloy::primitives::{B256, Bytes, keccak256};
use std::sync::LazyLock;

alloy::sol! {
    function nextSeq(address anchorer) external view returns (uint64);
    function rootOf(address anchorer, uint64 seq) external view returns (bytes32);
    function anchor(uint64 seq, bytes32 root, uint32 count, bytes32 prevRoot) external;
    event Anchored(address indexed anchorer, uint64 indexed seq, bytes32 root, uint32 count, bytes32 prevRoot);
}

/// The committed compile output (contracts/artifacts, checked against a fresh compile in CI).
const ARTIFACT: &str = include_str!("../../../contracts/artifacts/CivicproofAnchor.json");

pub struct Artifact {
    /// Creation code.
    pub bytecode: Bytes,
    /// keccak256 of the runtime code.
    pub code_hash: B256,
}

pub static ARTIFACT_CODE: LazyLock<Artifact> = LazyLock::new(|| {
    let v: serde_json::Value = serde_json::from_str(ARTIFACT).expect("artifact is JSON");
    let field = |name: &str| -> Vec<u8> {
        let s = v[name].as_str().expect("artifact field");
        hex::decode(s.trim_start_matches("0x")).expect("artifact hex")
    };
    let runtime = field("deployedBytecode");
    let code_hash = keccak256(&runtime);
    let recorded = field("deployedCodeHash");
    assert_eq!(
        code_hash.as_slice(),
        recorded.as_slice(),
        "artifact code hash"
    );
    Artifact {
        bytecode: field("bytecode").into(),
        code_hash,
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::{SolCall, SolEvent};

    /// Selectors and topic as PROTOCOL.md section 5 lists them.
    #[test]
    fn abi_matches_the_spec() {
        assert_eq!(hex::encode(nextSeqCall::SELECTOR), "c1594ac2");
        assert_eq!(hex::encode(rootOfCall::SELECTOR), "5c259bc5");
        assert_eq!(hex::encode(anchorCall::SELECTOR), "34fb3bc8");
        assert_eq!(
            hex::encode(Anchored::SIGNATURE_HASH),
            "78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed"
        );
        assert!(!ARTIFACT_CODE.bytecode.is_empty());
    }
}
