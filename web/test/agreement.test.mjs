// web/verify.js and the Rust verifier (verify/src) agree on every fixture, at the same step.
//
// web/test/fixtures/bundles.json is written by web/tools/gen-fixtures, which builds the 37-entry
// log of verify/tests/support the way a server does, serves bundles of it, mutates them
// systematically and records the Rust `verify_bundle` verdict for each. Regenerate it after any
// change to the Rust verifier (see docs/USING.md, "Browser verifier").

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyBundle } from '../verify.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/bundles.json', import.meta.url), 'utf8'));

/** The served bytes: the fixture's text, or raw bytes for the invalid-UTF-8 cases. */
const bytesOf = (f) => (f.bundle !== null ? new TextEncoder().encode(f.bundle) : new Uint8Array(Buffer.from(f.bundle_base64, 'base64')));

function verdict(report) {
  return { ok: report.ok, failedStep: report.failedStep, steps: report.steps.map((s) => s.status) };
}

const rustVerdict = (f) => ({ ok: f.rust.ok, failedStep: f.rust.failedStep, steps: f.rust.steps });

describe('agreement with the Rust verifier', () => {
  it('covers every step and both verdicts', () => {
    assert.ok(fixtures.length >= 600, `${fixtures.length} fixtures`);
    const failedAt = new Set(fixtures.map((f) => f.rust.failedStep));
    for (const step of [null, 0, 1, 2, 3, 4, 5, 6, 7]) assert.ok(failedAt.has(step), `no fixture fails at step ${step}`);
    assert.ok(fixtures.some((f) => f.rust.erasedBy !== null), 'an erased record');
    assert.ok(fixtures.some((f) => f.bundle === null), 'invalid UTF-8');
  });

  for (const f of fixtures) {
    it(f.name, async () => {
      const fromBytes = await verifyBundle(bytesOf(f), f.expect);
      const why = fromBytes.failedStep === null ? 'verified' : fromBytes.steps[fromBytes.failedStep].detail;
      assert.deepEqual(verdict(fromBytes), rustVerdict(f), `verify.js: ${why}; Rust: ${f.rust.reason ?? 'verified'}`);
      if (f.rust.erasedBy) {
        assert.deepEqual(fromBytes.erasedBy, f.rust.erasedBy);
        assert.equal(fromBytes.steps[2].detail, `erased by seq ${f.rust.erasedBy.seq} (reason ${f.rust.erasedBy.reason})`);
      }
      // The same text passed as a string must give the same verdict.
      if (f.bundle !== null) assert.deepEqual(verdict(await verifyBundle(f.bundle, f.expect)), rustVerdict(f));
    });
  }
});
