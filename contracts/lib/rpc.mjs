// Raw JSON-RPC over node's fetch, plus deploy/transact helpers for anvil.
let nextId = 1;

export class RpcError extends Error {
  constructor(method, error) {
    super(`${method}: ${error.message ?? JSON.stringify(error)}`);
    this.code = error.code;
    this.data = error.data;
  }
}

/** Calls `method` on the node at `url`; returns `result` or throws RpcError. */
export async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
  const body = await res.json();
  if (body.error) throw new RpcError(method, body.error);
  return body.result;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls for a receipt (anvil with --block-time mines every interval). */
export async function waitReceipt(url, txHash, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await rpc(url, 'eth_getTransactionReceipt', [txHash]);
    if (r) return r;
    if (Date.now() > deadline) throw new Error(`no receipt for ${txHash} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Sends a transaction from an unlocked account and waits for its receipt. */
export async function sendAndWait(url, tx) {
  const hash = await rpc(url, 'eth_sendTransaction', [tx]);
  return waitReceipt(url, hash);
}

/** Deploys creation bytecode from an unlocked account; returns { address, receipt }. */
export async function deploy(url, from, bytecode) {
  const receipt = await sendAndWait(url, { from, data: bytecode });
  if (receipt.status !== '0x1' || !receipt.contractAddress) throw new Error(`deployment failed: ${JSON.stringify(receipt)}`);
  return { address: receipt.contractAddress, receipt };
}

/** eth_call at `block` (default "latest"). */
export const call = (url, to, data, block = 'latest') => rpc(url, 'eth_call', [{ to, data }, block]);
