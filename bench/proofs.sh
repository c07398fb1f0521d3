#!/usr/bin/env bash
# Proof benchmarks at SIZE leaves (default 1,000,000): fills a dataset with small records,
# then measures in-process proof generation (cold and warm), bundles over HTTP, verification
# throughput, storage per entry and restart time.
#   bench/proofs.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
size="${1:-1000000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_proofs
port=18081
cargo build --release --locked -p civicproof-api -p civicproof-bench
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
keydir=$(mktemp -d)
export DATABASE_URL="$pg/$db" CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$keydir/log.key" RUST_LOG=warn
# Measure the server, not its rate limiter (on by default for anonymous callers).
export CIVICPROOF_RATE_LIMIT_ANONYMOUS=off CIVICPROOF_RATE_LIMIT_PUBLISHER=off
"$target"/release/civicproof migrate
start() {
  "$target"/release/civicproof serve & server=$!
  for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$keydir"' EXIT
start
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
bench="$target"/release/civicproof-bench
$bench --server "http://127.0.0.1:$port" ingest --token "$token" --records "$size" --batch 5000 --record-bytes 150
# Wait for the checkpoint at the full size.
for _ in $(seq 1 100); do
  got=$(curl -fs "http://127.0.0.1:$port/v1/datasets/city/air/checkpoint" | sed -n 2p)
  [ "$got" = "$size" ] && break; sleep 0.1
done
psql "$DATABASE_URL" -qtAc "SELECT 'storage per entry: ' || round((pg_total_relation_size('entries') + pg_total_relation_size('tree_nodes'))::numeric / $size) || ' B (entries with 150 B payloads + tree nodes: ' || round(pg_total_relation_size('tree_nodes')::numeric / $size) || ' B)'"
echo "server RSS: $(ps -o rss= -p $server) KiB"
kill $server; wait $server 2>/dev/null || true
t0=$(date +%s.%N); start; t1=$(date +%s.%N)
echo "restart to ready at $size entries: $(python3 -c "print(round(($t1 - $t0) * 1000))") ms (no rebuild: nodes are stored)"
$bench --server "http://127.0.0.1:$port" proofs --database-url "$DATABASE_URL"
# Bundles over HTTP measured by wrk (C, one thread per core, keep-alive), which leaves more
# of the machine to the server than the Rust client above. The cache is warm by now.
if command -v wrk >/dev/null 2>&1; then
  SIZE="$size" DATASET=city/air wrk -t2 -c32 -d10s -s bench/random-proof.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
else
  echo "wrk not installed (apt-get install wrk): skipping the wrk figure"
fi
