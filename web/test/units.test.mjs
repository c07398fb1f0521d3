// The building blocks of web/verify.js on their own: the strict JSON parser, JCS, base64, origins,
// timestamps, signed notes, key ids, strict Ed25519, and verifyBundle's report shape and options.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ed from '../vendor/noble-ed25519-3.2.0.js';
import {
  STEP_NAMES,
  base64Decode,
  base64Encode,
  canonicalize,
  isValidOrigin,
  keyId,
  parseNote,
  parsePublishedAt,
  parseStrict,
  verifyBundle,
  verifyCheckpointNote,
  vkey,
} from '../verify.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/bundles.json', import.meta.url), 'utf8'));
const fixture = (name) => {
  const f = fixtures.find((x) => x.name === name);
  assert.ok(f, `fixture ${name}`);
  return f;
};

describe('parseStrict', () => {
  it('refuses what I-JSON and PROTOCOL.md section 2 refuse', () => {
    for (const [text, why] of [
      ['{"a":1,"a":2}', /duplicate member name/],
      ['{"a":1,"\\u0061":2}', /duplicate member name/],
      ['"\\ud800"', /lone surrogates/],
      ['"\\udc00\\ud800"', /lone surrogates/],
      ['"\\ud800\\u0041"', /lone surrogates/],
      ['"\\u0000"', /U\+0000/],
      ['"a\u0000"', /U\+0000/],
      ['"a\tb"', /control character/],
      ['9007199254740992', /2\^53-1/],
      ['-9007199254740992', /2\^53-1/],
      ['1e400', /double range/],
      ['-1e309', /double range/],
      ['\ufeff{}', /byte order mark/],
      ['{} x', /after the JSON value/],
      ['[1,]', /invalid JSON/],
      ['01', /leading zeros/],
      ['1.', /decimal point/],
      ['.5', /a JSON value/],
      ['+1', /a JSON value/],
      ['1e', /exponent/],
      ['NaN', /a JSON value/],
      ["{'a':1}", /member name/],
      ['"abc', /end the string/],
      ['"\\x41"', /one of/],
      ['"\\u12"', /four hex digits/],
      ['tru', /expected true/],
      ['', /a JSON value/],
      ['\u000b1', /a JSON value/],
    ]) {
      assert.throws(() => parseStrict(text), why, JSON.stringify(text));
    }
  });

  it('limits depth: 64 by default, containers count, scalars do not', () => {
    const nest = (n) => '['.repeat(n) + ']'.repeat(n);
    assert.doesNotThrow(() => parseStrict(nest(64)));
    assert.throws(() => parseStrict(nest(65)), /deeper than 64/);
    assert.doesNotThrow(() => parseStrict(`{"a":${nest(64)}}`, { maxDepth: 65 }));
    assert.throws(() => parseStrict(`{"a":${nest(65)}}`, { maxDepth: 65 }), /deeper than 65/);
    // A megabyte of '[' costs an error, not a stack overflow.
    assert.throws(() => parseStrict('['.repeat(1 << 20)), /deeper/);
  });

  it('reads bytes as strict UTF-8 and strings only when well formed', () => {
    assert.deepEqual(parseStrict(new Uint8Array([0x5b, 0x31, 0x5d])), [1]);
    for (const bad of [[0x22, 0xff, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22], [0x22, 0xc5]]) {
      assert.throws(() => parseStrict(new Uint8Array(bad)), /not valid UTF-8/);
    }
    assert.throws(() => parseStrict(new Uint8Array([0xef, 0xbb, 0xbf, 0x31])), /byte order mark/);
    assert.throws(() => parseStrict('"\ud800"'), /not valid UTF-8/);
    assert.equal(parseStrict('"\ud83d\ude00"'), '\u{1f600}');
  });

  it('finds lone surrogates also on engines without String.prototype.isWellFormed', async () => {
    const original = Object.getOwnPropertyDescriptor(String.prototype, 'isWellFormed');
    delete String.prototype.isWellFormed;
    try {
      const fresh = await import('../verify.js?without-isWellFormed');
      for (const bad of ['"\ud800"', '"a\udc00"', '"\udc00\ud800"', '"\ud800a"']) {
        assert.throws(() => fresh.parseStrict(bad), /not valid UTF-8/, JSON.stringify(bad));
      }
      assert.equal(fresh.parseStrict('"\ud83d\ude00x"'), '\u{1f600}x');
      assert.throws(() => fresh.canonicalize('\ud800'), /lone surrogates/);
    } finally {
      if (original) Object.defineProperty(String.prototype, 'isWellFormed', original);
    }
  });

  it('holds numbers as doubles and names as own members', () => {
    const v = parseStrict('{"__proto__":{"x":1},"toString":2,"n":[-0,1E2,0.1,9007199254740991]}');
    assert.equal(Object.getPrototypeOf(v), null);
    assert.deepEqual(Object.keys(v), ['__proto__', 'toString', 'n']);
    assert.equal(v.__proto__.x, 1);
    assert.ok(Object.is(v.n[0], -0));
    assert.deepEqual([...v.n.slice(1)], [100, 0.1, 9007199254740991]);
    assert.equal(canonicalize(v), '{"__proto__":{"x":1},"n":[0,100,0.1,9007199254740991],"toString":2}');
  });
});

describe('canonicalize', () => {
  it('sorts names by UTF-16 code units and escapes minimally', () => {
    const v = parseStrict('{"\\ue000":1,"\\ud83d\\ude00":2,"a":3,"10":4,"9":5,"":6}');
    assert.equal(canonicalize(v), '{"":6,"10":4,"9":5,"a":3,"\u{1f600}":2,"\ue000":1}');
    assert.equal(canonicalize('\u0001\u001f\b\f\n\r\t"\\/\u2028\u007f'), '"\\u0001\\u001f\\b\\f\\n\\r\\t\\"\\\\/\u2028\u007f"');
  });

  it('formats numbers as ECMAScript does', () => {
    const cases = [[1e21, '1e+21'], [1e-7, '1e-7'], [5e-324, '5e-324'], [-0, '0'], [0.1 + 0.2, '0.30000000000000004'], [1e20, '100000000000000000000']];
    for (const [n, want] of cases) assert.equal(canonicalize(n), want);
  });

  it('refuses what JSON cannot hold', () => {
    const bad = [NaN, Infinity, undefined, () => 1, 1n, '\ud800', new Date(0), { a: undefined }, [Symbol('x')]];
    bad.forEach((value, i) => assert.throws(() => canonicalize(value), (e) => e.name === 'VerifyError', `case ${i}`));
    const cycle = {};
    cycle.self = cycle;
    assert.throws(() => canonicalize(cycle), /too deeply/);
  });
});

describe('encodings', () => {
  it('base64 has exactly one spelling (RFC 4648 section 4, padded)', () => {
    assert.deepEqual(base64Decode('AAE='), new Uint8Array([0, 1]));
    assert.deepEqual(base64Decode(''), new Uint8Array([]));
    for (const bad of ['AAE', 'AAF=', 'AA E=', 'AAE=\n', 'AAE==', 'AA-_', 'AA_E', '====', 'A===', 'AA=A', 'ÄAE=']) {
      assert.equal(base64Decode(bad), null, JSON.stringify(bad));
    }
    const bytes = new Uint8Array(256).map((_, i) => i);
    assert.equal(base64Encode(bytes), Buffer.from(bytes).toString('base64'));
    for (let n = 0; n < 8; n++) {
      const b = bytes.slice(0, n);
      assert.deepEqual(base64Decode(base64Encode(b)), b);
    }
  });

  it('origins follow section 1', () => {
    for (const ok of ['localhost/city/air', 'data.katowice.example/city-hall/budget-2026', 'localhost:8080/a/b', 'example.org/civic~proof/v_1/inst/ds']) {
      assert.ok(isValidOrigin(ok), ok);
    }
    for (const bad of ['', 'localhost', 'localhost/city', 'Localhost/city/air', 'localhost/-city/air', 'localhost/city/air/', 'localhost//city/air', 'localhost:/city/air', 'localhost:123456/city/air', 'localhost:80:80/city/air', '/city/air', 'localhost/city/a_ir', 'localhost/city/żółw', `localhost/city/${'a'.repeat(64)}`]) {
      assert.ok(!isValidOrigin(bad), bad);
    }
  });

  it('published_at is exactly YYYY-MM-DDTHH:MM:SS.mmmZ with a real date', () => {
    assert.equal(parsePublishedAt('1970-01-01T00:00:00.000Z'), 0);
    assert.equal(parsePublishedAt('2026-11-26T10:00:01.123Z'), Date.UTC(2026, 10, 26, 10, 0, 1, 123));
    assert.equal(parsePublishedAt('0000-03-01T00:00:00.000Z'), -62162035200000);
    assert.equal(parsePublishedAt('2024-02-29T00:00:00.000Z'), Date.UTC(2024, 1, 29));
    for (const bad of ['2025-02-29T00:00:00.000Z', '2026-11-26T10:00:01Z', '2026-11-26t10:00:01.123Z', '2026-11-26T10:00:60.000Z', '2026-11-26T10:00:01.123+00:00', '2026-11-26 10:00:01.123Z']) {
      assert.equal(parsePublishedAt(bad), null, bad);
    }
  });
});

describe('signed notes and keys', () => {
  const record0 = fixture('record 0: as served');
  const note = JSON.parse(record0.bundle).checkpoint;
  const publicKey = base64Decode(record0.expect.publicKey);

  it('derives key ids and vkeys as section 1 says', async () => {
    const origin = 'test.example/city/air';
    const digest = createHash('sha256').update(Buffer.concat([Buffer.from(`${origin}\n`), Buffer.from([1]), publicKey])).digest();
    assert.deepEqual(await keyId(origin, publicKey), new Uint8Array(digest.subarray(0, 4)));
    assert.deepEqual(await keyId(origin, record0.expect.publicKey), new Uint8Array(digest.subarray(0, 4)));
    const typed = Buffer.concat([Buffer.from([1]), publicKey]).toString('base64');
    assert.equal(await vkey(origin, publicKey), `${origin}+${digest.subarray(0, 4).toString('hex')}+${typed}`);
    // The note's signature line carries that key id.
    assert.deepEqual(parseNote(note).signatures[0].keyId, new Uint8Array(digest.subarray(0, 4)));
  });

  it('parses the note and verifies it under the pinned key', async () => {
    const parsed = parseNote(note);
    assert.equal(parsed.text.split('\n').length, 4);
    assert.equal(parsed.signatures.length, 1);
    assert.equal(parsed.signatures[0].name, 'test.example/city/air');
    assert.equal(parsed.signatures[0].signature.length, 64);
    const { checkpoint, text } = await verifyCheckpointNote(note, publicKey);
    assert.equal(checkpoint.origin, 'test.example/city/air');
    assert.equal(checkpoint.size, 37);
    assert.equal(text, parsed.text);
    await assert.rejects(verifyCheckpointNote(note, new Uint8Array(32).fill(9)), /not a canonical Ed25519 point|small-order|no signature/);
  });

  it('refuses malformed notes', () => {
    const [text, sig] = note.split('\n\n');
    for (const [bad, why] of [
      [`${text}\n\n`, /no signature lines/],
      [`${text}\n${sig}`, /no blank line/],
      [`${text}\n\n${sig.trimEnd()}`, /does not end with a newline/],
      [`${text}\n\n${sig.replace('\u2014', '-')}`, /is not "\u2014 <name> <base64>"/],
      [`${text}\n\n${sig.replace(' ', '\u00a0')}`, /is not "\u2014 <name> <base64>"|invalid key name/],
      [`${text}\n\n\u2014 a+b AAAAAAA=\n`, /invalid key name/],
      [`${text}\n\n\u2014 a AAAA\n`, /shorter than a key id/],
      [`${text}\n\n\u2014 a AAAAAAB=\n`, /canonical base64/],
      [`${text}\r\n\n${sig}`, /control character/],
      [`${text}\n\n${sig}\u2014 w ${'A'.repeat(131072)}\n`, /at most 131072/],
    ]) {
      assert.throws(() => parseNote(bad), why, JSON.stringify(bad.slice(-40)));
    }
  });

  it('adds the cofactorless equation that noble with zip215: false does not check', async () => {
    const f = fixture('record 0: torsion key, k not a multiple of 8');
    const crafted = JSON.parse(f.bundle).checkpoint;
    const key = base64Decode(f.expect.publicKey);
    const parsed = parseNote(crafted);
    // The pinned, vendored noble accepts it: its strict branch tests [8]([S]B - R - [k]A) = 0.
    const nobleSays = await ed.verifyAsync(parsed.signatures[0].signature, new TextEncoder().encode(parsed.text), key, { zip215: false });
    assert.equal(nobleSays, true);
    // verify.js, like ed25519-dalek's verify_strict, refuses it.
    await assert.rejects(verifyCheckpointNote(crafted, key), /cofactorless/);
    // With k ≡ 0 (mod 8) both equations hold and both accept.
    const g = fixture('record 0: torsion key, k a multiple of 8');
    await verifyCheckpointNote(JSON.parse(g.bundle).checkpoint, base64Decode(g.expect.publicKey));
  });
});

describe('verifyBundle', () => {
  const record0 = fixture('record 0: as served');
  const erased = fixture('erased record 5: as served');

  it('reports every step by name, stopping at the first failure', async () => {
    const ok = await verifyBundle(record0.bundle, record0.expect);
    assert.equal(ok.ok, true);
    assert.equal(ok.failedStep, null);
    assert.deepEqual(ok.steps.map((s) => s.name), STEP_NAMES);
    assert.deepEqual(ok.steps.map((s) => s.status), ['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'skipped', 'skipped']);
    assert.equal(ok.steps[7].detail, 'bundle has no anchor');
    assert.deepEqual(ok.checkpoint, { origin: 'test.example/city/air', size: 37, root: ok.checkpoint.root });
    assert.match(ok.scopeNote, /does not prove that the entry is the current version/);
    for (const s of ok.steps) assert.deepEqual(Object.keys(s), ['name', 'status', 'detail']);

    const bad = await verifyBundle(record0.bundle, { ...record0.expect, seq: 1 });
    assert.equal(bad.ok, false);
    assert.equal(bad.failedStep, 5);
    assert.equal(bad.steps[5].status, 'fail');
    assert.match(bad.steps[5].detail, /envelope seq 0 is not the expected seq 1/);
    assert.deepEqual(bad.steps.slice(6).map((s) => s.status), ['skipped', 'skipped', 'skipped']);
  });

  it('passes an erased record as "erased by seq N (reason R)", with the anchor only claimed', async () => {
    const r = await verifyBundle(new TextEncoder().encode(erased.bundle), erased.expect);
    assert.equal(r.ok, true);
    assert.deepEqual(r.steps[2], { name: 'payload', status: 'pass', detail: 'erased by seq 36 (reason legal-erasure)' });
    assert.deepEqual(r.erasedBy, { seq: 36, reason: 'legal-erasure' });
    assert.deepEqual(r.steps[7], { name: 'anchor-offline', status: 'pass', detail: 'anchor claimed, not checked on chain' });
    assert.equal(r.steps[8].status, 'skipped');
  });

  it('keeps steps 3 and 4 passed when the erasure entry is not in the verified tree', async () => {
    const f = fixture('erased record 5: a genuine checkpoint of another size');
    const r = await verifyBundle(f.bundle, f.expect);
    assert.equal(r.failedStep, 2);
    assert.deepEqual(r.steps.map((s) => s.status), ['pass', 'pass', 'fail', 'pass', 'pass', 'skipped', 'skipped', 'skipped', 'skipped']);
    assert.match(r.steps[2].detail, /erasure entry is not included in the checkpoint/);
  });

  it('accepts an already-parsed bundle, saying what it could not check', async () => {
    for (const f of [record0, erased]) {
      const parsed = JSON.parse(f.bundle);
      const r = await verifyBundle(parsed, f.expect);
      assert.equal(r.ok, true, f.name);
      assert.match(r.steps[0].detail, /duplicate member names could not be checked/);
    }
    const tampered = JSON.parse(record0.bundle);
    tampered.payload.pm10 = 11;
    assert.equal((await verifyBundle(tampered, record0.expect)).failedStep, 2);
    const notJson = JSON.parse(record0.bundle);
    notJson.payload.when = new Date(0);
    assert.equal((await verifyBundle(notJson, record0.expect)).failedStep, 0);
    assert.equal((await verifyBundle(42, record0.expect)).failedStep, 0);
  });

  it('with requireAnchor, a missing anchor or on-chain check fails', async () => {
    const noAnchor = await verifyBundle(record0.bundle, { ...record0.expect, requireAnchor: true });
    assert.equal(noAnchor.failedStep, 7);
    assert.match(noAnchor.steps[7].detail, /no anchor/);
    const offline = await verifyBundle(erased.bundle, { ...erased.expect, requireAnchor: true });
    assert.equal(offline.failedStep, 8);
    assert.match(offline.steps[8].detail, /no anchor trust pinned, and an on-chain check is required/);
  });

  it('throws TypeError for unusable options, never a verdict', async () => {
    const e = record0.expect;
    for (const bad of [
      { ...e, origin: undefined },
      { ...e, prefix: 1 },
      { ...e, publicKey: 'AAAA' },
      { ...e, publicKey: `${e.publicKey} ` },
      { ...e, seq: -1 },
      { ...e, seq: 1.5 },
      { ...e, chainId: 31337 },
      { ...e, chainId: '0x7a69', contract: `0x${'1'.repeat(40)}`, anchorer: `0x${'2'.repeat(40)}`, codeHash: `0x${'3'.repeat(64)}` },
      { ...e, requireAnchor: 'yes' },
      { ...e, finality: 'latest' },
      { ...e, finality: { confirmations: 0 } },
      { ...e, rpc: 'not a url' },
    ]) {
      await assert.rejects(verifyBundle(record0.bundle, bad), TypeError, JSON.stringify(bad));
    }
    assert.equal((await verifyBundle(record0.bundle, { ...e, publicKey: base64Decode(e.publicKey), seq: 0n })).ok, true);
  });
});
