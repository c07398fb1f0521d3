#!/usr/bin/env bash
# MQTT ingest through the bridge: a release server on PostgreSQL, a mosquitto of its own
# (limits raised as docs/OPERATIONS.md says), `civicproof ingest mqtt` with 4 lanes, and 8
# publisher connections on 100 topics.
#   bench/mqtt.sh [MESSAGES] [RATE]
# MESSAGES (default 200,000) as fast as possible: messages/s from the first publish until
# all are committed. Then RATE msg/s (default 5,000) for 60 s: publish -> committed latency,
# observed by an SSE follower. DEDUP=none runs the bridge without dedup keys.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
messages="${1:-200000}"
rate="${2:-5000}"
pg="${CIVICPROOF_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
db=civicproof_bench_mqtt
port=18081
mqtt_port=18831
cargo build --release --locked -p civicproof-api -p civicproof-bench
work=$(mktemp -d)
chmod 777 "$work"
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export DATABASE_URL="$pg/$db"
export CIVICPROOF_ADMIN_TOKEN=bench-admin CIVICPROOF_BIND="127.0.0.1:$port"
export CIVICPROOF_LOG_KEY_FILE="$work/log.key" RUST_LOG=warn
"$target"/release/civicproof migrate
cat > "$work/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/
max_inflight_messages 10000
max_queued_messages 10000000
CONF
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -c "$work/mosquitto.conf" 2>/dev/null & broker=$!
bridge=
trap 'kill $server $broker $bridge 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$target"/release/civicproof serve & server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
. bench/lib.sh
token=$(city_air)
echo "$token" > "$work/token"
cat > "$work/bridge.toml" <<TOML
[server]
url = "$base"
token_file = "$work/token"
[broker]
url = "mqtt://127.0.0.1:$mqtt_port"
client_id = "bench-bridge"
[ingest]
batch_records = ${BATCH:-1000}
batch_linger_ms = 50
lanes_per_dataset = ${LANES:-4}
metrics_bind = "127.0.0.1:$((port + 1))"
[[mapping]]
topic = "bench/air/+/reading"
dataset = "city/air"
key = { topic_level = 2 }
dedup = "${DEDUP:-content}"
TOML
"$target"/release/civicproof ingest mqtt --config "$work/bridge.toml" & bridge=$!
sleep 1
# The bridge's own view: records per append and append time, averaged.
bridge_stats() {
  curl -fs "http://127.0.0.1:$((port + 1))/metrics" | python3 -c '
import re, sys
t = sys.stdin.read()
def v(name):
    m = re.search(r"^" + name + r" (\S+)$", t, re.M)
    return float(m.group(1)) if m else 0.0
b = v("civicproof_ingest_batch_records_count")
records = v("civicproof_ingest_batch_records_sum") / max(b, 1)
ms = 1000 * v("civicproof_ingest_append_seconds_sum") / max(b, 1)
print("bridge: %d appends, %.0f records each, %.1f ms each" % (b, records, ms))'
}
"$target"/release/civicproof-bench --server "$base" --dataset city/air mqtt-load \
  --broker-port "$mqtt_port" --messages "$messages"
bridge_stats
"$target"/release/civicproof-bench --server "$base" --dataset city/air mqtt-load \
  --broker-port "$mqtt_port" --messages $((rate * 60)) --rate "$rate"
bridge_stats
