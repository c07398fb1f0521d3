// Helpers of the explorer's browser test and benchmark: a real civicproof server on a fresh
// PostgreSQL database, and the REST calls that seed it.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const ADMIN = 'browser-test-admin-token-0123456789';
export const PG = (process.env.CIVICPROOF_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export function psql(sql) {
  execFileSync('psql', [`${PG}/postgres`, '-qc', sql], { stdio: 'pipe' });
}

export async function api(method, path, { token = null, body, type = 'application/json', headers = {}, at } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = type;
  const res = await fetch(at + path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

export async function ok(method, path, opts) {
  const r = await api(method, path, opts);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.json();
}

/** Starts `civicproof serve` on a fresh database and a free port; resolves when it answers. */
export async function startServer(bin, dir, name, extraEnv = {}) {
  const dbName = `civicproof_web_${process.pid}_${name}`;
  psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  psql(`CREATE DATABASE ${dbName}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      DATABASE_URL: `${PG}/${dbName}`,
      CIVICPROOF_ADMIN_TOKEN: ADMIN,
      CIVICPROOF_MIGRATE: 'true',
      CIVICPROOF_BIND: `127.0.0.1:${port}`,
      CIVICPROOF_LOG_KEY_FILE: join(dir, `${name}-log.key`),
      CIVICPROOF_CHECKPOINT_INTERVAL_MS: '200',
      RUST_LOG: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (i > 300 || child.exitCode !== null) throw new Error(`server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    try {
      psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } catch {
      // best effort
    }
  };
  return { url, stop, log: () => log };
}

