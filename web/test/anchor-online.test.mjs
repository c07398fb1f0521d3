// Step 8, anchor-online, against a simulated EVM JSON-RPC node: chain id, contract code hash,
// rootOf(anchorer, batch_seq) at the final block, the receipt, block times, finality policies,
// and the real HTTP transport (a JSON-RPC server on 127.0.0.1).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { keccak_256 } from '../vendor/noble-hashes-2.4.0/sha3.js';
import { clearCaches, verifyBundle } from '../verify.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/bundles.json', import.meta.url), 'utf8'));
const anchoredFixture = fixtures.find((f) => f.name === 'anchored record 17: as served');
const erasedFixture = fixtures.find((f) => f.name === 'erased record 5: as served');
const anchor = JSON.parse(anchoredFixture.bundle).anchor;

const CODE = '0x6080604052348015600f57600080fd5b50';
const hex = (n) => '0x' + BigInt(n).toString(16);
const pad32 = (h) => h.replace(/^0x/, '').padStart(64, '0');
const TOPIC0 = '0x78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed';

const trust = {
  chainId: 31337,
  contract: anchor.contract.toUpperCase().replace('0X', '0x'), // checksum casing must not matter
  anchorer: anchor.anchorer,
  codeHash: '0x' + Buffer.from(keccak_256(Buffer.from(CODE.slice(2), 'hex'))).toString('hex'),
};

/**
 * A chain on which the anchor of the fixtures was mined in block 1234 (time 1764151300) and whose
 * finalized block is `finalized`. `overrides` replace single answers.
 */
function chain({ finalized = 2000, head = 2010, chainId = 31337, finalizedTag = true, receipt, blockTime = anchor.block_time, root = anchor.batch_root, rootFrom = anchor.block_number, calls = [] } = {}) {
  const blocks = (n) => ({ number: hex(n), hash: '0x' + pad32(hex(n)), timestamp: hex(anchor.block_time + (n - anchor.block_number) * 12) });
  const defaultReceipt = {
    status: '0x1',
    blockHash: anchor.block_hash,
    blockNumber: hex(anchor.block_number),
    logs: [
      { address: '0x' + '9'.repeat(40), topics: [TOPIC0], data: '0x' },
      {
        address: anchor.contract,
        topics: [TOPIC0, '0x' + pad32(anchor.anchorer), '0x' + pad32(hex(anchor.batch_seq))],
        data: '0x' + anchor.batch_root + pad32(hex(anchor.batch_size)) + anchor.prev_root,
      },
    ],
  };
  const rpc = async (method, params) => {
    calls.push(method);
    switch (method) {
      case 'eth_chainId':
        return hex(chainId);
      case 'eth_blockNumber':
        return hex(head);
      case 'eth_getBlockByNumber': {
        const [tag] = params;
        if (tag === 'finalized') {
          if (!finalizedTag) throw Object.assign(new Error('unknown block tag'), { code: -32602 });
          return blocks(finalized);
        }
        return blocks(Number(BigInt(tag)));
      }
      case 'eth_getBlockByHash':
        return params[0] === anchor.block_hash ? { ...blocks(anchor.block_number), timestamp: hex(blockTime) } : null;
      case 'eth_getCode':
        assert.equal(params[0], anchor.contract);
        return CODE;
      case 'eth_call': {
        const [{ to, data }, tag] = params;
        assert.equal(to, anchor.contract);
        assert.equal(data, '0x5c259bc5' + pad32(anchor.anchorer) + pad32(hex(anchor.batch_seq)));
        const at = tag === 'latest' ? head : Number(BigInt(tag));
        return '0x' + (at >= rootFrom ? root : '0'.repeat(64));
      }
      case 'eth_getTransactionReceipt':
        assert.equal(params[0], anchor.tx_hash);
        return receipt === undefined ? defaultReceipt : typeof receipt === 'function' ? receipt(structuredClone(defaultReceipt)) : receipt;
      default:
        throw new Error(`unexpected ${method}`);
    }
  };
  rpc.endpointName = 'test chain';
  return rpc;
}

/** Verifies fixture `f` with the pinned anchor trust, empty caches and `options`. */
async function verify(f, options) {
  clearCaches();
  return verifyBundle(f.bundle, { ...f.expect, ...trust, ...options });
}

function assertStep8(report, status, pattern) {
  assert.equal(report.steps[8].status, status, report.steps[8].detail);
  if (pattern) assert.match(report.steps[8].detail, pattern);
}

describe('step 8, anchor-online', () => {
  it('passes with the root at the finalized block and a matching receipt', async () => {
    const calls = [];
    const r = await verify(anchoredFixture, { rpc: chain({ calls }) });
    assert.equal(r.ok, true, r.steps[8].detail);
    assert.equal(r.failedStep, null);
    assertStep8(r, 'pass', /equals batch_root at block 2000 \(finalized\) via test chain; existed no later than 2025-11-26T10:01:40Z \(block 1234\)/);
    assert.equal(r.steps[7].detail, 'batch root confirmed on chain (step 8)');
    assert.equal(r.anchor.existedNoLaterThan, anchor.block_time);
    assert.equal(r.anchor.endpoint, 'test chain');
    assert.equal(r.anchor.stale, null);
    assert.deepEqual(calls, ['eth_chainId', 'eth_getBlockByNumber', 'eth_getCode', 'eth_call', 'eth_getTransactionReceipt', 'eth_getBlockByHash']);
  });

  it('passes for an erased record too (its erasure entry is in the same checkpoint)', async () => {
    const r = await verify(erasedFixture, { rpc: chain() });
    assert.equal(r.ok, true, r.steps[8].detail);
    assert.equal(r.steps[2].detail, 'erased by seq 36 (reason legal-erasure)');
  });

  it('fails as not-final when the root is there only at latest', async () => {
    const r = await verify(anchoredFixture, { rpc: chain({ finalized: 1000 }) });
    assert.equal(r.failedStep, 8);
    assertStep8(r, 'fail', /not-final/);
  });

  it('fails when the root on chain differs', async () => {
    const r = await verify(anchoredFixture, { rpc: chain({ root: 'ab'.repeat(32) }) });
    assertStep8(r, 'fail', /at block 2000 is 0xabab/);
  });

  it('honours a confirmations policy: F = head - (k - 1)', async () => {
    assertStep8(await verify(anchoredFixture, { rpc: chain({ head: 1235 }), finality: { confirmations: 2 } }), 'pass', /block 1234 \(2 confirmations\)/);
    assertStep8(await verify(anchoredFixture, { rpc: chain({ head: 1234 }), finality: 2 }), 'fail', /not-final/);
  });

  it('falls back to 2 confirmations on chain 31337 without a finalized tag', async () => {
    const r = await verify(anchoredFixture, { rpc: chain({ head: 1300, finalizedTag: false }) });
    assertStep8(r, 'pass', /at block 1299 \(2 confirmations\)/);
    // A transport failure is not a missing tag: the step fails.
    const broken = async () => {
      throw new Error('connection refused');
    };
    assertStep8(await verify(anchoredFixture, { rpc: broken }), 'fail', /connection refused/);
  });

  it('checks the pinned chain id, contract, anchorer and code hash', async () => {
    assertStep8(await verify(anchoredFixture, { rpc: chain({ chainId: 1 }) }), 'fail', /chain id 1 is not the pinned 31337/);
    assertStep8(await verify(anchoredFixture, { rpc: chain(), chainId: 1 }), 'fail', /anchor.chain_id 31337 is not the pinned chain id 1/);
    assertStep8(await verify(anchoredFixture, { rpc: chain(), contract: '0x' + '1'.repeat(40) }), 'fail', /is not the pinned contract/);
    assertStep8(await verify(anchoredFixture, { rpc: chain(), anchorer: '0x' + '2'.repeat(40) }), 'fail', /is not the pinned anchorer/);
    assertStep8(await verify(anchoredFixture, { rpc: chain(), codeHash: '0x' + '3'.repeat(64) }), 'fail', /code hash .* is not the pinned/);
  });

  it('checks the code hash on first use only', async () => {
    clearCaches();
    const calls = [];
    const rpc = chain({ calls });
    for (const f of [anchoredFixture, erasedFixture]) {
      assert.equal((await verifyBundle(f.bundle, { ...f.expect, ...trust, rpc })).ok, true);
    }
    assert.equal(calls.filter((m) => m === 'eth_getCode').length, 1);
  });

  it('checks the receipt when the node serves it in the claimed block', async () => {
    const cases = [
      ['status 0', (r) => ({ ...r, status: '0x0' }), /did not succeed/],
      ['other block number', (r) => ({ ...r, blockNumber: hex(1235) }), /block number 1235 is not block_number 1234/],
      ['no log of the contract', (r) => ({ ...r, logs: r.logs.slice(0, 1) }), /0 logs of the contract/],
      ['two logs of the contract', (r) => ({ ...r, logs: [...r.logs, r.logs[1]] }), /2 logs of the contract/],
      ['other batch_seq topic', (r) => ((r.logs[1].topics[2] = '0x' + pad32('0xd')), r), /other topics/],
      ['other batch_size', (r) => ((r.logs[1].data = r.logs[1].data.replace(pad32('0x3'), pad32('0x4'))), r), /other data/],
      ['other prev_root', (r) => ((r.logs[1].data = r.logs[1].data.slice(0, -1) + '0'), r), /other data/],
    ];
    for (const [what, receipt, why] of cases) {
      const r = await verify(anchoredFixture, { rpc: chain({ receipt }) });
      assert.equal(r.failedStep, 8, what);
      assert.match(r.steps[8].detail, why, what);
    }
    // The root is final at F = 1100 (set by another transaction), but the claimed one is later.
    assertStep8(await verify(anchoredFixture, { rpc: chain({ finalized: 1100, rootFrom: 1000 }) }), 'fail', /block_number 1234 is above the final block 1100/);
    assertStep8(await verify(anchoredFixture, { rpc: chain({ finalized: 1234 }) }), 'pass');
  });

  it('reports a missing or moved receipt as stale, dated by the final block', async () => {
    const missing = await verify(anchoredFixture, { rpc: chain({ receipt: null }) });
    assertStep8(missing, 'pass', /no longer serves the receipt of tx_hash; transaction fields are stale/);
    assert.equal(missing.anchor.existedNoLaterThan, anchor.block_time + (2000 - 1234) * 12);
    const moved = await verify(anchoredFixture, { rpc: chain({ receipt: (r) => ({ ...r, blockHash: '0x' + 'e'.repeat(64) }) }) });
    assertStep8(moved, 'pass', /in another block than block_hash/);
  });

  it('dates the record by the block time and refuses a published_at more than 300 s later', async () => {
    // seq 17 was published at 2025-11-26T10:00:25.500Z = 1764151225.5 s.
    const claim = (t) => {
      const v = JSON.parse(anchoredFixture.bundle);
      v.anchor.block_time = t;
      return { ...anchoredFixture, bundle: JSON.stringify(v) };
    };
    assertStep8(await verify(claim(1764150926), { rpc: chain({ blockTime: 1764150926 }) }), 'pass');
    assertStep8(await verify(claim(1764150925), { rpc: chain({ blockTime: 1764150925 }) }), 'fail', /more than 300 s after the anchor block's time 2025-11-26T09:55:25Z/);
    // A block_time claim that differs from the block fails.
    assertStep8(await verify(claim(1764151301), { rpc: chain() }), 'fail', /anchor.block_time 1764151301 is not the block's time 1764151300/);
  });

  it('is required by default once anchor trust is pinned', async () => {
    const noRpc = await verify(anchoredFixture, {});
    assert.equal(noRpc.failedStep, 8);
    assertStep8(noRpc, 'fail', /no RPC endpoint given, and an on-chain check is required/);
    const optional = await verify(anchoredFixture, { requireAnchor: false });
    assert.equal(optional.ok, true);
    assertStep8(optional, 'skipped', /no RPC endpoint given/);
    assert.equal(optional.steps[7].detail, 'anchor claimed, not checked on chain');
    const unanchored = fixtures.find((f) => f.name === 'record 0: as served');
    const r = await verify(unanchored, { rpc: chain() });
    assert.equal(r.failedStep, 7);
  });

  it('speaks JSON-RPC over HTTP to the given endpoint, falling back when `finalized` is unknown', async () => {
    const rpc = chain({ head: 1300, finalizedTag: false });
    const seen = [];
    const server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { id, method, params } = JSON.parse(body);
      seen.push(req.headers['content-type']);
      let answer;
      try {
        answer = { jsonrpc: '2.0', id, result: await rpc(method, params) };
      } catch (e) {
        answer = { jsonrpc: '2.0', id, error: { code: -32000, message: e.message } };
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${server.address().port}/rpc`;
    try {
      const r = await verify(anchoredFixture, { rpc: url });
      assert.equal(r.ok, true, r.steps[8].detail);
      assertStep8(r, 'pass', new RegExp(`at block 1299 \\(2 confirmations\\) via ${url.replace(/\./g, '\\.')}`));
      assert.equal(r.anchor.endpoint, url);
      assert.ok(seen.every((t) => t === 'application/json'));
    } finally {
      server.close();
    }
  });
});
