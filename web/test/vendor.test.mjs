// The vendored libraries are exactly the pinned files web/vendor/README.md names, and
// web/verify.js.sha256 publishes the SHA-256 of the web/verify.js the repository ships (PROTOCOL.md:
// in-page verification trusts the delivered code, so its fingerprint must be checkable).
//
// `node web/test/vendor.test.mjs --print` prints the current hashes instead of testing them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';

const web = fileURLToPath(new URL('..', import.meta.url));
const vendor = join(web, 'vendor');
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The `| \`file\` | … | \`sha256\` |` rows of the first table of web/vendor/README.md. */
function pinned() {
  const readme = readFileSync(join(vendor, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `([^`]+)` \| [^|]+ \| `([0-9a-f]{64})` \|$/gm)];
  return new Map(rows.filter(([, file]) => !file.endsWith('.tgz')).map(([, file, hash]) => [file, hash]));
}

if (process.argv.includes('--print')) {
  for (const path of filesUnder(vendor)) console.log(`${sha256(path)}  ${relative(vendor, path)}`);
  console.log(`${sha256(join(web, 'verify.js'))}  web/verify.js`);
  process.exit(0);
}

test('every vendored file has the SHA-256 pinned in web/vendor/README.md', () => {
  const want = pinned();
  assert.ok(want.size >= 6, `expected the pinned files in web/vendor/README.md, found ${want.size}`);
  for (const [file, hash] of want) {
    assert.equal(sha256(join(vendor, file)), hash, `web/vendor/${file} differs from its pinned SHA-256`);
  }
});

test('nothing else is vendored', () => {
  const want = pinned();
  const present = filesUnder(vendor)
    .map((path) => relative(vendor, path).split('\\').join('/'))
    .filter((file) => file !== 'README.md');
  assert.deepEqual(present.sort(), [...want.keys()].sort());
});

test('verify.js imports exactly the pinned versions', () => {
  const source = readFileSync(join(web, 'verify.js'), 'utf8');
  const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ['./vendor/noble-ed25519-3.2.0.js', './vendor/noble-hashes-2.4.0/sha3.js']);
});

test("web/verify.js.sha256 holds verify.js's current SHA-256", () => {
  const published = readFileSync(join(web, 'verify.js.sha256'), 'utf8');
  const hash = sha256(join(web, 'verify.js'));
  assert.equal(
    published,
    `${hash}  web/verify.js\n`,
    `web/verify.js.sha256 must hold \`${hash}  web/verify.js\` (the output of \`sha256sum web/verify.js\`); ` +
      'regenerate it whenever verify.js changes: `sha256sum web/verify.js > web/verify.js.sha256`',
  );
});
