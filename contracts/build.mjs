#!/usr/bin/env node
// Compiles src/CivicproofAnchor.sol with the pinned solcjs and writes
// artifacts/CivicproofAnchor.json deterministically.
//
//   node build.mjs           compile and (re)write the artifact
//   node build.mjs --check   compile and exit 1 if the committed artifact differs
//
// Both modes fail unless the ABI's selectors and event topic are exactly those
// of PROOFS.md section 4 and the runtime code contains no call, create,
// delegatecall or selfdestruct opcode.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { keccakHex } from './lib/abi.mjs';

const require = createRequire(import.meta.url);
const solc = require('solc');
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

const ROOT = dirname(fileURLToPath(import.meta.url));
const CONTRACT = 'CivicproofAnchor';
const SOURCE_PATH = `src/${CONTRACT}.sol`;
export const ARTIFACT_PATH = join(ROOT, 'artifacts', `${CONTRACT}.json`);

// PROOFS.md section 4.
export const EXPECTED = Object.freeze({
  functions: {
    'anchor(uint64,bytes32,uint32,bytes32)': '0x34fb3bc8',
    'nextSeq(address)': '0xc1594ac2',
    'rootOf(address,uint64)': '0x5c259bc5',
  },
  event: 'Anchored(address,uint64,bytes32,uint32,bytes32)',
  eventTopic: '0x78b78e3c96327d898fb2d0df305eb5cd5fecf53327bf88c24cf626ca70f55aed',
});

// Fixed compiler settings (key order is kept in the artifact).
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 10000 },
  viaIR: true,
  metadata: { bytecodeHash: 'none', appendCBOR: true },
};

function fail(msg) {
  console.error(`build.mjs: ${msg}`);
  process.exit(1);
}

function signature(item) {
  return `${item.name}(${item.inputs.map((i) => i.type).join(',')})`;
}

// Opcodes the runtime code must never contain.
const FORBIDDEN_OPCODES = {
  0xf0: 'CREATE', 0xf1: 'CALL', 0xf2: 'CALLCODE', 0xf4: 'DELEGATECALL',
  0xf5: 'CREATE2', 0xfa: 'STATICCALL', 0xff: 'SELFDESTRUCT',
};

function checkOpcodes(runtimeHex) {
  const code = Buffer.from(runtimeHex.slice(2), 'hex');
  // Skip the trailing CBOR metadata (its length is in the last two bytes).
  const cborLen = code.readUInt16BE(code.length - 2);
  const end = code.length - 2 - cborLen;
  if (end <= 0) fail('cannot locate the CBOR metadata of the runtime code');
  for (let pc = 0; pc < end; pc++) {
    const op = code[pc];
    if (op >= 0x60 && op <= 0x7f) { pc += op - 0x5f; continue; } // PUSH1..PUSH32 data
    if (FORBIDDEN_OPCODES[op]) fail(`runtime code contains ${FORBIDDEN_OPCODES[op]} at pc ${pc}`);
  }
}

export function compile() {
  const source = readFileSync(join(ROOT, SOURCE_PATH), 'utf8');
  const version = solc.version();
  const pinned = pkg.devDependencies.solc;
  if (!version.startsWith(`${pinned}+`)) fail(`solc ${version} is not the pinned ${pinned}`);

  const input = {
    language: 'Solidity',
    sources: { [SOURCE_PATH]: { content: source } },
    settings: {
      ...SETTINGS,
      outputSelection: {
        [SOURCE_PATH]: {
          [CONTRACT]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'],
        },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const messages = output.errors ?? [];
  for (const m of messages) console.error(m.formattedMessage ?? m.message);
  if (messages.some((m) => m.severity === 'error')) fail('compilation failed');
  if (messages.length) fail('compiler warnings are not allowed');

  const c = output.contracts[SOURCE_PATH][CONTRACT];
  const abi = c.abi;
  const bytecode = `0x${c.evm.bytecode.object}`;
  const deployedBytecode = `0x${c.evm.deployedBytecode.object}`;

  // Interface checks against PROOFS.md.
  const ids = c.evm.methodIdentifiers;
  const got = Object.keys(ids).sort();
  const want = Object.keys(EXPECTED.functions).sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`functions ${got.join(', ')} differ from PROOFS.md's ${want.join(', ')}`);
  }
  const selectors = {};
  for (const sig of want) {
    const sel = `0x${ids[sig]}`;
    const computed = keccakHex(Buffer.from(sig)).slice(0, 10);
    if (sel !== EXPECTED.functions[sig] || computed !== sel) {
      fail(`selector of ${sig} is ${sel} (keccak ${computed}), PROOFS.md says ${EXPECTED.functions[sig]}`);
    }
    selectors[sig] = sel;
  }
  const events = abi.filter((x) => x.type === 'event');
  if (events.length !== 1 || signature(events[0]) !== EXPECTED.event) fail('the only event must be ' + EXPECTED.event);
  const indexed = events[0].inputs.map((i) => i.indexed);
  if (JSON.stringify(indexed) !== JSON.stringify([true, true, false, false, false])) {
    fail('Anchored must index exactly anchorer and seq');
  }
  const eventTopic = keccakHex(Buffer.from(EXPECTED.event));
  if (eventTopic !== EXPECTED.eventTopic) fail(`Anchored topic0 ${eventTopic} differs from PROOFS.md`);
  for (const x of abi) {
    if (['constructor', 'fallback', 'receive'].includes(x.type)) fail(`unexpected ${x.type} in the ABI`);
    if (x.stateMutability === 'payable') fail(`${x.name} must not be payable`);
  }
  // Custom errors: their selectors go into the artifact too, for revert decoding.
  for (const e of abi.filter((x) => x.type === 'error').sort((a, b) => signature(a).localeCompare(signature(b)))) {
    selectors[signature(e)] = keccakHex(Buffer.from(signature(e))).slice(0, 10);
  }
  checkOpcodes(deployedBytecode);

  const artifact = {
    contractName: CONTRACT,
    compiler: { version, settings: SETTINGS },
    abi,
    bytecode,
    deployedBytecode,
    deployedCodeHash: keccakHex(Buffer.from(deployedBytecode.slice(2), 'hex')),
    selectors,
    eventTopic,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function main() {
  const check = process.argv.includes('--check');
  const text = compile();
  if (check) {
    let committed = null;
    try {
      committed = readFileSync(ARTIFACT_PATH, 'utf8');
    } catch {
      fail(`${ARTIFACT_PATH} is missing; run: node build.mjs`);
    }
    if (committed !== text) {
      fail(`${ARTIFACT_PATH} differs from a fresh compile; run: node build.mjs and commit the result`);
    }
    console.log(`ok: artifacts/${CONTRACT}.json matches a fresh compile (codehash ${JSON.parse(text).deployedCodeHash})`);
    return;
  }
  mkdirSync(dirname(ARTIFACT_PATH), { recursive: true });
  writeFileSync(ARTIFACT_PATH, text);
  const a = JSON.parse(text);
  console.log(`wrote artifacts/${CONTRACT}.json (runtime ${(a.deployedBytecode.length - 2) / 2} bytes, codehash ${a.deployedCodeHash})`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
