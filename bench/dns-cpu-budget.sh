#!/usr/bin/env bash
# Where the CPU goes when dnsperf drives a DNS filter on this machine: CPU time per query of
# the load generator (dnsperf), of the upstream (the harness's dnsmasq, which answers every
# allowed name with TTL 0, so every allowed query is forwarded by every peer) and of the
# filter, for upstream-direct (no filter), unbound and Hedgerow, one after the other.
#
# On a machine with C cores, no filter can answer more than C / (generator + upstream + filter)
# queries a second, whatever it does: this turns the per-query costs into that bound, so a
# target ratio can be checked against what the machine can hold at all.
#
# It reuses what bench/dns-peers.sh left in OUT (the harness's unbound.conf and Hedgerow's
# bench-school.toml with its compiled lists), so run that first.
#
# usage: bench/dns-cpu-budget.sh OUT        env: DURATION (20), CLIENTS (10)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/dns-cpu-budget.sh OUT (the folder bench/dns-peers.sh wrote)}
duration=${DURATION:-20}
clients=${CLIENTS:-10}
queries=$PWD/../shared/data/workload/dns-queries.txt
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/hedgerow
for f in "$out/work/dns/unbound.conf" "$out/bench-school.toml" "$queries" "$bin"; do
  [ -e "$f" ] || { echo "dns-cpu-budget: $f is missing; run bench/dns-peers.sh $out first" >&2; exit 2; }
done
for port in 15353 15301 15310; do
  if ss -Hlun "sport = :$port" | grep -q .; then echo "UDP port $port is in use; stop that first" >&2; exit 1; fi
done
tick=$(getconf CLK_TCK)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ready() { until dig @127.0.0.1 -p "$1" +tries=1 +time=1 +short wikipedia.org A >/dev/null 2>&1; do sleep 0.1; done; }

dnsmasq -k --conf-file=/dev/null --port=15353 --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --address=/#/192.0.2.1 --cache-size=0 --pid-file= --dns-forward-max=1000 &
upstream=$!; pids+=("$upstream")
ready 15353

echo "| peer | q/s | dnsperf µs/query | upstream µs/query | filter µs/query | total µs/query | bound on $(nproc) cores if the filter cost nothing, q/s |"
echo "|---|---:|---:|---:|---:|---:|---:|"
measure() { # label port filter-pid(or empty)
  local u0 f0=0 u1 f1=0 log q qps user sys
  u0=$(cpu_ticks "$upstream"); [ -n "$3" ] && f0=$(cpu_ticks "$3")
  log=$(mktemp)
  /usr/bin/time -f "TIME %U %S" dnsperf -s 127.0.0.1 -p "$2" -d "$queries" -c "$clients" -l "$duration" > "$log" 2>&1
  u1=$(cpu_ticks "$upstream"); [ -n "$3" ] && f1=$(cpu_ticks "$3")
  q=$(awk '/Queries completed/{print $3}' "$log"); qps=$(awk '/Queries per second/{print $4}' "$log")
  read -r user sys < <(awk '/^TIME/{print $2, $3}' "$log")
  rm -f "$log"
  awk -v l="$1" -v q="$q" -v qps="$qps" -v g="$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" \
      -v u="$((u1 - u0))" -v f="$((f1 - f0))" -v t="$tick" -v c="$(nproc)" 'BEGIN{
    gen = g * 1e6 / q; up = u / t * 1e6 / q; fil = f / t * 1e6 / q
    printf "| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f |\n", l, qps, gen, up, fil, gen + up + fil, c * 1e6 / (gen + up) }'
}
measure "upstream-direct (no filter)" 15353 ""

unbound -d -c "$out/work/dns/unbound.conf" > /dev/null 2>&1 &
ub=$!; pids+=("$ub"); ready 15301
measure "unbound" 15301 "$ub"
kill "$ub"; wait "$ub" 2>/dev/null || true

"$bin" serve --config "$out/bench-school.toml" --dns-listen 127.0.0.1:15310 --upstream 127.0.0.1:15353 \
  --metrics-listen 127.0.0.1:15391 ${WORKERS:+--dns-workers $WORKERS} > "$out/cpu-budget-hedgerow.log" 2>&1 &
hr=$!; pids+=("$hr"); ready 15310
measure "Hedgerow${WORKERS:+, $WORKERS worker(s)}" 15310 "$hr"
