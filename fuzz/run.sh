#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS on a scratch copy of its seed corpus.
#
#   fuzz/run.sh SECONDS [TARGET...]      (all targets by default)
#
# Prints one line per target:
#   <target> <seconds>s <execs> execs <exec/s> exec/s crashes=<n>
# and exits 1 if any target crashed (panic, failed assertion, overflow, OOM, timeout), after
# printing the artifact path and the start of the report. Logs and corpora live under
# $FUZZ_WORK (default /var/tmp/civicproof-fuzz): the corpus grows there across runs (FRESH=1
# starts again from the seeds); fuzz/corpus/ only holds the small committed seeds.
# Crash artifacts go to fuzz/artifacts/<target>/ (git-ignored), as cargo fuzz does by default.
#
# Stable Rust only: RUSTC_BOOTSTRAP=1 unlocks the nightly flags cargo-fuzz needs (-Z sanitizer).
# Environment: FUZZ_TARGET_DIR (default /var/tmp/civicproof-fuzz-target; never the main build's
# CARGO_TARGET_DIR, whose artifacts the instrumented flags would evict), FUZZ_WORK, FRESH,
# FUZZ_TIMEOUT (seconds for one input before it counts as a hang, default 30),
# FUZZ_JOBS (cargo build jobs, default cargo's own).
set -euo pipefail

usage() {
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
secs=$1
shift

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
all_targets=(input_json input_ndjson input_csv jcs verify_bundle note tlog_proof)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    [[ -f $fuzz_dir/fuzz_targets/$t.rs ]] || {
        echo "unknown target $t (have: ${all_targets[*]})" >&2
        exit 2
    }
done

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-/var/tmp/civicproof-fuzz-target}
work=${FUZZ_WORK:-/var/tmp/civicproof-fuzz}
timeout=${FUZZ_TIMEOUT:-30}
mkdir -p "$work/logs"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# The same flags for build and run, so that run never rebuilds: release, debug assertions and
# overflow checks on, AddressSanitizer (cargo-fuzz's defaults, spelled out).
flags=(--fuzz-dir "$fuzz_dir" --release --debug-assertions --sanitizer address
    --target-dir "$CARGO_TARGET_DIR")
jobs=()
[[ -n ${FUZZ_JOBS:-} ]] && jobs=(--jobs "$FUZZ_JOBS")

cd "$root"
echo "building ${targets[*]} (target dir $CARGO_TARGET_DIR)" >&2
build_start=$(date +%s)
for t in "${targets[@]}"; do
    cargo fuzz build "${flags[@]}" "$t" >&2
done
echo "build: $(($(date +%s) - build_start))s" >&2

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t
    [[ ${FRESH:-0} == 1 ]] && rm -rf "$corpus"
    mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
    cp -n "$fuzz_dir/corpus/$t/"* "$corpus/" 2>/dev/null || true
    log=$work/logs/$t.log
    marker=$work/logs/$t.start
    touch "$marker"
    start=$(date +%s)
    rc=0
    cargo fuzz run "${flags[@]}" "$t" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=262144 -timeout="$timeout" \
        -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$t/" >"$log" 2>&1 || rc=$?
    elapsed=$(($(date +%s) - start))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    if [[ -z $execs ]]; then # no final stats: take the last status line ("#123 ...")
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
    fi
    execs=${execs:-0}
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    if [[ -z $rate ]]; then
        rate=$((execs / (elapsed > 0 ? elapsed : 1)))
    fi
    mapfile -t artifacts < <(find "$fuzz_dir/artifacts/$t" -type f -newer "$marker" \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \
        -o -name 'slow-unit-*' \) | sort)
    crashes=${#artifacts[@]}
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then
        crashes=1 # died without an artifact (e.g. the build or libFuzzer itself failed)
    fi
    line="$t ${elapsed}s $execs execs $rate exec/s crashes=$crashes"
    summary+=("$line")
    echo "$line"
    if [[ $crashes -gt 0 ]]; then
        failed+=("$t")
        for a in "${artifacts[@]}"; do
            echo "  artifact: $a ($(stat -c %s "$a") bytes)"
        done
        echo "  log: $log"
        # The panic or sanitizer report, without the libFuzzer banner.
        grep -m1 -A12 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)|==ERROR|deadly signal" \
            "$log" | sed 's/^/  | /' || tail -n 20 "$log" | sed 's/^/  | /'
    fi
done

if [[ ${#targets[@]} -gt 1 ]]; then
    echo "--- summary"
    printf '%s\n' "${summary[@]}"
fi
if [[ -n ${CIVICPROOF_FAULTS_REPORT:-} ]]; then
    # One row of the fault campaign's table (bench/faults/table.py).
    python3 - "$secs" "${#failed[@]}" "${summary[@]}" >>"$CIVICPROOF_FAULTS_REPORT" <<'EOF'
import json, sys
secs, failed, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
figures = {}
for line in lines:
    name, _, execs, _, rate, _, crashes = line.split()
    figures[name] = f"{execs} execs, {rate}/s, {crashes}"
print(json.dumps({
    "scenario": "fuzz",
    "mode": f"{secs} s per target",
    "did": "libFuzzer + AddressSanitizer on the publishing parsers, JCS, bundles, notes and tlog-proofs",
    "figures": figures,
    "kept": "no crash, no hang, no leak" if failed == 0 else "NO (see the log above)",
}))
EOF
fi
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed: ${failed[*]}; reproduce with:" >&2
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O -a --target-dir $CARGO_TARGET_DIR <target> <artifact>" >&2
    exit 1
fi
