#!/usr/bin/env bash
# The Redis layer's figures on a dataset of SIZE small records (default 100,000), served
# with REDIS_URL set (default the local redis on 6379; keys are namespaced by the origin
# prefix) and rate limits off:
# - proof bundles with a warm cache (one wrk pass over random seqs warms it, a second one
#   measures);
# - feed pages (100 records, 1,000 distinct pages) with the page cache, then without it;
# - SSE fan-out latency, publish to delivery, with 1,000 connected clients.
#   bench/cache.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
size="${1:-100000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_cache
port=18083
cargo build --release --locked -p civicproof-api -p civicproof-bench
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
keydir=$(mktemp -d)
export DATABASE_URL="$pg/$db" CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$keydir/log.key" RUST_LOG=warn CIVICPROOF_ORIGIN_PREFIX=bench-cache.localhost
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
export CIVICPROOF_RATE_LIMIT_ANONYMOUS=off CIVICPROOF_RATE_LIMIT_PUBLISHER=off CIVICPROOF_BUNDLE_CACHE_ENTRIES=$((size + 1000))
# One load generator opens the 1,000 event streams from one address.
export CIVICPROOF_MAX_STREAMS_PER_CLIENT=2000
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
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" ingest --token "$token" --records "$size" --batch 5000 --record-bytes 150
for _ in $(seq 1 100); do
  got=$(curl -fs "http://127.0.0.1:$port/v1/datasets/city/air/checkpoint" | sed -n 2p)
  [ "$got" = "$size" ] && break; sleep 0.1
done
echo "warming: every seq once (2 wrk threads, even and odd seqs)"
SIZE="$size" DATASET=city/air wrk -t2 -c16 -d$((size / 2500 + 5))s -s bench/walk-proof.lua "http://127.0.0.1:$port" | grep -E "Requests/sec"
curl -fsS -H "authorization: Bearer bench-admin" "http://127.0.0.1:$port/metrics" | grep -E "^civicproof_cache_requests_total\{cache=\"bundles\""
echo "warm, random seqs:"
SIZE="$size" DATASET=city/air wrk -t2 -c32 -d10s -s bench/random-proof.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
echo "feed pages with the page cache (warm-up 5 s, then 10 s):"
PAGES=1000 DATASET=city/air wrk -t2 -c16 -d5s -s bench/random-page.lua "http://127.0.0.1:$port" >/dev/null
PAGES=1000 DATASET=city/air wrk -t2 -c16 -d10s -s bench/random-page.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
curl -fsS -H "authorization: Bearer bench-admin" "http://127.0.0.1:$port/metrics" | grep -E "^civicproof_cache_(hit_ratio|requests_total)"
kill $server; wait $server 2>/dev/null || true
CIVICPROOF_FEED_CACHE_BYTES=0 start
echo "feed pages without the page cache:"
PAGES=1000 DATASET=city/air wrk -t2 -c16 -d10s -s bench/random-page.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
ulimit -n 65536 2>/dev/null || true
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" events --token "$token" --clients 1000 --records 200
