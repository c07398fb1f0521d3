// Contract tests for CivicproofAnchor against a fresh anvil (1 s blocks,
// one slot per epoch). Run: `npm test` in contracts/, or
// `node --test contracts/test/` from the repository root.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startAnvil, anvilPackageVersion } from '../lib/anvil.mjs';
import { rpc, RpcError, call, deploy, sendAndWait, waitReceipt } from '../lib/rpc.mjs';
import {
  keccakHex, pad32, word, encodeAnchor, encodeNextSeq, encodeRootOf, encodeAnchoredData, selectorOf,
} from '../lib/abi.mjs';

const artifactUrl = new URL('../artifacts/CivicproofAnchor.json', import.meta.url);
const gasReportUrl = new URL('../artifacts/gas-report.json', import.meta.url);
const artifact = JSON.parse(readFileSync(artifactUrl, 'utf8'));

const ZERO = `0x${'00'.repeat(32)}`;
const GAS_LIMIT_FROM_SEQ_1 = 60000;
/** Deterministic, distinct, nonzero test roots. */
const rootFor = (label, seq) => keccakHex(Buffer.from(`civicproof test root ${label} ${seq}`));

let anvil;
let url;
let contract;
let accounts;
const gas = { seq0: null, later: [] };

/** Sends anchor(...) from `from`, waits for the receipt. */
async function anchor(from, seq, root, count, prevRoot, extra = {}) {
  return sendAndWait(url, { from, to: contract, data: encodeAnchor(seq, root, count, prevRoot), ...extra });
}

const readNextSeq = async (who, block) => BigInt(await call(url, contract, encodeNextSeq(who), block));
const readRootOf = async (who, seq, block) => call(url, contract, encodeRootOf(who, seq), block);

/** Expected revert data of a custom error. */
const errData = (sig, ...words) => selectorOf(sig) + words.join('');

/**
 * Shows that anchor(...) from `from` reverts with exactly `expectedData`:
 * eth_call returns that revert data, and a transaction forced on chain with an
 * explicit gas limit is mined with status 0, no logs and no state change.
 */
async function expectRevert(from, args, expectedData) {
  const data = encodeAnchor(...args);
  await assert.rejects(
    rpc(url, 'eth_call', [{ from, to: contract, data }, 'latest']),
    (e) => {
      assert.ok(e instanceof RpcError, e.message);
      assert.equal(String(e.data).toLowerCase(), expectedData.toLowerCase(), e.message);
      return true;
    },
  );
  const before = await readNextSeq(from);
  const hash = await rpc(url, 'eth_sendTransaction', [{ from, to: contract, data, gas: '0x30000' }]);
  return { hash, from, before };
}

async function settleReverts(pending) {
  for (const { hash, from, before } of pending) {
    const r = await waitReceipt(url, hash);
    assert.equal(r.status, '0x0', `tx ${hash} should have reverted`);
    assert.equal(r.logs.length, 0);
    assert.equal(await readNextSeq(from), before);
  }
}

/** Checks one successful anchor receipt: status, single log, topics, data; records gas. */
function checkAnchored(receipt, anchorer, seq, root, count, prevRoot) {
  assert.equal(receipt.status, '0x1');
  assert.equal(receipt.logs.length, 1, 'exactly one log');
  const log = receipt.logs[0];
  assert.equal(log.address.toLowerCase(), contract.toLowerCase());
  assert.deepEqual(log.topics, [artifact.eventTopic, pad32(anchorer.toLowerCase()), pad32(seq)]);
  assert.equal(log.data, encodeAnchoredData(root, count, prevRoot));
  const used = Number(BigInt(receipt.gasUsed));
  if (seq === 0) gas.seq0 ??= used;
  else gas.later.push({ anchorer: anchorer.toLowerCase(), seq, count, gasUsed: used });
  return used;
}

describe('CivicproofAnchor', { timeout: 180000 }, () => {
  before(async () => {
    anvil = await startAnvil({ blockTime: 1, slotsInAnEpoch: 1 });
    url = anvil.url;
    accounts = await rpc(url, 'eth_accounts');
    const deployed = await deploy(url, accounts[0], artifact.bytecode);
    contract = deployed.address;
    gas.deployment = Number(BigInt(deployed.receipt.gasUsed));
  });

  after(async () => {
    if (anvil) await anvil.stop();
  });

  test('deployed runtime code is the artifact and hashes to deployedCodeHash', async () => {
    const code = await rpc(url, 'eth_getCode', [contract, 'latest']);
    assert.equal(code, artifact.deployedBytecode);
    assert.equal(keccakHex(Buffer.from(code.slice(2), 'hex')), artifact.deployedCodeHash);
    assert.equal(artifact.selectors['anchor(uint64,bytes32,uint32,bytes32)'], '0x34fb3bc8');
    assert.equal(artifact.selectors['nextSeq(address)'], '0xc1594ac2');
    assert.equal(artifact.selectors['rootOf(address,uint64)'], '0x5c259bc5');
    assert.equal(artifact.eventTopic, '0x78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed');
  });

  test('a fresh account starts at nextSeq 0 with no roots', async () => {
    assert.equal(await readNextSeq(accounts[1]), 0n);
    assert.equal(await readRootOf(accounts[1], 0), ZERO);
  });

  test('a chain of anchors seq 0, 1, 2 is accepted and reads back', async () => {
    const a = accounts[1];
    const counts = [3, 7, 1];
    let prev = ZERO;
    for (let seq = 0; seq < 3; seq++) {
      const root = rootFor('A', seq);
      const r = await anchor(a, seq, root, counts[seq], prev);
      checkAnchored(r, a, seq, root, counts[seq], prev);
      assert.equal(await readNextSeq(a), BigInt(seq + 1));
      prev = root;
    }
    for (let seq = 0; seq < 3; seq++) assert.equal(await readRootOf(a, seq), rootFor('A', seq));
    assert.equal(await readRootOf(a, 3), ZERO);
  });

  test('Anchored logs of one anchorer can be fetched by topic in order', async () => {
    const a = accounts[1];
    const logs = await rpc(url, 'eth_getLogs', [{
      address: contract, fromBlock: '0x0', toBlock: 'latest', topics: [artifact.eventTopic, pad32(a.toLowerCase())],
    }]);
    assert.deepEqual(logs.map((l) => BigInt(l.topics[2])), [0n, 1n, 2n]);
    assert.deepEqual(logs.map((l) => `0x${l.data.slice(2, 66)}`), [0, 1, 2].map((s) => rootFor('A', s)));
  });

  test('rejects a wrong seq (skip, replay, second anchor of a seq), a wrong prevRoot, root 0, count 0', async () => {
    const a = accounts[1];
    const r2 = rootFor('A', 2);
    const r1 = rootFor('A', 1);
    const fresh = rootFor('A', 'x');
    const pending = [];
    // nextSeq(a) == 3 here.
    pending.push(await expectRevert(a, [4, fresh, 1, r2], errData('WrongSeq(uint64,uint64)', word(3), word(4)))); // skip
    pending.push(await expectRevert(a, [1, fresh, 1, rootFor('A', 0)], errData('WrongSeq(uint64,uint64)', word(3), word(1)))); // replay
    pending.push(await expectRevert(a, [2, fresh, 1, r1], errData('WrongSeq(uint64,uint64)', word(3), word(2)))); // fork of seq 2
    pending.push(await expectRevert(a, [0, fresh, 1, ZERO], errData('WrongSeq(uint64,uint64)', word(3), word(0)))); // restart
    pending.push(await expectRevert(a, [3, fresh, 1, r1], errData('WrongPrevRoot(bytes32,bytes32)', r2.slice(2), r1.slice(2))));
    pending.push(await expectRevert(a, [3, fresh, 1, ZERO], errData('WrongPrevRoot(bytes32,bytes32)', r2.slice(2), ZERO.slice(2))));
    pending.push(await expectRevert(a, [3, ZERO, 1, r2], errData('ZeroRoot()')));
    pending.push(await expectRevert(a, [3, fresh, 0, r2], errData('ZeroCount()')));
    // A first anchor must name the zero prevRoot.
    const c = accounts[3];
    pending.push(await expectRevert(c, [0, fresh, 1, r2], errData('WrongPrevRoot(bytes32,bytes32)', ZERO.slice(2), r2.slice(2))));
    await settleReverts(pending);
    // Nothing changed.
    assert.equal(await readNextSeq(a), 3n);
    assert.equal(await readNextSeq(c), 0n);
    for (let seq = 0; seq < 3; seq++) assert.equal(await readRootOf(a, seq), rootFor('A', seq));
  });

  test('the same seq cannot be anchored twice, even with the same values', async () => {
    const a = accounts[1];
    const pending = [await expectRevert(a, [2, rootFor('A', 2), 1, rootFor('A', 1)],
      errData('WrongSeq(uint64,uint64)', word(3), word(2)))];
    await settleReverts(pending);
  });

  test('two accounts have independent chains', async () => {
    const a = accounts[1];
    const b = accounts[2];
    // b starts at 0 whatever a did; a's roots are no valid prevRoot for b.
    assert.equal(await readNextSeq(b), 0n);
    const b0 = rootFor('B', 0);
    checkAnchored(await anchor(b, 0, b0, 2, ZERO), b, 0, b0, 2, ZERO);
    await settleReverts([await expectRevert(b, [1, rootFor('B', 1), 1, rootFor('A', 0)],
      errData('WrongPrevRoot(bytes32,bytes32)', b0.slice(2), rootFor('A', 0).slice(2)))]);
    const b1 = rootFor('B', 1);
    checkAnchored(await anchor(b, 1, b1, 4, b0), b, 1, b1, 4, b0);
    // a continues from its own chain.
    const a3 = rootFor('A', 3);
    checkAnchored(await anchor(a, 3, a3, 5, rootFor('A', 2)), a, 3, a3, 5, rootFor('A', 2));
    assert.equal(await readNextSeq(a), 4n);
    assert.equal(await readNextSeq(b), 2n);
    assert.equal(await readRootOf(b, 0), b0);
    assert.equal(await readRootOf(a, 0), rootFor('A', 0));
    assert.equal(await readRootOf(b, 2), ZERO);
  });

  test('gas per anchor from seq 1 on stays within 60,000 (worst-case calldata too)', async () => {
    const a = accounts[1];
    // Worst case for calldata: every byte of root, prevRoot and count nonzero.
    const dense = (s) => `0x${keccakHex(Buffer.from(`dense ${s}`)).slice(2).replace(/00/g, 'ff')}`;
    let prev = rootFor('A', 3);
    for (let seq = 4; seq < 8; seq++) {
      const root = seq % 2 ? dense(seq) : rootFor('A', seq);
      const count = seq % 2 ? 0xffffffff : 1;
      checkAnchored(await anchor(a, seq, root, count, prev), a, seq, root, count, prev);
      prev = root;
    }
    const later = gas.later.map((g) => g.gasUsed);
    const max = Math.max(...later);
    const min = Math.min(...later);
    console.log(`gas: deployment ${gas.deployment}, anchor seq 0 ${gas.seq0}, seq >= 1 ${min}..${max} over ${later.length} anchors`);
    const nodeInfo = await rpc(url, 'anvil_nodeInfo');
    const report = {
      contract: artifact.contractName,
      deployedCodeHash: artifact.deployedCodeHash,
      anvil: anvilPackageVersion(),
      hardfork: nodeInfo.hardFork,
      deployment: gas.deployment,
      anchorSeq0: gas.seq0,
      anchorFromSeq1: { min, max, limit: GAS_LIMIT_FROM_SEQ_1 },
      anchors: gas.later,
    };
    writeFileSync(gasReportUrl, `${JSON.stringify(report, null, 2)}\n`);
    assert.ok(gas.seq0 > 0);
    assert.ok(max <= GAS_LIMIT_FROM_SEQ_1, `gas ${max} > ${GAS_LIMIT_FROM_SEQ_1}`);
  });

  test('finalized trails the head and rootOf is readable at the finalized block', async () => {
    const a = accounts[1];
    const receipt = await anchor(a, 8, rootFor('A', 8), 1, await readRootOf(a, 7));
    const mined = BigInt(receipt.blockNumber);
    const deadline = Date.now() + 15000;
    let fin;
    for (;;) {
      fin = await rpc(url, 'eth_getBlockByNumber', ['finalized', false]);
      if (fin && BigInt(fin.number) >= mined) break;
      assert.ok(Date.now() < deadline, 'finalized block did not reach the anchor');
      await new Promise((r) => setTimeout(r, 200));
    }
    const head = BigInt(await rpc(url, 'eth_blockNumber'));
    assert.ok(head - BigInt(fin.number) <= 3n, `finalized ${fin.number} trails head ${head} too far`);
    assert.equal(await readRootOf(a, 8, fin.number), rootFor('A', 8));
    // At the block before the anchor the root was not there yet.
    assert.equal(await readRootOf(a, 8, `0x${(mined - 1n).toString(16)}`), ZERO);
  });
});
