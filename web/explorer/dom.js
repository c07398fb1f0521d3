// DOM helpers: elements are built with textContent and attributes only, never from HTML
// strings, so nothing a server or a bundle says can become markup or script.

/**
 * `h('a', { href, class: 'x', onclick }, 'text', child, [more])`: attributes whose value is
 * null/undefined/false are left out; `on*` functions become listeners.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Status words with an icon, so a result never depends on colour alone. */
export const STATUS = {
  pass: { icon: '✔', word: 'passed' },
  fail: { icon: '✘', word: 'failed' },
  skipped: { icon: '–', word: 'skipped' },
  warn: { icon: '⚠', word: 'warning' },
  info: { icon: 'ℹ', word: 'note' },
};

/** A status badge: icon (hidden from screen readers) and the word. */
export function badge(status, word) {
  const s = STATUS[status] || STATUS.info;
  return h('span', { class: `badge badge-${status}` }, h('span', { 'aria-hidden': 'true' }, `${s.icon} `), word ?? s.word);
}

/** A `<dl>` from [term, value] pairs (values may be nodes); null values are left out. */
export function dl(pairs, cls = 'meta') {
  const el = h('dl', { class: cls });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined) continue;
    el.append(h('dt', {}, k), h('dd', {}, v));
  }
  return el;
}

/** Pretty JSON in a scrollable, focusable block. */
export function jsonBlock(value, label) {
  return h('pre', { class: 'json', tabindex: '0', 'aria-label': label }, JSON.stringify(value, null, 2));
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

/** Unix seconds as an ISO-like UTC time. */
export function formatUnix(seconds) {
  return formatTime(new Date(Number(seconds) * 1000).toISOString());
}
