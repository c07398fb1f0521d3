// Unit tests of the explorer's modules that run without a browser: the SSE stream parser, the
// trust store (trust on first use, change detection, remembered checkpoints) and the drift
// check of the generated standalone page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EventStreamParser, readEvents } from '../explorer/sse.js';
import { TrustStore, memoryStorage, identityChanges, wellKnownProblem, verifyOptions, entryFingerprints } from '../explorer/trust.js';
import { buildStandalone, OUTPUT } from '../tools/build-standalone.mjs';

test('SSE parser: the API.md entry format, split at every byte boundary', () => {
  const stream = 'id: 7\nevent: entry\ndata: {"a":1}\n\n: heartbeat\n\nid: 8\r\nevent: entry\r\ndata: {"b":\r\ndata: 2}\r\n\r\n';
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new EventStreamParser();
    const evs = [...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut))];
    assert.deepEqual(evs, [
      { id: '7', event: 'entry', data: '{"a":1}' },
      { id: '8', event: 'entry', data: '{"b":\n2}' },
    ], `cut at ${cut}`);
  }
});

test('SSE parser: CR line ends, no space after colon, defaults, retry, ignored fields', () => {
  const p = new EventStreamParser();
  const evs = p.push('data:x\rretry: 1500\rfoo: bar\r\rdata\r\rid: 3\r\r');
  assert.deepEqual(evs, [
    { id: null, event: 'message', data: 'x' },
    { id: null, event: 'message', data: '' },
  ]);
  assert.equal(p.retry, 1500);
  assert.equal(p.id, '3', 'an id-only block sets the last event id without dispatching');
  assert.deepEqual(p.push('data: unfinished'), [], 'nothing is dispatched before the blank line');
});

function streamResponse(status, chunks, type = 'text/event-stream') {
  const body = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });
  return new Response(body, { status, headers: { 'content-type': type } });
}

test('readEvents sends the token only as a header, resumes with Last-Event-ID, and reports 404 as unavailable', async () => {
  const calls = [];
  const responses = [
    streamResponse(200, ['id: 4\nevent: entry\ndata: {}\n\n']),
    streamResponse(404, [], 'application/problem+json'),
  ];
  const seen = [];
  const states = [];
  await new Promise((resolve) => {
    readEvents('/v1/datasets/a/b/events', {
      headers: { Authorization: 'Bearer t0k' },
      lastEventId: 3,
      retryMs: 1,
      fetchImpl: async (url, init) => {
        calls.push({ url, headers: init.headers });
        return responses.shift();
      },
      onEvent: (ev) => seen.push(ev.id),
      onStatus: (s) => {
        states.push(s);
        if (s === 'unavailable') resolve();
      },
    });
  });
  assert.deepEqual(seen, ['4']);
  assert.equal(calls[0].url, '/v1/datasets/a/b/events', 'no token or cursor in the URL');
  assert.equal(calls[0].headers.Authorization, 'Bearer t0k');
  assert.equal(calls[0].headers['Last-Event-ID'], '3');
  assert.equal(calls[1].headers['Last-Event-ID'], '4', 'reconnects after the last event received');
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'unavailable']);
});

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const ANCHOR = { chain_id: 31337, contract: '0x' + 'Ab'.repeat(20), contract_code_hash: '0x' + 'cd'.repeat(32), anchorer: '0x' + '12'.repeat(20), finality: 'finalized' };

test('trust store: first sight is trust on first use, keyed by prefix', () => {
  const store = new TrustStore(memoryStorage());
  const first = store.observe({ origin_prefix: 'data.city.example', log_public_key: KEY_A, anchor: null }, { now: 'T0' });
  assert.equal(first.state, 'first-use');
  assert.equal(first.entry.tofu, true);
  assert.equal(first.entry.firstSeen, 'T0');
  const again = store.observe({ origin_prefix: 'data.city.example', log_public_key: KEY_A, anchor: null });
  assert.equal(again.state, 'match');
  assert.equal(store.observe({ origin_prefix: 'other.example', log_public_key: KEY_B, anchor: null }).state, 'first-use');
  assert.equal(store.confirm('data.city.example', { now: 'T2' }).tofu, false);
  assert.equal(store.get('data.city.example').tofu, false, 'confirming the fingerprints is kept');
  assert.equal(store.observe({ origin_prefix: 'data.city.example', log_public_key: KEY_A, anchor: null }).state, 'match');
  assert.deepEqual(Object.keys(store.all()).sort(), ['data.city.example', 'other.example']);
});

test('trust store: a changed key or anchor blocks; an anchor appearing is pinned on first use; accept replaces', () => {
  const store = new TrustStore(memoryStorage());
  store.observe({ origin_prefix: 'p.example', log_public_key: KEY_A, anchor: null });
  const added = store.observe({ origin_prefix: 'p.example', log_public_key: KEY_A, anchor: ANCHOR }, { now: 'T1' });
  assert.equal(added.state, 'anchor-added');
  assert.equal(added.entry.anchor.contract, ANCHOR.contract.toLowerCase(), 'addresses compared in lower case');
  assert.equal(store.observe({ origin_prefix: 'p.example', log_public_key: KEY_A, anchor: { ...ANCHOR, contract: ANCHOR.contract.toUpperCase().replace('0X', '0x') } }).state, 'match');
  const changed = store.observe({ origin_prefix: 'p.example', log_public_key: KEY_B, anchor: { ...ANCHOR, anchorer: '0x' + '34'.repeat(20) } });
  assert.equal(changed.state, 'changed');
  assert.deepEqual(changed.changes, ['log_public_key', 'anchor.anchorer']);
  assert.equal(store.get('p.example').publicKey, KEY_A, 'a change never overwrites the pinned key by itself');
  assert.deepEqual(identityChanges(store.get('p.example'), { origin_prefix: 'p.example', log_public_key: KEY_A, anchor: null }), ['anchor (no longer published)']);
  const accepted = store.accept({ origin_prefix: 'p.example', log_public_key: KEY_B, anchor: null });
  assert.equal(accepted.tofu, false);
  assert.equal(store.observe({ origin_prefix: 'p.example', log_public_key: KEY_B, anchor: null }).state, 'match');
});

test('trust store: remembers only larger checkpoints; verify options carry the anchor trust', () => {
  const store = new TrustStore(memoryStorage());
  store.observe({ origin_prefix: 'p.example', log_public_key: KEY_A, anchor: { ...ANCHOR, finality: { confirmations: 1 } } });
  store.remember('p.example', 'p.example/a/b', { size: 5, root: 'r5', note: 'n5' });
  store.remember('p.example', 'p.example/a/b', { size: 3, root: 'r3', note: 'n3' });
  assert.equal(store.checkpoint('p.example', 'p.example/a/b').size, 5);
  assert.deepEqual(verifyOptions(store.get('p.example')), {
    prefix: 'p.example', publicKey: KEY_A, chainId: 31337, contract: ANCHOR.contract.toLowerCase(),
    codeHash: ANCHOR.contract_code_hash, anchorer: ANCHOR.anchorer, finality: 'finalized',
  }, 'the finality policy is never taken from the server');
  store.pinWitnesses('p.example', { keys: ['w.example/1+00000000+AA==', 'w.example/2+00000000+AA=='] });
  assert.deepEqual(verifyOptions(store.get('p.example')).witnesses, {
    threshold: 2, keys: ['w.example/1+00000000+AA==', 'w.example/2+00000000+AA=='],
  }, 'a pinned witness policy reaches verifyBundle (threshold: all by default)');
  assert.equal(store.pinWitnesses('unpinned.example', { keys: [] }), null);
});

test('well-known documents are checked before anything is pinned', async () => {
  assert.equal(wellKnownProblem({ origin_prefix: 'localhost', log_public_key: KEY_A, anchor: null }), null);
  assert.match(wellKnownProblem({ origin_prefix: 'Bad Prefix', log_public_key: KEY_A }), /origin_prefix/);
  assert.match(wellKnownProblem({ origin_prefix: 'x', log_public_key: 'short' }), /log_public_key/);
  assert.match(wellKnownProblem({ origin_prefix: 'x', log_public_key: KEY_A, anchor: { ...ANCHOR, contract: '0x12' } }), /contract/);
  const f = await entryFingerprints({ prefix: 'x', publicKey: KEY_A, anchor: null });
  assert.match(f.key, /^([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
  assert.notEqual(f.key, (await entryFingerprints({ prefix: 'x', publicKey: KEY_B, anchor: null })).key);
});

test('the committed standalone bundle page equals a fresh build (node web/tools/build-standalone.mjs)', () => {
  assert.equal(readFileSync(OUTPUT, 'utf8'), buildStandalone(), 'web/explorer/verify.html is stale: run node web/tools/build-standalone.mjs');
});
