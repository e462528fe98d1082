#!/usr/bin/env bash
# Latency trials for the DNS filter, alternating between builds: for each round and each given
# `hedgerow` binary in turn, start it on a fresh activity store, flood it with dnsperf for
# FLOOD seconds (as the harness's throughput step does), then send LAT_QPS queries a second for
# LAT_DUR seconds and report p50/p99/p99.9 (as the harness's latency step does) and the events
# the writer refused during the trial. Alternating the builds spreads the machine's drift over
# all of them, which a comparison of p99s needs on a shared two-core box.
#
# It reuses what bench/dns-peers.sh left in OUT (bench-school.toml with its compiled lists),
# so run that first. The activity store in OUT/data is deleted before each trial.
#
# usage: bench/dns-latency-trial.sh OUT BINARY [BINARY...]
#   env: ROUNDS (3), FLOOD (10), LAT_QPS (5000), LAT_DUR (10), CLIENTS (10)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/dns-latency-trial.sh OUT BINARY [BINARY...]}
shift
[ "$#" -ge 1 ] || { echo "name at least one hedgerow binary" >&2; exit 2; }
rounds=${ROUNDS:-3}
flood=${FLOOD:-10}
lat_qps=${LAT_QPS:-5000}
lat_dur=${LAT_DUR:-10}
clients=${CLIENTS:-10}
queries=$PWD/../shared/data/workload/dns-queries.txt
cfg=$out/bench-school.toml
for f in "$cfg" "$queries" "$@"; do
  [ -e "$f" ] || { echo "dns-latency-trial: $f is missing (run bench/dns-peers.sh $out first)" >&2; exit 2; }
done
for port in 15353 15310; do
  if ss -Hlun "sport = :$port" | grep -q .; then echo "UDP port $port is in use; stop that first" >&2; exit 1; fi
done
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
ready() { until dig @127.0.0.1 -p "$1" +tries=1 +time=1 +short wikipedia.org A >/dev/null 2>&1; do sleep 0.1; done; }

dnsmasq -k --conf-file=/dev/null --port=15353 --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --address=/#/192.0.2.1 --cache-size=0 --pid-file= --dns-forward-max=1000 &
pids+=("$!")
ready 15353

echo "| round | binary | flood q/s | p50 ms @ $lat_qps q/s | p99 ms | p99.9 ms | events refused |"
echo "|---|---|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    rm -f "$out/data/hedgerow.db" "$out/data/hedgerow.db-wal" "$out/data/hedgerow.db-shm"
    "$bin" serve --config "$cfg" --dns-listen 127.0.0.1:15310 --upstream 127.0.0.1:15353 \
      --metrics-listen 127.0.0.1:15391 > "$out/latency-trial.log" 2>&1 &
    hr=$!
    ready 15310
    qps=$(dnsperf -s 127.0.0.1 -p 15310 -d "$queries" -c "$clients" -l "$flood" 2>&1 |
      awk '/Queries per second/{printf "%.0f", $4}')
    lat=$(dnsperf -s 127.0.0.1 -p 15310 -d "$queries" -c "$clients" -l "$lat_dur" -Q "$lat_qps" -v 2>&1 |
      awk '/^> (NOERROR|NXDOMAIN)/{print $NF}' | sort -g |
      awk '{a[NR]=$1} END{printf "%.3f | %.3f | %.3f", a[int(NR*.5)]*1000, a[int(NR*.99)]*1000, a[int(NR*.999)]*1000}')
    refused=$(curl -s 127.0.0.1:15391/metrics | awk '/^hedgerow_events_rejected_total/{print $2}')
    kill "$hr"; wait "$hr" 2>/dev/null || true
    echo "| $round | $bin | $qps | $lat | ${refused:-0} |"
  done
done
