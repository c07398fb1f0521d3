//! A real anvil chain for the anchor tests: started on a free port with 1 s blocks and one slot
//! per epoch (so `finalized` trails the head by two blocks), the anchor contract deployed from
//! the committed artifact, batches anchored by anvil's unlocked dev account 0.
//!
//! The binary is the one the pinned npm package `@foundry-rs/anvil` ships, found as
//! `contracts/lib/anvil.mjs` finds it (`$ANVIL_BIN` overrides). A missing binary fails the test
//! with instructions; it never skips it.
//!
//! Most tests switch interval mining off after the start and mine blocks themselves
//! ([`Anvil::manual`]), so that "not yet final" and "final" are states they create rather than
//! moments they race.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use civicproof_verify::chain::abi::{self, keccak256};
use civicproof_verify::chain::{AnchorTrust, ChainRpc, HttpRpc, quantity};
use civicproof_verify::merkle::Hash;
use serde_json::{Value, json};

use super::{Batch, OnChain};

/// anvil's dev account 0 (unlocked): the anchoring account of the tests.
pub const ACCOUNT_0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// anvil's dev account 1 (unlocked): another account.
pub const ACCOUNT_1: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("verify/ is in the repository")
        .to_owned()
}

/// The anvil binary: `$ANVIL_BIN`, else the platform package under `contracts/node_modules`.
pub fn anvil_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("ANVIL_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let contracts = repo_root().join("contracts");
    let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "anvil-linux-amd64",
        ("linux", "aarch64") => "anvil-linux-arm64",
        ("macos", "x86_64") => "anvil-darwin-amd64",
        ("macos", "aarch64") => "anvil-darwin-arm64",
        _ => "unsupported-platform",
    };
    let candidates = [
        contracts.join(format!("node_modules/@foundry-rs/{platform}/bin/anvil")),
        // The package's postinstall fallback puts the binary next to its wrapper.
        contracts.join("node_modules/@foundry-rs/anvil/anvil"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "anvil binary not found (looked for {candidates:?}); run `npm ci` in {} or set \
                 ANVIL_BIN. The anchor tests need a real chain and do not skip without one.",
                contracts.display()
            )
        })
}

/// The committed artifact of the anchor contract.
pub fn artifact() -> Value {
    let path = repo_root().join("contracts/artifacts/CivicproofAnchor.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A running anvil, killed when dropped.
pub struct Anvil {
    child: Child,
    pub url: String,
    pub rpc: HttpRpc,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil on 127.0.0.1 with an OS-chosen port, 1 s blocks, one slot per epoch.
    pub fn start() -> Anvil {
        let bin = anvil_binary();
        let mut child = Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--block-time",
                "1",
                "--slots-in-an-epoch",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start anvil {}: {e}; run `npm ci` in contracts/ or fix ANVIL_BIN",
                    bin.display()
                )
            });
        // Drain its output for good (a full pipe would block anvil) and catch the port.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("anvil did not report a listening address within 30 s");
            }
        };
        let url = format!("http://{addr}");
        let anvil = Anvil {
            child,
            rpc: HttpRpc::new(&url),
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while anvil.rpc.call("eth_chainId", json!([])).is_err() {
            assert!(
                Instant::now() < deadline,
                "anvil not answering at {}",
                anvil.url
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        anvil
    }

    /// Started, with interval mining off: blocks come only from [`Anvil::mine`].
    pub fn manual() -> Anvil {
        let anvil = Anvil::start();
        anvil.call("evm_setIntervalMining", json!([0]));
        anvil
    }

    pub fn call(&self, method: &str, params: Value) -> Value {
        self.rpc
            .call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Mines `n` blocks now.
    pub fn mine(&self, n: u64) {
        for _ in 0..n {
            self.call("evm_mine", json!([]));
        }
    }

    pub fn head(&self) -> u64 {
        quantity(&self.call("eth_blockNumber", json!([]))).unwrap()
    }

    pub fn finalized(&self) -> u64 {
        let block = self.call("eth_getBlockByNumber", json!(["finalized", false]));
        quantity(&block["number"]).unwrap()
    }

    /// Mines until `block` is at or below the `finalized` block.
    pub fn finalize(&self, block: u64) {
        while self.finalized() < block {
            self.mine(1);
        }
    }

    /// Sends a transaction from an unlocked dev account; returns its hash (not yet mined when
    /// mining is manual).
    pub fn send(&self, tx: Value) -> String {
        self.call("eth_sendTransaction", json!([tx]))
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for the receipt of `tx_hash` (mining a block if mining is manual).
    pub fn receipt(&self, tx_hash: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([tx_hash]));
            if !receipt.is_null() {
                return receipt;
            }
            assert!(Instant::now() < deadline, "no receipt for {tx_hash}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Deploys the committed artifact from account 0 and waits until the deployment is final
    /// (as a production contract is, long before any anchor: step 8 reads the code at the final
    /// block); returns the contract address.
    pub fn deploy(&self) -> String {
        let bytecode = artifact()["bytecode"].as_str().unwrap().to_owned();
        let tx = self.send(json!({"from": ACCOUNT_0, "data": bytecode, "gas": "0x200000"}));
        self.mine_if_manual();
        let receipt = self.receipt(&tx);
        assert_eq!(receipt["status"], "0x1", "deployment failed: {receipt}");
        self.finalize(quantity(&receipt["blockNumber"]).unwrap());
        receipt["contractAddress"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
    }

    /// Mines one block when interval mining is off (the pool would otherwise wait forever).
    fn mine_if_manual(&self) {
        // With interval mining on, the pending tx is mined within a second anyway; one extra
        // block does no harm.
        self.mine(1);
    }

    /// Sends `anchor(seq, root, count, prev_root)` from `from` without mining it.
    pub fn send_anchor(
        &self,
        contract: &str,
        from: &str,
        seq: u64,
        root: &Hash,
        count: u32,
        prev: &Hash,
    ) -> String {
        self.send(json!({
            "from": from,
            "to": contract,
            "data": abi::anchor_call(seq, root, count, prev),
            // Explicit gas: a reverting anchor is sent (not refused by estimation) when a test
            // wants a failed transaction.
            "gas": "0x30000",
        }))
    }

    /// Anchors `batch` as batch `seq` from account 0 and mines it; what a server would record.
    pub fn anchor(&self, contract: &str, seq: u64, batch: &Batch, prev: &Hash) -> OnChain {
        let tx = self.send_anchor(
            contract,
            ACCOUNT_0,
            seq,
            &batch.root,
            batch.leaves.len() as u32,
            prev,
        );
        self.mine_if_manual();
        let receipt = self.receipt(&tx);
        assert_eq!(receipt["status"], "0x1", "anchor failed: {receipt}");
        self.on_chain(contract, seq, prev, &receipt)
    }

    /// The bundle's view of a mined anchor transaction.
    pub fn on_chain(&self, contract: &str, seq: u64, prev: &Hash, receipt: &Value) -> OnChain {
        let block_hash = receipt["blockHash"].as_str().unwrap().to_ascii_lowercase();
        let block = self.call("eth_getBlockByHash", json!([block_hash, false]));
        OnChain {
            batch_seq: seq,
            prev_root: *prev,
            chain_id: 31337,
            contract: contract.to_owned(),
            anchorer: ACCOUNT_0.to_owned(),
            tx_hash: receipt["transactionHash"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase(),
            block_number: quantity(&receipt["blockNumber"]).unwrap(),
            block_hash,
            block_time: quantity(&block["timestamp"]).unwrap(),
        }
    }

    /// The anchor trust a client pins for `contract`: chain 31337, the artifact's code hash,
    /// account 0.
    pub fn trust(&self, contract: &str) -> AnchorTrust {
        AnchorTrust::parse(31337, contract, &code_hash(), ACCOUNT_0).unwrap()
    }
}

/// The committed artifact's `deployedCodeHash`, checked against its `deployedBytecode`.
pub fn code_hash() -> String {
    let artifact = artifact();
    let code = abi::bytes(artifact["deployedBytecode"].as_str().unwrap()).unwrap();
    let hash = format!("0x{}", hex::encode(keccak256(&code)));
    assert_eq!(artifact["deployedCodeHash"], hash.as_str());
    hash
}
