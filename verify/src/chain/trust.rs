//! The anchor trust a client pins (PROTOCOL.md section 7): never read from a bundle or a server.

use std::collections::HashSet;
use std::sync::Mutex;

use super::abi::fixed_bytes;

/// The pinned anchor: chain id, contract, keccak256 of its runtime code, anchoring account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnchorTrust {
    /// The EVM chain id.
    pub chain_id: u64,
    /// The anchor contract's address.
    pub contract: [u8; 20],
    /// keccak256 of the contract's runtime code (`contract_code_hash` of `/.well-known`).
    pub code_hash: [u8; 32],
    /// The instance's anchoring account.
    pub anchorer: [u8; 20],
}

/// Why pinned anchor trust is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorTrustError {
    /// An address is not `0x` and 40 hex digits.
    #[error("{0} must be 0x and 40 hex digits")]
    Address(&'static str),
    /// The code hash is not `0x` and 64 hex digits.
    #[error("the contract code hash must be 0x and 64 hex digits")]
    CodeHash,
}

impl AnchorTrust {
    /// Reads addresses and the code hash as `0x` hex in either case (checksum casing is
    /// ignored: addresses are compared as 20 bytes).
    pub fn parse(
        chain_id: u64,
        contract: &str,
        code_hash: &str,
        anchorer: &str,
    ) -> Result<AnchorTrust, AnchorTrustError> {
        Ok(AnchorTrust {
            chain_id,
            contract: parse_address(contract).ok_or(AnchorTrustError::Address("contract"))?,
            code_hash: fixed_bytes::<32>(code_hash).ok_or(AnchorTrustError::CodeHash)?,
            anchorer: parse_address(anchorer).ok_or(AnchorTrustError::Address("anchorer"))?,
        })
    }

    /// The contract as `0x` + 40 lowercase hex digits.
    pub fn contract_hex(&self) -> String {
        address_hex(&self.contract)
    }

    /// The anchoring account as `0x` + 40 lowercase hex digits.
    pub fn anchorer_hex(&self) -> String {
        address_hex(&self.anchorer)
    }

    /// The code hash as `0x` + 64 lowercase hex digits.
    pub fn code_hash_hex(&self) -> String {
        format!("0x{}", hex::encode(self.code_hash))
    }
}

/// `0x` and 40 hex digits (either case) → 20 bytes.
pub fn parse_address(s: &str) -> Option<[u8; 20]> {
    fixed_bytes::<20>(s)
}

/// 20 bytes → `0x` and 40 lowercase hex digits.
pub fn address_hex(address: &[u8; 20]) -> String {
    format!("0x{}", hex::encode(address))
}

/// (endpoint, contract, code hash) triples already checked.
type Checked = HashSet<(String, [u8; 20], [u8; 32])>;

/// Contracts whose code hash was already checked at an endpoint ("on first use", step 8 (a)),
/// so that a client verifying many bundles asks `eth_getCode` once.
#[derive(Debug, Default)]
pub struct CodeHashCache {
    checked: Mutex<Checked>,
}

impl CodeHashCache {
    /// An empty cache.
    pub fn new() -> CodeHashCache {
        CodeHashCache::default()
    }

    pub(crate) fn contains(&self, endpoint: &str, trust: &AnchorTrust) -> bool {
        self.lock()
            .contains(&(endpoint.to_owned(), trust.contract, trust.code_hash))
    }

    pub(crate) fn insert(&self, endpoint: &str, trust: &AnchorTrust) {
        self.lock()
            .insert((endpoint.to_owned(), trust.contract, trust.code_hash));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Checked> {
        // A poisoned set still only holds checked entries.
        self.checked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_case_and_refuses_other_shapes() {
        let t = AnchorTrust::parse(
            1,
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            &format!("0x{}", "AB".repeat(32)),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        )
        .unwrap();
        assert_eq!(
            t.contract_hex(),
            "0x5fbdb2315678afecb367f032d93f642f64180aa3"
        );
        assert_eq!(t.code_hash_hex(), format!("0x{}", "ab".repeat(32)));
        assert_eq!(
            AnchorTrust::parse(
                1,
                "5fbdb2315678afecb367f032d93f642f64180aa3",
                &t.code_hash_hex(),
                &t.anchorer_hex()
            ),
            Err(AnchorTrustError::Address("contract"))
        );
        assert_eq!(
            AnchorTrust::parse(1, &t.contract_hex(), "0xab", &t.anchorer_hex()),
            Err(AnchorTrustError::CodeHash)
        );
    }
}
