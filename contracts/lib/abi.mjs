// Minimal ABI helpers for the anchor contract (static types only).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { keccak_256 } = require('js-sha3');

/** keccak256 of bytes (Buffer/Uint8Array) as 0x-lowercase hex. */
export function keccakHex(bytes) {
  return `0x${keccak_256(bytes)}`;
}

function strip0x(hex) {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]*$/.test(hex)) throw new Error(`not 0x-hex: ${hex}`);
  return hex.slice(2).toLowerCase();
}

/** Left-pads an unsigned integer (number | bigint) to a 32-byte word, hex without 0x. */
export function word(n) {
  const v = BigInt(n);
  if (v < 0n || v >= 1n << 256n) throw new Error(`out of range: ${n}`);
  return v.toString(16).padStart(64, '0');
}

/** Left-pads a 0x-address (20 bytes) to a 32-byte word, hex without 0x. */
export function addressWord(addr) {
  const h = strip0x(addr);
  if (h.length !== 40) throw new Error(`not an address: ${addr}`);
  return h.padStart(64, '0');
}

/** A bytes32 value as a word, hex without 0x. */
export function bytes32Word(b) {
  const h = strip0x(b);
  if (h.length !== 64) throw new Error(`not bytes32: ${b}`);
  return h;
}

/** 0x-prefixed 32-byte padding of an address or integer (event topics). */
export const pad32 = (v) => `0x${typeof v === 'string' ? addressWord(v) : word(v)}`;

export const SELECTORS = Object.freeze({
  anchor: '0x34fb3bc8',
  nextSeq: '0xc1594ac2',
  rootOf: '0x5c259bc5',
});

/** Calldata of anchor(uint64 seq, bytes32 root, uint32 count, bytes32 prevRoot). */
export function encodeAnchor(seq, root, count, prevRoot) {
  if (BigInt(seq) >= 1n << 64n) throw new Error('seq exceeds uint64');
  if (BigInt(count) >= 1n << 32n) throw new Error('count exceeds uint32');
  return SELECTORS.anchor + word(seq) + bytes32Word(root) + word(count) + bytes32Word(prevRoot);
}

/** Calldata of nextSeq(address). */
export const encodeNextSeq = (anchorer) => SELECTORS.nextSeq + addressWord(anchorer);

/** Calldata of rootOf(address, uint64). */
export const encodeRootOf = (anchorer, seq) => SELECTORS.rootOf + addressWord(anchorer) + word(seq);

/** Event data of Anchored: root || pad32(count) || prevRoot. */
export const encodeAnchoredData = (root, count, prevRoot) => `0x${bytes32Word(root)}${word(count)}${bytes32Word(prevRoot)}`;

/** 4-byte selector of a signature such as "WrongSeq(uint64,uint64)". */
export const selectorOf = (sig) => keccakHex(Buffer.from(sig)).slice(0, 10);
