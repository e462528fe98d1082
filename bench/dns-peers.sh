#!/usr/bin/env bash
# Hedgerow's DNS filter side by side with unbound and dnsmasq, through the shared peer harness
# (../shared/bench/peers/dns_bench.sh): same lists (the policy-school.txt categories), same
# workload, same local upstream, in one run. Hedgerow is the harness's `custom` peer.
#
# The harness runs each peer with one worker thread, so this runs it twice: Hedgerow with one
# DNS worker, then with its default (one per core), each time beside unbound and dnsmasq.
# Results (TSV and a summary per run) go to $OUT, never into the shared folder.
#
# The first peer, upstream-direct, is dnsperf straight at the local upstream: the load
# generator's own ceiling on this machine in the same run.
#
# usage: bench/dns-peers.sh [OUT]          env: RUNS DURATION CLIENTS LAT_QPS LAT_DUR as the harness;
#                                          WORKERS="1 default" (which Hedgerow worker counts to run)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-/tmp/hedgerow-dns-bench}
peers_dir=${PEERS_DIR:-$repo/../shared/bench/peers}
data=$repo/../shared/data
mkdir -p "$out"
cargo build --release -q -p hedgerow
bin=${CARGO_TARGET_DIR:-$repo/target}/release/hedgerow

# A school whose every client is filtered with exactly the harness's lists. The rate limit is
# off because the load comes from one address; the DNS-only rules (safe search, unlockable
# engines) are off so that both sides do the same work. Query logging stays on, as deployed.
cfg=$out/bench-school.toml
actions=$(grep -v '^#' "$data/blocklists/policy-school.txt" | sed '/^$/d' | awk '{printf "\"list:%s\" = \"block\"\n", $0}')
group() {
  printf '[school.groups.%s]\nkind = "%s"\ndefault = "allow"\nsafe_search = false\nyoutube = "off"\nblock_unsafe_search_engines = false\n[school.groups.%s.actions]\n%s\n\n' "$1" "$2" "$1" "$actions"
}
{
  printf 'data_dir = "%s/data"\n[lists]\nsources = ["%s"]\n\n[dns]\nrate_limit_qps = 0\nblock_response = "nxdomain"\n\n' "$out" "$data/blocklists"
  printf '[[school]]\nslug = "bench"\nname = "Benchmark School"\n\n'
  group pupils pupil
  group unknown unidentified
} > "$cfg"
# Compiling is a separate step in deployment (when lists change), not part of starting.
"$bin" lists compile --config "$cfg"

for workers in ${WORKERS:-1 default}; do
  extra=""
  [ "$workers" = default ] || extra="--dns-workers $workers"
  echo "== Hedgerow with $workers DNS worker(s), beside unbound and dnsmasq"
  RESULTS=$out/workers-$workers WORK=$out/work PEERS="upstream-direct unbound dnsmasq custom" \
    CUSTOM_DNS_CMD="$bin serve --config $cfg --dns-listen 127.0.0.1:\$PORT --upstream \$UPSTREAM --metrics-listen 127.0.0.1:15390 $extra" \
    bash "$peers_dir/dns_bench.sh"
  cat "$out/workers-$workers/dns-summary.md"
done
