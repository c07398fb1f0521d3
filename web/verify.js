// civicproof browser verifier: PROTOCOL.md section 7, steps 0-8, in one ES module.
//
// It runs unchanged in browsers (also from file://) and in Node >= 20, needs no build step and
// touches the network only for the optional step-8 JSON-RPC calls to the endpoint the caller
// names. It is written independently of the Rust verifier (verify/src) but follows it step by
// step, so both reject the same bundle at the same step; web/test/ checks that on fixtures the
// Rust code generated. Hashing uses WebCrypto; Ed25519 uses one vendored, pinned
// @noble/ed25519 (web/vendor/README.md), never WebCrypto's Ed25519, whose rules differ between
// browsers; keccak256 (step 8's code hash) uses a vendored, pinned @noble/hashes.

import * as ed from './vendor/noble-ed25519-3.2.0.js';
import { keccak_256 } from './vendor/noble-hashes-2.4.0/sha3.js';

// ---------------------------------------------------------------------------------------------
// Constants of PROTOCOL.md
// ---------------------------------------------------------------------------------------------

/**
 * The steps of PROTOCOL.md section 7, in order: the index is the step number. The one table of
 * steps here; the Rust verifier's `Step` enum (verify/src/bundle/report.rs) has the same, and
 * its test `step_table_agrees_with_verify_js` compares the two.
 */
export const STEP_NAMES = Object.freeze([
  'format',
  'lengths',
  'payload',
  'leaf',
  'checkpoint-signature',
  'checkpoint-binding',
  'inclusion',
  'anchor-offline',
  'anchor-online',
]);

/** Step numbers by name, from the table above: `STEP['anchor-offline']` is 7. */
export const STEP = Object.freeze(Object.fromEntries(STEP_NAMES.map((name, i) => [name, i])));

/** What every verifier output must say about the limits of a bundle (section 7). */
export const SCOPE_NOTE =
  'A bundle proves inclusion at one tree size; it does not prove that the entry is the ' +
  'current version of its key or that it was not erased later.';

/** Said of a passed step 7 while step 8 did not check the batch root on chain. */
export const ANCHOR_UNCHECKED = 'anchor claimed, not checked on chain';

const FORMAT = 'civicproof/bundle/v1';
const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
/** Payload nesting limit (section 2). */
const MAX_DEPTH = 64;
/**
 * Bundle nesting limit. A payload may be 64 deep and sits one level inside the bundle, so a
 * literal 64 would make publishable records unverifiable; like verify/src/bundle/format.rs
 * (MAX_BUNDLE_DEPTH) we allow one more level. The payload itself then is at most 64 deep.
 */
const MAX_BUNDLE_DEPTH = MAX_DEPTH + 1;
const MAX_PATH_LEN = 64;
const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_NOTE_BYTES = 128 * 1024;
const MAX_KEY_BYTES = 256;
/** A published_at later than the anchor block's time by more than this fails step 8. */
const MAX_CLOCK_LEAD_SECONDS = 300;

/** The anchor contract's ABI (section 5). */
const ROOT_OF_SELECTOR = '5c259bc5'; // rootOf(address,uint64)
const ANCHORED_TOPIC0 = '0x78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed';
const LOCAL_CHAIN_ID = 31337n;

/** Every refusal carries its reason as the message; verifyBundle reports it as the detail. */
export class VerifyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VerifyError';
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes, hex, base64, UTF-8
// ---------------------------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();
// `fatal` refuses invalid UTF-8 (including encoded surrogates); `ignoreBOM` keeps a leading BOM
// so that the parser can refuse it instead of having it silently stripped.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const utf8 = (s) => utf8Encoder.encode(s);

/** UTF-8 length of a well-formed string, without allocating. */
function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a pair: the low half is skipped
      i++;
    } else n += 3;
  }
  return n;
}

function concatBytes(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

const HEX_DIGITS = '0123456789abcdef';

function bytesToHex(bytes) {
  let s = '';
  for (const b of bytes) s += HEX_DIGITS[b >> 4] + HEX_DIGITS[b & 15];
  return s;
}

/** Value of a lowercase hex digit's char code, or -1: uppercase is not a spelling we accept. */
function hexValue(c) {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** Exactly 2*n lowercase hex digits (no 0x) as n bytes, else null (section 1). */
function decodeLowerHex(s, n) {
  if (typeof s !== 'string' || s.length !== 2 * n) return null;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const hi = hexValue(s.charCodeAt(2 * i));
    const lo = hexValue(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const isLowerHex = (s) => /^[0-9a-f]*$/.test(s);

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUES[B64_ALPHABET.charCodeAt(i)] = i;

/** Standard base64 with padding (RFC 4648 section 4). */
export function base64Encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += B64_ALPHABET[(n >> 18) & 63] + B64_ALPHABET[(n >> 12) & 63];
    s += i + 1 < bytes.length ? B64_ALPHABET[(n >> 6) & 63] : '=';
    s += i + 2 < bytes.length ? B64_ALPHABET[n & 63] : '=';
  }
  return s;
}

/**
 * Canonical standard base64 (section 1): padding required, pad bits zero, no whitespace, else
 * null. Every value has exactly one accepted spelling, so signed text cannot be respelled; the
 * final re-encoding makes that explicit instead of trusting the decoder's leniency.
 */
export function base64Decode(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0) return null;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const body = s.length - pad;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < body; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_VALUES[c] : -1;
    if (v < 0) return null; // also a '=' inside the text
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (at < out.length) out[at++] = (acc >> bits) & 0xff;
    }
  }
  if (at !== out.length) return null;
  return base64Encode(out) === s ? out : null;
}

/** Whether a JS string is valid Unicode text (no lone surrogate code units). */
const isWellFormed = String.prototype.isWellFormed ? (s) => s.isWellFormed() : isWellFormedSlow;

/** For engines without String.prototype.isWellFormed (before 2023). */
function isWellFormedSlow(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// SHA-256 and the RFC 6962 hashes (WebCrypto)
// ---------------------------------------------------------------------------------------------

function subtleCrypto() {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    // Browsers expose WebCrypto only in secure contexts (https, localhost, file://).
    throw new Error('WebCrypto (crypto.subtle) is not available in this context');
  }
  return subtle;
}

async function sha256(bytes) {
  return new Uint8Array(await subtleCrypto().digest('SHA-256', bytes));
}

/** SHA-256(0x00 || data): the 0x00 prefix keeps a leaf from posing as an interior node. */
export async function leafHash(data) {
  const buf = new Uint8Array(data.length + 1);
  buf.set(data, 1);
  return sha256(buf);
}

/** SHA-256(0x01 || left || right). */
async function nodeHash(left, right) {
  const buf = new Uint8Array(65);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 33);
  return sha256(buf);
}

// ---------------------------------------------------------------------------------------------
// Strict JSON (PROTOCOL.md section 2 "JSON rules", section 7 step 0)
// ---------------------------------------------------------------------------------------------

/**
 * Parses one JSON text under every rule civicproof needs: RFC 8259 grammar; no duplicate member
 * names, no U+0000, no lone surrogates (I-JSON); nesting at most `maxDepth` (`{}` is depth 1);
 * integer literals within +-(2^53 - 1); numbers finite as IEEE-754 doubles. JSON.parse cannot be
 * used: it keeps the last of two duplicate names and accepts lone surrogates, so two verifiers
 * could see different values in the same bytes.
 *
 * `input` is the raw bytes (Uint8Array, must be UTF-8) or a string. Objects come back with a
 * null prototype, so a member named "__proto__" is an ordinary member and nothing is inherited.
 * Throws VerifyError.
 */
export function parseStrict(input, { maxDepth = MAX_DEPTH } = {}) {
  const text = inputText(input);
  if (text.charCodeAt(0) === 0xfeff) {
    throw new VerifyError('invalid JSON at offset 0: a byte order mark is not allowed');
  }
  return new JsonParser(text, maxDepth).document();
}

function inputText(input) {
  if (typeof input === 'string') {
    // A JS string can hold lone surrogates, which no UTF-8 byte sequence encodes.
    if (!isWellFormed(input)) throw new VerifyError('JSON text is not valid UTF-8');
    return input;
  }
  if (input instanceof ArrayBuffer) input = new Uint8Array(input);
  if (ArrayBuffer.isView(input)) {
    try {
      return utf8Decoder.decode(input);
    } catch {
      throw new VerifyError('JSON text is not valid UTF-8');
    }
  }
  throw new TypeError('parseStrict expects a string or bytes');
}

class JsonParser {
  constructor(text, maxDepth) {
    this.text = text;
    this.pos = 0;
    this.maxDepth = maxDepth;
  }

  document() {
    const value = this.value(0);
    this.skipWs();
    if (this.pos < this.text.length) {
      throw new VerifyError(`unexpected data after the JSON value at offset ${this.pos}`);
    }
    return value;
  }

  syntax(expected) {
    return new VerifyError(`invalid JSON at offset ${this.pos}: expected ${expected}`);
  }

  skipWs() {
    const t = this.text;
    let c = t.charCodeAt(this.pos);
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = t.charCodeAt(++this.pos);
  }

  /** One value; `depth` is the number of containers around it. */
  value(depth) {
    this.skipWs();
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        throw this.syntax('a JSON value');
    }
  }

  /** Refuses a container opened at nesting `depth` beyond the limit, before reading it. */
  enter(depth) {
    if (depth > this.maxDepth) throw new VerifyError(`JSON nests deeper than ${this.maxDepth} levels`);
    this.pos++;
    this.skipWs();
  }

  object(depth) {
    this.enter(depth);
    const obj = Object.create(null);
    if (this.eat(0x7d)) return obj;
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) throw this.syntax('a member name');
      const name = this.string();
      // Compared after unescaping, as I-JSON requires.
      if (Object.hasOwn(obj, name)) throw new VerifyError(`duplicate member name ${JSON.stringify(name)}`);
      this.skipWs();
      if (!this.eat(0x3a)) throw this.syntax("':'");
      obj[name] = this.value(depth);
      this.skipWs();
      if (this.eat(0x7d)) return obj;
      if (!this.eat(0x2c)) throw this.syntax("',' or '}'");
      this.skipWs();
    }
  }

  array(depth) {
    this.enter(depth);
    const items = [];
    if (this.eat(0x5d)) return items;
    for (;;) {
      items.push(this.value(depth));
      this.skipWs();
      if (this.eat(0x5d)) return items;
      if (!this.eat(0x2c)) throw this.syntax("',' or ']'");
    }
  }

  eat(code) {
    if (this.text.charCodeAt(this.pos) !== code) return false;
    this.pos++;
    return true;
  }

  literal(word, value) {
    if (!this.text.startsWith(word, this.pos)) throw this.syntax(word);
    this.pos += word.length;
    return value;
  }

  /** A string from its opening quote, unescaped. */
  string() {
    const t = this.text;
    this.pos++;
    let out = '';
    for (;;) {
      const start = this.pos;
      let c = t.charCodeAt(this.pos);
      while (c !== 0x22 && c !== 0x5c && c >= 0x20) c = t.charCodeAt(++this.pos);
      out += t.slice(start, this.pos);
      if (c === 0x22) {
        this.pos++;
        return out;
      }
      if (c === 0x5c) {
        this.pos++;
        out += this.escape();
      } else if (c === 0) {
        throw new VerifyError('strings must not contain the character U+0000');
      } else if (Number.isNaN(c)) {
        throw this.syntax("'\"' to end the string");
      } else {
        throw this.syntax('an escape sequence instead of a control character');
      }
    }
  }

  escape() {
    const c = this.text[this.pos];
    if (c === 'u') return this.unicodeEscape();
    if (c === undefined || !Object.hasOwn(SIMPLE_ESCAPES, c)) {
      throw this.syntax(`one of '"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u'`);
    }
    this.pos++;
    return SIMPLE_ESCAPES[c];
  }

  /** `uXXXX` after the backslash, joined with the low surrogate that must follow a high one. */
  unicodeEscape() {
    this.pos++;
    const unit = this.hex4();
    const lone = () => new VerifyError('strings must not contain lone surrogates (unpaired \\uD800-\\uDFFF escapes)');
    if (unit >= 0xd800 && unit <= 0xdbff) {
      if (!this.text.startsWith('\\u', this.pos)) throw lone();
      this.pos += 2;
      const low = this.hex4();
      if (low < 0xdc00 || low > 0xdfff) throw lone();
      return String.fromCharCode(unit, low);
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) throw lone();
    if (unit === 0) throw new VerifyError('strings must not contain the character U+0000');
    return String.fromCharCode(unit);
  }

  hex4() {
    const digits = this.text.slice(this.pos, this.pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw this.syntax("four hex digits after '\\u'");
    this.pos += 4;
    return parseInt(digits, 16);
  }

  /** A number by the exact RFC 8259 grammar, as the nearest double. */
  number() {
    const t = this.text;
    const start = this.pos;
    this.eat(0x2d);
    const intStart = this.pos;
    if (this.eat(0x30)) {
      if (isDigit(t.charCodeAt(this.pos))) throw this.syntax("'.', 'e' or the end of the number (no leading zeros)");
    } else if (isDigit(t.charCodeAt(this.pos))) {
      this.digits();
    } else {
      throw this.syntax('a digit');
    }
    const intEnd = this.pos;
    let integer = true;
    if (this.eat(0x2e)) {
      integer = false;
      this.requireDigits('a digit after the decimal point');
    }
    const e = t.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      this.pos++;
      if (!this.eat(0x2b)) this.eat(0x2d);
      this.requireDigits('a digit in the exponent');
    }
    // An integer literal beyond 2^53 - 1 would silently change value as a double; the sender
    // must send it as a string. (A 16-digit literal above the limit rounds to >= 2^53.)
    const digits = t.slice(intStart, intEnd);
    if (integer && (digits.length > 16 || Number(digits) > MAX_SAFE)) {
      throw new VerifyError('integer magnitude above 2^53-1 (9007199254740991); send it as a string');
    }
    // ECMAScript's string-to-number conversion rounds correctly, as Rust's f64 parsing does.
    const value = Number(t.slice(start, this.pos));
    if (!Number.isFinite(value)) throw new VerifyError('number is out of the IEEE-754 double range');
    // A value like 1e16 is no integer literal, but its canonical form (plain digits below
    // 10^21) is one beyond 2^53 - 1; the Rust verifier and the server refuse it too.
    if (Math.abs(value) > MAX_SAFE && Math.abs(value) < 1e21) {
      throw new VerifyError('integer magnitude above 2^53-1 (9007199254740991); send it as a string');
    }
    return value;
  }

  digits() {
    while (isDigit(this.text.charCodeAt(this.pos))) this.pos++;
  }

  requireDigits(expected) {
    if (!isDigit(this.text.charCodeAt(this.pos))) throw this.syntax(expected);
    this.digits();
  }
}

const isDigit = (c) => c >= 0x30 && c <= 0x39;

const SIMPLE_ESCAPES = Object.freeze({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' });

// ---------------------------------------------------------------------------------------------
// RFC 8785 canonicalization (JCS)
// ---------------------------------------------------------------------------------------------

/**
 * RFC 8785 canonical form of a JSON value, as a string (hash its UTF-8 bytes). Member names sort
 * by UTF-16 code units (JS's default string order), strings use JSON.stringify's minimal
 * escaping and numbers ECMAScript's Number-to-string, which is what RFC 8785 specifies; -0 is
 * written 0. Refuses what JSON cannot hold (non-finite numbers, lone surrogates, undefined,
 * functions, non-plain objects) with a VerifyError.
 */
export function canonicalize(value) {
  return jcs(value, 0);
}

/** Far deeper than anything parseStrict returns; only guards hand-made cyclic values. */
const MAX_CANONICALIZE_DEPTH = 1000;

function jcs(v, depth) {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new VerifyError('number is not finite');
      return String(v); // String(-0) === '0'
    case 'string':
      if (!isWellFormed(v)) throw new VerifyError('strings must not contain lone surrogates');
      return JSON.stringify(v);
    case 'object': {
      if (depth >= MAX_CANONICALIZE_DEPTH) throw new VerifyError('value nests too deeply');
      if (Array.isArray(v)) return '[' + v.map((item) => jcs(item, depth + 1)).join(',') + ']';
      const proto = Object.getPrototypeOf(v);
      if (proto !== null && proto !== Object.prototype) throw new VerifyError('not a JSON object');
      const names = Object.keys(v).sort();
      const members = names.map((name) => jcs(name, depth) + ':' + jcs(v[name], depth + 1));
      return '{' + members.join(',') + '}';
    }
    default:
      throw new VerifyError(`a ${typeof v} is not a JSON value`);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// RFC 9162 section 2.1 proofs
// ---------------------------------------------------------------------------------------------

// Indices and sizes are unsigned 64-bit in RFC 9162 (and in the vectors), beyond what a JS
// number holds exactly, so the algorithms run on BigInt.
const U64_MAX = (1n << 64n) - 1n;

function toU64(x, what) {
  if (typeof x === 'bigint' && x >= 0n && x <= U64_MAX) return x;
  if (Number.isSafeInteger(x) && x >= 0) return BigInt(x);
  throw new TypeError(`${what} must be an unsigned 64-bit integer`);
}

const bitLength = (x) => (x === 0n ? 0 : x.toString(2).length);

function popCount(x) {
  let n = 0;
  for (const d of x.toString(2)) if (d === '1') n++;
  return n;
}

function trailingZeros(x) {
  let n = 0;
  while (x > 0n && (x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

const isPowerOfTwo = (x) => x > 0n && (x & (x - 1n)) === 0n;

/** Checks that every proof argument is a 32-byte hash; lengths come first (SOURCE.md). */
function requireHash(bytes, describe) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
    throw new VerifyError(describe(bytes?.length ?? 0));
  }
  return bytes;
}

function requireHashes(list, what) {
  return list.map((p, index) => requireHash(p, (len) => `${what} element ${index} is ${len} bytes, not 32`));
}

/** Path length for leaf `index` of a tree of `size` (index < size). */
function inclusionPathLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return inner + popCount(index >> BigInt(inner));
}

/**
 * RFC 9162 section 2.1.3.2 steps 1-5: the root that `path` leads to from `leaf` at `index` of a
 * tree of `size`. Order: every hash length, index < size, exact path length, then the RFC loop.
 */
export async function inclusionRoot(leaf, index, size, path) {
  requireHash(leaf, (len) => `leaf hash is ${len} bytes, not 32`);
  const hashes = requireHashes(path, 'inclusion path');
  const i = toU64(index, 'index');
  const n = toU64(size, 'size');
  if (i >= n) throw new VerifyError(`leaf index ${i} is not below tree size ${n}`);
  const want = inclusionPathLength(i, n);
  const wrongLength = () =>
    new VerifyError(`inclusion path has ${hashes.length} elements; leaf ${i} of a tree of size ${n} needs ${want}`);
  if (hashes.length !== want) throw wrongLength();
  // `f` and `s` are the RFC's `fn` and `sn`.
  let f = i;
  let s = n - 1n;
  let r = leaf;
  for (const p of hashes) {
    if (s === 0n) throw wrongLength();
    if ((f & 1n) === 1n || f === s) {
      r = await nodeHash(p, r);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    f >>= 1n;
    s >>= 1n;
  }
  if (s !== 0n) throw wrongLength();
  return r;
}

/**
 * RFC 9162 section 2.1.3.2: `leaf` (a leaf hash) is at `index` of the tree of `size` with
 * `root`. All arguments are bytes (Uint8Array) except index and size (number or bigint). Every
 * hash length is checked first (SOURCE.md). Resolves on success, rejects with a VerifyError.
 */
export async function verifyInclusion(leaf, index, size, path, root) {
  requireHash(leaf, (len) => `leaf hash is ${len} bytes, not 32`);
  requireHash(root, (len) => `root hash is ${len} bytes, not 32`);
  checkRoot(await inclusionRoot(leaf, index, size, path), root);
}

/** The RFC's last step: the computed root is the expected one. */
function checkRoot(computed, root) {
  if (!equalBytes(computed, root)) throw new VerifyError('inclusion path does not lead to the root');
}

/** Proof length between sizes 0 < size1 < size2. */
function consistencyProofLength(size1, size2) {
  const inner = bitLength((size1 - 1n) ^ (size2 - 1n));
  const border = popCount((size1 - 1n) >> BigInt(inner));
  const shift = trailingZeros(size1);
  const seed = isPowerOfTwo(size1) ? 0 : 1;
  return inner - shift + border + seed;
}

/**
 * RFC 9162 section 2.1.4.2 with the conventions of PROTOCOL.md ("Consistency") and
 * shared/vectors/rfc6962/SOURCE.md. Order: every hash length; size2 < size1; size1 == 0; equal
 * sizes (empty proof, equal roots); exact proof length; the RFC loop.
 */
export async function verifyConsistency(size1, size2, root1, root2, proof) {
  requireHash(root1, (len) => `first root is ${len} bytes, not 32`);
  requireHash(root2, (len) => `second root is ${len} bytes, not 32`);
  const hashes = requireHashes(proof, 'consistency proof');
  const m = toU64(size1, 'size1');
  const n = toU64(size2, 'size2');
  if (n < m) throw new VerifyError(`second size ${n} is smaller than first size ${m}`);
  // Consistency from the empty tree holds trivially; asking for it is a caller error.
  if (m === 0n) throw new VerifyError('first size is 0; consistency from the empty tree is not proved');
  if (m === n) {
    if (hashes.length !== 0) throw new VerifyError('sizes are equal but the proof is not empty');
    if (!equalBytes(root1, root2)) throw new VerifyError('sizes are equal but the roots differ');
    return;
  }
  const want = consistencyProofLength(m, n);
  const wrongLength = () =>
    new VerifyError(`consistency proof has ${hashes.length} elements; sizes ${m} and ${n} need ${want}`);
  if (hashes.length !== want) throw wrongLength();
  // Step 2: when size1 is a power of two its root is the seed and is not in the proof.
  const path = isPowerOfTwo(m) ? [root1, ...hashes] : hashes;
  // Steps 3-4.
  let f = m - 1n;
  let s = n - 1n;
  while ((f & 1n) === 1n) {
    f >>= 1n;
    s >>= 1n;
  }
  // Steps 5-6.
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (s === 0n) throw wrongLength();
    if ((f & 1n) === 1n || f === s) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    f >>= 1n;
    s >>= 1n;
  }
  // Step 7.
  if (s !== 0n) throw wrongLength();
  if (!equalBytes(fr, root1)) throw new VerifyError('consistency proof does not reproduce the first root');
  if (!equalBytes(sr, root2)) throw new VerifyError('consistency proof does not reproduce the second root');
}

// ---------------------------------------------------------------------------------------------
// Envelopes (section 2), origins and timestamps (section 1)
// ---------------------------------------------------------------------------------------------

const RECORD_FIELDS = ['v', 'kind', 'dataset', 'seq', 'key', 'published_at', 'payload_digest', 'supersedes'];
const ERASURE_FIELDS = ['v', 'kind', 'dataset', 'seq', 'erases', 'published_at', 'reason'];
const ERASURE_REASONS = ['legal-erasure', 'court-order', 'publisher-error', 'other'];

const PREFIX_RE = /^[a-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._~-]+)*$/;
const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** `<prefix>/<institution-slug>/<dataset-slug>` (section 1). */
export function isValidOrigin(s) {
  if (typeof s !== 'string') return false;
  const parts = s.split('/');
  if (parts.length < 3) return false;
  const dataset = parts.pop();
  const institution = parts.pop();
  return SLUG_RE.test(dataset) && SLUG_RE.test(institution) && PREFIX_RE.test(parts.join('/'));
}

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$/;

/**
 * Exactly `YYYY-MM-DDTHH:MM:SS.mmmZ` with a real proleptic Gregorian date (no leap seconds) as
 * Unix milliseconds, else null. One textual form keeps the envelope bytes reproducible.
 */
export function parsePublishedAt(s) {
  const m = typeof s === 'string' ? TIMESTAMP_RE.exec(s) : null;
  if (!m) return null;
  const [year, month, day, hour, minute, second, milli] = m.slice(1).map(Number);
  const valid =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour < 24 && minute < 60 && second < 60;
  if (!valid) return null;
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + milli;
}

const isLeap = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

function daysInMonth(year, month) {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 (Howard Hinnant's days_from_civil; Date.UTC maps years < 100 to 19xx). */
function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function envelopeField(m, field) {
  if (!Object.hasOwn(m, field)) throw new VerifyError(`envelope field "${field}" is missing`);
  return m[field];
}

function envelopeString(m, field) {
  const v = envelopeField(m, field);
  if (typeof v !== 'string') throw new VerifyError(`envelope field "${field}" must be a string`);
  return v;
}

/** An integer in [0, 2^53 - 1]; the strict parser holds every number as a double. */
function envelopeInteger(m, field) {
  const v = envelopeField(m, field);
  if (typeof v !== 'number') throw new VerifyError(`envelope field "${field}" must be an integer`);
  if (!Number.isInteger(v) || v < 0 || v > MAX_SAFE) {
    throw new VerifyError(`envelope field "${field}" must be an integer in [0, 2^53-1]`);
  }
  return v;
}

/** `supersedes` and `erases` always name an earlier entry. */
function earlierThan(m, field, seq) {
  const n = envelopeInteger(m, field);
  if (n >= seq) throw new VerifyError(`envelope field "${field}" must be smaller than seq`);
  return n;
}

// Unicode general category Cc, which is what Rust's char::is_control tests.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

function naturalKey(m) {
  const key = envelopeString(m, 'key');
  const len = utf8Length(key);
  if (len > MAX_KEY_BYTES) throw new VerifyError(`envelope key is ${len} bytes long; at most 256 are allowed`);
  if (CONTROL_RE.test(key)) throw new VerifyError('envelope key must not contain control characters');
  return key;
}

/**
 * Decodes an envelope under every rule of section 2 (exactly its fields, types, ranges, origin,
 * timestamp, key, digest and reason). Leniency here would let two texts describe "the same" entry
 * or let a server smuggle data into a leaf. Returns a plain description; throws VerifyError.
 */
export function decodeEnvelope(m) {
  if (!isObject(m)) throw new VerifyError('envelope must be a JSON object');
  if (envelopeField(m, 'v') !== 1) throw new VerifyError('envelope version must be 1');
  const kind = envelopeString(m, 'kind');
  const fields = kind === 'record' ? RECORD_FIELDS : kind === 'erasure' ? ERASURE_FIELDS : null;
  if (fields === null) {
    throw new VerifyError(`envelope kind ${JSON.stringify(kind)} is unknown (expected "record" or "erasure")`);
  }
  const extra = Object.keys(m).sort().find((k) => !fields.includes(k));
  if (extra !== undefined) throw new VerifyError(`envelope field ${JSON.stringify(extra)} is not allowed`);
  for (const field of fields) envelopeField(m, field);
  const dataset = envelopeString(m, 'dataset');
  if (!isValidOrigin(dataset)) throw new VerifyError('envelope dataset is not a valid dataset origin');
  const seq = envelopeInteger(m, 'seq');
  const publishedAt = envelopeString(m, 'published_at');
  const publishedMs = parsePublishedAt(publishedAt);
  if (publishedMs === null) {
    throw new VerifyError('envelope published_at must be a UTC time like 2026-11-26T10:00:01.123Z');
  }
  const common = { kind, dataset, seq, publishedAt, publishedMs };
  if (kind === 'record') {
    const key = m.key === null ? null : naturalKey(m);
    const digest = decodeLowerHex(envelopeString(m, 'payload_digest'), 32);
    if (!digest) throw new VerifyError('envelope payload_digest must be 64 lowercase hex digits');
    const supersedes = m.supersedes === null ? null : earlierThan(m, 'supersedes', seq);
    return { ...common, key, payloadDigest: digest, supersedes };
  }
  const erases = earlierThan(m, 'erases', seq);
  const reason = envelopeString(m, 'reason');
  if (!ERASURE_REASONS.includes(reason)) {
    throw new VerifyError(
      `erasure reason ${JSON.stringify(reason)} is unknown (expected legal-erasure, court-order, publisher-error or other)`,
    );
  }
  return { ...common, erases, reason };
}

// ---------------------------------------------------------------------------------------------
// C2SP signed notes and checkpoints (sections 1, 4; step 4)
// ---------------------------------------------------------------------------------------------

const ED25519_SIGNATURE_TYPE = 0x01;
const SIGNATURE_PREFIX = '\u2014 '; // EM DASH, space
// Unicode White_Space, which C2SP key names must not contain. (JS's \s differs: it includes
// U+FEFF and omits U+0085.)
const WHITE_SPACE_RE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
// Control characters other than newline. Like Go's note package and the Rust verifier, this means
// the C0 range only; DEL and C1 controls are not refused here.
const NOTE_CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;

/**
 * The signed-note key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
 * `publicKey` is 32 bytes or their base64. Resolves to 4 bytes.
 */
export async function keyId(name, publicKey) {
  const key = publicKeyBytes(publicKey);
  const digest = await sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE), key));
  return digest.slice(0, 4);
}

/** The dataset's vkey `<origin>+<key id hex>+<base64(0x01 || public key)>` (section 1). */
export async function vkey(origin, publicKey) {
  const key = publicKeyBytes(publicKey);
  const id = await keyId(origin, key);
  return `${origin}+${bytesToHex(id)}+${base64Encode(concatBytes(Uint8Array.of(ED25519_SIGNATURE_TYPE), key))}`;
}

/**
 * Parses a signed note (C2SP signed-note plus the limits of step 4) without verifying anything:
 * at most 128 KiB, no control characters but newline, text up to the last blank line, then one
 * or more `— <name> <base64(key id || signature)>` lines. Returns
 * `{ text, signatures: [{ name, keyId, signature }] }`; throws VerifyError.
 */
export function parseNote(note) {
  if (typeof note !== 'string') note = inputText(note);
  const size = utf8Length(note);
  if (size > MAX_NOTE_BYTES) throw new VerifyError(`note is ${size} bytes; at most 131072 are allowed`);
  if (!isWellFormed(note)) throw new VerifyError('note is not valid UTF-8');
  if (NOTE_CONTROL_RE.test(note)) throw new VerifyError('note contains a control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new VerifyError('note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === '') throw new VerifyError('note has no signature lines');
  if (!block.endsWith('\n')) throw new VerifyError("note's last signature line does not end with a newline");
  const signatures = block
    .slice(0, -1)
    .split('\n')
    .map((line, i) => parseSignatureLine(i + 1, line));
  return { text, signatures };
}

function parseSignatureLine(n, line) {
  const space = line.startsWith(SIGNATURE_PREFIX) ? line.indexOf(' ', SIGNATURE_PREFIX.length) : -1;
  if (space < 0) throw new VerifyError(`signature line ${n} is not "\u2014 <name> <base64>"`);
  const name = line.slice(SIGNATURE_PREFIX.length, space);
  if (name === '' || name.includes('+') || WHITE_SPACE_RE.test(name)) {
    throw new VerifyError(`signature line ${n} has an invalid key name`);
  }
  const bytes = base64Decode(line.slice(space + 1));
  if (!bytes) throw new VerifyError(`signature line ${n} is not canonical base64 (RFC 4648 section 4, padded)`);
  if (bytes.length < 5) throw new VerifyError(`signature line ${n} is shorter than a key id and a signature`);
  return { name, keyId: bytes.slice(0, 4), signature: bytes.slice(4) };
}

/** A decimal in [0, 2^53 - 1] without sign or leading zeros, else null. */
function parseDecimal(s) {
  if (!/^(0|[1-9][0-9]*)$/.test(s) || s.length > 16) return null;
  const n = Number(s);
  return n <= MAX_SAFE ? n : null;
}

/** The checkpoint text: exactly `<origin>\n<size>\n<base64 root>\n` (section 4). */
function parseCheckpointText(text) {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : [];
  if (lines.length !== 3) throw new VerifyError('checkpoint text must be exactly three lines (origin, size, root)');
  const [origin, sizeLine, rootLine] = lines;
  if (origin === '') throw new VerifyError('checkpoint origin is empty');
  const size = parseDecimal(sizeLine);
  if (size === null) throw new VerifyError('checkpoint size must be a decimal in [0, 2^53-1] without leading zeros');
  const root = base64Decode(rootLine);
  if (!root || root.length !== 32) throw new VerifyError('checkpoint root must be canonical base64 of 32 bytes');
  return { origin, size, root };
}

/**
 * Step 4: parses the checkpoint note and verifies it under the pinned key. Signature lines whose
 * name is the checkpoint origin and whose key id is derived from the pinned key are the pinned
 * key's: at least one must exist and every one must verify strictly. Other lines (cosignatures)
 * are ignored, as C2SP signed-note requires. Resolves to `{ checkpoint: { origin, size, root },
 * text }`; rejects with a VerifyError.
 */
export async function verifyCheckpointNote(note, publicKey) {
  const key = publicKeyBytes(publicKey);
  const parsed = parseNote(note);
  const checkpoint = parseCheckpointText(parsed.text);
  const A = strictPoint(key, 'public key');
  const id = await keyId(checkpoint.origin, key);
  const ours = parsed.signatures.filter((s) => s.name === checkpoint.origin && equalBytes(s.keyId, id));
  if (ours.length === 0) {
    throw new VerifyError(`no signature by ${checkpoint.origin} with key id ${bytesToHex(id)} (derived from the pinned key)`);
  }
  const message = utf8(parsed.text);
  for (const sig of ours) {
    try {
      await verifyEd25519Strict(A, key, message, sig.signature);
    } catch (e) {
      throw new VerifyError(`checkpoint signature: ${e.message}`);
    }
  }
  return { checkpoint, text: parsed.text };
}

// ---------------------------------------------------------------------------------------------
// Witness cosignatures (PROTOCOL.md section 10): C2SP cosignature/v1, Ed25519
// ---------------------------------------------------------------------------------------------

const COSIGNATURE_V1_TYPE = 0x04;

/** The cosignature/v1 key id: SHA-256(name || 0x0A || 0x04 || public key)[:4]. */
export async function witnessKeyId(name, publicKey) {
  const key = publicKeyBytes(publicKey);
  const digest = await sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, COSIGNATURE_V1_TYPE), key));
  return digest.slice(0, 4);
}

/**
 * Parses a witness vkey `<name>+<key id hex>+<base64(0x04 || public key)>`; resolves to
 * `{ name, publicKey, keyId }`; throws TypeError when it is not one (a pin is the client's input).
 */
export async function parseWitnessVkey(vkey) {
  const bad = () => new TypeError(`witness key ${JSON.stringify(vkey)} is not <name>+<key id hex>+<base64(0x04 || Ed25519 key)>`);
  if (typeof vkey !== 'string') throw bad();
  const first = vkey.indexOf('+');
  const second = vkey.indexOf('+', first + 1);
  if (first <= 0 || second < 0) throw bad();
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const typed = base64Decode(vkey.slice(second + 1));
  if (WHITE_SPACE_RE.test(name) || !/^[0-9a-f]{8}$/.test(idHex) || !typed || typed.length !== 33 || typed[0] !== COSIGNATURE_V1_TYPE) {
    throw bad();
  }
  const publicKey = typed.slice(1);
  const keyId = await witnessKeyId(name, publicKey);
  if (bytesToHex(keyId) !== idHex) throw new TypeError(`witness key ${JSON.stringify(vkey)} has a key id that does not match its name and key`);
  strictPoint(publicKey, 'witness public key');
  return { name, publicKey, keyId };
}

/** The message a cosignature/v1 signs: header, time line, then the note text. */
function cosignedMessage(text, timestamp) {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${text}`);
}

/**
 * Step 4's witness policy: every line of a pinned witness (name and key id) must verify, and at
 * least `threshold` distinct pinned witnesses must have one. `policy` is the parsed
 * `{ threshold, witnesses: [{ name, publicKey, keyId }] }`. Resolves to the cosigners' names.
 */
async function checkWitnessPolicy(parsed, policy) {
  const cosigned = [];
  for (const w of policy.witnesses) {
    const lines = parsed.signatures.filter((s) => s.name === w.name && equalBytes(s.keyId, w.keyId));
    for (const line of lines) {
      if (line.signature.length !== 72) throw new VerifyError(`cosignature by ${w.name} is not a timestamp and an Ed25519 signature`);
      const view = new DataView(line.signature.buffer, line.signature.byteOffset, 8);
      const timestamp = view.getBigUint64(0);
      try {
        await verifyEd25519Strict(strictPoint(w.publicKey, 'witness public key'), w.publicKey, cosignedMessage(parsed.text, timestamp), line.signature.slice(8));
      } catch (e) {
        throw new VerifyError(`cosignature by ${w.name} does not verify: ${e.message}`);
      }
    }
    if (lines.length > 0) cosigned.push(w.name);
  }
  if (cosigned.length < policy.threshold) {
    throw new VerifyError(
      `checkpoint is cosigned by ${cosigned.length} of the pinned witnesses, ${policy.threshold} required (witnesses: ${policy.witnesses.map((w) => w.name).join(', ')})`,
    );
  }
  return cosigned;
}

/** Reads the `witnesses` option `{ threshold?, keys: [vkey, …] }` (threshold default: all). */
async function readWitnessPolicy(w) {
  if (w === undefined || w === null) return null;
  if (!Array.isArray(w.keys) || w.keys.length === 0) throw new TypeError('witnesses.keys must be a non-empty array of witness vkeys');
  const witnesses = [];
  for (const k of w.keys) {
    const parsed = await parseWitnessVkey(k);
    // A cosignature/v1 does not cover the name: one key under two names would count twice.
    if (witnesses.some((x) => x.name === parsed.name || equalBytes(x.publicKey, parsed.publicKey))) {
      throw new TypeError(`witness ${parsed.name} is pinned twice (by name or by key)`);
    }
    witnesses.push(parsed);
  }
  const threshold = w.threshold ?? witnesses.length;
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > witnesses.length) {
    throw new TypeError(`a witness threshold of ${threshold} is not between 1 and the ${witnesses.length} pinned witnesses`);
  }
  return { threshold, witnesses };
}

/**
 * Successful step-4 results by (pinned key, exact note text), so bundles sharing a checkpoint
 * verify its signature once, like the Rust VerifiedNoteCache. The base64 key has a fixed length,
 * so no two (key, note) pairs share a cache key. Failures are never cached.
 */
const noteCache = new Map();
const NOTE_CACHE_CAPACITY = 1024;

async function verifyCheckpointCached(note, publicKey) {
  const cacheKey = base64Encode(publicKey) + note;
  const hit = noteCache.get(cacheKey);
  if (hit) return hit;
  const verified = await verifyCheckpointNote(note, publicKey);
  if (noteCache.size >= NOTE_CACHE_CAPACITY) noteCache.delete(noteCache.keys().next().value);
  noteCache.set(cacheKey, verified);
  return verified;
}

/** Forgets verified notes and confirmed contract code (for benchmarks and tests). */
export function clearCaches() {
  noteCache.clear();
  codeHashCache.clear();
}

// ---------------------------------------------------------------------------------------------
// Strict Ed25519 (RFC 8032 with the rules of step 4)
// ---------------------------------------------------------------------------------------------

const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n; // L

function bytesToBigIntLE(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/**
 * Decodes a point only if it is the canonical encoding of a curve point of more than small order
 * (what ed25519-dalek's verify_strict demands of A and R). `what` names it in the error.
 */
function strictPoint(bytes, what) {
  let point;
  try {
    point = ed.Point.fromBytes(bytes, false); // zip215=false: y < p, no "negative zero" x
  } catch {
    throw new VerifyError(`${what} is not a canonical Ed25519 point`);
  }
  if (!equalBytes(point.toBytes(), bytes)) throw new VerifyError(`${what} is not a canonical Ed25519 point`);
  if (point.isSmallOrder()) throw new VerifyError(`${what} is a small-order point`);
  return point;
}

/**
 * Verifies `signature` (R || S) over `message` under the point `A` (encoded as `publicKey`).
 * @noble/ed25519 with zip215:false checks canonical A and R, S < L and a small-order A, but it
 * tests the cofactored equation [8][S]B = [8]R + [8][k]A. Step 4 requires the cofactorless one
 * (as ed25519-dalek's verify_strict), which differs for keys with a torsion component, and a
 * non-small-order R; both are checked here explicitly on top of noble's verdict.
 */
async function verifyEd25519Strict(A, publicKey, message, signature) {
  if (signature.length !== 64) throw new VerifyError(`signature is ${signature.length} bytes, not 64`);
  const rBytes = signature.subarray(0, 32);
  const R = strictPoint(rBytes, 'signature R');
  const s = bytesToBigIntLE(signature.subarray(32));
  if (s >= GROUP_ORDER) throw new VerifyError('signature S is not reduced modulo L');
  if (!(await ed.verifyAsync(signature, message, publicKey, { zip215: false }))) {
    throw new VerifyError('signature does not verify');
  }
  const h = new Uint8Array(await subtleCrypto().digest('SHA-512', concatBytes(rBytes, publicKey, message)));
  const k = bytesToBigIntLE(h) % GROUP_ORDER;
  const sB = ed.Point.BASE.multiply(s, false);
  const rkA = R.add(A.multiply(k, false));
  if (!sB.equals(rkA)) throw new VerifyError('signature does not verify (cofactorless equation)');
}

/** The pinned key: 32 bytes, or their canonical base64 as in /.well-known. */
function publicKeyBytes(publicKey) {
  const bytes = typeof publicKey === 'string' ? base64Decode(publicKey) : publicKey;
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
    throw new TypeError('publicKey must be 32 bytes or their canonical base64');
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Step 0: format
// ---------------------------------------------------------------------------------------------

const BUNDLE_FIELDS = ['format', 'envelope', 'payload', 'salt', 'leaf_hash', 'inclusion', 'checkpoint', 'erasure', 'anchor', 'anchor_pending'];
const INCLUSION_FIELDS = ['tree_size', 'path'];
const BUNDLE_ERASURE_FIELDS = ['envelope', 'path'];
const ANCHOR_FIELDS = [
  'batch_seq', 'batch_root', 'batch_size', 'batch_index', 'batch_path', 'prev_root', 'chain_id',
  'contract', 'anchorer', 'tx_hash', 'block_number', 'block_hash', 'block_time',
];
const ANCHOR_PENDING_FIELDS = ['batch_seq', 'tx_hash'];

/**
 * An object with exactly the `allowed` members, with typed accessors whose errors name the member
 * by its dotted path. Unknown members are refused: a verifier that ignored them would let a server
 * attach claims that look verified but are not.
 */
class Fields {
  constructor(v, prefix, allowed) {
    if (!isObject(v)) throw new VerifyError(`field ${prefix ? prefix.slice(0, -1) : 'bundle'} must be an object`);
    const missing = allowed.find((f) => !Object.hasOwn(v, f));
    if (missing !== undefined) throw new VerifyError(`field ${prefix}${missing} is missing`);
    const unknown = Object.keys(v).sort().find((k) => !allowed.includes(k));
    if (unknown !== undefined) throw new VerifyError(`field ${prefix}${unknown} is not part of civicproof/bundle/v1`);
    this.map = v;
    this.prefix = prefix;
  }

  wrongType(field, expected) {
    return new VerifyError(`field ${this.prefix}${field} must be ${expected}`);
  }

  get(field) {
    return this.map[field];
  }

  /** null stays null, else `decode()`. */
  nullable(field, decode) {
    return this.map[field] === null ? null : decode();
  }

  string(field) {
    const v = this.map[field];
    if (typeof v !== 'string') throw this.wrongType(field, 'a string');
    return v;
  }

  object(field) {
    const v = this.map[field];
    if (!isObject(v)) throw this.wrongType(field, 'an object');
    return v;
  }

  integer(field) {
    const v = this.map[field];
    if (typeof v !== 'number') throw this.wrongType(field, 'an integer');
    if (!Number.isInteger(v) || v < 0 || v > MAX_SAFE) {
      throw new VerifyError(`field ${this.prefix}${field} must be an integer in [0, 2^53-1]`);
    }
    return v;
  }

  /** At most 64 strings; their hex is step 1's concern (section 1: the decoding step fails). */
  path(field) {
    const items = this.map[field];
    if (!Array.isArray(items)) throw this.wrongType(field, 'an array of hex strings');
    if (items.length > MAX_PATH_LEN) {
      throw new VerifyError(`field ${this.prefix}${field} has ${items.length} elements; at most 64 are allowed`);
    }
    if (!items.every((item) => typeof item === 'string')) throw this.wrongType(field, 'an array of hex strings');
    return items;
  }

  /** `0x` and exactly `digits` lowercase hex digits. */
  evm(field, digits) {
    const s = this.string(field);
    if (!s.startsWith('0x') || s.length !== digits + 2 || !isLowerHex(s.slice(2))) {
      throw new VerifyError(`field ${this.prefix}${field} must be 0x followed by ${digits} lowercase hex digits`);
    }
    return s;
  }
}

/** Reads the bundle exactly as step 0 does. Returns the typed bundle; throws VerifyError. */
function readBundle(text) {
  const value = parseStrict(text, { maxDepth: MAX_BUNDLE_DEPTH });
  const top = new Fields(value, '', BUNDLE_FIELDS);
  const format = top.string('format');
  if (format !== FORMAT) throw new VerifyError(`format is ${JSON.stringify(format)}, expected "${FORMAT}"`);
  const inclusion = new Fields(top.get('inclusion'), 'inclusion.', INCLUSION_FIELDS);
  return {
    format,
    envelope: top.object('envelope'),
    payload: top.nullable('payload', () => top.object('payload')),
    salt: top.nullable('salt', () => top.string('salt')),
    leaf_hash: top.string('leaf_hash'),
    inclusion: { tree_size: inclusion.integer('tree_size'), path: inclusion.path('path') },
    checkpoint: top.string('checkpoint'),
    erasure: top.nullable('erasure', () => readErasure(top.get('erasure'))),
    anchor: top.nullable('anchor', () => readAnchor(top.get('anchor'))),
    anchor_pending: top.nullable('anchor_pending', () => readAnchorPending(top.get('anchor_pending'))),
  };
}

function readErasure(v) {
  const f = new Fields(v, 'erasure.', BUNDLE_ERASURE_FIELDS);
  return { envelope: f.object('envelope'), path: f.path('path') };
}

function readAnchor(v) {
  const f = new Fields(v, 'anchor.', ANCHOR_FIELDS);
  const anchor = {
    batch_seq: f.integer('batch_seq'),
    batch_root: f.string('batch_root'),
    batch_size: f.integer('batch_size'),
    batch_index: f.integer('batch_index'),
    batch_path: f.path('batch_path'),
    prev_root: f.string('prev_root'),
    chain_id: f.integer('chain_id'),
    contract: f.evm('contract', 40),
    anchorer: f.evm('anchorer', 40),
    tx_hash: f.evm('tx_hash', 64),
    block_number: f.integer('block_number'),
    block_hash: f.evm('block_hash', 64),
    block_time: f.integer('block_time'),
  };
  if (anchor.batch_index >= anchor.batch_size) {
    throw new VerifyError(`anchor.batch_index ${anchor.batch_index} is not below anchor.batch_size ${anchor.batch_size}`);
  }
  return anchor;
}

function readAnchorPending(v) {
  const f = new Fields(v, 'anchor_pending.', ANCHOR_PENDING_FIELDS);
  return { batch_seq: f.integer('batch_seq'), tx_hash: f.evm('tx_hash', 64) };
}

/**
 * The bundle's text from what the caller passed. Raw bytes are preferred: only they let step 0
 * see duplicate names and how integers were written. A parsed object is canonicalized and then
 * read like served bytes (JCS is what a server serves), with a caveat in the step's detail.
 */
function bundleText(bundle) {
  if (typeof bundle === 'string' || bundle instanceof ArrayBuffer || ArrayBuffer.isView(bundle)) {
    return { text: bundle, caveat: null };
  }
  if (isObject(bundle)) {
    return {
      text: canonicalize(bundle),
      caveat: 'bundle was passed already parsed, so duplicate member names could not be checked',
    };
  }
  throw new VerifyError('bundle must be its bytes, its text or a parsed JSON object');
}

// ---------------------------------------------------------------------------------------------
// Steps 1-3, 5, 7
// ---------------------------------------------------------------------------------------------

/** Step 1: every SHA-256 value is 32 bytes of lowercase hex, the salt 16. */
function decodeLengths(b) {
  const hash = (s, field) => {
    const bytes = decodeLowerHex(s, 32);
    if (!bytes) throw new VerifyError(`${field} must be 64 lowercase hex digits (32 bytes)`);
    return bytes;
  };
  const hashes = (items, field) => items.map((s, i) => hash(s, `${field}[${i}]`));
  const leaf = hash(b.leaf_hash, 'leaf_hash');
  const path = hashes(b.inclusion.path, 'inclusion.path');
  let salt = null;
  if (b.salt !== null) {
    salt = decodeLowerHex(b.salt, 16);
    if (!salt) throw new VerifyError('salt must be 32 lowercase hex digits (16 bytes)');
  }
  const erasurePath = b.erasure === null ? null : hashes(b.erasure.path, 'erasure.path');
  let batch = null;
  if (b.anchor !== null) {
    hash(b.anchor.prev_root, 'anchor.prev_root');
    batch = { root: hash(b.anchor.batch_root, 'anchor.batch_root'), path: hashes(b.anchor.batch_path, 'anchor.batch_path') };
  }
  return { leaf, path, salt, erasurePath, batch };
}

/**
 * Starts every digest the later steps compare, all at once. A WebCrypto digest is asynchronous
 * and costs a round trip to a worker thread, so running the independent chains (payload, leaf,
 * inclusion path, erasure path, batch path) concurrently instead of one after another cuts a
 * bundle's latency to its longest chain. Each result is a pure function of bundle fields; no step
 * reads one before the steps ahead of it passed, and a step that relies on a claimed input (the
 * tree size, the entry's seq, the note's text) uses the result only once that input is checked.
 * A chain whose input is malformed rejects, and is then either never read (an earlier step fails
 * on that input) or read as that step's failure.
 */
function startDigests(b, decoded) {
  const payload =
    b.payload !== null && decoded.salt !== null
      ? early(async () => {
          const canonical = utf8(canonicalize(b.payload));
          return { length: canonical.length, digest: await sha256(concatBytes(decoded.salt, canonical)) };
        })
      : null;
  const leaf = early(() => leafHash(utf8(canonicalize(b.envelope))));
  // Step 6 compares this with the signed root after step 5 has checked tree_size against the
  // signed size and step 3 envelope.seq.
  const root = early(() => inclusionRoot(decoded.leaf, b.envelope.seq, b.inclusion.tree_size, decoded.path));
  let erasureLeaf = null;
  let erasureRoot = null;
  if (b.erasure !== null) {
    erasureLeaf = early(() => leafHash(utf8(canonicalize(b.erasure.envelope))));
    erasureRoot = early(async () => inclusionRoot(await erasureLeaf, b.erasure.envelope.seq, b.inclusion.tree_size, decoded.erasurePath));
  }
  let batch = null;
  if (b.anchor !== null) {
    batch = early(async () => {
      const text = parseNote(b.checkpoint).text;
      const root = await inclusionRoot(await leafHash(utf8(text)), b.anchor.batch_index, b.anchor.batch_size, decoded.batch.path);
      return { text, root };
    });
  }
  return { payload, leaf, root, erasureLeaf, erasureRoot, batch };
}

/**
 * Starts `fn` now for a step that awaits it later. If an earlier step fails first, nobody awaits
 * it, so its rejection is marked handled here (awaiting the promise later still throws).
 */
function early(fn) {
  const promise = Promise.resolve().then(fn);
  promise.catch(() => {});
  return promise;
}

/**
 * Step 2 up to (not including) the erasure entry's inclusion, which needs the verified root.
 * It runs before step 3 decodes the envelope, so it reads the few members it needs directly and
 * leaves anything else wrong with the envelope to step 3. Resolves to null (payload matches or
 * the entry is an erasure entry) or to the erasure entry `{ seq, reason }`.
 */
async function checkPayload(b, salt, digests) {
  const kind = typeof b.envelope.kind === 'string' ? b.envelope.kind : undefined;
  if (b.payload !== null && salt !== null) {
    if (kind !== 'record') throw new VerifyError('only a record envelope carries a payload');
    if (b.erasure !== null) throw new VerifyError('erasure must be null when the payload is present');
    const committed = decodeLowerHex(b.envelope.payload_digest, 32);
    if (!committed) throw new VerifyError('envelope.payload_digest must be 64 lowercase hex digits');
    // Step 0 read the payload under the JSON rules (and at most 64 deep), so it obeys them.
    const { length, digest } = await digests.payload; // SHA-256(salt || JCS(payload))
    if (length > MAX_PAYLOAD_BYTES) throw new VerifyError(`canonical payload is ${length} bytes; at most 65536 are allowed`);
    if (!equalBytes(digest, committed)) {
      throw new VerifyError('SHA-256(salt || JCS(payload)) does not equal envelope.payload_digest');
    }
    return null;
  }
  if (b.payload !== null || salt !== null) throw new VerifyError('payload and salt must both be null or both be present');
  if (kind === 'erasure') {
    if (b.erasure !== null) throw new VerifyError('an erasure entry cannot itself be erased; erasure must be null');
    return null;
  }
  if (b.erasure === null) throw new VerifyError('payload is null but no erasure entry is given');
  let entry;
  try {
    entry = decodeEnvelope(b.erasure.envelope);
  } catch (e) {
    throw new VerifyError(`erasure.envelope: ${e.message}`);
  }
  if (entry.kind !== 'erasure') throw new VerifyError('erasure.envelope is not an erasure entry');
  if (b.envelope.dataset !== entry.dataset) {
    throw new VerifyError(`erasure entry belongs to dataset ${JSON.stringify(entry.dataset)}, not to this record's`);
  }
  if (b.envelope.seq !== entry.erases) throw new VerifyError(`erasure entry erases seq ${entry.erases}, not this record`);
  return entry;
}

/**
 * The rest of step 2 for an erased record: the erasure entry's leaf, SHA-256(0x00 ||
 * JCS(erasure.envelope)), verifies with erasure.path at its seq against the signed root.
 */
async function checkErasureIncluded(b, decoded, digests, erased, checkpoint) {
  try {
    // The early result used the claimed tree size; it counts only if that is the signed one.
    const computed =
      b.inclusion.tree_size === checkpoint.size
        ? await digests.erasureRoot
        : await inclusionRoot(await digests.erasureLeaf, erased.seq, checkpoint.size, decoded.erasurePath);
    checkRoot(computed, checkpoint.root);
  } catch (e) {
    throw new VerifyError(`erasure entry is not included in the checkpoint: ${e.message}`);
  }
}

/** Step 3: the envelope obeys section 2 and its leaf hash is `leaf_hash`. */
async function checkLeaf(envelope, leaf, digests) {
  const decoded = decodeEnvelope(envelope);
  // The received value's canonical form is hashed, literally what the spec says.
  if (!equalBytes(await digests.leaf, leaf)) {
    throw new VerifyError('SHA-256(0x00 || JCS(envelope)) does not equal leaf_hash');
  }
  return decoded;
}

/** Step 5, in the order PROTOCOL.md lists the bindings. Size and root come only from the note. */
function checkBinding(checkpoint, envelope, treeSize, opts) {
  if (!opts.origin.startsWith(opts.prefix + '/')) {
    throw new VerifyError(`expected origin ${JSON.stringify(opts.origin)} does not start with the pinned prefix "${opts.prefix}/"`);
  }
  if (checkpoint.origin !== opts.origin) {
    throw new VerifyError(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the expected origin ${JSON.stringify(opts.origin)}`);
  }
  if (envelope.dataset !== opts.origin) {
    throw new VerifyError(`envelope dataset ${JSON.stringify(envelope.dataset)} is not the expected origin ${JSON.stringify(opts.origin)}`);
  }
  if (opts.seq !== null && envelope.seq !== opts.seq) {
    throw new VerifyError(`envelope seq ${envelope.seq} is not the expected seq ${opts.seq}`);
  }
  if (treeSize !== checkpoint.size) {
    throw new VerifyError(`inclusion.tree_size ${treeSize} is not the checkpoint size ${checkpoint.size}`);
  }
  if (checkpoint.size <= envelope.seq) {
    throw new VerifyError(`checkpoint size ${checkpoint.size} does not exceed envelope seq ${envelope.seq}`);
  }
}

/** Step 7: the checkpoint's batch leaf, SHA-256(0x00 || note text), is in the claimed batch. */
async function checkAnchorOffline(noteText, anchor, batch, digests) {
  try {
    const started = await digests.batch; // computed from the same note, so with the same text
    const root =
      started.text === noteText
        ? started.root
        : await inclusionRoot(await leafHash(utf8(noteText)), anchor.batch_index, anchor.batch_size, batch.path);
    checkRoot(root, batch.root);
  } catch (e) {
    throw new VerifyError(`checkpoint is not in the claimed batch: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Step 8: anchor-online (the client's own JSON-RPC endpoint)
// ---------------------------------------------------------------------------------------------

/** JSON-RPC error answers, as opposed to transport failures. */
class RpcError extends Error {}

/**
 * A JSON-RPC client for `rpc`: an http(s) URL, or a function `(method, params) => result` (for
 * custom transports and tests; its `endpointName` property names it in the results, and it
 * reports a JSON-RPC error by throwing an error with a numeric `code`).
 */
function rpcClient(rpc) {
  if (typeof rpc === 'function') {
    const call = async (method, params) => {
      try {
        return await rpc(method, params);
      } catch (e) {
        // An error with a numeric `code` is a JSON-RPC error object; anything else a transport failure.
        if (typeof e?.code === 'number') throw new RpcError(`${method}: ${e.message}`);
        throw e;
      }
    };
    return { name: rpc.endpointName ?? 'caller-supplied RPC function', call };
  }
  const url = new URL(rpc);
  let id = 0;
  const call = async (method, params) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    // Some nodes send JSON-RPC errors with an HTTP error status, so the body is read first.
    const body = await res.json().catch(() => null);
    if (body?.error) throw new RpcError(`${method}: ${body.error.message ?? JSON.stringify(body.error)}`);
    if (!res.ok || body === null) throw new Error(`${method}: HTTP ${res.status}`);
    return body.result;
  };
  return { name: url.href, call };
}

const hexQuantity = (n) => '0x' + BigInt(n).toString(16);
const pad32 = (hexDigits) => hexDigits.padStart(64, '0');

function quantity(value, what) {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]+$/.test(value)) throw new VerifyError(`${what} is not a hex quantity`);
  return BigInt(value);
}

/** Code hashes already confirmed, by endpoint and contract ("on first use"). */
const codeHashCache = new Set();

/**
 * The block F at which the anchor must already be visible: the `finalized` block, or
 * head - (k - 1) under a confirmations policy. Without a `finalized` tag on the chain the
 * default falls back to 64 confirmations (2 on chain id 31337), as section 7 says.
 */
async function finalBlock(client, finality, chainId) {
  if (finality === 'finalized') {
    let block = null;
    try {
      block = await client.call('eth_getBlockByNumber', ['finalized', false]);
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
    }
    if (block) {
      return { number: quantity(block.number, 'finalized block number'), time: quantity(block.timestamp, 'block timestamp'), policy: 'finalized' };
    }
    finality = { confirmations: chainId === LOCAL_CHAIN_ID ? 2 : 64 };
  }
  const head = quantity(await client.call('eth_blockNumber', []), 'eth_blockNumber');
  const number = head - BigInt(finality.confirmations - 1);
  if (number < 0n) throw new VerifyError(`the chain has fewer than ${finality.confirmations} blocks`);
  return { number, time: null, policy: `${finality.confirmations} confirmations` };
}

async function blockTime(client, method, ref) {
  const block = await client.call(method, [ref, false]);
  if (!block) throw new VerifyError(`${method}(${ref}) returned no block`);
  return quantity(block.timestamp, 'block timestamp');
}

/**
 * Step 8 (a)-(c). Resolves to what it established, including the block time the checkpoint
 * "existed no later than"; rejects with the reason.
 */
async function checkAnchorOnline(b, envelopes, opts) {
  const a = b.anchor;
  const trust = opts.anchorTrust;
  const client = rpcClient(opts.rpc);
  const fail = (why) => new VerifyError(`${why} (RPC ${client.name})`);
  // (a) The bundle's claims about where it is anchored must be the pinned ones.
  if (BigInt(a.chain_id) !== trust.chainId) throw fail(`anchor.chain_id ${a.chain_id} is not the pinned chain id ${trust.chainId}`);
  if (a.contract !== trust.contract) throw fail(`anchor.contract ${a.contract} is not the pinned contract ${trust.contract}`);
  if (a.anchorer !== trust.anchorer) throw fail(`anchor.anchorer ${a.anchorer} is not the pinned anchorer ${trust.anchorer}`);
  const chainId = quantity(await client.call('eth_chainId', []), 'eth_chainId');
  if (chainId !== trust.chainId) throw fail(`the endpoint's chain id ${chainId} is not the pinned ${trust.chainId}`);
  const F = await finalBlock(client, opts.finality, chainId);
  // Keyed by the pinned code hash too: a different pin must be checked, never assumed.
  const codeKey = `${client.name}\n${trust.contract}\n${trust.codeHash}`;
  if (!codeHashCache.has(codeKey)) {
    const code = await client.call('eth_getCode', [trust.contract, hexQuantity(F.number)]);
    const digits = typeof code === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(code) ? code.slice(2) : null;
    if (digits === null) throw fail('eth_getCode returned no code');
    const hash = '0x' + bytesToHex(keccak_256(hexToBytesLoose(digits)));
    if (hash !== trust.codeHash) throw fail(`the contract's code hash ${hash} is not the pinned ${trust.codeHash}`);
    codeHashCache.add(codeKey);
  }
  // (b) rootOf(anchorer, batch_seq) at F.
  const data = '0x' + ROOT_OF_SELECTOR + pad32(trust.anchorer.slice(2)) + pad32(a.batch_seq.toString(16));
  const rootAt = async (tag) => String(await client.call('eth_call', [{ to: trust.contract, data }, tag])).toLowerCase();
  const want = '0x' + a.batch_root;
  const atF = await rootAt(hexQuantity(F.number));
  if (atF !== want) {
    if ((await rootAt('latest')) === want) {
      throw fail(`not-final: rootOf(anchorer, ${a.batch_seq}) holds batch_root only at latest, not at block ${F.number} (${F.policy})`);
    }
    throw fail(`rootOf(anchorer, ${a.batch_seq}) at block ${F.number} is ${atF}, not batch_root`);
  }
  // (c) The receipt, when the node still serves it in the claimed block.
  const receipt = await client.call('eth_getTransactionReceipt', [a.tx_hash]);
  let time;
  let stale = null;
  if (!receipt) {
    stale = 'the node no longer serves the receipt of tx_hash';
  } else if (String(receipt.blockHash).toLowerCase() !== a.block_hash) {
    stale = 'the receipt of tx_hash is in another block than block_hash';
  }
  if (stale === null) {
    checkReceipt(receipt, a, F.number, fail);
    time = await blockTime(client, 'eth_getBlockByHash', a.block_hash);
    if (time !== BigInt(a.block_time)) throw fail(`anchor.block_time ${a.block_time} is not the block's time ${time}`);
  } else {
    // The root is in contract state at F, so F's time still bounds when the checkpoint existed.
    time = F.time ?? (await blockTime(client, 'eth_getBlockByNumber', hexQuantity(F.number)));
  }
  for (const env of envelopes) {
    if (env.publishedMs > (Number(time) + MAX_CLOCK_LEAD_SECONDS) * 1000) {
      throw fail(`published_at ${env.publishedAt} (seq ${env.seq}) is more than ${MAX_CLOCK_LEAD_SECONDS} s after the anchor block's time ${isoTime(time)}`);
    }
  }
  const where = stale ? `block ${F.number}, ${stale}; transaction fields are stale` : `block ${a.block_number}`;
  return {
    endpoint: client.name,
    finalBlock: Number(F.number),
    policy: F.policy,
    stale,
    existedNoLaterThan: Number(time),
    detail: `rootOf(anchorer, ${a.batch_seq}) equals batch_root at block ${F.number} (${F.policy}) via ${client.name}; existed no later than ${isoTime(time)} (${where})`,
  };
}

function checkReceipt(r, a, finalNumber, fail) {
  if (r.status !== '0x1') throw fail('the anchoring transaction did not succeed (receipt status is not 1)');
  const number = quantity(r.blockNumber, 'receipt blockNumber');
  if (number !== BigInt(a.block_number)) throw fail(`the receipt's block number ${number} is not block_number ${a.block_number}`);
  if (number > finalNumber) throw fail(`block_number ${a.block_number} is above the final block ${finalNumber}`);
  const logs = (r.logs ?? []).filter((l) => String(l.address).toLowerCase() === a.contract);
  if (logs.length !== 1) throw fail(`the receipt has ${logs.length} logs of the contract, not exactly one`);
  const topics = (logs[0].topics ?? []).map((t) => String(t).toLowerCase());
  const wantTopics = [ANCHORED_TOPIC0, '0x' + pad32(a.anchorer.slice(2)), '0x' + pad32(a.batch_seq.toString(16))];
  if (topics.length !== 3 || topics.some((t, i) => t !== wantTopics[i])) throw fail('the Anchored event has other topics than the bundle claims');
  const wantData = '0x' + a.batch_root + pad32(a.batch_size.toString(16)) + a.prev_root;
  if (String(logs[0].data).toLowerCase() !== wantData) throw fail('the Anchored event has other data than the bundle claims');
}

function hexToBytesLoose(digits) {
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const isoTime = (unixSeconds) => new Date(Number(unixSeconds) * 1000).toISOString().replace('.000Z', 'Z');

// ---------------------------------------------------------------------------------------------
// verifyBundle
// ---------------------------------------------------------------------------------------------

/** Thrown inside a run to stop at the first failed step. */
const STOP = Symbol('stop');

/** The report being filled step by step. */
class Run {
  constructor() {
    this.steps = [];
    this.failedStep = null;
  }

  push(status, detail = null) {
    this.steps.push({ name: STEP_NAMES[this.steps.length], status, detail });
  }

  fail(reason) {
    this.failedStep = this.steps.length;
    this.push('fail', reason);
    throw STOP;
  }

  /** Runs the next step: pass with its result, or fail with the error's message and stop. */
  async step(fn) {
    let value;
    try {
      value = await fn();
    } catch (e) {
      this.fail(e instanceof Error ? e.message : String(e));
    }
    this.push('pass');
    return value;
  }

  /** Reports every step that did not run as skipped. */
  finish() {
    while (this.steps.length < STEP_NAMES.length) this.push('skipped', 'earlier step failed');
    const ok =
      this.failedStep === null &&
      this.steps.every((s, i) => s.status === 'pass' || (s.status === 'skipped' && i >= STEP['anchor-offline']));
    return { ok, steps: this.steps, failedStep: this.failedStep };
  }
}

/**
 * Verifies a proof bundle (PROTOCOL.md section 6) by section 7, steps 0-8.
 *
 * `bundle`: the raw bytes (Uint8Array/ArrayBuffer) or text as received (preferred: step 0 checks
 * I-JSON on them), or an already-parsed object. Options, all from the client, never from the
 * bundle or the server:
 * - `origin` (expected dataset origin) and `seq` (expected entry; null/undefined for any);
 * - `prefix` and `publicKey` (base64 of the 32-byte log key, as in /.well-known): pinned trust;
 * - `chainId`, `contract`, `codeHash`, `anchorer`: pinned anchor trust (all or none);
 * - `rpc`: the client's own JSON-RPC endpoint URL (or a function `(method, params) => result`);
 * - `finality`: 'finalized' (default) or `{ confirmations: k }`;
 * - `requireAnchor`: a skipped step 7 or 8 fails; default true when anchor trust is pinned;
 * - `witnesses`: `{ threshold, keys: [witness vkey, …] }`, the pinned witness policy checked at
 *   step 4 (`threshold` defaults to all keys).
 *
 * Resolves to `{ ok, steps: [{ name, status, detail }], failedStep }` (`failedStep` is the
 * number of the first failed step or null), plus `checkpoint`, `erasedBy`, `anchor` (step 8's
 * findings, with `existedNoLaterThan` in Unix seconds) and `scopeNote`. It stops at the first
 * failure; later steps are `skipped`. Throws TypeError only for unusable options.
 */
export async function verifyBundle(
  bundle,
  { origin, seq, prefix, publicKey, chainId, contract, codeHash, anchorer, rpc, finality, requireAnchor, witnesses } = {},
) {
  const opts = readOptions({ origin, seq, prefix, publicKey, chainId, contract, codeHash, anchorer, rpc, finality, requireAnchor });
  opts.witnesses = await readWitnessPolicy(witnesses);
  const run = new Run();
  const found = { checkpoint: null, erasedBy: null, anchor: null };
  try {
    await runSteps(run, bundle, opts, found);
  } catch (e) {
    if (e !== STOP) throw e;
  }
  return { ...run.finish(), ...found, scopeNote: SCOPE_NOTE };
}

async function runSteps(run, input, opts, found) {
  // Step 0: format.
  let caveat = null;
  const b = await run.step(() => {
    const source = bundleText(input);
    caveat = source.caveat;
    return readBundle(source.text);
  });
  run.steps[STEP.format].detail = caveat;
  // Step 1: lengths.
  const decoded = await run.step(() => decodeLengths(b));
  const digests = startDigests(b, decoded);
  // Step 2: payload; for an erased record "erased by seq N", its inclusion checked after step 4.
  const erased = await run.step(() => checkPayload(b, decoded.salt, digests));
  if (erased) run.steps[STEP.payload].detail = `erased by seq ${erased.seq} (reason ${erased.reason})`;
  // Step 3: leaf.
  const envelope = await run.step(() => checkLeaf(b.envelope, decoded.leaf, digests));
  // Step 4: checkpoint-signature.
  const { checkpoint, text: noteText } = await run.step(async () => {
    const verified = await verifyCheckpointCached(b.checkpoint, opts.publicKey);
    // The witness policy is part of step 4 (PROTOCOL.md section 10.4).
    if (opts.witnesses) await checkWitnessPolicy(parseNote(b.checkpoint), opts.witnesses);
    return verified;
  });
  found.checkpoint = { origin: checkpoint.origin, size: checkpoint.size, root: bytesToHex(checkpoint.root) };
  const envelopes = [envelope];
  if (erased) {
    try {
      await checkErasureIncluded(b, decoded, digests, erased, checkpoint);
    } catch (e) {
      // Still step 2's finding; steps 3 and 4 did run and pass, as in the Rust report.
      run.steps[STEP.payload] = { name: 'payload', status: 'fail', detail: e.message };
      run.failedStep = STEP.payload;
      throw STOP;
    }
    found.erasedBy = { seq: erased.seq, reason: erased.reason };
    envelopes.push(erased);
  }
  // Step 5: checkpoint-binding.
  await run.step(() => checkBinding(checkpoint, envelope, b.inclusion.tree_size, opts));
  // Step 6: inclusion. The early root used tree_size and envelope.seq, which steps 5 and 3 checked.
  await run.step(async () => checkRoot(await digests.root, checkpoint.root));
  // Step 7: anchor-offline.
  if (b.anchor === null) {
    if (opts.requireAnchor) run.fail('bundle has no anchor, and an anchor is required');
    run.push('skipped', 'bundle has no anchor');
    run.push('skipped', 'bundle has no anchor');
    return;
  }
  await run.step(() => checkAnchorOffline(noteText, b.anchor, decoded.batch, digests));
  run.steps[STEP['anchor-offline']].detail = ANCHOR_UNCHECKED;
  // Step 8: anchor-online.
  if (!opts.anchorTrust || !opts.rpc) {
    const why = !opts.anchorTrust ? 'no anchor trust pinned' : 'no RPC endpoint given';
    if (opts.requireAnchor) run.fail(`${why}, and an on-chain check is required`);
    run.push('skipped', why);
    return;
  }
  found.anchor = await run.step(() => checkAnchorOnline(b, envelopes, opts));
  run.steps[STEP['anchor-offline']].detail = 'batch root confirmed on chain (step 8)';
  run.steps[STEP['anchor-online']].detail = found.anchor.detail;
}

/** Validates the caller's options; unusable ones are a programming error, not a verdict. */
function readOptions(o) {
  if (typeof o.origin !== 'string') throw new TypeError('origin (the expected dataset origin) is required');
  if (typeof o.prefix !== 'string') throw new TypeError('prefix (the pinned instance prefix) is required');
  let seq = null;
  if (o.seq !== undefined && o.seq !== null) {
    seq = typeof o.seq === 'bigint' ? Number(o.seq) : o.seq;
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError('seq must be an integer in [0, 2^53-1]');
  }
  const publicKey = publicKeyBytes(o.publicKey);
  const anchorTrust = readAnchorTrust(o);
  let finality = o.finality ?? 'finalized';
  if (typeof finality === 'number') finality = { confirmations: finality };
  if (finality !== 'finalized' && !(Number.isSafeInteger(finality?.confirmations) && finality.confirmations >= 1)) {
    throw new TypeError("finality must be 'finalized' or { confirmations: k } with k >= 1");
  }
  if (o.rpc !== undefined && o.rpc !== null && typeof o.rpc !== 'function') new URL(o.rpc); // throws on a bad URL
  return {
    origin: o.origin,
    prefix: o.prefix,
    seq,
    publicKey,
    anchorTrust,
    rpc: o.rpc ?? null,
    finality,
    requireAnchor: readRequireAnchor(o.requireAnchor, anchorTrust),
  };
}

/** `--require-anchor` is the default once anchor trust is pinned (PROTOCOL.md section 7). */
function readRequireAnchor(requireAnchor, anchorTrust) {
  if (requireAnchor === undefined || requireAnchor === null) return anchorTrust !== null;
  if (typeof requireAnchor !== 'boolean') throw new TypeError('requireAnchor must be a boolean');
  return requireAnchor;
}

function readAnchorTrust(o) {
  const given = ['chainId', 'contract', 'codeHash', 'anchorer'].filter((k) => o[k] !== undefined && o[k] !== null);
  if (given.length === 0) return null;
  if (given.length !== 4) throw new TypeError('anchor trust needs all of chainId, contract, codeHash and anchorer');
  const address = (v, what) => {
    if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) throw new TypeError(`${what} must be a 20-byte 0x address`);
    return v.toLowerCase(); // compared as 20 bytes, whatever the checksum casing
  };
  if (typeof o.codeHash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(o.codeHash)) {
    throw new TypeError('codeHash must be 0x and 64 hex digits');
  }
  const chainIdOk =
    (Number.isSafeInteger(o.chainId) && o.chainId >= 0) ||
    (typeof o.chainId === 'bigint' && o.chainId >= 0n) ||
    (typeof o.chainId === 'string' && /^(0|[1-9][0-9]*)$/.test(o.chainId));
  if (!chainIdOk) throw new TypeError('chainId must be a non-negative integer');
  const chainId = BigInt(o.chainId);
  return {
    chainId,
    contract: address(o.contract, 'contract'),
    anchorer: address(o.anchorer, 'anchorer'),
    codeHash: o.codeHash.toLowerCase(),
  };
}
