// The civicproof REST API as the explorer uses it. A reader token the user pasted lives in
// sessionStorage (this tab only) and travels only in the Authorization header.

const TOKEN_KEY = 'civicproof.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable: the token is then not kept
  }
}

export function authHeaders() {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** An error response (RFC 9457 problem JSON when the server sent one). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function apiFetch(path, { accept = 'application/json', ...init } = {}) {
  return fetch(path, { ...init, headers: { Accept: accept, ...authHeaders(), ...(init.headers || {}) } });
}

async function failure(res) {
  let problem = null;
  try {
    problem = await res.json();
  } catch {
    // not JSON
  }
  return new ApiError(res.status, problem);
}

export async function getJson(path) {
  const res = await apiFetch(path);
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** Bytes exactly as served (verification checks I-JSON on them); retries a 409 "not yet signed". */
export async function getBytes(path, accept, { retries = 5 } = {}) {
  for (let i = 0; ; i++) {
    const res = await apiFetch(path, { accept });
    if (res.status === 409 && i < retries) {
      await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') || 1)));
      continue;
    }
    if (!res.ok) throw await failure(res);
    return new Uint8Array(await res.arrayBuffer());
  }
}

export const enc = encodeURIComponent;

export function datasetPath(inst, ds) {
  return `/v1/datasets/${enc(inst)}/${enc(ds)}`;
}
