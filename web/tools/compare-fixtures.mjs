// Compares web/verify.js with the Rust verdicts recorded in a fixture file, outside the test
// runner (for large one-off sets such as the byte flips of gen-fixtures --byte-flips).
//
//   node web/tools/compare-fixtures.mjs [FILE]   (default: web/test/fixtures/bundles.json)
//
// Prints every disagreement (verdict, failed step or any step's status) and exits non-zero if
// there is one.

import { readFileSync } from 'node:fs';
import { verifyBundle } from '../verify.js';

const file = process.argv[2] ?? new URL('../test/fixtures/bundles.json', import.meta.url);
const fixtures = JSON.parse(readFileSync(file, 'utf8'));
const bytesOf = (f) =>
  f.bundle !== null ? new TextEncoder().encode(f.bundle) : new Uint8Array(Buffer.from(f.bundle_base64, 'base64'));

let disagreements = 0;
const failedAt = new Map();
for (const f of fixtures) {
  const r = await verifyBundle(bytesOf(f), f.expect);
  failedAt.set(r.failedStep, (failedAt.get(r.failedStep) ?? 0) + 1);
  const same =
    r.ok === f.rust.ok && r.failedStep === f.rust.failedStep && r.steps.every((s, i) => s.status === f.rust.steps[i]);
  if (!same) {
    disagreements++;
    const why = r.failedStep === null ? 'verified' : r.steps[r.failedStep].detail;
    console.log(`${f.name}: verify.js ${r.failedStep ?? 'ok'} (${why}); Rust ${f.rust.failedStep ?? 'ok'} (${f.rust.reason ?? 'verified'})`);
  }
}
const steps = [...failedAt].sort(([a], [b]) => (a ?? 9) - (b ?? 9)).map(([s, n]) => `${s ?? 'verified'}: ${n}`);
console.log(`${fixtures.length} cases, ${disagreements} disagreements; verify.js verdicts by failed step: ${steps.join(', ')}`);
process.exit(disagreements === 0 ? 0 : 1);
