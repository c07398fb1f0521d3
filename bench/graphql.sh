#!/usr/bin/env bash
# GraphQL benchmark: a release server on a fresh database with RECORDS 1 KB records, then
# pages of 100 records walked from 8 concurrent clients over loopback: the REST feed,
# civicproof's GraphQL records query, and PostGraphile 4.14 (bench/postgraphile, Node 20)
# serving the same rows through its generated connection. Three rounds measure each in turn,
# REQUESTS requests per pass (at most 60 s); the figures are the medians.
#   bench/graphql.sh [RECORDS] [REQUESTS]      (defaults 100,000 and 4,000)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
records="${1:-100000}"
requests="${2:-4000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_graphql
port=18082
pg_port=18083
cargo build --release --locked -p civicproof-api -p civicproof-bench
[ -x bench/postgraphile/node_modules/.bin/postgraphile ] ||
  npm ci --prefix bench/postgraphile --no-audit --no-fund --loglevel=error
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
keydir=$(mktemp -d)
server='' postgraphile=''
stop() {
  for pid in $postgraphile $server; do kill "$pid" 2>/dev/null || true; done
  for pid in $postgraphile $server; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$keydir"
}
trap stop EXIT
export DATABASE_URL="$pg/$db" CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$keydir/log.key" RUST_LOG=warn
"$target"/release/civicproof migrate
"$target"/release/civicproof serve & server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
bench="$target"/release/civicproof-bench
$bench --server "http://127.0.0.1:$port" ingest --token "$token" --records "$records"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
dataset_id=$(psql "$DATABASE_URL" -qtAc "SELECT d.id FROM datasets d JOIN institutions i ON i.id = d.institution_id WHERE i.slug = 'city' AND d.slug = 'air'")
# PostGraphile over the same database, queries only, as in production (no query log).
(cd bench/postgraphile && NODE_ENV=production exec node_modules/.bin/postgraphile \
  -c "$DATABASE_URL" --schema public --disable-default-mutations --disable-graphiql \
  --disable-query-log --host 127.0.0.1 --port "$pg_port") >/dev/null & postgraphile=$!
for _ in $(seq 1 100); do
  curl -fs -H 'content-type: application/json' -d '{"query":"{__typename}"}' "http://127.0.0.1:$pg_port/graphql" >/dev/null && break
  sleep 0.2
done
echo "load before measuring: $(uptime | sed 's/.*load average/load average/')"
$bench --server "http://127.0.0.1:$port" --dataset city/air graphql --clients 8 --requests "$requests" \
  --postgraphile "http://127.0.0.1:$pg_port/graphql" --dataset-id "$dataset_id"
echo "load after measuring: $(uptime | sed 's/.*load average/load average/')"
