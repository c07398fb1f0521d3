// The explorer's trust store (PROTOCOL.md section 7, stateful verifiers): what the user pins per
// instance prefix, never per URL, in local storage. An entry is created on first sight of an
// instance ("trust on first use") from its /.well-known/civicproof.json; from then on a
// different log key, prefix or anchor trust there blocks verification until the user accepts
// the change explicitly. The largest verified checkpoint per origin is kept for consistency
// checks. Works with any Storage-like object, so Node tests can pass a Map-backed one.

const STORE_KEY = 'civicproof.trust.v1';

/** A Storage-like object kept in memory (for file:// pages where storage may be absent). */
export function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

/** The anchor trust of a /.well-known document, in the explorer's names, or null. */
export function anchorOf(wellKnown) {
  const a = wellKnown && wellKnown.anchor;
  if (!a || typeof a !== 'object') return null;
  return {
    chainId: a.chain_id,
    contract: typeof a.contract === 'string' ? a.contract.toLowerCase() : a.contract,
    codeHash: typeof a.contract_code_hash === 'string' ? a.contract_code_hash.toLowerCase() : a.contract_code_hash,
    anchorer: typeof a.anchorer === 'string' ? a.anchorer.toLowerCase() : a.anchorer,
    // The finality policy is the verifier's, never the server's (PROTOCOL.md section 7): the
    // default, the `finalized` tag (else 64 blocks deep, 2 on chain 31337).
    finality: 'finalized',
  };
}

/** Checks a /.well-known document's shape; returns an error message or null. */
export function wellKnownProblem(wk) {
  if (!wk || typeof wk !== 'object') return 'not a JSON object';
  if (typeof wk.origin_prefix !== 'string' || !/^[a-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._~-]+)*$/.test(wk.origin_prefix)) {
    return 'origin_prefix is missing or malformed';
  }
  if (typeof wk.log_public_key !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(wk.log_public_key)) {
    return 'log_public_key is not base64 of 32 bytes';
  }
  if (wk.anchor !== null && wk.anchor !== undefined) {
    const a = wk.anchor;
    if (!(Number.isSafeInteger(a.chain_id) && a.chain_id >= 0)) return 'anchor.chain_id is not an integer';
    for (const f of ['contract', 'anchorer']) {
      if (typeof a[f] !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a[f])) return `anchor.${f} is not an address`;
    }
    if (typeof a.contract_code_hash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(a.contract_code_hash)) {
      return 'anchor.contract_code_hash is not 32 bytes of hex';
    }
  }
  return null;
}

export class TrustStore {
  constructor(storage) {
    this.storage = storage;
  }

  all() {
    try {
      const v = JSON.parse(this.storage.getItem(STORE_KEY) || '{}');
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }

  save(all) {
    this.storage.setItem(STORE_KEY, JSON.stringify(all));
  }

  get(prefix) {
    return this.all()[prefix] ?? null;
  }

  put(entry) {
    const all = this.all();
    all[entry.prefix] = entry;
    this.save(all);
  }

  remove(prefix) {
    const all = this.all();
    delete all[prefix];
    this.save(all);
  }

  /**
   * Compares what an instance publishes now with what is pinned for its prefix and pins on
   * first sight. Returns `{ entry, state, changes }`, state one of:
   * - `first-use`: nothing was pinned; the entry was just created (trust on first use);
   * - `anchor-added`: the pinned entry had no anchor trust and the instance now publishes one;
   *   it is pinned on first use too (nothing pinned changes);
   * - `match`: identical;
   * - `changed`: a pinned value differs (`changes` names them); verification must stop.
   */
  observe(wellKnown, { now = new Date().toISOString(), source = 'well-known' } = {}) {
    const prefix = wellKnown.origin_prefix;
    const anchor = anchorOf(wellKnown);
    const pinned = this.get(prefix);
    if (!pinned) {
      const entry = {
        prefix,
        publicKey: wellKnown.log_public_key,
        anchor,
        firstSeen: now,
        anchorFirstSeen: anchor ? now : null,
        source,
        tofu: true,
        checkpoints: {},
      };
      this.put(entry);
      return { entry, state: 'first-use', changes: [] };
    }
    const changes = identityChanges(pinned, wellKnown);
    if (changes.length) return { entry: pinned, state: 'changed', changes };
    if (!pinned.anchor && anchor) {
      pinned.anchor = anchor;
      pinned.anchorFirstSeen = now;
      this.put(pinned);
      return { entry: pinned, state: 'anchor-added', changes: [] };
    }
    return { entry: pinned, state: 'match', changes: [] };
  }

  /** Replaces the pinned identity after the user accepted a change (keeps nothing old). */
  accept(wellKnown, { now = new Date().toISOString() } = {}) {
    const anchor = anchorOf(wellKnown);
    const entry = {
      prefix: wellKnown.origin_prefix,
      publicKey: wellKnown.log_public_key,
      anchor,
      firstSeen: now,
      anchorFirstSeen: anchor ? now : null,
      source: 'accepted change',
      tofu: false,
      checkpoints: {},
    };
    this.put(entry);
    return entry;
  }

  /** The user compared the fingerprints out of band: the entry is no longer first-use trust. */
  confirm(prefix, { now = new Date().toISOString() } = {}) {
    const all = this.all();
    const e = all[prefix];
    if (!e) return null;
    e.tofu = false;
    e.source = `fingerprints confirmed by you on ${now}`;
    this.save(all);
    return e;
  }

  /** Pins an entry the user typed or imported (not trust on first use). */
  pinManual({ prefix, publicKey, anchor = null }, { now = new Date().toISOString() } = {}) {
    const entry = { prefix, publicKey, anchor, firstSeen: now, anchorFirstSeen: anchor ? now : null, source: 'entered by you', tofu: false, checkpoints: {} };
    this.put(entry);
    return entry;
  }

  /**
   * Pins a witness policy `{ threshold, keys: [witness vkey, …] }` for a pinned prefix
   * (PROTOCOL.md section 10.4); from then on every bundle of it must carry `threshold` of those
   * cosignatures. Pinned by the user, never taken from a server.
   */
  pinWitnesses(prefix, { threshold, keys }) {
    const all = this.all();
    const e = all[prefix];
    if (!e) return null;
    e.witnesses = { threshold: threshold ?? keys.length, keys: [...keys] };
    this.save(all);
    return e;
  }

  /** The largest verified checkpoint of an origin: `{ size, root, note }` or null. */
  checkpoint(prefix, origin) {
    return this.get(prefix)?.checkpoints?.[origin] ?? null;
  }

  /** Keeps `cp` when it is larger than the one stored (call only after verifying it). */
  remember(prefix, origin, cp) {
    const all = this.all();
    const e = all[prefix];
    if (!e) return;
    e.checkpoints = e.checkpoints || {};
    const old = e.checkpoints[origin];
    if (!old || cp.size > old.size) {
      e.checkpoints[origin] = { size: cp.size, root: cp.root, note: cp.note };
      this.save(all);
    }
  }
}

/** The names of pinned values that a /.well-known document contradicts. */
export function identityChanges(pinned, wellKnown) {
  const changes = [];
  if (pinned.prefix !== wellKnown.origin_prefix) changes.push('origin_prefix');
  if (pinned.publicKey !== wellKnown.log_public_key) changes.push('log_public_key');
  const now = anchorOf(wellKnown);
  if (pinned.anchor) {
    if (!now) changes.push('anchor (no longer published)');
    else {
      if (String(pinned.anchor.chainId) !== String(now.chainId)) changes.push('anchor.chain_id');
      if (pinned.anchor.contract !== now.contract) changes.push('anchor.contract');
      if (pinned.anchor.codeHash !== now.codeHash) changes.push('anchor.contract_code_hash');
      if (pinned.anchor.anchorer !== now.anchorer) changes.push('anchor.anchorer');
    }
  }
  return changes;
}

/** The options of verifyBundle for a trust entry. */
export function verifyOptions(entry) {
  const o = { prefix: entry.prefix, publicKey: entry.publicKey };
  if (entry.anchor) {
    Object.assign(o, {
      chainId: entry.anchor.chainId,
      contract: entry.anchor.contract,
      codeHash: entry.anchor.codeHash,
      anchorer: entry.anchor.anchorer,
      finality: entry.anchor.finality ?? 'finalized',
    });
  }
  if (entry.witnesses) o.witnesses = entry.witnesses;
  return o;
}

/**
 * A fingerprint to compare out of band: SHA-256 of the text, first 16 bytes, as 8 groups of
 * 4 hex digits.
 */
export async function fingerprint(text) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  const hex = Array.from(d.slice(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
  return hex.match(/.{4}/g).join(' ');
}

/** Fingerprints of an entry's log key and anchor trust. */
export async function entryFingerprints(entry) {
  const key = await fingerprint(`civicproof log key\n${entry.prefix}\n${entry.publicKey}\n`);
  const anchor = entry.anchor
    ? await fingerprint(`civicproof anchor\n${entry.anchor.chainId}\n${entry.anchor.contract}\n${entry.anchor.codeHash}\n${entry.anchor.anchorer}\n`)
    : null;
  return { key, anchor };
}
