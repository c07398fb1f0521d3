// Locates the anvil binary shipped by the pinned npm package @foundry-rs/anvil
// and runs it on a free port for tests.
//
//   node lib/anvil.mjs path    prints the absolute path of the anvil binary
//
// @foundry-rs/anvil's `bin.mjs` is a node wrapper; the real binary comes in the
// optional platform package @foundry-rs/anvil-<os>-<arch> (bin/anvil), which
// `npm ci` installs for the current platform. We run that binary directly so
// there is no intermediate node process to outlive.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rpc } from './rpc.mjs';

const require = createRequire(import.meta.url);
const CONTRACTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

const PLATFORM_PACKAGES = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

/** Absolute path of the anvil binary (env ANVIL_BIN overrides). */
export function anvilBinary() {
  if (process.env.ANVIL_BIN) return process.env.ANVIL_BIN;
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  if (pkg) {
    try {
      const p = require.resolve(`${pkg}/bin/${exe}`);
      if (existsSync(p)) return p;
    } catch {
      // fall through
    }
  }
  // The package's postinstall fallback puts the binary next to its wrapper.
  try {
    const p = join(dirname(require.resolve('@foundry-rs/anvil/package.json')), exe);
    if (existsSync(p)) return p;
  } catch {
    // fall through
  }
  throw new Error(`anvil binary not found; run \`npm ci\` in ${CONTRACTS_DIR}`);
}

/** Version of the pinned @foundry-rs/anvil package. */
export function anvilPackageVersion() {
  return require('@foundry-rs/anvil/package.json').version;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts anvil on 127.0.0.1 with a port chosen by the OS (--port 0).
 * Defaults: 1 s blocks and one slot per epoch, so `finalized` trails the head
 * by a block or two. Returns { url, port, pid, stop(), output() }.
 *
 * On POSIX anvil runs under a tiny /bin/sh watchdog that kills it as soon as
 * our stdin pipe closes, i.e. when stop() is called or when this node process
 * dies for any reason (even SIGKILL), so no anvil is ever left behind.
 */
export async function startAnvil({ blockTime = 1, slotsInAnEpoch = 1, extraArgs = [], timeoutMs = 20000 } = {}) {
  const bin = anvilBinary();
  const args = ['--host', '127.0.0.1', '--port', '0', '--slots-in-an-epoch', String(slotsInAnEpoch)];
  if (blockTime) args.push('--block-time', String(blockTime));
  args.push(...extraArgs);

  const posix = process.platform !== 'win32';
  // sh: start anvil in the background, report its pid, block reading stdin;
  // EOF on stdin (stop() or our death) kills anvil and waits for it.
  const watchdog = '"$0" "$@" </dev/null & p=$!; echo "watchdog anvil pid $p"; read _ ; kill "$p" 2>/dev/null; wait "$p"';
  const child = posix
    ? spawn('/bin/sh', ['-c', watchdog, bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });

  let anvilPid = posix ? null : child.pid;
  let exited = false;
  const exitPromise = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const lines = [];
  let listening = null;
  let onListening;
  const listeningPromise = new Promise((resolve) => { onListening = resolve; });
  let buf = '';
  const onData = (chunk) => {
    buf += chunk.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      if (lines.length > 200) lines.shift();
      const m = /^watchdog anvil pid (\d+)$/.exec(line);
      if (m) anvilPid = Number(m[1]);
      const l = /Listening on ([0-9.]+):(\d+)/.exec(line);
      if (l && !listening) { listening = { host: l[1], port: Number(l[2]) }; onListening(); }
    }
  };
  // Always drain the output, or anvil blocks once the pipe buffer is full.
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const killNow = () => {
    if (anvilPid && !exited) { try { process.kill(anvilPid, 'SIGKILL'); } catch { /* gone */ } }
    if (!exited) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
  };
  process.once('exit', killNow);

  const stop = async () => {
    process.off('exit', killNow);
    if (exited) return;
    if (posix) child.stdin.end(); else child.kill('SIGTERM');
    const done = await Promise.race([exitPromise.then(() => true), sleep(5000).then(() => false)]);
    if (!done) { killNow(); await exitPromise; }
    child.stdout.destroy();
    child.stderr.destroy();
  };
  const output = () => lines.join('\n');

  const started = await Promise.race([
    listeningPromise.then(() => 'ok'),
    exitPromise.then(() => 'exited'),
    sleep(timeoutMs).then(() => 'timeout'),
  ]);
  if (started !== 'ok') {
    await stop();
    throw new Error(`anvil did not start (${started}):\n${output()}`);
  }
  const url = `http://${listening.host}:${listening.port}`;
  // Wait until it answers JSON-RPC.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { await rpc(url, 'eth_chainId'); break; } catch (e) {
      if (Date.now() > deadline) { await stop(); throw new Error(`anvil not answering at ${url}: ${e.message}`); }
      await sleep(100);
    }
  }
  return { url, port: listening.port, pid: () => anvilPid, stop, output };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv[2] === 'path') console.log(anvilBinary());
  else { console.error('usage: node lib/anvil.mjs path'); process.exit(2); }
}
