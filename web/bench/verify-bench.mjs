// Throughput of web/verify.js on bundles that share one checkpoint, as a client verifying many
// records of one dataset would see it. The checkpoint's signature is verified once and then
// answered from verify.js's cache of verified notes (keyed by the pinned key and the note's exact
// text, like the Rust VerifiedNoteCache); every other step runs for every bundle.
//
//   node web/bench/verify-bench.mjs [--seconds S]
//
// Prints the cold time of one bundle (empty caches: includes the Ed25519 verification) and the
// warm throughput in bundles per second, one at a time and with 8 verifications in flight.

import { readFileSync } from 'node:fs';
import { verifyBundle, clearCaches } from '../verify.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const fixtures = JSON.parse(readFileSync(new URL('../test/fixtures/bundles.json', import.meta.url), 'utf8'));

// The verified bundles of the 37-entry log at its full checkpoint: records (plain, anchored,
// erased, pending) and the erasure entry, as served and respelled.
const base = fixtures.find((f) => f.name === 'record 0: as served');
const checkpoint = JSON.parse(base.bundle).checkpoint;
const cases = fixtures
  .filter((f) => f.rust.ok && f.bundle !== null && f.expect.publicKey === base.expect.publicKey)
  .filter((f) => JSON.parse(f.bundle).checkpoint === checkpoint)
  .map((f) => ({ bytes: new TextEncoder().encode(f.bundle), expect: f.expect }));

async function verifyAll() {
  for (const c of cases) {
    const report = await verifyBundle(c.bytes, c.expect);
    if (!report.ok) throw new Error(`bundle failed step ${report.failedStep}: ${report.steps[report.failedStep].detail}`);
  }
}

// Cold: nothing cached, not even the JIT's view of the code.
clearCaches();
let t = performance.now();
await verifyBundle(cases[0].bytes, cases[0].expect);
const cold = performance.now() - t;

// Warm-up, then timed loops: one bundle at a time, and 8 in flight (as a page verifying a table
// of records would run them; WebCrypto digests are asynchronous, so their latency overlaps).
for (let i = 0; i < 20; i++) await verifyAll();

async function timed(inFlight) {
  let n = 0;
  let next = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  async function worker() {
    while (performance.now() < until) {
      const c = cases[next++ % cases.length];
      const report = await verifyBundle(c.bytes, c.expect);
      if (!report.ok) throw new Error(`bundle failed step ${report.failedStep}`);
      n++;
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = (performance.now() - start) / 1000;
  return { n, elapsed, rate: Math.round(n / elapsed) };
}

const size = cases.reduce((sum, c) => sum + c.bytes.length, 0) / cases.length;
console.log(`${cases.length} distinct bundles sharing one checkpoint (mean ${size.toFixed(0)} bytes), Node ${process.version}`);
console.log(`cold, first bundle (empty caches, includes the Ed25519 check): ${cold.toFixed(1)} ms`);
for (const inFlight of [1, 8]) {
  const { n, elapsed, rate } = await timed(inFlight);
  const label = inFlight === 1 ? 'sequential' : `${inFlight} in flight`;
  console.log(`warm, ${label}: ${n} bundles in ${elapsed.toFixed(2)} s = ${rate} bundles/s (${(1e6 / rate).toFixed(0)} µs each)`);
}
