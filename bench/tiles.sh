#!/usr/bin/env bash
# C2SP tlog-tiles on a dataset of SIZE small records (default 1,000,000):
# - an outside client (`civicproof-bench tiles`: tlog_tiles + signed_note) rebuilds the log
#   from its tiles, every leaf verified against the signed root;
# - `civicproof monitor --log city/air --audit-entries --once` follows the log over tiles
#   alone, reading every entry bundle too;
# - warm full level-0 tiles (8 KiB each) at random, `wrk -t1 -c32` on one core, the server on
#   the other (a first pass warms the tile cache, a second measures).
#   bench/tiles.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
size="${1:-1000000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_tiles
port=18084
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p civicproof-api -p civicproof-bench
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
keydir=$(mktemp -d)
export DATABASE_URL="$pg/$db" CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$keydir/log.key" RUST_LOG=warn CIVICPROOF_ORIGIN_PREFIX=bench-tiles.localhost
export CIVICPROOF_RATE_LIMIT_ANONYMOUS=off CIVICPROOF_RATE_LIMIT_PUBLISHER=off
"$target"/release/civicproof migrate
taskset -c 0 "$target"/release/civicproof serve & server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$keydir"' EXIT
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
taskset -c 1 "$target"/release/civicproof-bench --server "$base" ingest --token "$token" --records "$size" --batch 5000 --record-bytes 150
for _ in $(seq 1 300); do
  got=$(curl -fs "$base/v1/datasets/city/air/checkpoint" | sed -n 2p)
  [ "$got" = "$size" ] && break; sleep 0.1
done
echo "outside client, the whole log from tiles:"
taskset -c 1 "$target"/release/civicproof-bench --server "$base" tiles
echo "civicproof monitor over tiles alone, every entry audited against its leaf:"
key=$(curl -fs "$base/.well-known/civicproof.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["log_public_key"])')
start=$(date +%s%N)
taskset -c 1 "$target"/release/civicproof monitor --server "$base" --prefix bench-tiles.localhost \
  --public-key "$key" --log city/air --audit-entries --once | grep -E "^log .*: ok:|result:"
echo "monitor: $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "warm full tiles, random (warm-up 10 s, then 10 s):"
SIZE="$size" DATASET=city/air taskset -c 1 wrk -t1 -c32 -d10s -s bench/random-tile.lua "$base" >/dev/null
SIZE="$size" DATASET=city/air taskset -c 1 wrk -t1 -c32 -d10s -s bench/random-tile.lua "$base" | grep -E "Requests/sec|Transfer/sec|wrk:"
