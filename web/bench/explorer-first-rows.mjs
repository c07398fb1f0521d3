#!/usr/bin/env node
// How soon the explorer's dataset page shows its first rows: a release or debug civicproof
// server on a fresh database with one dataset of N records, Debian's chromium (headless, via
// playwright-core), and the time from navigation start to the first records-table row, over
// R page loads (the first, cold, reported apart). Target: within 300 ms on a local server.
//
//   CIVICPROOF_BIN=<target>/release/civicproof node web/bench/explorer-first-rows.mjs [N] [R]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ADMIN, ok, startServer } from '../browser-test/harness.mjs';

const n = Number(process.argv[2] || 10000);
const rounds = Number(process.argv[3] || 20);
const bin = process.env.CIVICPROOF_BIN;
if (!bin) throw new Error('set CIVICPROOF_BIN to a civicproof binary');
const dir = mkdtempSync(join(tmpdir(), 'civicproof-bench-'));
const server = await startServer(bin, dir, 'bench');
const at = server.url;
try {
  await ok('POST', '/v1/institutions', { at, token: ADMIN, body: { slug: 'city', name: 'City' } });
  const pub = (await ok('POST', '/v1/institutions/city/tokens', { at, token: ADMIN, body: { role: 'publisher' } })).token;
  await ok('POST', '/v1/datasets', { at, token: pub, body: { slug: 'air', title: 'Air', description: 'PM10', license: 'CC-BY-4.0', access: 'public' } });
  for (let done = 0; done < n; done += 5000) {
    const batch = Array.from({ length: Math.min(5000, n - done) }, (_, i) => ({ key: `s${(done + i) % 500}`, payload: { sensor: `s${(done + i) % 500}`, pm10: ((done + i) % 997) / 10 } }));
    await ok('POST', '/v1/datasets/city/air/records', { at, token: pub, body: batch });
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext();
  const page = await context.newPage();
  const times = [];
  for (let i = 0; i <= rounds; i++) {
    await page.goto('about:blank');
    await page.goto(`${at}/#/d/city/air`);
    await page.locator('section[aria-labelledby=h-records] tbody tr[data-seq]').first().waitFor();
    // The explorer marks the moment the rows are in the document (app.js, datasetPage).
    times.push(await page.evaluate(() => performance.getEntriesByName('civicproof:first-rows').at(-1).startTime));
  }
  await browser.close();
  const [cold, ...warm] = times;
  warm.sort((a, b) => a - b);
  const q = (p) => warm[Math.min(warm.length - 1, Math.floor(p * warm.length))].toFixed(0);
  console.log(`dataset page, ${n} records, first rows after navigation start: cold ${cold.toFixed(0)} ms; warm p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${warm.at(-1).toFixed(0)} ms (${rounds} loads)`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
