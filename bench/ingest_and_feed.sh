#!/usr/bin/env bash
# Ingest and feed benchmark: a release server and PostgreSQL on this machine, 1 KB payloads
# in batches of 1,000, then the whole feed read as NDJSON. BACKEND=sqlite runs the embedded
# mode instead (a SQLite file in a temporary directory, no PostgreSQL).
#   bench/ingest_and_feed.sh [RECORDS]        (default 1,000,000: the feed figure is over 1M)
#   BACKEND=sqlite bench/ingest_and_feed.sh [RECORDS]
#   WITNESSES=2 bench/ingest_and_feed.sh [RECORDS]   (every checkpoint cosigned by 2 local
#   `civicproof witness` processes; prints the witness requests per signed checkpoint)
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
witness_pids=()
trap 'kill $server "${witness_pids[@]}" 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
serve() {
  "$target"/release/civicproof serve & server=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
}
serve
if [ "${WITNESSES:-0}" -gt 0 ]; then
  # Witnesses need the instance key, and the server their vkeys: start, read the key, restart.
  key=$(curl -fsS "http://127.0.0.1:$port/.well-known/civicproof.json" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["log_public_key"])')
  kill $server; wait $server 2>/dev/null || true
  entries=()
  for i in $(seq 1 "$WITNESSES"); do
    name="bench.witness/w$i"
    vkey=$("$target"/release/civicproof witness keygen --name "$name" --key-file "$work/w$i.key")
    "$target"/release/civicproof witness serve --name "$name" --key-file "$work/w$i.key" \
      --state-dir "$work/w$i" --instance "localhost=$key" --listen "127.0.0.1:$((port + 10 + i))" &
    witness_pids+=($!)
    entries+=("$vkey http://127.0.0.1:$((port + 10 + i))")
  done
  CIVICPROOF_WITNESSES=$(IFS=,; echo "${entries[*]}")
  export CIVICPROOF_WITNESSES
  serve
fi
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" --dataset city/air ingest --token "$token" --records "$records"
"$target"/release/civicproof-bench --server "http://127.0.0.1:$port" --dataset city/air feed
if [ "${WITNESSES:-0}" -gt 0 ]; then
  curl -fsS -H 'authorization: Bearer bench-admin' "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
text = sys.stdin.read()
signed = sum(float(v) for v in re.findall(r"^civicproof_checkpoints_signed_total (\S+)$", text, re.M))
per = {}
for outcome, w, v in re.findall(r"^civicproof_witness_submissions_total\{outcome=\"([^\"]+)\",witness=\"([^\"]+)\"\} (\S+)$", text, re.M):
    per.setdefault(w, {})[outcome] = float(v)
for w, o in sorted(per.items()):
    reqs = sum(v for k, v in o.items() if k != "witness_ahead")
    print(f"witness {w}: {int(reqs)} requests for {int(signed)} signed checkpoints = {reqs / max(signed, 1):.2f} per checkpoint; outcomes {dict((k, int(v)) for k, v in sorted(o.items()))}")
'
fi
