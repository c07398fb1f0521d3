// The shared test vectors every civicproof implementation passes (PROTOCOL.md): RFC 6962 / 9162
// inclusion and consistency (transparency-dev/merkle, with the one documented exception of
// vectors/rfc6962/SOURCE.md) and RFC 8785 (cyberphone/json-canonicalization), plus the number
// vectors of PROTOCOL.md section 2.
//
// The shared directory is $CIVICPROOF_SHARED_DIR, else `../shared` beside the repository (where
// the Rust tests look too); the tests fail loudly when it is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { base64Decode, canonicalize, parseStrict, verifyConsistency, verifyInclusion } from '../verify.js';

/** The single case SOURCE.md lists: upstream skips length checks for equal sizes; we do not. */
const EXPECTED_DISAGREEMENT = 'consistency/additional/sizes-are-equal-one-and-proof-is-empty.json';

function sharedDir() {
  const dir = process.env.CIVICPROOF_SHARED_DIR ?? fileURLToPath(new URL('../../../shared', import.meta.url));
  if (!existsSync(join(dir, 'vectors', 'rfc6962')) || !existsSync(join(dir, 'vectors', 'jcs'))) {
    throw new Error(`test vectors missing under ${dir}/vectors; set CIVICPROOF_SHARED_DIR to the shared directory`);
  }
  return dir;
}

const vectors = join(sharedDir(), 'vectors');

function jsonFiles(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? jsonFiles(path) : name.endsWith('.json') ? [path] : [];
    })
    .sort();
}

/**
 * A vector case. Sizes and indices go up to 2^64 - 1, beyond exact JS numbers, so they are read
 * from the text as BigInt; the rest comes from JSON.parse (the files are trusted test data).
 */
function readCase(path) {
  const text = readFileSync(path, 'utf8');
  const data = JSON.parse(text);
  for (const [, name, digits] of text.matchAll(/"(leafIdx|treeSize|size1|size2)":\s*(\d+)/g)) {
    data[name] = BigInt(digits);
  }
  return data;
}

function b64(s) {
  const bytes = base64Decode(s);
  assert.ok(bytes, `vector hash ${s} is not canonical base64`);
  return bytes;
}

const proof = (c) => (c.proof ?? []).map(b64);

async function outcome(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

test('RFC 6962 inclusion vectors', async () => {
  const files = jsonFiles(join(vectors, 'rfc6962', 'inclusion'));
  assert.equal(files.length, 98, 'the inclusion vector set changed');
  let accepted = 0;
  for (const path of files) {
    const c = readCase(path);
    const err = await outcome(verifyInclusion(b64(c.leafHash), c.leafIdx, c.treeSize, proof(c), b64(c.root)));
    assert.equal(err !== null, c.wantErr, `${relative(vectors, path)} (${c.desc}): ${err?.message ?? 'accepted'}`);
    if (err) assert.equal(err.name, 'VerifyError', `${path}: ${err}`);
    accepted += c.wantErr ? 0 : 1;
  }
  assert.equal(accepted, 6, 'happy paths');
});

test('RFC 6962 consistency vectors, with the one documented exception', async () => {
  const files = jsonFiles(join(vectors, 'rfc6962', 'consistency'));
  assert.equal(files.length, 98, 'the consistency vector set changed');
  let accepted = 0;
  let disagreements = 0;
  for (const path of files) {
    const name = relative(join(vectors, 'rfc6962'), path).split('\\').join('/');
    const c = readCase(path);
    const err = await outcome(verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), proof(c)));
    if (name === EXPECTED_DISAGREEMENT) {
      assert.equal(c.wantErr, false, `${name} no longer expects success; update SOURCE.md`);
      assert.equal(err?.message, 'first root is 12 bytes, not 32', name);
      disagreements++;
      continue;
    }
    assert.equal(err !== null, c.wantErr, `${name} (${c.desc}): ${err?.message ?? 'accepted'}`);
    if (err) assert.equal(err.name, 'VerifyError', `${name}: ${err}`);
    accepted += c.wantErr ? 0 : 1;
  }
  assert.equal(disagreements, 1, `${EXPECTED_DISAGREEMENT} not found`);
  assert.equal(accepted, 5, 'happy paths');
});

test('RFC 8785 vectors: every input canonicalizes to its output', () => {
  const dir = join(vectors, 'jcs');
  const names = readdirSync(join(dir, 'input')).sort();
  assert.deepEqual(names, ['arrays.json', 'french.json', 'structures.json', 'unicode.json', 'values.json', 'weird.json']);
  for (const name of names) {
    const value = parseStrict(readFileSync(join(dir, 'input', name)));
    const actual = Buffer.from(new TextEncoder().encode(canonicalize(value)));
    const expected = readFileSync(join(dir, 'output', name));
    assert.equal(actual.toString('utf8'), expected.toString('utf8'), name);
    assert.ok(actual.equals(expected), `${name}: bytes differ`);
  }
});

test('PROTOCOL.md section 2 number vectors', () => {
  assert.throws(() => parseStrict('9007199254740993'), /2\^53-1/);
  assert.throws(() => parseStrict('{"x":-9007199254740992}'), /2\^53-1/);
  assert.equal(canonicalize(parseStrict('9007199254740991')), '9007199254740991');
  assert.equal(canonicalize(parseStrict('1e21')), '1e+21');
  assert.equal(canonicalize(parseStrict('-0')), '0');
  assert.equal(canonicalize(parseStrict('17.20')), '17.2');
  assert.equal(canonicalize(parseStrict('{"pm10":17.20}')), '{"pm10":17.2}');
});
