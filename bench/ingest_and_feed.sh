#!/usr/bin/env bash
# Ingest and feed benchmark: a release server and PostgreSQL on this machine, 1 KB payloads
# in batches of 1,000, then the whole feed read as NDJSON. BACKEND=sqlite runs the embedded
# mode instead (a SQLite file in a temporary directory, no PostgreSQL).
#   bench/ingest_and_feed.sh [RECORDS]        (default 1,000,000: the feed figure is over 1M)
#   BACKEND=sqlite bench/ingest_and_feed.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
records="${1:-1000000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench
port=18080
cargo build --release --locked -p civicproof-api -p civicproof-bench
work=$(mktemp -d)
if [ "${BACKEND:-postgres}" = sqlite ]; then
  export DATABASE_URL="$work/bench.db"
else
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  export DATABASE_URL="$pg/$db"
fi
export CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$work/log.key" RUST_LOG=warn
"$target"/release/civicproof migrate
"$target"/release/civicproof serve & server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" --dataset city/air ingest --token "$token" --records "$records"
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" --dataset city/air feed
