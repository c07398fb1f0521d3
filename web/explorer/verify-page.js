// The bundle verification page: paste or drop any proof bundle and verify it against a trust
// entry. web/tools/build-standalone.mjs inlines this module, verify.js and the vendored
// libraries into web/explorer/verify.html, so the page also works saved and opened from
// file:// (browsers refuse module imports there) and offline. It makes no network request
// except step 8's JSON-RPC calls to the endpoint the user types.

import { TrustStore, memoryStorage, wellKnownProblem, anchorOf, entryFingerprints } from './trust.js';
import { verifyWithTrust, renderReport } from './proof.js';
import { h, fill, badge } from './dom.js';

const RPC_KEY = 'civicproof.rpc';

function storage() {
  try {
    localStorage.setItem('civicproof.probe', '1');
    localStorage.removeItem('civicproof.probe');
    return localStorage;
  } catch {
    return memoryStorage();
  }
}

const store = new TrustStore(storage());
const $ = (id) => document.getElementById(id);

function entryOptions() {
  const select = $('trust-entry');
  const entries = Object.values(store.all());
  fill(select,
    entries.map((e) => h('option', { value: e.prefix }, `${e.prefix}${e.tofu ? ' (trust on first use)' : ''}${e.anchor ? ', with anchor trust' : ''}`)),
    h('option', { value: '' }, 'Enter or paste a trust entry below'));
  select.value = entries.length ? entries[0].prefix : '';
  showEntry();
}

/** The trust entry the user chose or typed; throws with a message when unusable. */
function chosenEntry() {
  const prefix = $('trust-entry').value;
  if (prefix) {
    const e = store.get(prefix);
    if (e) return e;
  }
  const pasted = $('trust-json').value.trim();
  if (pasted) {
    let v;
    try {
      v = JSON.parse(pasted);
    } catch (e) {
      throw new Error(`the pasted trust entry is not JSON: ${e.message}`);
    }
    // Either an exported explorer entry or a /.well-known/civicproof.json document.
    if (v.origin_prefix) {
      const problem = wellKnownProblem(v);
      if (problem) throw new Error(`the pasted identity: ${problem}`);
      return { prefix: v.origin_prefix, publicKey: v.log_public_key, anchor: anchorOf(v) };
    }
    if (typeof v.prefix !== 'string' || typeof v.publicKey !== 'string') throw new Error('the pasted entry needs prefix and publicKey');
    return { prefix: v.prefix, publicKey: v.publicKey, anchor: v.anchor ?? null };
  }
  const p = $('trust-prefix').value.trim();
  const k = $('trust-key').value.trim();
  if (!p || !k) throw new Error('choose a trust entry, paste one, or enter the instance prefix and log public key');
  const anchorFields = ['anchor-chain', 'anchor-contract', 'anchor-codehash', 'anchor-anchorer'].map((id) => $(id).value.trim());
  let anchor = null;
  if (anchorFields.some(Boolean)) {
    if (!anchorFields.every(Boolean)) throw new Error('anchor trust needs all four of chain id, contract, code hash and anchoring account');
    anchor = { chainId: Number(anchorFields[0]), contract: anchorFields[1].toLowerCase(), codeHash: anchorFields[2].toLowerCase(), anchorer: anchorFields[3].toLowerCase(), finality: 'finalized' };
  }
  return { prefix: p, publicKey: k, anchor };
}

async function showEntry() {
  const out = $('trust-shown');
  const prefix = $('trust-entry').value;
  const e = prefix ? store.get(prefix) : null;
  $('manual-trust').hidden = Boolean(e);
  if (!e) return fill(out);
  const f = await entryFingerprints(e);
  fill(out, e.tofu ? badge('info', 'Trust on first use') : badge('pass', 'Pinned'), ` ${e.prefix}: key fingerprint `, h('code', {}, f.key),
    f.anchor ? [', anchor fingerprint ', h('code', {}, f.anchor)] : ', no anchor trust pinned');
}

function bundleText() {
  return $('bundle').value;
}

function fillFromBundle() {
  try {
    const b = JSON.parse(bundleText());
    if (b?.envelope?.dataset) $('origin').value = b.envelope.dataset;
    if (Number.isSafeInteger(b?.envelope?.seq)) $('seq').value = String(b.envelope.seq);
    $('expect-note').hidden = false;
  } catch {
    // not JSON: step 0 will say why
  }
}

async function readFile(file) {
  if (file.size > 4 * 1024 * 1024) throw new Error('that file is larger than any bundle (4 MiB)');
  $('bundle').value = new TextDecoder('utf-8', { fatal: false }).decode(await file.arrayBuffer());
  fillFromBundle();
}

async function verify(ev) {
  ev.preventDefault();
  const out = $('result');
  try {
    const entry = chosenEntry();
    const origin = $('origin').value.trim();
    if (!origin) throw new Error('enter the dataset origin you expect (or fill it from the bundle)');
    const seqText = $('seq').value.trim();
    if (seqText && !/^(0|[1-9][0-9]*)$/.test(seqText)) throw new Error('the expected seq must be a whole number');
    const rpc = $('rpc').value.trim();
    try {
      localStorage.setItem(RPC_KEY, rpc);
    } catch {
      // not kept
    }
    fill(out, h('p', { role: 'status' }, 'Verifying…'));
    const bytes = new TextEncoder().encode(bundleText());
    const report = await verifyWithTrust(bytes, {
      entry,
      origin,
      seq: seqText ? Number(seqText) : null,
      rpc,
      requireAnchor: $('require-anchor').checked,
    });
    fill(out, h('p', {}, `Checked against trust for ${entry.prefix}.`), renderReport(report));
  } catch (e) {
    fill(out, h('p', { role: 'alert' }, badge('fail', 'Cannot verify'), ` ${e.message}`));
  }
  out.focus();
}

/** The RPC origin this page's security policy allows: the cookie as it was at load. */
const allowedAtLoad = (() => {
  const m = /(?:^|;\s*)civicproof_rpc=([^;]*)/.exec(document.cookie || '');
  return m ? decodeURIComponent(m[1]) : '';
})();

/** A served page may only reach the RPC origin allowed when it loaded; say so, and allow it. */
function checkRpcAllowed() {
  const note = $('rpc-note');
  const v = $('rpc').value.trim();
  if (location.protocol === 'file:' || !v) return fill(note);
  let origin;
  try {
    origin = new URL(v).origin;
  } catch {
    return fill(note, badge('warn'), ' Not a URL.');
  }
  if (origin === allowedAtLoad) return fill(note);
  document.cookie = `civicproof_rpc=${encodeURIComponent(origin)}; path=/; max-age=31536000; samesite=strict`;
  fill(note, badge('warn', 'Reload needed'), ` This page's security policy lets it reach only the endpoint chosen before it loaded. ${origin} is now allowed: reload the page (your entries here are not kept), or use a saved copy of this page.`);
}

function init() {
  entryOptions();
  try {
    $('rpc').value = localStorage.getItem(RPC_KEY) || '';
  } catch {
    // storage unavailable
  }
  $('trust-entry').addEventListener('change', showEntry);
  $('rpc').addEventListener('change', checkRpcAllowed);
  checkRpcAllowed();
  $('bundle-file').addEventListener('change', (ev) => {
    const f = ev.target.files[0];
    if (f) readFile(f).catch((e) => fill($('result'), badge('fail', 'Cannot read'), ` ${e.message}`));
  });
  $('bundle').addEventListener('change', fillFromBundle);
  $('fill-expect').addEventListener('click', fillFromBundle);
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const f = ev.dataTransfer.files[0];
    if (f) readFile(f).catch((e) => fill($('result'), badge('fail', 'Cannot read'), ` ${e.message}`));
  });
  $('verify-form').addEventListener('submit', verify);
  // A saved copy has no explorer next to it.
  if (location.protocol === 'file:') $('site-nav').hidden = true;
  $('where').textContent = location.protocol === 'file:'
    ? 'You opened this page from a file: it verifies with the code saved in it and needs no server.'
    : 'This page was delivered by the server you are checking, so it trusts that server\'s code. Save it (Ctrl+S / ⌘S) and open the saved file to verify with code you keep.';
}

init();
