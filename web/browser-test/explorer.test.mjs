// The explorer in a real browser: Debian's chromium driven by playwright-core, against a real
// civicproof server on a fresh PostgreSQL database, seeded through the REST API.
//
//   CIVICPROOF_BIN=<target>/debug/civicproof node --test web/browser-test/
//
// Knobs: CIVICPROOF_BIN (default $CARGO_TARGET_DIR/debug/civicproof, else target/debug),
// CIVICPROOF_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432), CHROMIUM (default
// /usr/bin/chromium). Screenshots go to web/test-artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { ADMIN, api as rawApi, startServer as startRawServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const artifacts = resolve(here, '../test-artifacts');
const BIN = process.env.CIVICPROOF_BIN || join(process.env.CARGO_TARGET_DIR || join(repo, 'target'), 'debug/civicproof');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let server;
let base;
let browser;
let tmp;
let publisher;
let reader;

const api = (method, path, opts = {}) => rawApi(method, path, { at: base, ...opts });
async function ok(method, path, opts) {
  const r = await api(method, path, opts);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.json();
}
const startServer = (name, env) => startRawServer(BIN, tmp, name, env);

/** Waits until the record's bundle is signed (the signer runs every 200 ms here). */
async function bundleText(inst, ds, seq, { until = () => true, tries = 50, at = base } = {}) {
  for (let i = 0; i < tries; i++) {
    const r = await api('GET', `/v1/datasets/${inst}/${ds}/records/${seq}/proof`, { at });
    if (r.status === 200 && until(r.json())) return r.text;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error('bundle never signed');
}

/** An institution `city` with a publisher and a reader token, on the server at `url`. */
async function seedInstitution(at) {
  await ok('POST', '/v1/institutions', { at, token: ADMIN, body: { slug: 'city', name: 'City of Example' } });
  const pub = (await ok('POST', '/v1/institutions/city/tokens', { at, token: ADMIN, body: { role: 'publisher' } })).token;
  const rd = (await ok('POST', '/v1/institutions/city/tokens', { at, token: pub, body: { role: 'reader' } })).token;
  return { publisher: pub, reader: rd };
}

before(async () => {
  assert.ok(existsSync(BIN), `no civicproof binary at ${BIN}: cargo build -p civicproof-api`);
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium`);
  mkdirSync(artifacts, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), 'civicproof-web-'));
  server = await startServer('main');
  base = server.url;
  ({ publisher, reader } = await seedInstitution(base));
  await ok('POST', '/v1/datasets', { token: publisher, body: { slug: 'air', title: 'Air quality', description: 'PM10 by sensor', license: 'CC-BY-4.0', access: 'public', themes: ['ENVI'], keywords: ['air', 'pm10'] } });
  await ok('POST', '/v1/datasets', { token: publisher, body: { slug: 'buses', title: 'Bus punctuality', description: 'Delays per line', license: 'CC0-1.0', access: 'public', themes: ['TRAN'], keywords: ['transport'] } });
  await ok('POST', '/v1/datasets', { token: publisher, body: { slug: 'secret', title: 'Restricted cardholder counts', description: 'Not public', license: 'proprietary', access: 'restricted', themes: ['SOCI'] } });
  await ok('POST', '/v1/datasets/city/air/records', {
    token: publisher, type: 'text/csv', body: 'key,sensor,pm10\ns1,s1,17.20\ns2,s2,9\ns3,s3,4\n',
  });
  await ok('POST', '/v1/datasets/city/air/records', { token: publisher, body: [{ key: 's1', payload: { sensor: 's1', pm10: 18.5 } }, { key: 's4', payload: { sensor: 's4', pm10: 30 } }] });
  await ok('POST', '/v1/datasets/city/air/records/1/erasure', { token: publisher, body: { reason: 'publisher-error' } });
  await ok('POST', '/v1/datasets/city/secret/records', { token: publisher, body: [{ key: 'k', payload: { cards: 3 } }] });
  await bundleText('city', 'air', 5); // the erasure entry is signed

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A fresh browser profile, recording CSP violations and page errors. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** The status of every verification step, by name. */
async function stepStatuses(page) {
  return page.$$eval('ol.steps li', (lis) => Object.fromEntries(lis.map((li) => [li.dataset.step, li.dataset.status])));
}

test('the explorer is served from the binary with a strict policy; API misses stay problem JSON', async () => {
  const index = await api('GET', '/');
  assert.equal(index.status, 200);
  const head = await api('HEAD', '/web/explorer/app.js');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  assert.match(head.headers.get('content-type'), /^text\/javascript/);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  const csp = index.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self';/);
  const etag = index.headers.get('etag');
  assert.equal((await api('GET', '/', { headers: { 'if-none-match': etag } })).status, 304);
  const withRpc = await api('GET', '/', { headers: { cookie: 'civicproof_rpc=http%3A%2F%2F127.0.0.1%3A8545' } });
  assert.match(withRpc.headers.get('content-security-policy'), /connect-src 'self' http:\/\/127\.0\.0\.1:8545;/);
  const injected = await api('GET', '/', { headers: { cookie: "civicproof_rpc=http%3A%2F%2Fx%3B%20script-src%20*" } });
  assert.match(injected.headers.get('content-security-policy'), /connect-src 'self';/);
  const js = await api('GET', '/web/verify.js');
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const standalone = await api('GET', '/verify');
  assert.match(standalone.headers.get('content-security-policy'), /script-src 'sha256-[A-Za-z0-9+/]+=';/);
  const miss = await api('GET', '/v1/nope');
  assert.equal(miss.status, 404);
  assert.match(miss.headers.get('content-type'), /problem\+json/);
  assert.equal((await api('GET', '/web/nope.js')).status, 404);
});

test('catalog, dataset and record pages; Verify passes every step with the anchor steps skipped', async () => {
  const page = await newPage();
  await page.goto(base + '/');
  await page.getByTestId('tofu').waitFor();
  assert.match(await page.getByTestId('tofu').textContent(), /Trust on first use/);
  await page.locator('[data-dataset="city/air"]').waitFor();
  assert.equal(await page.locator('[data-dataset="city/secret"]').count(), 0, 'restricted dataset invisible without a token');
  await shot(page, '01-catalog');

  // Filter by institution, by theme, then by text.
  await page.getByLabel('Institution').selectOption('city');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction(() => location.hash === '#/?institution=city');
  await page.locator('[data-dataset="city/air"]').waitFor();
  await page.getByRole('link', { name: 'Clear filters' }).click();
  await page.waitForFunction(() => location.hash === '#/' && document.getElementById('f-institution')?.value === '');
  await page.getByLabel('Theme').fill('TRAN');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('[data-dataset="city/buses"]').waitFor();
  assert.equal(await page.locator('[data-dataset="city/air"]').count(), 0);
  await page.getByRole('link', { name: 'Clear filters' }).click();
  await page.locator('[data-dataset="city/air"]').waitFor();
  await page.getByLabel('Search', { exact: true }).fill('PM10');
  await page.getByLabel('Search', { exact: true }).press('Enter');
  await page.waitForFunction(() => !document.querySelector('[data-dataset="city/buses"]') && document.querySelector('[data-dataset="city/air"]'));

  // Dataset page.
  await page.getByRole('link', { name: 'Air quality' }).click();
  await page.getByRole('heading', { level: 1, name: 'Air quality' }).waitFor();
  assert.equal(await page.getByTestId('entry-count').textContent(), '6');
  await page.getByText('signature valid').first().waitFor();
  assert.equal(await page.locator('table.records tbody tr[data-seq]').count(), 6);
  await page.getByText('CC-BY-4.0').first().waitFor();
  // Filter records by payload field.
  await page.getByLabel('Payload fields').fill('sensor=s1');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForFunction(() => document.querySelectorAll('section[aria-labelledby=h-records] tbody tr').length === 2);
  const csv = page.getByRole('link', { name: 'CSV' });
  assert.match(await csv.getAttribute('href'), /\/v1\/datasets\/city\/air\/records\?payload\.sensor=s1&format=csv$/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'NDJSON' }).click()]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.envelope.seq), [0, 3], 'the download carries the filters');
  await shot(page, '02-dataset');

  // Record page: versions of the key, then Verify.
  await page.locator('section[aria-labelledby=h-records] tbody tr[data-seq="3"] a').click();
  await page.getByRole('heading', { level: 1, name: /record 3/ }).waitFor();
  await page.getByText('supersedes seq 0').first().waitFor();
  await page.getByTestId('verify').click();
  await page.locator('.report').waitFor();
  const steps = await stepStatuses(page);
  assert.deepEqual(steps, {
    format: 'pass', lengths: 'pass', payload: 'pass', leaf: 'pass', 'checkpoint-signature': 'pass',
    'checkpoint-binding': 'pass', inclusion: 'pass', 'anchor-offline': 'skipped', 'anchor-online': 'skipped',
  });
  assert.match(await page.locator('.verdict').textContent(), /Verified/);
  assert.match(await page.locator('.consistency').textContent(), /first checkpoint seen|same checkpoint/);
  await shot(page, '03-record-verified');

  // An erased record: the notice, and step 2 says "erased by".
  await page.goto(base + '/#/d/city/air/r/1');
  await page.getByTestId('erased').waitFor();
  await page.getByTestId('erased').getByRole('link', { name: 'seq 5' }).waitFor();
  assert.match(await page.getByTestId('erased').textContent(), /reason: publisher-error/);
  await page.getByTestId('verify').click();
  await page.locator('.report').waitFor();
  assert.match(await page.locator('li[data-step=payload]').textContent(), /erased by seq 5 \(reason publisher-error\)/);

  // Keyboard: the first Tab reaches the skip link, which moves focus to the page's heading.
  await page.reload();
  await page.getByTestId('erased').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  assert.equal(new URL(page.url()).hash, '#/d/city/air/r/1', 'the route stays');

  // A phone: no page is wider than its 390 px screen (tables and notes scroll inside).
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, ready] of [['#/', '[data-dataset="city/air"]'], ['#/d/city/air', 'tr[data-seq="5"]'], ['#/d/city/air/r/3', '[data-testid=verify]'], ['#/trust', '[data-prefix]']]) {
    await page.goto(`${base}/${hash}`);
    await page.locator(ready).first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${hash} is ${width} px wide on a 390 px screen`);
  }
  await shot(page, '03b-phone-trust');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('restricted datasets appear only with a reader token, sent as a header', async () => {
  const page = await newPage();
  await page.goto(base + '/#/d/city/secret');
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  const sent = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/')) sent.push({ url: r.url(), auth: r.headers().authorization });
  });
  await page.locator('summary', { hasText: 'Reader token' }).click();
  await page.getByLabel('Token', { exact: true }).fill(reader);
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.getByRole('heading', { level: 1, name: 'Restricted cardholder counts' }).waitFor();
  assert.ok(sent.length > 0);
  assert.ok(sent.every((s) => !s.url.includes(reader)), 'the token never appears in a URL');
  assert.ok(sent.some((s) => s.auth === `Bearer ${reader}`));
  // A download with a token goes through fetch (a link cannot carry the header).
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^seq,kind,key,/);
  assert.match(csv, /cards/);
  await page.goto(base + '/#/');
  await page.locator('[data-dataset="city/secret"]').waitFor();
  await page.context().close();
});

test('trust page: fingerprints, their confirmation, the user\'s RPC endpoint in the policy; a changed key blocks verification', async () => {
  const page = await newPage();
  await page.goto(base + '/#/trust');
  await page.getByTestId('tofu-label').waitFor();
  assert.match(await page.locator('[data-prefix] dd').nth(1).textContent(), /^([0-9a-f]{4} ){7}[0-9a-f]{4}$/, 'the key fingerprint is shown');
  await page.getByRole('button', { name: 'I compared the fingerprints with the publisher' }).click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=tofu-label]') && !document.querySelector('[data-testid=tofu]'));
  // The user's RPC endpoint: kept, allowed by the next page's connect-src, and named.
  await page.getByLabel('Endpoint URL').fill('http://127.0.0.1:9/');
  await page.getByRole('button', { name: 'Save endpoint' }).click();
  await page.waitForFunction(() => document.cookie.includes('civicproof_rpc='));
  await page.goto('about:blank');
  const doc = await page.goto(`${base}/#/d/city/air/r/0`);
  assert.match(doc.headers()['content-security-policy'], /connect-src 'self' http:\/\/127\.0\.0\.1:9;/);
  await page.getByText('On-chain checks will ask your RPC endpoint http://127.0.0.1:9/').first().waitFor();
  await page.getByTestId('verify').click();
  await page.locator('.report').waitFor();
  assert.match(await page.getByTestId('endpoint').textContent(), /No RPC call was made .* your endpoint is http:\/\/127\.0\.0\.1:9\//);
  await page.goto(`${base}/#/trust`);
  await page.locator('[data-prefix]').waitFor();
  // What the browser pinned differs from what the server publishes now (as after a key swap).
  await page.evaluate(() => {
    const all = JSON.parse(localStorage.getItem('civicproof.trust.v1'));
    const e = Object.values(all)[0];
    e.publicKey = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
    e.tofu = false;
    localStorage.setItem('civicproof.trust.v1', JSON.stringify(all));
  });
  await page.goto(base + '/#/d/city/air/r/0');
  await page.reload();
  await page.getByTestId('identity-changed').waitFor();
  assert.match(await page.getByTestId('identity-changed').textContent(), /Verification is blocked.*log_public_key/s);
  await page.getByTestId('verify').click();
  await page.getByText('Verification is blocked: the instance identity changed').first().waitFor();
  assert.equal(await page.locator('ol.steps').count(), 0, 'nothing was verified');
  await shot(page, '04-key-changed');
  // Accepting needs an explicit confirmation.
  await page.goto(base + '/#/trust');
  await page.getByTestId('change-review').waitFor();
  await page.getByLabel('I confirmed the new values').check();
  await page.getByRole('button', { name: 'Accept the new identity' }).click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=identity-changed]'));
  await page.context().close();
});

test('the bundle page verifies a pasted bundle and names the failing step of a tampered one, also from file://', async () => {
  const page = await newPage();
  await page.goto(base + '/'); // pins the instance (trust on first use)
  await page.getByTestId('tofu').waitFor();
  const good = await bundleText('city', 'air', 2);
  const tampered = good.replace('"pm10":4', '"pm10":5');
  assert.notEqual(tampered, good);

  await page.goto(base + '/verify');
  await page.getByLabel('Paste the bundle JSON').fill(good);
  await page.getByRole('button', { name: 'Fill from the bundle' }).click();
  await page.getByTestId('verify').click();
  await page.locator('.report').waitFor();
  assert.match(await page.locator('.verdict').textContent(), /Verified/);

  // A tampered bundle file, chosen with the file picker (the drop zone reads files the same way).
  await page.locator('#bundle-file').setInputFiles({ name: 'tampered.bundle.json', mimeType: 'application/json', buffer: Buffer.from(tampered) });
  await page.waitForFunction((t) => document.getElementById('bundle').value === t, tampered);
  await page.getByTestId('verify').click();
  await page.waitForFunction(() => document.querySelector('.verdict')?.textContent.includes('Not verified'));
  const steps = await stepStatuses(page);
  assert.equal(steps.payload, 'fail');
  assert.equal(steps.leaf, 'skipped');
  assert.match(await page.locator('.verdict').textContent(), /Step 2 \(payload\) failed/);
  await shot(page, '05-tampered');
  assert.deepEqual(page.problems, []);

  // Saved to disk and opened from file://, with the trust pasted as the /.well-known document.
  const html = (await api('GET', '/verify')).text;
  const file = join(tmp, 'saved-verify.html');
  writeFileSync(file, html);
  const wk = (await api('GET', '/.well-known/civicproof.json')).text;
  const offline = await newPage();
  await offline.goto(pathToFileURL(file).href);
  await offline.getByLabel(/Paste a trust entry/).fill(wk);
  await offline.getByLabel('Paste the bundle JSON').fill(good);
  await offline.getByRole('button', { name: 'Fill from the bundle' }).click();
  await offline.getByTestId('verify').click();
  await offline.locator('.report').waitFor();
  assert.match(await offline.locator('.verdict').textContent(), /Verified/);
  await offline.getByLabel('Paste the bundle JSON').fill(tampered);
  await offline.getByTestId('verify').click();
  await offline.waitForFunction(() => document.querySelector('.verdict')?.textContent.includes('Not verified'));
  assert.equal((await stepStatuses(offline)).payload, 'fail');
  await shot(offline, '06-file-url');
  assert.deepEqual(offline.problems, []);
  await page.context().close();
  await offline.context().close();
});

test('the dataset page shows new entries live as they are published', async () => {
  const page = await newPage();
  await page.goto(base + '/#/d/city/buses');
  await page.getByText('Live updates: connected').first().waitFor();
  await ok('POST', '/v1/datasets/city/buses/records', { token: publisher, body: [{ key: 'line-1', payload: { line: 1, delay_s: 90 } }, { key: 'line-2', payload: { line: 2, delay_s: 12 } }] });
  await page.waitForFunction(() => document.querySelector('[data-testid=live-count]')?.textContent === '2');
  assert.equal(await page.locator('section.live tbody tr[data-seq="1"]').count(), 1);
  await shot(page, '07-live');
  await page.context().close();
});

test('records that arrived over MQTT say so on their page and on their dataset\'s, labelled as unproven', async () => {
  await ok('POST', '/v1/datasets', { token: publisher, body: { slug: 'sensors', title: 'Sensor readings', description: 'From the MQTT bridge', license: 'CC0-1.0', access: 'public' } });
  await ok('POST', '/v1/datasets/city/sensors/records', { token: publisher, body: [{ payload: { pm10: 1 } }] });
  await ok('POST', '/v1/datasets/city/sensors/records', {
    token: publisher, headers: { 'ingest-channel': 'mqtt', 'ingest-source': 'city/air/+/reading' },
    body: [{ key: 's1', payload: { pm10: 12.5 } }, { key: 's2', payload: { pm10: 7 } }],
  });
  const page = await newPage();
  await page.goto(base + '/#/d/city/sensors/r/2');
  await page.waitForFunction(() => /over MQTT/.test(document.querySelector('[data-testid=arrived]')?.textContent || ''));
  const arrived = await page.getByTestId('arrived').textContent();
  assert.match(arrived, /over MQTT from city\/air\/\+\/reading/);
  assert.match(arrived, /not part of the proof/);
  await page.goto(base + '/#/d/city/sensors/r/0');
  await page.waitForFunction(() => document.querySelector('[data-testid=arrived]')?.textContent === 'through the REST API');
  await page.goto(base + '/#/d/city/sensors');
  await page.waitForFunction(() => /over MQTT/.test(document.querySelector('[data-testid=arrivals]')?.textContent || ''));
  assert.match(await page.getByTestId('arrivals').textContent(), /2 records, seq 1–2/);
  await shot(page, '08-arrivals');
  await page.context().close();
});

test('an anchored record verifies on chain through the RPC endpoint the user set', async () => {
  // Needs anvil from contracts/ (`npm ci` there; ./run test does it first): a missing anvil
  // fails here, it never skips.
  const anvilLib = resolve(repo, 'contracts/lib/anvil.mjs');
  const { startAnvil, anvilBinary } = await import(pathToFileURL(anvilLib).href);
  anvilBinary();
  const anvil = await startAnvil({ blockTime: 1 });
  let anchored;
  try {
    anchored = await startServer('anchored', {
      CIVICPROOF_CHAIN_RPC_URL: anvil.url,
      CIVICPROOF_ANCHOR_DEPLOY: '1',
      // anvil's first development account; the server accepts it only on chain 31337.
      CIVICPROOF_ANCHOR_KEY: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
      CIVICPROOF_ANCHOR_INTERVAL_MS: '1000',
    });
    const at = anchored.url;
    const wk = (await api('GET', '/.well-known/civicproof.json', { at })).json();
    assert.ok(wk.anchor, 'the anchoring server names its anchor in /.well-known');
    const { publisher: pub } = await seedInstitution(at);
    await ok('POST', '/v1/datasets', { at, token: pub, body: { slug: 'air', title: 'Air quality', description: 'PM10', license: 'CC-BY-4.0', access: 'public' } });
    await ok('POST', '/v1/datasets/city/air/records', { at, token: pub, body: [{ key: 's1', payload: { pm10: 17.2 } }, { key: 's2', payload: { pm10: 9 } }] });
    await bundleText('city', 'air', 1, { at, tries: 300, until: (b) => b.anchor !== null });

    const page = await newPage();
    await page.goto(`${at}/#/trust`);
    await page.getByTestId('tofu-label').waitFor();
    assert.match(await page.locator('[data-prefix]').textContent(), new RegExp(wk.anchor.contract, 'i'));
    await page.getByLabel('Endpoint URL').fill(anvil.url);
    await page.getByRole('button', { name: 'Save endpoint' }).click();
    await page.waitForFunction(() => document.cookie.includes('civicproof_rpc='));
    // A full load: the page's connect-src now names the endpoint.
    await page.goto('about:blank');
    await page.goto(`${at}/#/d/city/air`);
    await page.getByText('Batch root').first().waitFor();
    await page.goto(`${at}/#/d/city/air/r/1`);
    await page.getByText(`your RPC endpoint ${anvil.url}`).first().waitFor();
    assert.equal(await page.locator('#require-anchor').isChecked(), true, 'an anchor is required once anchor trust is pinned');
    await page.getByTestId('verify').click();
    await page.locator('.report').waitFor({ timeout: 30000 });
    const steps = await stepStatuses(page);
    assert.deepEqual(Object.values(steps), Array(9).fill('pass'), JSON.stringify(steps));
    assert.match(await page.getByTestId('existed').textContent(), new RegExp(`Existed no later than .* answered by ${anvil.url.replace(/[.]/g, '\\.')}`));
    await shot(page, '08-anchored');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  } finally {
    await anchored?.stop();
    await anvil.stop();
  }
});
