#!/usr/bin/env bash
# Runs every test Hedgerow has, on a fresh Debian machine as root: installs what the tests need
# (PostgreSQL, dnsutils), starts a throw-away PostgreSQL server on 127.0.0.1, then runs the whole
# workspace's tests, the PostgreSQL store tests included (they fail rather than skip here).
#
# The workload-agreement tests read ../shared/data (the shared data set beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-env.sh --print-env)"
export HEDGEROW_REQUIRE_POSTGRES=1
# The DNS tests drive real dig, dnsmasq, dnsperf and unbound; here they must not skip.
export HEDGEROW_REQUIRE_DNS_TOOLS=1
export HEDGEROW_REQUIRE_DIG=1
export HEDGEROW_REQUIRE_BROWSER=1  # the web proxy tests drive real chromium + chromedriver
export HEDGEROW_REQUIRE_SCHEMATHESIS=1  # the admin API test runs Schemathesis against its OpenAPI document
export HEDGEROW_REQUIRE_SMTP=1  # the alert email tests send to a real aiosmtpd server
export HEDGEROW_REQUIRE_PDF_TOOLS=1  # the termly report test turns its PDF into PNG and text with poppler

# About a hundred test binaries each link the whole dependency tree. With full debug info and
# incremental caches that came to 12 GB of target/ and filled a CI machine's disk; without
# them it is under 2 GB. A failing test still names its file and line (panic locations do not
# need debug info). Set either variable yourself to override.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"
export CARGO_PROFILE_TEST_DEBUG="${CARGO_PROFILE_TEST_DEBUG:-0}"
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
free_kib=$(df -Pk "$target_dir" | awk 'NR == 2 { print $4 }')
if [ -n "$free_kib" ] && [ "$free_kib" -lt $((3 * 1024 * 1024)) ]; then
    echo "test-all: only $((free_kib / 1024)) MiB free where $target_dir is; the build needs about 2 GiB and the tests a few hundred MiB more. Free some space (an old target/ directory is often the culprit) if the build fails with 'No space left on device'." >&2
fi

# Building is most of the time on a 2-core machine; say so rather than look stuck.
echo "test-all: building and running the workspace tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?

# The monitoring evaluation set's own checks (its format, split and scoring script).
echo "test-all: checking the monitoring evaluation set" >&2
python3 -m unittest discover -s eval/monitoring/tests 2>&1 | tee -a "$log" || status=$?

# One closing line for the whole run: cargo prints one per test binary, the last of which is
# often a doc-test run with nothing in it.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     /^Ran [0-9]+ tests? in/ { ran = $2 }
     /^FAILED \(/ { if (match($0, /(failures|errors)=[0-9]+/)) { split(substr($0, RSTART, RLENGTH), kv, "="); f += kv[2] } }
     /^OK/ { if (ran) { p += ran; ran = 0 } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
