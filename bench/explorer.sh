#!/usr/bin/env bash
# The activity explorer benchmark (issue 5) on both stores: generates a year of synthetic
# events for one school (10 million by default), loads them, and times the explorer's typical
# queries. Figures go into docs/benchmarks.md ("Activity explorer (issue 5)").
#
# Usage: bench/explorer.sh [OUT_DIR]     (as root; PostgreSQL comes from scripts/test-env.sh)
#   EVENTS=10000000  how many events     REPEAT=40  runs per query
#   REUSE=1          keep a store loaded by an earlier run (same EVENTS)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/hedgerow-explorer-bench}"
events="${EVENTS:-10000000}"
repeat="${REPEAT:-40}"
mkdir -p "$out"
source scripts/test-env.sh
cargo build --release -p hedgerow-bench
bin="${CARGO_TARGET_DIR:-target}/release/hedgerow-bench"
reuse=()
if [ "${REUSE:-}" = 1 ]; then
    reuse=(--reuse)
else
    rm -f "$out/explorer.db" "$out/explorer.db-wal" "$out/explorer.db-shm"
    psql "$HEDGEROW_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS hedgerow_explorer_bench"
    psql "$HEDGEROW_TEST_POSTGRES_URL" -qc "CREATE DATABASE hedgerow_explorer_bench"
fi
pg_url="${HEDGEROW_TEST_POSTGRES_URL%/*}/hedgerow_explorer_bench"

echo "== SQLite ($out/explorer.db)"
"$bin" explorer --store "sqlite://$out/explorer.db" --events "$events" --repeat "$repeat" "${reuse[@]}" \
    | tee "$out/sqlite.txt"
echo "== PostgreSQL"
"$bin" explorer --store "$pg_url" --events "$events" --repeat "$repeat" "${reuse[@]}" \
    | tee "$out/postgres.txt"
