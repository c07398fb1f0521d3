#!/usr/bin/env bash
# Proof bundles with a warm cache (process memory in front of Redis): fills a dataset with
# SIZE small records (default 100,000), serves it with REDIS_URL set (default the local
# redis on 6379; keys are namespaced by the origin prefix) and rate limits off, warms the
# cache with one wrk pass over random seqs, then measures a second pass.
#   bench/cache.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
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
./target/release/civicproof migrate
./target/release/civicproof serve & server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$keydir"' EXIT
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
api() { curl -fsS -H "authorization: Bearer $1" -H 'content-type: application/json' "http://127.0.0.1:$port$2" -d "$3"; }
api bench-admin /v1/institutions '{"slug":"city","name":"Bench City"}' >/dev/null
token=$(api bench-admin /v1/institutions/city/tokens '{"role":"publisher"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
api "$token" /v1/datasets '{"slug":"air","title":"Bench","description":"Benchmark data","license":"CC0-1.0","access":"public"}' >/dev/null
./target/release/civicproof-bench --server "http://127.0.0.1:$port" ingest --token "$token" --records "$size" --batch 5000 --record-bytes 150
for _ in $(seq 1 100); do
  got=$(curl -fs "http://127.0.0.1:$port/v1/datasets/city/air/checkpoint" | sed -n 2p)
  [ "$got" = "$size" ] && break; sleep 0.1
done
echo "warming (random seqs, 20 s)"
SIZE="$size" DATASET=city/air wrk -t2 -c32 -d20s -s bench/random-proof.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
echo "warm:"
SIZE="$size" DATASET=city/air wrk -t2 -c32 -d10s -s bench/random-proof.lua "http://127.0.0.1:$port" | grep -E "Requests/sec|wrk:"
curl -fsS -H "authorization: Bearer bench-admin" "http://127.0.0.1:$port/metrics" | grep -E "^civicproof_cache_(hit_ratio|requests_total)\{cache=\"bundles\""
