//! The anchoring account's key: from a file (preferred) or the environment, never logged, and
//! never one of anvil's published development keys unless the chain is anvil's (31337).

use super::settings::AnchorSettings;
use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};

/// anvil's default accounts (mnemonic "test test test test test test test test test test test
/// junk", m/44'/60'/0'/0/0..9): public knowledge, so anything they sign is forgeable.
pub const ANVIL_DEV_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The anchoring signer. Its `Debug` never shows the key.
pub struct AnchorKey {
    pub signer: PrivateKeySigner,
}

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnchorKey({})", self.signer.address())
    }
}

impl AnchorKey {
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Reads the key; `chain_id` decides whether a development key is acceptable.
    pub fn load(settings: &AnchorSettings, chain_id: u64) -> anyhow::Result<Self> {
        let text = match (&settings.key_file, &settings.key) {
            (Some(path), _) => std::fs::read_to_string(path).with_context(|| {
                format!("reading CIVICPROOF_ANCHOR_KEY_FILE {}", path.display())
            })?,
            (None, Some(key)) => key.clone(),
            (None, None) => bail!(
                "anchoring is configured (CIVICPROOF_CHAIN_RPC_URL) but no key is: set \
                 CIVICPROOF_ANCHOR_KEY_FILE (preferred) or CIVICPROOF_ANCHOR_KEY"
            ),
        };
        let hex_key = text.trim().trim_start_matches("0x").to_ascii_lowercase();
        let bytes: [u8; 32] = hex::decode(&hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("the anchoring key must be 32 bytes of hex")?;
        if is_dev_key(&hex_key) && chain_id != 31337 {
            bail!(
                "the anchoring key is one of anvil's public development keys; it is refused on \
                 chain {chain_id} (only anvil's chain 31337 accepts it)"
            );
        }
        let signer = PrivateKeySigner::from_bytes(&B256::from(bytes))
            .context("the anchoring key is not a valid secp256k1 key")?;
        Ok(Self { signer })
    }
}

pub fn is_dev_key(hex_key: &str) -> bool {
    ANVIL_DEV_KEYS.contains(&hex_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: &str) -> AnchorSettings {
        AnchorSettings {
            key: Some(key.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn development_keys_only_on_anvil() {
        for key in ANVIL_DEV_KEYS {
            let err = AnchorKey::load(&settings(&format!("0x{key}")), 1).unwrap_err();
            assert!(err.to_string().contains("development"), "{err}");
            AnchorKey::load(&settings(key), 31337).unwrap();
        }
    }

    #[test]
    fn the_first_development_key_is_anvils_first_account() {
        let k = AnchorKey::load(&settings(ANVIL_DEV_KEYS[0]), 31337).unwrap();
        assert_eq!(
            k.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn other_keys_anywhere_and_never_printed() {
        let key = "11".repeat(32);
        let k = AnchorKey::load(&settings(&key), 1).unwrap();
        assert!(!format!("{k:?}").contains(&key));
        assert!(AnchorKey::load(&settings("abcd"), 1).is_err());
    }
}
