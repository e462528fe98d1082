#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), one after another.
# Usage: fuzz/run-all.sh [SECONDS]
# Exits non-zero if any target crashes (panic, failed invariant, timeout or OOM); the crashing
# input is left in fuzz/artifacts/<target>/ and the log in fuzz/logs/<target>.log.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); nightly flags are enabled with RUSTC_BOOTSTRAP.
set -uo pipefail

SECS="${1:-60}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

if ! command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz not found: cargo install cargo-fuzz" >&2
    exit 2
fi

cargo fuzz build || { echo "build failed" >&2; exit 2; }

mkdir -p logs
failed=()
printf '%-16s %8s %12s  %s\n' target seconds execs result > logs/summary.txt
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target" "seeds/$target"
    log="logs/$target.log"
    started=$SECONDS
    echo "== $target (${SECS}s)"
    # Seeds are read (second directory); new inputs go to corpus/<target> (first directory).
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECS" -timeout=10 -print_final_stats=1 >"$log" 2>&1
    status=$?
    took=$(( SECONDS - started ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $status, see $log and artifacts/$target/)"
        failed+=("$target")
        grep -m1 -A3 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" | sed 's/^/    /'
    fi
    printf '%-16s %8s %12s  %s\n' "$target" "$took" "${execs:-?}" "$result" | tee -a logs/summary.txt
done

echo
cat logs/summary.txt
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
