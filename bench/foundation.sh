#!/usr/bin/env bash
# Foundation benchmarks: compile time, index bytes per domain, load time, decisions per second
# on one core, and resident memory while a new index replaces the old, on the shared lists and
# on a synthetic 5-million-domain list. Prints JSON per measurement; docs/benchmarks.md records
# the figures with this command and the machine.
#
# usage: bench/foundation.sh [OUT_DIR]     (needs ../shared beside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/hedgerow-bench}
shared=${SHARED:-../shared/data}
mkdir -p "$out"
cargo build --release -q -p hedgerow-bench
bench=${CARGO_TARGET_DIR:-target}/release/hedgerow-bench
policy=$shared/blocklists/policy-school.txt

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; free -g | head -2

for workload in urls dns-queries connect; do
  echo "== shared lists, workload $workload"
  taskset -c 0 "$bench" index --lists "$shared/blocklists" --lists lists/illegal --taxonomy lists/taxonomy.toml \
    --policy "$policy" --workload "$shared/workload/$workload.expected.tsv" --out "$out/shared.hidx"
done
cp "$out/shared.hidx" "$out/shared-copy.hidx"
echo "== shared lists, replacement"
"$bench" replace --index "$out/shared.hidx" --replacement "$out/shared-copy.hidx" --policy "$policy" \
  --workload "$shared/workload/dns-queries.expected.tsv"

if [ ! -f "$out/synthetic/adult.domains" ]; then
  python3 bench/synthetic-lists.py "$out/synthetic" 5000000
fi
printf 'adult\ngambling\ngames\nredirector\ndrogue\n' > "$out/synthetic-policy.txt"
echo "== synthetic 5M domains"
taskset -c 0 "$bench" index --lists "$out/synthetic" --taxonomy lists/taxonomy.toml --policy "$out/synthetic-policy.txt" \
  --workload "$out/synthetic-workload.txt" --out "$out/synthetic.hidx" --compile-runs 1
cp "$out/synthetic.hidx" "$out/synthetic-copy.hidx"
echo "== synthetic 5M domains, replacement"
"$bench" replace --index "$out/synthetic.hidx" --replacement "$out/synthetic-copy.hidx" --policy "$out/synthetic-policy.txt" \
  --workload "$out/synthetic-workload.txt"
