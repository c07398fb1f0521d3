// Running web/verify.js against a pinned trust entry and showing its report: every step of
// PROTOCOL.md section 7 as passed, failed (with the reason) or skipped, the endpoint that
// answered the chain calls, the anchor's block time, and the scope note. Shared by the
// explorer's record page and the standalone bundle page.

import { verifyBundle, verifyCheckpointNote, verifyConsistency } from '../verify.js';
import { verifyOptions } from './trust.js';
import { h, badge, formatUnix } from './dom.js';

export const STEP_TITLES = {
  format: 'Bundle is well-formed (I-JSON, every field present and encoded correctly)',
  lengths: 'Hashes and salt have the right lengths',
  payload: 'Payload matches the digest in the envelope',
  leaf: 'Envelope hashes to the leaf hash',
  'checkpoint-signature': 'Checkpoint is signed by the pinned log key',
  'checkpoint-binding': 'Checkpoint belongs to this dataset and covers this entry',
  inclusion: 'Entry is included in the signed tree',
  'anchor-offline': 'Checkpoint is in the anchor batch',
  'anchor-online': 'Batch root is recorded on chain (your RPC endpoint)',
};

/**
 * Verifies bundle bytes against a trust entry. `rpc` is the user's endpoint or '' (step 8 is
 * then skipped). Returns verifyBundle's report plus `endpoint` (who answered the chain calls).
 */
export async function verifyWithTrust(bytes, { entry, origin, seq, rpc, requireAnchor }) {
  const options = { ...verifyOptions(entry), origin, seq: seq ?? null };
  if (rpc) options.rpc = rpc;
  if (typeof requireAnchor === 'boolean') options.requireAnchor = requireAnchor;
  const report = await verifyBundle(bytes, options);
  report.endpoint = rpc || null;
  return report;
}

/**
 * The stateful check of PROTOCOL.md section 7: after a bundle verified, compare its checkpoint
 * with the largest one verified before for this origin; when they differ, fetch a consistency
 * proof (`fetchConsistency(first, second)` → the route's JSON) and verify it, including both
 * signed notes. Returns `{ status: 'pass'|'fail'|'skipped', detail, evidence? }`; on pass the
 * larger checkpoint is remembered.
 */
export async function checkAgainstRemembered(store, entry, report, noteText, fetchConsistency) {
  const cp = report.checkpoint;
  if (!report.ok || !cp) return { status: 'skipped', detail: 'the bundle did not verify' };
  const current = { size: cp.size, root: cp.root, note: noteText };
  const old = store.checkpoint(entry.prefix, cp.origin);
  if (!old) {
    store.remember(entry.prefix, cp.origin, current);
    return { status: 'pass', detail: `first checkpoint seen for this dataset (size ${cp.size}); remembered` };
  }
  if (old.size === cp.size) {
    if (old.root === cp.root) return { status: 'pass', detail: `same checkpoint as the one remembered (size ${cp.size})` };
    return { status: 'fail', detail: `two different signed roots for size ${cp.size}: the log forked`, evidence: [old.note, noteText] };
  }
  const [small, large] = old.size < cp.size ? [old, current] : [current, old];
  if (small.size === 0) {
    store.remember(entry.prefix, cp.origin, large);
    return { status: 'pass', detail: `consistent with the remembered checkpoint (size 0)` };
  }
  if (!fetchConsistency) return { status: 'skipped', detail: `offline: not compared with the remembered checkpoint of size ${old.size}` };
  try {
    const proof = await fetchConsistency(small.size, large.size);
    const first = await verifyCheckpointNote(proof.first_checkpoint, entry.publicKey);
    const second = await verifyCheckpointNote(proof.second_checkpoint, entry.publicKey);
    if (first.checkpoint.origin !== cp.origin || second.checkpoint.origin !== cp.origin) throw new Error('the proof is for another origin');
    if (first.checkpoint.size !== small.size || hex(first.checkpoint.root) !== small.root) throw new Error(`the server's checkpoint at size ${small.size} differs from the one verified before`);
    if (second.checkpoint.size !== large.size || hex(second.checkpoint.root) !== large.root) throw new Error(`the server's checkpoint at size ${large.size} differs from the one verified before`);
    if (!Array.isArray(proof.path) || !proof.path.every((p) => typeof p === 'string' && /^[0-9a-f]{64}$/.test(p))) throw new Error('the proof path is malformed');
    await verifyConsistency(small.size, large.size, first.checkpoint.root, second.checkpoint.root, proof.path.map(fromHex));
    store.remember(entry.prefix, cp.origin, large);
    return { status: 'pass', detail: `consistent with the checkpoint of size ${old.size} seen before (consistency proof ${small.size} → ${large.size} verified)` };
  } catch (e) {
    return { status: 'fail', detail: `not consistent with the checkpoint of size ${old.size} seen before: ${e.message}`, evidence: [old.note, noteText] };
  }
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s) => Uint8Array.from(s.match(/../g), (x) => parseInt(x, 16));

/** The report as a list a screen reader and a colour-blind reader can follow. */
export function renderReport(report, { consistency = null } = {}) {
  const failed = report.failedStep !== null && report.failedStep !== undefined ? report.steps[report.failedStep] : null;
  const ok = report.ok && (!consistency || consistency.status !== 'fail');
  const summary = ok
    ? h('p', { class: 'verdict verdict-pass', role: 'status' }, badge('pass', 'Verified'), ' ',
        report.erasedBy ? `The entry is in the signed log; its payload was erased by seq ${report.erasedBy.seq} (reason ${report.erasedBy.reason}).` : 'Every required step passed.')
    : h('p', { class: 'verdict verdict-fail', role: 'alert' }, badge('fail', 'Not verified'), ' ',
        failed ? `Step ${report.failedStep} (${failed.name}) failed: ${failed.detail}` : `Consistency with the remembered checkpoint failed: ${consistency?.detail}`);
  const steps = h('ol', { class: 'steps', start: '0', 'aria-label': 'Verification steps (PROTOCOL.md section 7)' },
    report.steps.map((s) =>
      h('li', { class: `step step-${s.status}`, 'data-step': s.name, 'data-status': s.status },
        badge(s.status), ' ',
        h('strong', {}, s.name), ': ', STEP_TITLES[s.name] || '',
        s.detail ? h('span', { class: 'detail' }, ` — ${s.detail}`) : null,
      ),
    ));
  const extra = [];
  if (consistency) {
    extra.push(h('p', { class: 'consistency', 'data-status': consistency.status }, badge(consistency.status), ' ',
      h('strong', {}, 'consistency'), `: ${consistency.detail}`));
    if (consistency.evidence) {
      extra.push(h('details', { open: true }, h('summary', {}, 'Evidence: both signed notes'),
        consistency.evidence.map((n) => h('pre', { class: 'note' }, n))));
    }
  }
  if (report.anchor && report.anchor.existedNoLaterThan !== undefined && report.anchor.existedNoLaterThan !== null) {
    extra.push(h('p', { class: 'existed', 'data-testid': 'existed' }, badge('info', 'Anchored'), ' ',
      `Existed no later than ${formatUnix(report.anchor.existedNoLaterThan)} (block time, as answered by ${report.endpoint}).`));
  }
  const online = report.steps.find((s) => s.name === 'anchor-online');
  const ran = online && online.status !== 'skipped';
  extra.push(h('p', { class: 'endpoint', 'data-testid': 'endpoint' }, ran
    ? `On-chain checks were answered by ${report.endpoint} (your RPC endpoint).`
    : report.endpoint
      ? `No RPC call was made (the on-chain step did not run); your endpoint is ${report.endpoint}.`
      : 'No RPC endpoint was used: the on-chain step did not run.'));
  extra.push(h('p', { class: 'scope' }, report.scopeNote));
  return h('section', { class: 'report', 'aria-label': 'Verification report' }, summary, steps, extra);
}
