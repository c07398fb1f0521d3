#!/usr/bin/env bash
# Seeds a fresh civicproof server for the schemathesis run (README "A first session with curl").
# Usage: seed.sh API ADMIN_TOKEN OUT_DIR
# Writes OUT_DIR/publisher.token, OUT_DIR/reader.token and OUT_DIR/reader.id.
# Leaves: institution `city`; public dataset `air` with records 0..4 (checkpoints at sizes 3 and 5)
# and an erasure of record 4 (entry 5, size 6); restricted dataset `cards` with records 0..2.
set -euo pipefail
API=$1 ADMIN=$2 OUT=$3

req() { # METHOD PATH TOKEN CONTENT-TYPE BODY -> prints the body, fails on a non-2xx status
    local method=$1 path=$2 token=$3 ctype=$4 body=$5 resp code
    resp=$(curl -sS -X "$method" -w '\n%{http_code}' -H "authorization: Bearer $token" \
        -H "content-type: $ctype" --data-binary "$body" "$API$path")
    code=${resp##*$'\n'}
    resp=${resp%$'\n'*}
    if [[ $code != 2* ]]; then
        echo "seed: $method $path answered $code: $resp" >&2
        exit 1
    fi
    printf '%s' "$resp"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

req POST /v1/institutions "$ADMIN" application/json '{"slug":"city","name":"City of Example"}' >/dev/null
req POST /v1/institutions/city/tokens "$ADMIN" application/json '{"role":"publisher","label":"st-publisher"}' |
    json_field token >"$OUT/publisher.token"
reader=$(req POST /v1/institutions/city/tokens "$ADMIN" application/json '{"role":"reader","label":"st-reader"}')
json_field token <<<"$reader" >"$OUT/reader.token"
json_field id <<<"$reader" >"$OUT/reader.id"
PUB=$(cat "$OUT/publisher.token")

req POST /v1/datasets "$PUB" application/json \
    '{"slug":"air","title":"Air quality","description":"PM10 by sensor","license":"CC-BY-4.0","access":"public","themes":["ENVI"],"keywords":["air","pm10"]}' >/dev/null
req POST /v1/datasets "$PUB" application/json \
    '{"slug":"cards","title":"City cards","description":"Top-ups per channel","license":"CC-BY-4.0","access":"restricted","themes":["ECON"]}' >/dev/null

req POST /v1/datasets/city/air/records "$PUB" text/csv \
    $'key,sensor,pm10\ns1/2026-11-26T10:00Z,s1,17.20\ns2/2026-11-26T10:00Z,s2,9\ns3/2026-11-26T10:00Z,s3,11\n' >/dev/null
req POST /v1/datasets/city/cards/records "$PUB" application/json \
    '[{"key":"c1","payload":{"channel":"web","eur":10}},{"key":"c2","payload":{"channel":"kiosk","eur":5}},{"payload":{"channel":"app","eur":20}}]' >/dev/null
sleep 1.5 # the signer checkpoints a grown log within CIVICPROOF_CHECKPOINT_INTERVAL_MS (1 s)
req POST /v1/datasets/city/air/records "$PUB" application/x-ndjson \
    $'{"key":"s1/2026-11-26T11:00Z","payload":{"sensor":"s1","pm10":18}}\n{"key":"s2/2026-11-26T11:00Z","payload":{"sensor":"s2","pm10":7.5}}\n' >/dev/null
sleep 1.5
req POST /v1/datasets/city/air/records/4/erasure "$PUB" application/json '{"reason":"publisher-error"}' >/dev/null
sleep 1.5

# Sanity: the paths the fuzzer is steered to exist.
for path in /v1/datasets/city/air/records/0/proof /v1/datasets/city/air/checkpoints/3 \
    /v1/datasets/city/air/checkpoints/5 /v1/datasets/city/air/checkpoints/6 \
    "/v1/datasets/city/air/consistency?first=3&second=6"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$API$path")
    [[ $code == 200 ]] || { echo "seed: GET $path answered $code" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $PUB" "$API/v1/datasets/city/cards/records/2/proof")
[[ $code == 200 ]] || { echo "seed: GET cards/records/2/proof answered $code" >&2; exit 1; }
echo "seed: city/air (5 records, record 4 erased, sizes 3, 5, 6 signed), city/cards (3 records, restricted)"
