// The civicproof explorer: catalog, dataset, record and trust pages over the REST API
// (API.md), with proofs verified in this browser by web/verify.js (PROTOCOL.md section 7).
// Plain ES modules, no build step; routes live in the URL fragment (#/d/<inst>/<ds>/r/<seq>).

import { h, fill, badge, dl, jsonBlock, formatTime, formatUnix } from './dom.js';
import { getJson, getBytes, apiFetch, authHeaders, getToken, setToken, datasetPath, enc, ApiError } from './api.js';
import { TrustStore, wellKnownProblem, entryFingerprints, memoryStorage } from './trust.js';
import { readEvents } from './sse.js';

// verify.js and the vendored libraries load only when something is verified, so the catalog
// and the records table do not wait for them.
const proofModule = () => import('./proof.js');
const verifyModule = () => import('../verify.js');

const main = document.getElementById('main');
const banner = document.getElementById('banner');
const RPC_KEY = 'civicproof.rpc';
const PAGE_SIZE = 50;

const store = new TrustStore(safeStorage());
/** `{ wk, entry, state, changes, error }` for this server's instance prefix. */
let identity = null;
/** Settles when `identity` is known; pages that need it wait, the others do not. */
let identityReady = Promise.resolve();
/** Stops the current page's live feed, if any. */
let stopLive = null;

function safeStorage() {
  try {
    localStorage.setItem('civicproof.probe', '1');
    localStorage.removeItem('civicproof.probe');
    return localStorage;
  } catch {
    return memoryStorage();
  }
}

// ---------------------------------------------------------------------------------------------
// The user's RPC endpoint: local storage, plus a cookie holding only its origin so the server
// can allow it in the page's connect-src (a policy is widened only by a new page load).
// ---------------------------------------------------------------------------------------------

export function getRpc() {
  try {
    return localStorage.getItem(RPC_KEY) || '';
  } catch {
    return '';
  }
}

function setRpc(url) {
  try {
    if (url) localStorage.setItem(RPC_KEY, url);
    else localStorage.removeItem(RPC_KEY);
  } catch {
    // not kept
  }
  const origin = url ? new URL(url).origin : '';
  document.cookie = origin
    ? `civicproof_rpc=${encodeURIComponent(origin)}; path=/; max-age=31536000; samesite=strict`
    : 'civicproof_rpc=; path=/; max-age=0; samesite=strict';
}

// ---------------------------------------------------------------------------------------------
// Identity and trust
// ---------------------------------------------------------------------------------------------

async function loadIdentity() {
  try {
    const res = await fetch('/.well-known/civicproof.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const wk = await res.json();
    const problem = wellKnownProblem(wk);
    if (problem) throw new Error(`/.well-known/civicproof.json: ${problem}`);
    identity = { wk, ...store.observe(wk) };
  } catch (e) {
    identity = { error: e.message };
  }
  showBanner();
}

function showBanner() {
  if (!identity) return fill(banner);
  if (identity.error) {
    return fill(banner, h('div', { class: 'alert', role: 'alert' }, badge('warn'), ' ',
      `This server's identity could not be read (${identity.error}); verification is unavailable.`));
  }
  if (identity.state === 'changed') {
    return fill(banner, h('div', { class: 'alert alert-danger', role: 'alert', 'data-testid': 'identity-changed' },
      h('strong', {}, [badge('warn', 'Warning'), ' The identity of this instance changed. Verification is blocked.']),
      h('p', {}, `What ${identity.wk.origin_prefix} publishes in /.well-known/civicproof.json differs from what you pinned on ${formatTime(identity.entry.firstSeen)}: ${identity.changes.join(', ')}.`),
      h('p', {}, 'A changed log key or anchor can mean a compromised or impersonated server. Check with the publisher before accepting it. '),
      h('a', { href: '#/trust' }, 'Review the change on the trust page')));
  }
  if (identity.entry?.tofu) {
    return fill(banner, h('p', { class: 'notice', 'data-testid': 'tofu' }, badge('info', 'Trust on first use'), ' ',
      `This instance's keys were pinned on ${formatTime(identity.entry.firstSeen)}, the first time this browser saw it. `,
      h('a', { href: '#/trust' }, 'Compare the fingerprints'), ' with the publisher to confirm them.'));
  }
  return fill(banner);
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function link(parts, params) {
  const qs = params && [...params].length ? `?${params}` : '';
  return `#/${parts.map(enc).join('/')}${qs}`;
}

async function route() {
  if (stopLive) {
    stopLive();
    stopLive = null;
  }
  const { parts, params } = parseHash();
  fill(main, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    if (parts.length === 0) await catalogPage(params);
    else if (parts[0] === 'd' && parts.length === 3) await datasetPage(parts[1], parts[2], params);
    else if (parts[0] === 'd' && parts.length === 5 && parts[3] === 'r') {
      await identityReady;
      await recordPage(parts[1], parts[2], parts[4]);
    } else if (parts[0] === 'trust') {
      await identityReady;
      trustPage();
    }
    else notFound();
  } catch (e) {
    showError(e);
  }
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    document.title = `${heading.textContent} · civicproof explorer`;
  }
}

function notFound() {
  fill(main, h('h1', {}, 'Not found'), h('p', {}, 'Nothing lives at this address. ', h('a', { href: '#/' }, 'Back to the catalog')));
}

function showError(e) {
  if (e instanceof ApiError && e.status === 404) {
    fill(main, h('h1', {}, 'Not found'),
      h('p', {}, 'This dataset or record does not exist, or it is restricted and your reader token (if any) does not grant it.'),
      h('p', {}, h('a', { href: '#/' }, 'Back to the catalog')));
    return;
  }
  fill(main, h('h1', {}, 'Something went wrong'), h('p', { role: 'alert' }, badge('fail', 'Error'), ' ', e.message || String(e)));
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

async function catalogPage(params) {
  const filters = ['q', 'institution', 'theme', 'keyword'];
  const qs = new URLSearchParams();
  for (const f of filters) if (params.get(f)) qs.set(f, params.get(f));
  qs.set('limit', String(PAGE_SIZE));
  if (params.get('after')) qs.set('after', params.get('after'));
  const [data, insts] = await Promise.all([
    getJson(`/v1/datasets?${qs}`),
    getJson('/v1/institutions').then((r) => r.institutions || [], () => []),
  ]);
  const names = Object.fromEntries(insts.map((i) => [i.slug, i.name]));
  const instSelect = h('div', { class: 'field' }, h('label', { for: 'f-institution' }, 'Institution'),
    h('select', { id: 'f-institution', name: 'institution' },
      h('option', { value: '' }, 'Any institution'),
      insts.map((i) => h('option', { value: i.slug, selected: params.get('institution') === i.slug }, `${i.name} (${i.slug})`)),
      params.get('institution') && !names[params.get('institution')] ? h('option', { value: params.get('institution'), selected: true }, params.get('institution')) : null));
  const input = (name, label, hint) =>
    h('div', { class: 'field' }, h('label', { for: `f-${name}` }, label),
      h('input', { id: `f-${name}`, name, type: 'search', value: params.get(name) || '', placeholder: hint }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search datasets',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const f of filters) {
        const v = form.elements[f].value.trim();
        if (v) p.set(f, v);
      }
      location.hash = link([], p);
    } },
    input('q', 'Search', 'words in title, description, keywords'),
    instSelect,
    input('theme', 'Theme', 'e.g. ENVI'),
    input('keyword', 'Keyword', 'exact keyword'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'), ' ', h('a', { href: '#/' }, 'Clear filters')));
  const items = data.datasets.map((d) =>
    h('li', { class: 'card', 'data-dataset': `${d.institution}/${d.slug}` },
      h('h2', {}, h('a', { href: link(['d', d.institution, d.slug]) }, d.title)),
      h('p', { class: 'sub' }, `${names[d.institution] || d.institution} · ${d.record_count} records · licence ${d.license}`,
        d.access === 'restricted' ? [' · ', badge('warn', 'restricted')] : null),
      h('p', {}, d.description),
      tagList('Themes', d.themes, 'theme'), tagList('Keywords', d.keywords, 'keyword')));
  const more = data.next_cursor
    ? h('p', {}, h('a', { href: link([], withParam(params, 'after', data.next_cursor)) }, 'Next page →'))
    : null;
  fill(main, h('h1', {}, 'Datasets'), form,
    h('p', { role: 'status' }, data.datasets.length === 0 ? 'No dataset matches.' : `${data.datasets.length} dataset${data.datasets.length === 1 ? '' : 's'} on this page.`),
    h('ul', { class: 'cards' }, items), more);
}

function tagList(label, values, param) {
  if (!values || values.length === 0) return null;
  return h('p', { class: 'tags' }, `${label}: `, values.map((v, i) => [i ? ', ' : '', h('a', { href: link([], new URLSearchParams({ [param]: v })) }, v)]));
}

function withParam(params, key, value) {
  const p = new URLSearchParams(params);
  if (value === null || value === undefined || value === '') p.delete(key);
  else p.set(key, value);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

const FEED_FILTERS = ['key', 'published_after', 'published_before', 'current'];

/** The feed query of the page's filters (payload filters come as `field=value; …`). */
function feedQuery(params) {
  const qs = new URLSearchParams();
  for (const f of FEED_FILTERS) if (params.get(f)) qs.set(f, params.get(f));
  for (const part of (params.get('payload') || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) qs.append(`payload.${part.slice(0, eq).trim()}`, part.slice(eq + 1).trim());
  }
  return qs;
}

async function datasetPage(inst, ds, params) {
  const base = datasetPath(inst, ds);
  const qs = feedQuery(params);
  qs.set('limit', String(PAGE_SIZE));
  if (params.get('after')) qs.set('after', params.get('after'));
  const [d, feed] = await Promise.all([getJson(base), getJson(`${base}/records?${qs}`)]);

  const title = h('h1', {}, d.title);
  const meta = dl([
    ['Institution', d.institution],
    ['Access', d.access === 'restricted' ? badge('warn', 'restricted (your token grants it)') : 'public'],
    ['Licence', d.license],
    ['Themes', d.themes.length ? d.themes.join(', ') : null],
    ['Keywords', d.keywords.length ? d.keywords.join(', ') : null],
    ['Records', h('span', { 'data-testid': 'record-count' }, String(d.record_count))],
    ['Entries (tree size)', h('span', { 'data-testid': 'entry-count' }, String(d.entry_count))],
    ['Origin', h('code', {}, d.origin)],
    ['Verifier key', h('code', { class: 'wrap' }, d.vkey)],
    ['Created', formatTime(d.created_at)],
    ['Updated', formatTime(d.updated_at)],
  ]);

  const checkpointSection = h('section', { 'aria-labelledby': 'h-cp' }, h('h2', { id: 'h-cp' }, 'Newest checkpoint'));
  if (d.checkpoint) {
    const status = h('p', { role: 'status' }, 'Checking its signature…');
    checkpointSection.append(h('pre', { class: 'note', tabindex: '0', 'aria-label': 'Signed checkpoint note' }, d.checkpoint), status);
    checkCheckpoint(d, status);
  } else checkpointSection.append(h('p', {}, 'No checkpoint signed yet.'));

  const anchorSection = h('section', { 'aria-labelledby': 'h-anchor' }, h('h2', { id: 'h-anchor' }, 'Anchors'));
  anchorsInto(anchorSection, d);

  const records = recordsSection(inst, ds, d, feed, params);
  const live = liveSection(inst, ds, d, feed);
  const arrivals = arrivalsSection(inst, ds, base);
  const downloads = downloadSection(inst, ds, params);

  fill(main, h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Datasets'), ' › ', `${d.institution}/${d.slug}`),
    title, h('p', { class: 'lead' }, d.description), meta, records, live, arrivals, downloads, checkpointSection, anchorSection);
  // For web/bench/explorer-first-rows.mjs: when the first rows are in the document.
  performance.mark('civicproof:first-rows');
}

// How records arrived (GET …/arrivals): a channel the publisher named, such as MQTT through
// `civicproof ingest mqtt` or NGSI-LD. Metadata beside the log, so it is labelled as such.
const CHANNELS = { mqtt: 'MQTT', 'ngsi-ld': 'NGSI-LD' };

function channelName(c) {
  return CHANNELS[c] || c;
}

function arrivalText(a) {
  return [badge('info', `over ${channelName(a.channel)}`), a.source ? [' from ', h('code', {}, a.source)] : null];
}

const NOT_PROVEN = ' (the publisher\'s label, not part of the proof)';

function arrivedCell(base, seq) {
  const cell = h('span', { 'data-testid': 'arrived' }, 'through the REST API');
  getJson(`${base}/arrivals?seq=${seq}`).then((found) => {
    const a = found.arrivals[0];
    if (a) fill(cell, arrivalText(a), ` · ${formatTime(a.at)}`, h('small', {}, NOT_PROVEN));
  }, () => fill(cell, 'unknown'));
  return cell;
}

function arrivalsSection(inst, ds, base) {
  const section = h('section', { 'aria-labelledby': 'h-arrivals', 'data-testid': 'arrivals' }, h('h2', { id: 'h-arrivals' }, 'How records arrive'));
  getJson(`${base}/arrivals?limit=10`).then((found) => {
    if (!found.arrivals.length) {
      section.append(h('p', {}, 'Recent records came through the REST API (no other channel in the last week).'));
      return;
    }
    section.append(h('p', {}, 'The newest appends and the channel they came through', h('small', {}, NOT_PROVEN), ':'),
      h('ul', { class: 'arrivals' }, found.arrivals.map((a) => h('li', {},
        arrivalText(a), ` · ${a.count === 1 ? '' : `${a.count} records, `}`,
        h('a', { href: link(['d', inst, ds, 'r', String(a.first_seq)]) }, `seq ${a.first_seq}`),
        a.count > 1 ? `–${a.first_seq + a.count - 1}` : '', ` · ${formatTime(a.at)}`))));
  }, (err) => section.append(h('p', {}, `Arrivals could not be loaded: ${err.message}`)));
  return section;
}

async function checkCheckpoint(d, status) {
  await identityReady;
  if (!identity?.entry || identity.state === 'changed') {
    fill(status, badge('skipped'), ' Signature not checked: no usable pinned key (see the trust page).');
    return;
  }
  try {
    const { verifyCheckpointNote } = await verifyModule();
    const v = await verifyCheckpointNote(d.checkpoint, identity.entry.publicKey);
    if (v.checkpoint.origin !== d.origin) throw new Error(`it names origin ${v.checkpoint.origin}`);
    fill(status, badge('pass', 'signature valid'), ` Signed by the pinned log key for ${d.origin}, size ${v.checkpoint.size}.`);
  } catch (e) {
    fill(status, badge('fail', 'signature invalid'), ` ${e.message}`);
  }
}

/** Block-explorer links for well-known public chains; other chains get none. */
const EXPLORERS = {
  1: 'https://etherscan.io',
  10: 'https://optimistic.etherscan.io',
  100: 'https://gnosisscan.io',
  137: 'https://polygonscan.com',
  8453: 'https://basescan.org',
  42161: 'https://arbiscan.io',
  11155111: 'https://sepolia.etherscan.io',
};

function chainLinks(a) {
  const ex = EXPLORERS[a.chain_id];
  const tx = a.tx_hash ? (ex ? h('a', { href: `${ex}/tx/${a.tx_hash}`, rel: 'noopener noreferrer' }, a.tx_hash) : h('code', { class: 'wrap' }, a.tx_hash)) : null;
  return dl([
    ['Batch', h('a', { href: `/v1/anchors/${a.batch_seq}` }, `#${a.batch_seq}`)],
    ['Status', a.status ?? 'confirmed'],
    ['Chain', `${a.chain_id}${ex ? '' : ' (no public block explorer known; check with your own node)'}`],
    ['Contract', h('code', {}, a.contract)],
    ['Transaction', tx],
    ['Block', a.block_number !== undefined && a.block_number !== null ? `${a.block_number}${a.block_time ? ` at ${formatUnix(a.block_time)}` : ''}` : null],
    ['Batch root', h('code', { class: 'wrap' }, a.batch_root)],
    ['Previous root', a.prev_root ? h('code', { class: 'wrap' }, a.prev_root) : null],
  ], 'meta anchor');
}

async function anchorsInto(section, d) {
  if (d.anchor) section.append(h('h3', {}, 'Newest anchor of this dataset'), chainLinks(d.anchor));
  const status = h('p', { role: 'status' }, 'Loading anchor batches…');
  section.append(status);
  try {
    const res = await apiFetch('/v1/anchors?limit=20');
    if (res.status === 404) {
      fill(status, badge('skipped', 'not anchored'), ' This server does not anchor checkpoints on a chain (no /v1/anchors).');
      return;
    }
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const page = await res.json();
    const mine = (page.anchors || []).filter((a) => (a.members || []).some((m) => m.checkpoint && m.checkpoint.split('\n')[0] === d.origin));
    if (mine.length === 0) {
      fill(status, d.anchor ? 'No other recent batch contains this dataset.' : 'No anchor batch contains a checkpoint of this dataset yet.');
      return;
    }
    fill(status, `${mine.length} recent batch${mine.length === 1 ? '' : 'es'} contain a checkpoint of this dataset:`);
    section.append(h('ul', { class: 'anchors' }, mine.map((a) => h('li', {}, chainLinks(a)))));
  } catch (e) {
    fill(status, badge('warn'), ` Anchors could not be loaded: ${e.message}`);
  }
}

function recordRow(inst, ds, r) {
  const e = r.envelope;
  const summary = e.kind === 'erasure'
    ? `erases seq ${e.erases} (${e.reason})`
    : r.payload === null ? 'payload erased' : truncate(JSON.stringify(r.payload), 120);
  return h('tr', { 'data-seq': String(e.seq) },
    h('td', {}, h('a', { href: link(['d', inst, ds, 'r', String(e.seq)]) }, String(e.seq))),
    h('td', {}, e.kind),
    h('td', {}, e.key ?? '—'),
    h('td', {}, formatTime(e.published_at)),
    h('td', { class: 'payload' }, summary));
}

function recordsTable(inst, ds, records, caption) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', { class: 'records' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ['Seq', 'Kind', 'Key', 'Published (UTC)', 'Payload'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, records.map((r) => recordRow(inst, ds, r)))));
}

function recordsSection(inst, ds, d, feed, params) {
  const field = (name, label, type = 'text', hint = '') =>
    h('div', { class: 'field' }, h('label', { for: `r-${name}` }, label),
      h('input', { id: `r-${name}`, name, type, value: params.get(name) || '', placeholder: hint }));
  const form = h('form', { class: 'filters', 'aria-label': 'Filter records',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const f of ['key', 'published_after', 'published_before', 'payload']) {
        const v = form.elements[f].value.trim();
        if (v) p.set(f, v);
      }
      if (form.elements.current.checked) p.set('current', 'true');
      location.hash = link(['d', inst, ds], p);
    } },
    field('key', 'Key', 'text', 'exact key'),
    field('published_after', 'Published after', 'text', '2026-11-26T00:00:00Z'),
    field('published_before', 'Published before', 'text', '2026-11-27T00:00:00Z'),
    field('payload', 'Payload fields', 'text', 'sensor=s1; pm10=9'),
    h('div', { class: 'field check' }, h('input', { id: 'r-current', name: 'current', type: 'checkbox', checked: params.get('current') === 'true' }),
      h('label', { for: 'r-current' }, 'Current versions only')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), ' ', h('a', { href: link(['d', inst, ds]) }, 'Clear filters')));
  const paging = h('nav', { class: 'paging', 'aria-label': 'Record pages' },
    params.get('after') ? h('a', { href: link(['d', inst, ds], withParam(params, 'after', null)) }, '⟵ First page') : null,
    feed.next_cursor ? [' ', h('a', { href: link(['d', inst, ds], withParam(params, 'after', feed.next_cursor)), 'data-testid': 'next-page' }, 'Next page ⟶')] : null);
  const caption = feed.records.length ? `Records ${feed.records[0].envelope.seq}–${feed.records.at(-1).envelope.seq}` : 'No records match';
  return h('section', { 'aria-labelledby': 'h-records' }, h('h2', { id: 'h-records' }, 'Records'), form,
    recordsTable(inst, ds, feed.records, caption), paging);
}

function downloadSection(inst, ds, params) {
  const qs = feedQuery(params);
  const make = (format, label, type) => {
    const q = new URLSearchParams(qs);
    q.set('format', format);
    const href = `${datasetPath(inst, ds)}/records?${q}`;
    return h('a', { href, class: 'button', download: `${inst}-${ds}.${format}`,
      onclick: async (ev) => {
        // With a token the download needs the header, so it goes through fetch.
        if (!getToken()) return;
        ev.preventDefault();
        const res = await apiFetch(href, { accept: type });
        if (!res.ok) return alert(`Download failed: HTTP ${res.status}`);
        const url = URL.createObjectURL(await res.blob());
        const a = h('a', { href: url, download: `${inst}-${ds}.${format}` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } }, label);
  };
  return h('section', { 'aria-labelledby': 'h-dl' }, h('h2', { id: 'h-dl' }, 'Download'),
    h('p', {}, 'The whole feed with the filters above, streamed by the server: ',
      make('csv', 'CSV', 'text/csv'), ' ', make('ndjson', 'NDJSON', 'application/x-ndjson')));
}

function liveSection(inst, ds, d, feed) {
  const status = h('p', { class: 'live-status', role: 'status', 'data-testid': 'live-status' }, 'Live updates: connecting…');
  const body = h('tbody', {});
  const count = h('span', { 'data-testid': 'live-count' }, '0');
  const table = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'New entries' },
    h('table', { class: 'records' }, h('caption', {}, 'Entries published since you opened this page (', count, ')'),
      h('thead', {}, h('tr', {}, ['Seq', 'Kind', 'Key', 'Published (UTC)', 'Payload'].map((c) => h('th', { scope: 'col' }, c)))),
      body));
  const section = h('section', { 'aria-labelledby': 'h-live', class: 'live' }, h('h2', { id: 'h-live' }, 'Live updates'), status, table);
  // Resume after the newest entry the page knows of: the tree size minus one.
  const last = d.entry_count > 0 ? d.entry_count - 1 : null;
  let newest = last;
  let n = 0;
  const messages = {
    connecting: 'Live updates: connecting…',
    open: 'Live updates: connected; new entries appear below as they are published.',
    reconnecting: 'Live updates: reconnecting…',
    unavailable: 'Live updates unavailable: this server does not offer an event stream for this dataset.',
    error: 'Live updates: connection problem, retrying…',
    closed: 'Live updates: stopped.',
  };
  stopLive = readEvents(`${datasetPath(inst, ds)}/events`, {
    headers: authHeaders(),
    lastEventId: last,
    onStatus: (state, detail) => {
      table.hidden = state === 'unavailable';
      fill(status, badge(state === 'open' ? 'pass' : state === 'unavailable' ? 'skipped' : 'info', state), ' ', messages[state] || state, detail && state !== 'unavailable' ? ` (${detail})` : '');
    },
    onEvent: (ev) => {
      if (ev.event !== 'entry') return;
      let r;
      try {
        r = JSON.parse(ev.data);
      } catch {
        return;
      }
      // Entries arrive in seq order; a replay after reconnecting never shows one twice.
      if (!r?.envelope || (newest !== null && r.envelope.seq <= newest)) return;
      newest = r.envelope.seq;
      body.append(recordRow(inst, ds, r));
      count.textContent = String(++n);
      const ec = main.querySelector('[data-testid=entry-count]');
      if (ec) ec.textContent = String(Math.max(Number(ec.textContent), r.envelope.seq + 1));
    },
  });
  return section;
}

function truncate(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

// ---------------------------------------------------------------------------------------------
// Record
// ---------------------------------------------------------------------------------------------

async function recordPage(inst, ds, seqText) {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(seqText)) return notFound();
  const seq = Number(seqText);
  const base = datasetPath(inst, ds);
  const [d, r] = await Promise.all([getJson(base), getJson(`${base}/records/${seq}`)]);
  const e = r.envelope;
  const erased = e.kind === 'record' && r.payload === null;

  const notices = [];
  if (e.kind === 'erasure') {
    notices.push(h('p', { class: 'notice', role: 'note' }, badge('info', 'Erasure notice'), ' ',
      `This entry erased the payload of `, h('a', { href: link(['d', inst, ds, 'r', String(e.erases)]) }, `seq ${e.erases}`), ` (reason: ${e.reason}).`));
  }
  const erasureNotice = h('div', {});
  if (erased) {
    const which = h('span', {});
    erasureNotice.append(h('p', { class: 'notice', role: 'note', 'data-testid': 'erased' }, badge('warn', 'Payload erased'), ' ',
      'The publisher erased this record\'s payload and salt', which, '. Its key and leaf stay in the log, and its proof still verifies.'));
    // The erasure entry is named in the record's bundle (the feed cannot look it up by key).
    getBytes(`${base}/records/${seq}/proof`, 'application/vnd.civicproof.bundle+json').then((bytes) => {
      const er = JSON.parse(new TextDecoder().decode(bytes)).erasure?.envelope;
      if (er && Number.isSafeInteger(er.seq)) {
        fill(which, ' by entry ', h('a', { href: link(['d', inst, ds, 'r', String(er.seq)]) }, `seq ${er.seq}`), ` (reason: ${er.reason})`);
      }
    }, () => {});
  }

  const history = h('section', { 'aria-labelledby': 'h-history' }, h('h2', { id: 'h-history' }, 'Versions of this key'));
  if (e.kind === 'record' && e.key !== null) {
    const q = new URLSearchParams({ key: e.key, limit: '100' });
    getJson(`${base}/records?${q}`).then((feed) => {
      const newest = feed.records.at(-1)?.envelope.seq;
      history.append(h('ol', { class: 'history' }, feed.records.map((v) =>
        h('li', {}, v.envelope.seq === seq ? h('strong', { 'aria-current': 'page' }, `seq ${v.envelope.seq} (this version)`) : h('a', { href: link(['d', inst, ds, 'r', String(v.envelope.seq)]) }, `seq ${v.envelope.seq}`),
          ` · ${formatTime(v.envelope.published_at)}`,
          v.envelope.supersedes !== null ? ` · supersedes seq ${v.envelope.supersedes}` : ' · first version',
          v.payload === null ? [' · ', badge('warn', 'payload erased')] : null,
          v.envelope.seq === newest ? [' · ', badge('info', 'newest')] : null))),
      feed.next_cursor ? h('p', {}, h('a', { href: link(['d', inst, ds], new URLSearchParams({ key: e.key })) }, 'More versions in the records table')) : '');
    }, (err) => history.append(h('p', {}, `Versions could not be loaded: ${err.message}`)));
  } else {
    history.append(h('p', {}, e.kind === 'erasure' ? 'Erasure entries have no key.' : 'This record has no key, so it has no other versions.'));
  }

  fill(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Datasets'), ' › ', h('a', { href: link(['d', inst, ds]) }, `${d.institution}/${d.slug}`), ' › ', `seq ${seq}`),
    h('h1', {}, `${d.title}: ${e.kind} ${seq}`),
    notices, erasureNotice,
    dl([
      ['Kind', e.kind],
      ['Key', e.key ?? (e.kind === 'record' ? '— (none)' : null)],
      ['Published', formatTime(e.published_at)],
      ['Supersedes', e.supersedes !== undefined && e.supersedes !== null ? h('a', { href: link(['d', inst, ds, 'r', String(e.supersedes)]) }, `seq ${e.supersedes}`) : null],
      ['Leaf hash', h('code', { class: 'wrap' }, r.leaf_hash)],
      ['Arrived', arrivedCell(base, seq)],
    ]),
    h('section', { 'aria-labelledby': 'h-payload' }, h('h2', { id: 'h-payload' }, 'Payload'),
      r.payload === null ? h('p', {}, e.kind === 'erasure' ? 'Erasure entries carry no payload.' : 'Erased.') : jsonBlock(r.payload, 'Payload')),
    h('section', { 'aria-labelledby': 'h-env' }, h('h2', { id: 'h-env' }, 'Envelope (what the leaf hash covers)'), jsonBlock(e, 'Envelope'),
      r.salt ? h('p', {}, 'Salt: ', h('code', {}, r.salt)) : null),
    history,
    proofPanel(inst, ds, d, seq));
}

function proofPanel(inst, ds, d, seq) {
  const out = h('div', { class: 'proof-output', 'aria-live': 'polite' });
  const rpc = getRpc();
  const pinnedAnchor = Boolean(identity?.entry?.anchor);
  const require = h('input', { id: 'require-anchor', type: 'checkbox', checked: pinnedAnchor });
  const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'verify' }, 'Verify in this browser');
  const proofUrl = `${datasetPath(inst, ds)}/records/${seq}/proof`;
  button.addEventListener('click', async () => {
    if (!identity?.entry || identity.state === 'changed') {
      fill(out, h('p', { role: 'alert', class: 'alert alert-danger' }, badge('fail', 'Blocked'), ' ',
        identity?.state === 'changed'
          ? 'Verification is blocked: the instance identity changed since you pinned it. Review it on the trust page.'
          : 'Verification is unavailable: no trust entry for this instance.'));
      return;
    }
    button.disabled = true;
    fill(out, h('p', { role: 'status' }, 'Fetching the proof bundle and verifying…'));
    try {
      const { verifyWithTrust, checkAgainstRemembered, renderReport } = await proofModule();
      const bytes = await getBytes(proofUrl, 'application/vnd.civicproof.bundle+json');
      const report = await verifyWithTrust(bytes, { entry: identity.entry, origin: d.origin, seq, rpc, requireAnchor: require.checked });
      let consistency = null;
      let bundle = null;
      try {
        bundle = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        // step 0 reported it
      }
      if (report.ok) {
        consistency = await checkAgainstRemembered(store, identity.entry, report, bundle.checkpoint,
          (first, second) => getJson(`${datasetPath(inst, ds)}/consistency?first=${first}&second=${second}`));
      }
      const pending = bundle?.anchor_pending;
      fill(out, renderReport(report, { consistency }),
        pending && typeof pending === 'object'
          ? h('p', { class: 'notice' }, badge('info', 'Anchor pending'), ` Batch ${pending.batch_seq} (transaction ${pending.tx_hash}) was submitted but is not confirmed yet; it is an unverified hint and not part of this check.`)
          : null,
        bundle && bundle.anchor === null && !pending
          ? h('p', { class: 'notice' }, badge('info', 'Not anchored'), identity.wk.anchor
            ? ' No confirmed anchor batch contains this checkpoint yet, so the record is not dated on chain yet.'
            : ' This instance publishes no anchor, so the record is not dated on chain.')
          : null);
    } catch (e) {
      fill(out, h('p', { role: 'alert' }, badge('fail', 'Error'), ` ${e.message}`));
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'proof', 'aria-labelledby': 'h-proof' }, h('h2', { id: 'h-proof' }, 'Proof'),
    h('p', {}, 'Checks this entry against the log key you pinned, following PROTOCOL.md section 7, with ', h('a', { href: '/web/verify.js' }, 'verify.js'),
      ' running here. In-page verification trusts the code this server delivered; for independence, ', h('a', { href: '/verify' }, 'save the bundle page'), ' and open it from your disk, or use the civicproof-verify CLI.'),
    h('p', {}, rpc ? `On-chain checks will ask your RPC endpoint ${rpc}.` : 'No RPC endpoint is set, so the on-chain step will be skipped. ', rpc ? null : h('a', { href: '#/trust' }, 'Set your endpoint')),
    h('div', { class: 'field check' }, require, h('label', { for: 'require-anchor' }, 'Require an on-chain anchor (fail when the record is not anchored yet)')),
    h('p', {}, button, ' ', h('a', { href: proofUrl, download: `${inst}-${ds}-${seq}.bundle.json` }, 'Download the bundle')),
    out);
}

// ---------------------------------------------------------------------------------------------
// Trust and settings
// ---------------------------------------------------------------------------------------------

/**
 * Pinning a witness policy (PROTOCOL.md section 10.4): vkeys the user got from the witnesses'
 * operators, one a line, and how many must cosign. Checked with verify.js before it is stored;
 * never taken from the server.
 */
function witnessForm(entry) {
  const keys = h('textarea', { id: `witness-keys-${entry.prefix}`, rows: '3', placeholder: 'witness.example/w1+1a2b3c4d+BASE64…' },
    (entry.witnesses?.keys || []).join('\n'));
  const threshold = h('input', { id: `witness-k-${entry.prefix}`, type: 'number', min: '1', value: String(entry.witnesses?.threshold ?? '') });
  return h('details', {}, h('summary', {}, 'Pin a witness policy'),
    h('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      const list = keys.value.split('\n').map((s) => s.trim()).filter(Boolean);
      const k = threshold.value ? Number(threshold.value) : list.length;
      try {
        const { parseWitnessVkey } = await verifyModule();
        const names = new Set();
        const publicKeys = new Map();
        for (const v of list) {
          const w = await parseWitnessVkey(v);
          if (names.has(w.name)) throw new Error(`witness ${w.name} is listed twice`);
          names.add(w.name);
          // A cosignature does not cover the name: one key under two names is one witness.
          const hex = Array.from(w.publicKey, (b) => b.toString(16).padStart(2, '0')).join('');
          if (publicKeys.has(hex)) throw new Error(`witnesses ${publicKeys.get(hex)} and ${w.name} have the same key`);
          publicKeys.set(hex, w.name);
        }
        if (!list.length || !Number.isSafeInteger(k) || k < 1 || k > list.length) throw new Error(`the threshold must be between 1 and ${list.length}`);
      } catch (e) {
        return alert(`Not pinned: ${e.message}`);
      }
      store.pinWitnesses(entry.prefix, { threshold: k, keys: list });
      trustPage();
    } },
      h('p', {}, 'Witnesses cosign a checkpoint only if it extends what they saw before. Paste the vkeys you got from their operators (not from this server); every bundle of this instance must then carry that many of their cosignatures.'),
      h('div', { class: 'field' }, h('label', { for: `witness-keys-${entry.prefix}` }, 'Witness vkeys, one a line'), keys),
      h('div', { class: 'field' }, h('label', { for: `witness-k-${entry.prefix}` }, 'How many must cosign (default: all)'), threshold),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Pin witnesses'))));
}

function trustPage() {
  const entries = Object.values(store.all());
  const list = h('div', {});
  const section = (entry) => {
    const fp = h('dd', {}, '…');
    const fpAnchor = h('dd', {}, entry.anchor ? '…' : 'none pinned');
    entryFingerprints(entry).then((f) => {
      fill(fp, h('code', {}, f.key));
      if (f.anchor) fill(fpAnchor, h('code', {}, f.anchor));
    });
    const isThis = identity?.wk?.origin_prefix === entry.prefix;
    const exported = JSON.stringify({ prefix: entry.prefix, publicKey: entry.publicKey, anchor: entry.anchor }, null, 2);
    return h('article', { class: 'card', 'data-prefix': entry.prefix },
      h('h2', {}, entry.prefix, isThis ? ' (this server)' : ''),
      entry.tofu ? h('p', { 'data-testid': 'tofu-label' }, badge('info', 'Trust on first use'), ` pinned automatically on ${formatTime(entry.firstSeen)}; confirm the fingerprints with the publisher.`)
        : h('p', {}, badge('pass', 'Pinned'), ` ${entry.source || 'by you'} on ${formatTime(entry.firstSeen)}.`),
      h('dl', { class: 'meta' },
        h('dt', {}, 'Log public key'), h('dd', {}, h('code', { class: 'wrap' }, entry.publicKey)),
        h('dt', {}, 'Key fingerprint'), fp,
        h('dt', {}, 'Anchor chain id'), h('dd', {}, entry.anchor ? String(entry.anchor.chainId) : 'none pinned (the instance published no anchor)'),
        entry.anchor ? [h('dt', {}, 'Contract'), h('dd', {}, h('code', { class: 'wrap' }, entry.anchor.contract)),
          h('dt', {}, 'Contract code hash'), h('dd', {}, h('code', { class: 'wrap' }, entry.anchor.codeHash)),
          h('dt', {}, 'Anchoring account'), h('dd', {}, h('code', { class: 'wrap' }, entry.anchor.anchorer)),
          h('dt', {}, 'Anchor pinned'), h('dd', {}, formatTime(entry.anchorFirstSeen))] : null,
        h('dt', {}, 'Anchor fingerprint'), fpAnchor,
        h('dt', {}, 'Witnesses'), h('dd', { 'data-testid': 'witness-policy' }, entry.witnesses
          ? [`${entry.witnesses.threshold} of ${entry.witnesses.keys.length} must cosign: `, ...entry.witnesses.keys.map((k) => h('code', { class: 'wrap' }, k, ' '))]
          : 'none pinned (checkpoints need no cosignatures)'),
        h('dt', {}, 'Checkpoints remembered'), h('dd', {}, String(Object.keys(entry.checkpoints || {}).length))),
      witnessForm(entry),
      h('details', {}, h('summary', {}, 'Export this entry (paste it into a saved bundle page)'), h('pre', { class: 'json', tabindex: '0' }, exported)),
      entry.tofu ? [h('button', { type: 'button', onclick: () => {
        store.confirm(entry.prefix);
        (identityReady = loadIdentity()).then(trustPage);
      } }, 'I compared the fingerprints with the publisher'), ' '] : null,
      h('button', { type: 'button', onclick: () => {
        if (confirm(`Forget the pinned trust for ${entry.prefix}? The next visit pins what the server publishes then.`)) {
          store.remove(entry.prefix);
          (identityReady = loadIdentity()).then(trustPage);
        }
      } }, `Forget ${entry.prefix}`));
  };
  list.append(...(entries.length ? entries.map(section) : [h('p', {}, 'Nothing pinned yet.')]));

  const change = identity?.state === 'changed'
    ? h('section', { class: 'alert alert-danger', role: 'alert', 'aria-labelledby': 'h-change', 'data-testid': 'change-review' },
        h('h2', { id: 'h-change' }, [badge('warn', 'Warning'), ' The published identity differs from the pinned one']),
        h('p', {}, `Changed: ${identity.changes.join(', ')}. Verification stays blocked until you accept the new values.`),
        h('p', {}, 'Now published: '), jsonBlock(identity.wk, 'Published identity'),
        h('div', { class: 'field check' }, h('input', { id: 'accept-confirm', type: 'checkbox' }),
          h('label', { for: 'accept-confirm' }, 'I confirmed the new values with the publisher through another channel')),
        h('button', { type: 'button', onclick: () => {
          if (!document.getElementById('accept-confirm').checked) return alert('Confirm first that you checked the new values.');
          store.accept(identity.wk);
          (identityReady = loadIdentity()).then(trustPage);
        } }, 'Accept the new identity'))
    : null;

  // RPC endpoint.
  const rpcInput = h('input', { id: 'rpc', type: 'url', value: getRpc(), placeholder: 'https://your-node.example:8545' });
  const suggestion = identity?.wk?.anchor?.rpc_url || identity?.wk?.rpc_hint || null;
  const rpcForm = h('form', { 'aria-labelledby': 'h-rpc', onsubmit: (ev) => {
    ev.preventDefault();
    const v = rpcInput.value.trim();
    if (v) {
      try {
        const u = new URL(v);
        if (!['http:', 'https:'].includes(u.protocol)) throw new Error('use http or https');
      } catch (e) {
        return alert(`Not a usable URL: ${e.message}`);
      }
    }
    setRpc(v);
    location.reload(); // the page's connect-src now includes it
  } },
    h('h2', { id: 'h-rpc' }, 'Your RPC endpoint'),
    h('p', {}, 'Step 8 asks an Ethereum JSON-RPC endpoint whether the anchor is on chain. Use your own node or a provider you trust: the explorer never takes it from the server unasked. Every result names the endpoint that answered.'),
    h('div', { class: 'field' }, h('label', { for: 'rpc' }, 'Endpoint URL'), rpcInput),
    suggestion ? h('p', {}, `Suggested by this server (the server could lie; prefer your own): `, h('code', {}, suggestion), ' ',
      h('button', { type: 'button', onclick: () => { rpcInput.value = suggestion; } }, 'Use the suggestion')) : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save endpoint'), ' ',
      h('button', { type: 'button', onclick: () => { setRpc(''); location.reload(); } }, 'Clear')));

  fill(main, h('h1', {}, 'Trust'),
    h('p', {}, 'The keys below are what this browser checks proofs against, pinned per instance prefix (never per address). In-page verification trusts the code this server delivered (',
      h('a', { href: '/web/verify.js' }, 'verify.js'), '; its SHA-256 is published in the repository\'s web/verify.js.sha256). For a check that does not depend on this server\'s code, ',
      h('a', { href: '/verify' }, 'open the bundle page'), ', save it, and open the saved file from disk.'),
    change, list, rpcForm);
}

// ---------------------------------------------------------------------------------------------
// Reader token
// ---------------------------------------------------------------------------------------------

function tokenWidget() {
  const el = document.getElementById('token');
  const render = () => {
    const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off', placeholder: 'reader token' });
    fill(el, h('details', {},
      h('summary', {}, getToken() ? 'Reader token: set' : 'Reader token'),
      h('form', { onsubmit: (ev) => {
        ev.preventDefault();
        setToken(input.value.trim());
        render();
        route();
      } },
        h('p', {}, 'Restricted datasets need a reader token of their institution. It stays in this tab (session storage) and is sent only in the Authorization header.'),
        h('label', { for: 'token-input' }, 'Token'), ' ', input, ' ', h('button', { type: 'submit' }, 'Use token'), ' ',
        getToken() ? h('button', { type: 'button', onclick: () => { setToken(''); render(); route(); } }, 'Forget token') : null)));
  };
  render();
}

// ---------------------------------------------------------------------------------------------

window.addEventListener('hashchange', () => {
  route().then(() => main.querySelector('h1')?.focus());
});
// The skip link focuses the content without touching the fragment, which holds the route.
document.querySelector('a.skip')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  (main.querySelector('h1') || main).focus();
});
tokenWidget();
identityReady = loadIdentity();
route();
