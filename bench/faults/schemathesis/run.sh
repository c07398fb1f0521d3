#!/usr/bin/env bash
# Property-based fuzzing of the REST API with schemathesis, from openapi/openapi.json.
#
#   bench/faults/schemathesis/run.sh [CASES]      # default 10000 cases in total
#
# 1. a venv in $CIVICPROOF_ST_VENV (default /var/tmp/civicproof-st-venv) with requirements.txt;
# 2. the server ($CIVICPROOF_BIN, default /var/tmp/civicproof-st-bin, a copy of the debug build)
#    in embedded mode (SQLite) on a fresh temporary directory, rate limits off;
# 3. seed.sh: institution city, publisher and reader tokens, public dataset air and restricted
#    dataset cards with a few records;
# 4. three schemathesis passes (anonymous, publisher token, admin token; CASES split across them),
#    coverage + fuzzing phases, checks not_a_server_error, response_schema_conformance,
#    status_code_conformance, content_type_conformance, fixed seed ($ST_SEED, default 20261204),
#    one worker; path parameters steered to the seeded data by schemathesis.toml;
# 5. stops the server and prints the summary (summarize.py). Reports stay in $CIVICPROOF_ST_OUT
#    (default /var/tmp/civicproof-st-out): <pass>.ndjson, <pass>.json, <pass>.log, failures.json,
#    summary.txt, server.log. Reports hold the (throw-away) tokens: --output-sanitize is off so that
#    headers such as Idempotency-Key stay readable in the reproducing curl commands.
# Exit status: 0 when at least CASES cases ran (failures found are reported, not fatal), else 1.
set -euo pipefail

CASES=${1:-10000}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
SCHEMA=$REPO/openapi/openapi.json
VENV=${CIVICPROOF_ST_VENV:-/var/tmp/civicproof-st-venv}
BIN=${CIVICPROOF_BIN:-/var/tmp/civicproof-st-bin}
OUT=${CIVICPROOF_ST_OUT:-/var/tmp/civicproof-st-out}
SEED=${ST_SEED:-20261204}
PASSES=(anonymous publisher admin)

log() { printf '[st %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# 1. schemathesis, pinned.
PIN=$(grep -i '^schemathesis==' "$HERE/requirements.txt")
if [[ ! -x $VENV/bin/schemathesis ]] || [[ "$("$VENV/bin/pip" freeze 2>/dev/null | grep -i '^schemathesis==')" != "$PIN" ]]; then
    log "installing $PIN into $VENV"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
fi
log "$("$VENV/bin/schemathesis" --version)"

# 2. the server.
if [[ ! -x $BIN && -z ${CIVICPROOF_BIN:-} ]]; then
    # The default copy is taken from the shared debug build (never built here).
    for _ in $(seq 60); do
        [[ -x /var/tmp/civicproof-target/debug/civicproof ]] && break
        log "waiting for /var/tmp/civicproof-target/debug/civicproof"
        sleep 5
    done
    cp /var/tmp/civicproof-target/debug/civicproof "$BIN"
fi
[[ -x $BIN ]] || { echo "no server binary at $BIN" >&2; exit 2; }

TMP=$(mktemp -d /var/tmp/civicproof-st.XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT" && mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$PORT
ADMIN=$(python3 -c 'import secrets; print("st-admin-" + secrets.token_hex(16))')
log "starting $BIN serve on $API (data in $TMP)"
DATABASE_URL=$TMP/c.db CIVICPROOF_LOG_KEY_FILE=$TMP/log.key CIVICPROOF_ADMIN_TOKEN=$ADMIN \
    CIVICPROOF_BIND=127.0.0.1:$PORT CIVICPROOF_RATE_LIMIT_ANONYMOUS=off \
    CIVICPROOF_RATE_LIMIT_PUBLISHER=off CIVICPROOF_RATE_LIMIT_READER=off CIVICPROOF_RATE_LIMIT_ADMIN=off \
    "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 120); do
    curl -sf "$API/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; tail -20 "$OUT/server.log" >&2; exit 2; }
    [[ $i == 120 ]] && { echo "server not ready after 60 s" >&2; exit 2; }
    sleep 0.5
done
log "ready: $(curl -s "$API/readyz")"

# 3. data.
"$HERE/seed.sh" "$API" "$ADMIN" "$TMP" >&2
PUBLISHER=$(cat "$TMP/publisher.token")

# 4. the passes. max-examples is per operation and phase: the fuzzing phase of each operation with
# any parameter or body gets ceil(share / such operations); the coverage phase's deterministic cases
# and the single case of each parameterless operation come on top, so each pass runs >= its share.
SHARE=$(( (CASES + ${#PASSES[@]} - 1) / ${#PASSES[@]} ))
FUZZABLE=$(python3 - "$SCHEMA" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
n = 0
for item in doc["paths"].values():
    common = item.get("parameters", [])
    for method, op in item.items():
        if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
            n += bool(common or op.get("parameters") or op.get("requestBody"))
print(n)
EOF
)
PER_OP=$(( (SHARE + FUZZABLE - 1) / FUZZABLE ))
log "$CASES cases: ${#PASSES[@]} passes of >= $SHARE; max-examples $PER_OP for $FUZZABLE operations with inputs; seed $SEED"

START=$(date +%s)
for pass in "${PASSES[@]}"; do
    auth=()
    case $pass in
        admin) auth=(-H "Authorization: Bearer $ADMIN") ;;
        publisher) auth=(-H "Authorization: Bearer $PUBLISHER") ;;
    esac
    log "pass $pass"
    t0=$(date +%s)
    # Exit code 1 means failures were found: expected, they are summarized below.
    (cd "$TMP" && "$VENV/bin/schemathesis" --no-color --config-file "$HERE/schemathesis.toml" run "$SCHEMA" \
        --url "$API" "${auth[@]}" \
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
        --phases coverage,fuzzing --mode all --max-examples "$PER_OP" --seed "$SEED" --workers 1 \
        --no-shrink --continue-on-failure --request-timeout 10 --generation-database none --output-sanitize false \
        --report ndjson,json --report-ndjson-path "$OUT/$pass.ndjson" --report-json-path "$OUT/$pass.json" \
        >"$OUT/$pass.log" 2>&1) || rc=$?
    rc=${rc:-0}
    if [[ $rc -gt 1 || ! -s $OUT/$pass.json ]]; then
        echo "schemathesis pass $pass failed to run (exit $rc):" >&2
        tail -40 "$OUT/$pass.log" >&2
        exit 2
    fi
    unset rc
    log "pass $pass: $(grep -E '^ +[0-9]+ generated' "$OUT/$pass.log" | sed 's/^ *//') in $(( $(date +%s) - t0 )) s"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server died during pass $pass:" >&2
        tail -40 "$OUT/server.log" >&2
        exit 2
    fi
done
ELAPSED=$(( $(date +%s) - START ))

# 5. stop, summarize.
cleanup
SERVER_PID=
trap - EXIT
log "server stopped; fuzzing took $ELAPSED s"
set +e
"$VENV/bin/python" "$HERE/summarize.py" "$OUT" "$API" "$CASES" "${PASSES[@]}" | tee "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
echo "fuzzing time: $ELAPSED s; seed $SEED; reports in $OUT" | tee -a "$OUT/summary.txt"
echo "curl variables: API=$API; PUBLISHER=<publisher token>; ADMIN=<admin token> (seed.sh data)" | tee -a "$OUT/summary.txt"
exit "$rc"
