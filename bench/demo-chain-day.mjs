#!/usr/bin/env node
// A compressed day of `./run demo` on its anvil: one anchor transaction every 5 s and a block
// every second (17,280 anchors, 86,400 blocks), against anvil started with the demo's flags.
// Prints the state file's size, anvil's resident memory, how long it takes to stop, and whether
// a restarted anvil still answers what a verifier asks (receipts and logs of the first anchor,
// the contract's code at the final block once three new blocks are mined).
//
//   node bench/demo-chain-day.mjs [HOURS]      (default 24)
//
// Environment: ANCHOR_EVERY (seconds between anchors, default 5), BLOCK_TIME (seconds per block,
// default 1; 0: a block per transaction only), ANVIL (binary; default contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil),
// ANVIL_FLAGS (default: the demo's), DIR (default a fresh temporary directory).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, "..");
const hours = Number(process.argv[2] ?? 24);
const anvilBin = process.env.ANVIL ?? path.join(repo, "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
const dir = process.env.DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "demo-chain-"));
const state = path.join(dir, "anvil-state.json");
// Keep in step with cmd_demo in ./run (minus --block-time: blocks are mined here on demand).
const flags = (process.env.ANVIL_FLAGS ?? "--slots-in-an-epoch 1 --prune-history 64 --state-interval 60").split(/\s+/).filter(Boolean);
const port = 18000 + Math.floor(Math.random() * 1000);
const rpcUrl = `http://127.0.0.1:${port}`;
const artifact = JSON.parse(fs.readFileSync(path.join(repo, "contracts/artifacts/CivicproofAnchor.json"), "utf8"));
const FROM = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"; // anvil's first dev account

let id = 0;
async function rpc(method, params = []) {
  const r = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${JSON.stringify(j.error)}`);
  return j.result;
}
function start() {
  const p = spawn(anvilBin, ["--host", "127.0.0.1", "--port", String(port), "--silent", "--state", state, ...flags], { stdio: "inherit" });
  return p;
}
async function ready() {
  for (let i = 0; i < 600; i++) {
    try { await rpc("eth_chainId"); return; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error("anvil did not start");
}
function rssKib(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}
async function stop(p) {
  const t = Date.now();
  const done = new Promise((r) => p.on("exit", r));
  p.kill("SIGTERM");
  await done;
  return Date.now() - t;
}
const word = (n) => BigInt(n).toString(16).padStart(64, "0");
const randomRoot = () => [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
async function waitReceipt(h) {
  for (;;) { const r = await rpc("eth_getTransactionReceipt", [h]); if (r) return r; await new Promise((x) => setTimeout(x, 5)); }
}

const every = Number(process.env.ANCHOR_EVERY ?? 5);
const blockTime = Number(process.env.BLOCK_TIME ?? 1);
const anchors = Math.round((hours * 3600) / every);
const emptyBlocks = blockTime > 0 ? Math.max(0, Math.round(every / blockTime) - 1) : 0;
let p = start();
await ready();
const t0 = Date.now();
const deploy = await rpc("eth_sendTransaction", [{ from: FROM, data: artifact.bytecode, gas: "0x200000" }]);
const contract = (await waitReceipt(deploy)).contractAddress;
let prev = "0".repeat(64);
let firstTx;
const sel = artifact.selectors["anchor(uint64,bytes32,uint32,bytes32)"].slice(2);
for (let seq = 0; seq < anchors; seq++) {
  const root = randomRoot();
  const data = "0x" + sel + word(seq) + root + word(1 + (seq % 40)) + prev;
  const h = await rpc("eth_sendTransaction", [{ from: FROM, to: contract, data, gas: "0x30000" }]);
  const rc = await waitReceipt(h);
  if (rc.status !== "0x1") throw new Error(`anchor ${seq} reverted`);
  firstTx ??= h;
  prev = root;
  if (emptyBlocks) await rpc("anvil_mine", ["0x" + emptyBlocks.toString(16), "0x" + Math.max(1, blockTime).toString(16)]);
  if (seq % 2000 === 0) console.error(`anchor ${seq}/${anchors}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
const head = parseInt(await rpc("eth_blockNumber"), 16);
await new Promise((r) => setTimeout(r, 1000));
const rss = rssKib(p.pid);
const stopMs = await stop(p);
const size = fs.statSync(state).size;
// A second run: load the state, mine three blocks (the demo waits for them), ask what step 8 asks.
const t1 = Date.now();
p = start();
await ready();
const loadMs = Date.now() - t1;
const rssLoaded = rssKib(p.pid);
await rpc("anvil_mine", ["0x3", "0x1"]);
let ok = false;
try {
  // Pruning flags (--transaction-block-keeper) drop old receipts: then the answer is "no".
  const receipt = await rpc("eth_getTransactionReceipt", [firstTx]);
  if (receipt) {
    const logs = await rpc("eth_getLogs", [{ address: contract, fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber }]);
    const finalized = await rpc("eth_getBlockByNumber", ["finalized", false]);
    const code = await rpc("eth_getCode", [contract, finalized.number]);
    const oldBlock = await rpc("eth_getBlockByNumber", [receipt.blockNumber, false]);
    ok = receipt.status === "0x1" && logs.length === 1 && code.length > 2 && oldBlock?.hash === receipt.blockHash;
  }
} finally {
  await stop(p);
}
console.log(JSON.stringify({
  hours, anchors, blocks: head, anchor_every_s: every, block_time_s: blockTime, flags: flags.join(" "),
  state_file_mib: +(size / 2 ** 20).toFixed(1), rss_mib: +(rss / 1024).toFixed(1),
  stop_ms: stopMs, reload_ms: loadMs, rss_after_reload_mib: +(rssLoaded / 1024).toFixed(1),
  first_anchor_still_verifiable: ok, simulated_in_s: Math.round((Date.now() - t0) / 1000),
}));
if (!process.env.DIR) fs.rmSync(dir, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
