#!/usr/bin/env bash
# Anchoring benchmark on a local anvil chain (1 s blocks, `finalized` two blocks behind):
# for 1, 100 and 1,000 growing datasets, how many anchor transactions one interval costs, the
# gas of each, and the time from the last publish to a confirmed anchor in its bundle.
#   bench/anchoring.sh [INTERVAL_MS]        (PROFILE=release for an optimised server)
set -euo pipefail
cd "$(dirname "$0")/.."
interval="${1:-5000}"
profile="${PROFILE:-debug}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_anchoring
port=18082
target="${CARGO_TARGET_DIR:-target}"
if [ "$profile" = release ]; then cargo build --release --locked -p civicproof-api; else cargo build --locked -p civicproof-api; fi
bin="$target/$profile/civicproof"
[ -x contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
anvil=contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
rpcport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$anvil" --port "$rpcport" --block-time 1 --slots-in-an-epoch 1 >/dev/null 2>&1 & anvil_pid=$!
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
keydir=$(mktemp -d)
trap 'kill $server $anvil_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$keydir"' EXIT
export DATABASE_URL="$pg/$db" CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$keydir/log.key" RUST_LOG=warn CIVICPROOF_MIGRATE=true
export CIVICPROOF_CHAIN_RPC_URL="http://127.0.0.1:$rpcport" CIVICPROOF_ANCHOR_DEPLOY=1
export CIVICPROOF_ANCHOR_KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
export CIVICPROOF_ANCHOR_INTERVAL_MS="$interval" CIVICPROOF_CHECKPOINT_INTERVAL_MS=200
sleep 1
"$bin" serve & server=$!
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_publisher)
made=0
echo "interval ${interval} ms, server profile $profile"
for n in 1 100 1000; do
  while [ "$made" -lt "$n" ]; do
    api "$token" /v1/datasets "{\"slug\":\"d$made\",\"title\":\"Bench $made\",\"description\":\"Benchmark\",\"license\":\"CC0-1.0\",\"access\":\"public\"}" >/dev/null
    made=$((made + 1))
  done
  # Let everything so far be anchored, so the round below starts clean.
  sleep $(( interval / 1000 + 5 ))
  before=$(curl -fs "$base/v1/anchors?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["anchors"]))')
  p0=$(date +%s.%N)
  seq 0 $((n - 1)) | xargs -P 8 -I{} curl -fsS -o /dev/null -H "authorization: Bearer $token" \
    -H 'content-type: application/json' "$base/v1/datasets/city/d{}/records" -d '[{"payload":{"pm10":12.5}}]'
  t0=$(date +%s.%N)
  # Intervals the publishing touched: at most this many batches should follow from it.
  spanned=$(python3 -c "import math; print(math.ceil(($t0 - $p0) * 1000 / $interval) + 1)")
  last=$((n - 1))
  until curl -fs "$base/v1/datasets/city/d$last/records/0/proof" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["anchor"] else 1)'; do sleep 0.2; done
  t1=$(date +%s.%N)
  sleep $(( interval / 1000 + 4 ))
  curl -fs "$base/v1/anchors?limit=1000" | RPC="$CIVICPROOF_CHAIN_RPC_URL" BEFORE="$before" N="$n" SPANNED="$spanned" WAIT="$(python3 -c "print(round($t1 - $t0, 1))")" python3 -c '
import json, os, sys, urllib.request
anchors = json.load(sys.stdin)["anchors"][int(os.environ["BEFORE"]):]
def rpc(method, params):
    req = urllib.request.Request(os.environ["RPC"], json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(), {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["result"]
gas = [int(rpc("eth_getTransactionReceipt", [a["tx_hash"]])["gasUsed"], 16) for a in anchors if a["status"] == "confirmed"]
sizes = [a["batch_size"] for a in anchors]
n, wait, spanned = os.environ["N"], os.environ["WAIT"], os.environ["SPANNED"]
print(f"{n:>5} datasets: {len(anchors)} anchor tx(s) for publishing that touched {spanned} interval(s), batch sizes {sizes}, gas {gas}, last publish to confirmed anchor {wait} s")
'
done
