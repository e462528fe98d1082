#!/usr/bin/env bash
# Hedgerow's web proxy side by side with squid, squid + squidGuard and e2guardian, through the
# shared peer harness (../shared/bench/peers/proxy_bench.sh): same lists (the policy-school.txt
# categories), same workloads (urls.txt through wrk, connect.txt as CONNECT tunnels), same
# origin, in one run inside the harness's private network namespace. Hedgerow is the
# harness's `custom` peer. Results (TSV and summary) go to $OUT, never into the shared folder.
#
# The CONNECT load generator. The harness runs its Python connect_load.py, whose ceiling on a
# 2-core machine (~3-4 k tunnels/s) is below what the peers can do, so its CONNECT column
# measures the client, not the proxy. It has no option to use another generator, and the
# shared folder is not ours to change. So this script runs a *derived copy* of the harness:
# proxy_bench.sh copied from the shared folder at run time into $OUT/harness/, with exactly
# four textual changes, each checked to apply exactly once (the run stops if the harness has
# changed so that one no longer applies):
#   1. it sources common.sh from the shared folder (so urls.lua, the data set and every helper
#      stay the shared ones);
#   2. the CONNECT step runs $CONNECT_LOAD instead of `python3 connect_load.py`, with the same
#      arguments: by default `hedgerow-bench connect-load`, a Rust drop-in with the same
#      options, the same work per tunnel and the same summary line (its semantics are
#      documented in crates/hedgerow-bench/src/connect_load.rs);
#   3. the summary's description line names the generator used;
#   4. after the custom peer's CONNECT step, while it still runs, one more HTTP load of the
#      same URLs at a fixed rate, RATE_FACTOR (default 5) times the requests/s e2guardian
#      reached in the same run (`hedgerow-bench connect-load --http --rate`, open loop): the
#      issue's latency target is a p99 *at that load*, which wrk (closed loop, saturating) does
#      not measure. Results in $OUT/results/proxy-rate.tsv and proxy-rate.md.
# Nothing else differs; the diff is written to $OUT/harness/proxy_bench.diff and the derived
# copy is kept beside it. The shared harness carries no licence file; it is this project's own
# shared benchmark (README in ../shared/bench/peers), used here with attribution and unchanged
# on disk. CONNECT_LOADER=python runs the harness's own generator through the same copy, to
# compare the two in the same conditions.
#
# usage: bench/proxy-peers.sh [OUT]     (root: the harness installs packages and uses unshare)
#   env: RUNS DURATION CONN CDUR CCONN as the harness (defaults 3 20 32 10 32);
#        PEERS (default: nginx-direct squid-nofilter squid-squidguard e2guardian custom; custom
#        is dropped with a warning while the hedgerow binary has no web proxy);
#        CONNECT_LOADER=hedgerow|python (default hedgerow);
#        CUSTOM_PROXY_CMD to run something else as the custom peer.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-/tmp/hedgerow-proxy-bench}
peers_dir=${PEERS_DIR:-$repo/../shared/bench/peers}
peers_dir=$(cd "$peers_dir" && pwd)
data=$(cd "$peers_dir/../../data" && pwd)
policy=${POLICY:-$data/blocklists/policy-school.txt}
blocklists=$data/blocklists
mkdir -p "$out"
out=$(cd "$out" && pwd)

target_dir=${CARGO_TARGET_DIR:-$repo/target}
bin=$target_dir/release/hedgerow
bench=$target_dir/release/hedgerow-bench
cargo build --release -q -p hedgerow-bench

# ---- Hedgerow as the custom peer ----------------------------------------------------------------
# A school whose every client is filtered with exactly the harness's lists (the policy's
# categories blocked, everything else allowed), as bench/dns-peers.sh does for the DNS filter.
# The harness gives the custom peer PORT=3130 and expects it on 127.0.0.1:$PORT; its names
# resolve through the namespace's dnsmasq (every name is 127.0.0.1, where the origin listens on
# 80 and 443). DNS-only rules are off; activity logging stays on, as deployed. TLS inspection is
# not configured: CONNECT tunnels are decided by host name only, as squidGuard and e2guardian
# decide them here.
hedgerow_proxy_config() { # $1 = file to write
  local actions
  actions=$(grep -v '^#' "$policy" | sed '/^[[:space:]]*$/d' | awk '{printf "\"list:%s\" = \"block\"\n", $0}')
  group() {
    printf '[school.groups.%s]\nkind = "%s"\ndefault = "allow"\nsafe_search = false\nyoutube = "off"\nblock_unsafe_search_engines = false\n[school.groups.%s.actions]\n%s\n\n' "$1" "$2" "$1" "$actions"
  }
  {
    printf 'data_dir = "%s/data"\n[lists]\nsources = ["%s"]\n\n' "$out" "$blocklists"
    # The harness's port for the custom peer; metrics on a port the namespace keeps free.
    printf '[listeners]\nproxy = "127.0.0.1:3130"\nmetrics = "127.0.0.1:15390"\n\n'
    printf '[[school]]\nslug = "bench"\nname = "Benchmark School"\n\n'
    group pupils pupil
    group unknown unidentified
    # Every load generator connects from the namespace's loopback: one device, no sign-in.
    printf '[[school.devices]]\nname = "bench-clients"\nkind = "network"\ngroup = "pupils"\naddresses = ["127.0.0.0/8"]\n'
  } > "$1"
}

# Whether this hedgerow binary has the web proxy (older builds are run without the custom peer).
hedgerow_has_proxy() {
  "$bin" serve --help 2>/dev/null | grep -q -- '--proxy-listen'
}

peers=${PEERS:-"nginx-direct squid-nofilter squid-squidguard e2guardian custom"}
custom_cmd=${CUSTOM_PROXY_CMD:-}
if [[ " $peers " == *" custom "* ]] && [ -z "$custom_cmd" ]; then
  cargo build --release -q -p hedgerow
  if hedgerow_has_proxy; then
    cfg=$out/bench-school.toml
    hedgerow_proxy_config "$cfg"
    # Compiling is a separate step in deployment (when lists change), not part of starting.
    "$bin" lists compile --config "$cfg"
    custom_cmd="$bin serve --config $cfg"
  else
    echo "proxy-peers: $bin has no web proxy yet; running without the custom peer" >&2
    peers=$(tr ' ' '\n' <<<"$peers" | grep -vx custom | tr '\n' ' ')
  fi
fi

# ---- the derived harness -------------------------------------------------------------------------
case ${CONNECT_LOADER:-hedgerow} in
  hedgerow) connect_load="$bench connect-load"; connect_name="hedgerow-bench connect-load (Rust, one thread)" ;;
  python) connect_load="python3 $peers_dir/connect_load.py"; connect_name="connect_load.py" ;;
  *) echo "CONNECT_LOADER must be hedgerow or python" >&2; exit 2 ;;
esac
h=$out/harness
mkdir -p "$h"
cp "$peers_dir/proxy_bench.sh" "$h/proxy_bench.shared.sh"
# replace_once FILE OLD NEW: literal replacement that must match exactly once.
replace_once() {
  python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
n = text.count(old)
if n != 1:
    sys.exit(f"proxy-peers: the shared proxy_bench.sh has changed: expected one {old!r}, found {n}")
open(path, "w").write(text.replace(old, new))
PY
}
cp "$h/proxy_bench.shared.sh" "$h/proxy_bench.sh"
replace_once "$h/proxy_bench.sh" 'source "$(dirname "$0")/common.sh"' "source \"$peers_dir/common.sh\""
replace_once "$h/proxy_bench.sh" 'cout=$(python3 "$PEERS_DIR/connect_load.py" --port' 'cout=$($CONNECT_LOAD --port'
replace_once "$h/proxy_bench.sh" 'CONNECT: connect_load.py -c $CCONN' 'CONNECT: $CONNECT_LOAD_NAME -c $CCONN'
replace_once "$h/proxy_bench.sh" '    [ "$peer" = nginx-direct ] || { stop_pid "$pid"; forget_pid "$pid"; }' '    if [ -n "${RATE_LOAD:-}" ] && [ "$peer" = custom ]; then
      e2rps=$(awk -F"\t" -v r="$run" '"'"'$1=="e2guardian" && $2==r {print $7}'"'"' "$RUNS_TSV")
      if [ -n "$e2rps" ]; then
        rq=$((e2rps * RATE_FACTOR))
        rout=$($RATE_LOAD --port "$PORT" --hosts "$URLS" -c "$CONN" -d "$DURATION" --rate "$rq")
        printf "%s\t%s\t%s\t%s\n" "$run" "$e2rps" "$rq" "$rout" >> "$RESULTS/proxy-rate.tsv"
        log "custom at $rq req/s ($RATE_FACTOR x e2guardian): $rout"
      fi
    fi
    [ "$peer" = nginx-direct ] || { stop_pid "$pid"; forget_pid "$pid"; }'
diff -u "$h/proxy_bench.shared.sh" "$h/proxy_bench.sh" > "$h/proxy_bench.diff" || true
echo "proxy-peers: peers: $peers; CONNECT load: $connect_name; harness changes: $h/proxy_bench.diff" >&2

rate_factor=${RATE_FACTOR:-5}
rm -f "$out/results/proxy-rate.tsv"
RESULTS=$out/results WORK=$out/work PEERS="$peers" POLICY="$policy" \
  CONNECT_LOAD="$connect_load" CONNECT_LOAD_NAME="$connect_name" \
  RATE_LOAD="$bench connect-load --http --origin-marker <html><body>xxxxxxxxxx" \
  RATE_FACTOR="$rate_factor" \
  CUSTOM_PROXY_CMD="$custom_cmd" \
  bash "$h/proxy_bench.sh"

# The fixed-rate step's results, one row per run and the medians.
if [ -s "$out/results/proxy-rate.tsv" ]; then
  python3 - "$out/results/proxy-rate.tsv" "$rate_factor" > "$out/results/proxy-rate.md" <<'PY'
import re, statistics, sys
path, factor = sys.argv[1], sys.argv[2]
rows = []
for line in open(path):
    run, e2, rate, summary = line.rstrip("\n").split("\t", 3)
    field = lambda k: float(re.search(rf"\b{k}=([0-9.]+|nan)", summary).group(1))
    rows.append((run, int(e2), int(rate), field("rate"), field("p50_ms"), field("p99_ms"), field("p999_ms"), summary.split("STATUS ", 1)[-1]))
print(f"# Hedgerow at {factor} x e2guardian's requests/s (open loop, hedgerow-bench connect-load --http --rate)\n")
print("| run | e2guardian req/s | asked req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | statuses |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.3f} | {r[7]} |")
med = lambda i: statistics.median(r[i] for r in rows)
print(f"| median | {med(1):.0f} | {med(2):.0f} | {med(3):.0f} | {med(4):.3f} | {med(5):.3f} | {med(6):.3f} | |")
PY
  cat "$out/results/proxy-rate.md"
fi
