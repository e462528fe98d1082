#!/usr/bin/env bash
# New inspected TLS sessions per second through Hedgerow's web proxy.
#
# Runs `hedgerow serve` with a school CA and `inspect = ["all"]` for every client, on the
# shared lists (the policy-school.txt categories blocked, as in bench/proxy-peers.sh), and
# drives it with `hedgerow-bench connect-load --tls`: each attempt opens a connection, sends
# CONNECT host:443, and does a full TLS handshake (no resumption) with the proxy, which
# terminates it with a leaf certificate for that host. Nothing reaches an origin: the
# handshake with the client is what inspection adds per new session.
#
# Two host sets: `repeat` (the first HOSTS_REPEAT lines of connect.txt, so leaves come from the
# cache, as in a school where most sessions go to sites seen before) and `all` (the 50,000
# hosts of connect.txt: 39,648 distinct names, more than the 10,000-leaf cache, so many
# sessions first mint and sign a leaf).
#
# usage: bench/proxy-tls.sh [OUT]   (env: DURATION=10 CONN=32 RUNS=3 HOSTS_REPEAT=500)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-/tmp/hedgerow-proxy-tls}
data=$(cd "$repo/../shared/data" && pwd)
DURATION=${DURATION:-10}
CONN=${CONN:-32}
RUNS=${RUNS:-3}
HOSTS_REPEAT=${HOSTS_REPEAT:-500}
rm -rf "$out"; mkdir -p "$out"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release -q -p hedgerow -p hedgerow-bench
bin=$target_dir/release/hedgerow
bench=$target_dir/release/hedgerow-bench
port=3131

actions=$(grep -v '^#' "$data/blocklists/policy-school.txt" | sed '/^[[:space:]]*$/d' | awk '{printf "\"list:%s\" = \"block\"\n", $0}')
group() {
  printf '[school.groups.%s]\nkind = "%s"\ndefault = "allow"\ninspect = ["all"]\n[school.groups.%s.actions]\n%s\n\n' "$1" "$2" "$1" "$actions"
}
{
  printf 'data_dir = "%s/data"\n[lists]\nsources = ["%s/blocklists"]\n\n' "$out" "$data"
  printf '[listeners]\nproxy = "127.0.0.1:%s"\nmetrics = "127.0.0.1:15391"\n\n' "$port"
  printf '[[school]]\nslug = "bench"\nname = "Benchmark School"\n\n'
  group pupils pupil
  group unknown unidentified
  printf '[[school.devices]]\nname = "bench-clients"\nkind = "network"\ngroup = "pupils"\naddresses = ["127.0.0.0/8"]\n'
} > "$out/school.toml"
"$bin" lists compile --config "$out/school.toml" >/dev/null
"$bin" ca init --config "$out/school.toml" >/dev/null 2>&1

head -n "$HOSTS_REPEAT" "$data/workload/connect.txt" > "$out/repeat.txt"
cp "$data/workload/connect.txt" "$out/all.txt"

echo "# new inspected TLS sessions/s ($(date -u +%F), $(nproc) cores, $(uname -r))"
echo "# hedgerow-bench connect-load --tls --insecure -c $CONN -d $DURATION; median of $RUNS runs"
printf 'hosts\trun\tsessions_per_s\tp50_ms\tp99_ms\trss_mib\tstatus\n'
for set in repeat all; do
  for run in $(seq "$RUNS"); do
    HEDGEROW_LOG=warn "$bin" serve --config "$out/school.toml" >"$out/serve-$set-$run.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    line=$("$bench" connect-load --port "$port" --hosts "$out/$set.txt" -c "$CONN" -d "$DURATION" --tls --insecure)
    rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    rate=$(grep -o 'tls_rate=[0-9.]*' <<<"$line" | cut -d= -f2)
    p50=$(grep -o 'p50_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
    p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
    status=$(sed 's/.*STATUS //' <<<"$line")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$run" "$rate" "$p50" "$p99" "$rss" "$status"
  done
done | tee "$out/results.tsv"
