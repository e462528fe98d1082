#!/usr/bin/env bash
# What safeguarding monitoring costs (issue 6), in three measurements, figures into OUTDIR:
#   1. `hedgerow monitor classify` on one core (taskset -c 0): ~1 million short texts, mostly
#      benign (95 %: invented school searches and the shared workload's allowed URLs), 5 % the
#      evaluation set's texts (eval/monitoring dev + test: risky texts and hard negatives),
#      varied in case and wording; 3 runs with hyperfine (or bash timing without it), median
#      texts/s. Also the classifier alone, without reading and writing lines:
#      `hedgerow-bench monitor classify`.
#   2. The monitor's work per activity event on one core (`hedgerow-bench monitor events`):
#      classifying the search term or URL and counting blocked attempts towards bursts, as the
#      gateway's monitor does after the writer has stored the batch. No store calls.
#   3. The proxy's path end to end, monitoring off and on in the same run: `hedgerow serve`
#      with the same configuration except `[monitoring] enabled = false`, plain-HTTP GETs
#      through the proxy (wrk, absolute URIs, the shared harness's urls.lua) to a local nginx
#      origin standing in for Google, the BBC and Wikipedia (the proxy's hosts_file sends those
#      names to it). 5 % of the requests are risky searches (alerts are raised and stored in the
#      gateway's SQLite; no SMTP, so nothing is sent), 1 % blocked gambling attempts (bursts),
#      the rest benign searches and pages. RUNS runs each, alternating off/on. Requests/s,
#      p50/p99, the gateway's CPU time per request, events written, events the monitor missed
#      (hedgerow_monitor_events_dropped_total) and alerts raised, from the metrics endpoint.
# Everything listens on 127.0.0.1 (free ports chosen at start); nothing leaves the machine.
#
#      A third setting, on-quiet, runs monitoring on with the risky searches and blocked
#      attempts replaced by benign searches: the cost of watching without alerts.
# usage: bench/monitoring.sh [OUTDIR]
#   env: RUNS (3) DURATION (20) CONN (32) TEXTS (1000000) MODES ("off on on-quiet")
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-/tmp/hedgerow-monitoring-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
CONN=${CONN:-32}
TEXTS=${TEXTS:-1000000}
# off: `[monitoring] enabled = false`; on: enabled; on-quiet: enabled, with the risky searches
# and blocked attempts of the URL list replaced by benign searches (separates the cost of
# classifying every event from the cost of raising alerts).
MODES=${MODES:-"off on on-quiet"}
shared=${SHARED:-$repo/../shared}
urls_lua=$shared/bench/peers/urls.lua
workload_urls=$shared/data/workload/urls.expected.tsv
for f in "$urls_lua" "$workload_urls"; do
  [ -f "$f" ] || { echo "monitoring.sh: $f is missing; set SHARED to the shared folder" >&2; exit 2; }
done
for tool in wrk nginx taskset curl python3 sqlite3; do
  command -v "$tool" >/dev/null || { echo "monitoring.sh: needs $tool (Debian: wrk nginx-light util-linux curl python3 sqlite3)" >&2; exit 2; }
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

target_dir=${CARGO_TARGET_DIR:-$repo/target}
bin=$target_dir/release/hedgerow
bench=$target_dir/release/hedgerow-bench
log "building release hedgerow and hedgerow-bench"
cargo build --release -q -p hedgerow -p hedgerow-bench

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes)')"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "ram: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?'), nginx: $(nginx -v 2>&1 | sed 's/.*\///')"
} > "$out/machine.txt"
cat "$out/machine.txt" >&2

# ---- inputs --------------------------------------------------------------------------------------
# Deterministic (fixed seed). All texts are invented or come from the repository's evaluation
# set and the shared workload; none is about a real child.
log "making inputs"
python3 - "$repo/eval/monitoring" "$workload_urls" "$out" "$TEXTS" <<'PY'
import random, sys, urllib.parse
evaldir, workload, out, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(20261207)

def eval_rows():
    rows = []
    for name in ("dev.tsv", "test.tsv"):
        for line in open(f"{evaldir}/{name}", encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and cols[0].strip():
                rows.append((cols[0].strip(), cols[1].strip()))
    return rows

rows = eval_rows()
risky = [t for t, label in rows if label != "none"]
hard_negatives = [t for t, label in rows if label == "none"]
allowed_urls = []
for line in open(workload, encoding="utf-8"):
    cols = line.rstrip("\n").split("\t")
    if len(cols) >= 2 and cols[1] == "allow":
        allowed_urls.append(cols[0])

starts = ["how to", "what is", "why do", "when did", "who invented", "how does", "best",
          "easy", "bbc bitesize", "year 7", "year 9", "gcse", "ks2", "ks3", "a level",
          "facts about", "worksheet", "revision", "quiz", "diagram of", "examples of",
          "history of", "meaning of", "pictures of", "video", "homework help", "definition",
          "cheap", "free", "minecraft", "roblox", "fortnite", "premier league", "recipe for"]
topics = ["photosynthesis", "the water cycle", "volcanoes", "the romans", "the tudors",
          "world war 2", "the great fire of london", "fractions", "long division",
          "algebra", "pythagoras", "simultaneous equations", "macbeth", "an inspector calls",
          "romeo and juliet", "the solar system", "plate tectonics", "coastal erosion",
          "the periodic table", "electricity circuits", "forces and motion", "the heart",
          "digestive system", "climate change", "rainforests", "the victorians",
          "ancient egypt", "the vikings", "french verbs", "spanish numbers", "haiku",
          "persuasive writing", "poetry analysis", "python loops", "scratch games",
          "how to draw a horse", "slime without glue", "paper aeroplane", "football skills",
          "netball rules", "swimming strokes", "healthy eating", "times tables",
          "minecraft seeds", "robux", "pokemon cards", "lego sets", "guitar chords",
          "piano for beginners", "dog breeds", "cats", "dinosaurs", "sharks", "space facts",
          "moon landing", "black holes", "earthquakes", "the blitz", "suffragettes",
          "kings and queens", "rivers of the uk", "capital cities", "weather today",
          "bus times", "cinema times", "trainers size 6", "school uniform", "phone cases"]
ends = ["", "", "", " for kids", " ks3", " gcse", " pdf", " video", " uk", " 2026",
        " worksheet", " answers", " explained", " bbc", " quiz", " ideas", " near me"]

def benign_query():
    start = rng.choice(starts) + " " if rng.random() < 0.7 else ""
    return start + rng.choice(topics) + rng.choice(ends)

def vary(text):
    r = rng.random()
    if r < 0.2:
        return text.lower()
    if r < 0.3:
        return text.upper()
    if r < 0.4:
        return text + rng.choice([" ?", " pls", " help", " uk"])
    return text

eval_texts = risky + hard_negatives

# 1. The classifier command's input: 95 % benign (half searches, half URLs), 5 % eval texts.
with open(f"{out}/classify-input.txt", "w", encoding="utf-8") as f:
    for _ in range(total):
        r = rng.random()
        if r < 0.05:
            text = vary(rng.choice(eval_texts))
        elif r < 0.525:
            text = benign_query()
        else:
            text = rng.choice(allowed_urls)
        f.write(text.replace("\n", " ") + "\n")

# 2. The events benchmark: search terms (same 95/5 mix) and allowed URLs.
with open(f"{out}/searches.txt", "w", encoding="utf-8") as f:
    for _ in range(50000):
        f.write((vary(rng.choice(eval_texts)) if rng.random() < 0.05 else benign_query()) + "\n")
with open(f"{out}/urls.txt", "w", encoding="utf-8") as f:
    for url in allowed_urls:
        f.write(url + "\n")

# 3. Requests through the proxy (ORIGIN_PORT is filled in by the shell): 5 % risky searches,
#    1 % blocked gambling, 2 % hard-negative searches, 42 % benign searches, 50 % pages.
pages_bbc = ["/bitesize/topics/" + t.replace(" ", "-") for t in topics]
pages_wiki = ["/wiki/" + urllib.parse.quote(t.title().replace(" ", "_")) for t in topics]
# The quiet list is the same, except that the risky searches and the blocked attempts are
# benign searches (a separate generator, so the two lists agree on every other line).
quiet_rng = random.Random(7)
with open(f"{out}/proxy-urls.template", "w", encoding="utf-8") as f, \
        open(f"{out}/proxy-urls-quiet.template", "w", encoding="utf-8") as quiet:
    for _ in range(20000):
        r = rng.random()
        if r < 0.05:
            q = urllib.parse.quote_plus(vary(rng.choice(risky)))
            url = f"http://www.google.com:ORIGIN_PORT/search?q={q}"
        elif r < 0.06:
            url = f"http://www.bet{rng.randrange(50)}.example:ORIGIN_PORT/"
        elif r < 0.08:
            q = urllib.parse.quote_plus(rng.choice(hard_negatives))
            url = f"http://www.google.com:ORIGIN_PORT/search?q={q}"
        elif r < 0.50:
            url = f"http://www.google.com:ORIGIN_PORT/search?q={urllib.parse.quote_plus(benign_query())}"
        elif r < 0.75:
            url = f"http://www.bbc.co.uk:ORIGIN_PORT{rng.choice(pages_bbc)}"
        else:
            url = f"http://en.wikipedia.org:ORIGIN_PORT{rng.choice(pages_wiki)}"
        f.write(url + "\n")
        if r < 0.06:
            term = quiet_rng.choice(starts) + " " + quiet_rng.choice(topics)
            url = f"http://www.google.com:ORIGIN_PORT/search?q={urllib.parse.quote_plus(term)}"
        quiet.write(url + "\n")
print(f"inputs: {total} texts ({len(risky)} risky and {len(hard_negatives)} hard-negative eval texts), "
      f"{len(allowed_urls)} allowed URLs", file=sys.stderr)
PY

# ---- 1. the classifier command on one core ---------------------------------------------------------
log "1. hedgerow monitor classify on one core, 3 runs"
classify_cmd="taskset -c 0 $bin monitor classify --age-band secondary < $out/classify-input.txt > /dev/null"
texts=$(wc -l < "$out/classify-input.txt")
if command -v hyperfine >/dev/null; then
  hyperfine --style basic --warmup 1 --runs 3 --export-json "$out/classify-command.json" "$classify_cmd" >&2
  cmd_median=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$out/classify-command.json")
  timer="hyperfine $(hyperfine --version | awk '{print $2}') (1 warm-up, 3 runs)"
else
  times=()
  for _ in 1 2 3; do
    s=$(date +%s.%N); bash -c "$classify_cmd"; e=$(date +%s.%N)
    times+=("$(awk -v a="$s" -v b="$e" 'BEGIN{print b-a}')")
  done
  cmd_median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
  timer="bash date +%s.%N (3 runs)"
fi
cmd_rate=$(awk -v t="$texts" -v s="$cmd_median" 'BEGIN{printf "%.0f", t/s}')
# How many lines the command flags (its output is checked, not only timed).
flagged=$("$bin" monitor classify --age-band secondary < "$out/classify-input.txt" | awk -F'\t' '$(NF-1) != "none"' | wc -l)
log "classify command: $texts texts, median $cmd_median s, $cmd_rate texts/s, $flagged flagged"

log "1b. the classifier alone (hedgerow-bench monitor classify), one core"
taskset -c 0 "$bench" monitor classify --texts "$out/classify-input.txt" --seconds 10 > "$out/classify-library.json"
lib_rate=$(python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["texts_per_second_one_core"])' "$out/classify-library.json")
lib_ns=$(python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["ns_per_text"])' "$out/classify-library.json")

# ---- 2. the monitor's work per event -------------------------------------------------------------
log "2. hedgerow-bench monitor events, one core"
taskset -c 0 "$bench" monitor events --searches "$out/searches.txt" --urls "$out/urls.txt" \
  --events 200000 --seconds 8 > "$out/events.json"
read -r ev_ns ev_rate ev_dns ev_url ev_search ev_blocked < <(python3 - "$out/events.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
k = r["each_kind_alone"]
print("%.0f %.0f %.0f %.0f %.0f %.0f" % (r["mix_result"]["ns_per_event"], r["mix_result"]["events_per_second_one_core"],
      k["dns"]["ns_per_event"], k["proxy_url"]["ns_per_event"], k["search"]["ns_per_event"], k["blocked_risk"]["ns_per_event"]))
PY
)

# ---- 3. the proxy's path, monitoring off and on ---------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
origin_port=$(free_port)
e2e=$out/e2e
rm -rf "$e2e"; mkdir -p "$e2e/lists"
sed "s/ORIGIN_PORT/$origin_port/" "$out/proxy-urls.template" > "$e2e/proxy-urls.txt"
sed "s/ORIGIN_PORT/$origin_port/" "$out/proxy-urls-quiet.template" > "$e2e/proxy-urls-quiet.txt"

# The origin: as the shared harness's (1 worker, 1 KiB text/html reply), on a free port.
body=$(python3 -c 'print("<html><body>" + "x"*990 + "</body></html>", end="")')
cat > "$e2e/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $e2e/nginx.pid;
error_log $e2e/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 15s;
  server {
    listen 127.0.0.1:$origin_port default_server;
    server_name _;
    location / { default_type text/html; return 200 "$body"; }
  }
}
EOF
printf '127.0.0.1 www.google.com\n127.0.0.1 www.bbc.co.uk\n127.0.0.1 en.wikipedia.org\n' > "$e2e/hosts"
for i in $(seq 0 49); do echo "www.bet$i.example"; done > "$e2e/lists/gambling.domains"

PIDS=()
stop_pid() {
  local p=$1 i
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() { local p; for p in "${PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

nginx -e "$e2e/nginx-error.log" -p "$e2e" -c "$e2e/nginx.conf" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$origin_port/" && break; sleep 0.05; done

# The same school both times; only `[monitoring] enabled` differs.
gateway_config() { # $1 = folder, $2 = true|false
  cat > "$1/school.toml" <<EOF
data_dir = "$1/data"
[lists]
sources = ["$e2e/lists"]

[proxy]
hosts_file = "$e2e/hosts"

[monitoring]
enabled = $2

[[school]]
slug = "bench"
name = "Benchmark School"

[school.groups.pupils]
kind = "pupil"
default = "allow"
safe_search = false
youtube = "off"
[school.groups.pupils.actions]
gambling = "block"

[school.groups.unknown]
kind = "unidentified"
default = "allow"
[school.groups.unknown.actions]
gambling = "block"

# wrk connects from loopback: one device in the pupils' group, nobody signed in.
[[school.devices]]
name = "bench-clients"
kind = "network"
group = "pupils"
addresses = ["127.0.0.0/8"]
EOF
}

metric() { # $1 = metrics text file, $2 = metric name: the sum over its label sets
  awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}' "$1"
}
cpu_seconds() { # utime + stime of a process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"
}

runs_tsv=$out/proxy-runs.tsv
printf 'monitoring\trun\trps\tp50_ms\tp99_ms\trequests\tgateway_cpu_s\tcpu_us_per_request\tevents_written\tevents_dropped\tmonitor_events_dropped\talerts_metric\talerts_stored\talert_occurrences\tstatus\n' > "$runs_tsv"
log "3. the proxy's path: $RUNS runs each of $MODES in turn, wrk -t1 -c$CONN -d${DURATION}s"
for run in $(seq 1 "$RUNS"); do
  for monitoring in $MODES; do
    dir=$e2e/$monitoring-$run
    mkdir -p "$dir"
    gateway_config "$dir" "$([ $monitoring = off ] && echo false || echo true)"
    urls=$e2e/proxy-urls.txt
    [ "$monitoring" = on-quiet ] && urls=$e2e/proxy-urls-quiet.txt
    "$bin" lists compile --config "$dir/school.toml" > "$dir/compile.log" 2>&1
    proxy_port=$(free_port); metrics_port=$(free_port)
    "$bin" serve --config "$dir/school.toml" --proxy-listen "127.0.0.1:$proxy_port" \
      --metrics-listen "127.0.0.1:$metrics_port" > "$dir/gateway.log" 2>&1 &
    gw=$!; PIDS+=("$gw")
    ok=
    for _ in $(seq 1 300); do
      if curl -sf -o /dev/null -x "127.0.0.1:$proxy_port" "http://www.bbc.co.uk:$origin_port/"; then ok=1; break; fi
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "monitoring.sh: the gateway did not start; see $dir/gateway.log" >&2; exit 1; }
    cpu_before=$(cpu_seconds "$gw")
    wrk -t1 -c"$CONN" -d"${DURATION}s" --timeout 10s -s "$urls_lua" "http://127.0.0.1:$proxy_port/" \
      -- "$urls" > "$dir/wrk.txt" 2>&1
    cpu_after=$(cpu_seconds "$gw")
    # Let the writer and the monitor finish the last batches before reading the counters.
    sleep 3
    curl -sf "http://127.0.0.1:$metrics_port/metrics" > "$dir/metrics.txt" || : > "$dir/metrics.txt"
    stop_pid "$gw"
    rps=$(awk '/^Requests\/sec/{printf "%.0f", $2}' "$dir/wrk.txt")
    requests=$(awk '/requests in/{print $1}' "$dir/wrk.txt")
    p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' "$dir/wrk.txt")
    p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$dir/wrk.txt")
    status=$(sed -n 's/^STATUS //p' "$dir/wrk.txt" | tr ' ' ',')
    errors=$(awk '/Socket errors/' "$dir/wrk.txt" | tr -s ' ' | tr ' ' '_')
    [ -n "$errors" ] && status="$status;$errors"
    cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN{printf "%.2f", b-a}')
    cpu_per=$(awk -v c="$cpu" -v n="$requests" 'BEGIN{printf "%.1f", c*1e6/n}')
    written=$(metric "$dir/metrics.txt" hedgerow_events_written_total)
    dropped=$(metric "$dir/metrics.txt" hedgerow_events_dropped_total)
    mdropped=$(metric "$dir/metrics.txt" hedgerow_monitor_events_dropped_total)
    alerts=$(metric "$dir/metrics.txt" hedgerow_alerts_raised_total)
    db=$(find "$dir/data" -maxdepth 1 -name hedgerow.db | head -1)
    stored=0; occurrences=0
    if [ -n "$db" ]; then
      read -r stored occurrences < <(sqlite3 -separator ' ' "$db" 'SELECT COUNT(*), COALESCE(SUM(event_count), 0) FROM alerts' 2>/dev/null || echo "? ?")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$monitoring" "$run" "$rps" "$p50" "$p99" \
      "$requests" "$cpu" "$cpu_per" "$written" "$dropped" "$mdropped" "$alerts" "$stored" "$occurrences" "$status" | tee -a "$runs_tsv" >&2
    sleep 1
  done
done

# ---- summary ---------------------------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {printf "%.6g\n",(a[NR/2]+a[NR/2+1])/2}}'; }
col() { awk -F'\t' -v m="$1" -v c="$2" 'NR>1 && $1==m {print $c}' "$runs_tsv" | median; }
sum_col() { awk -F'\t' -v m="$1" -v c="$2" 'NR>1 && $1==m {s+=$c} END{printf "%.0f", s}' "$runs_tsv"; }
all_col() { awk -F'\t' -v m="$1" -v c="$2" 'NR>1 && $1==m {printf "%s%s", sep, $c; sep=" / "}' "$runs_tsv"; }
rps_off=$(col off 3); rps_on=$(col on 3)
{
  echo "# Monitoring benchmark ($(date -u +%F))"
  echo
  sed 's/^/    /' "$out/machine.txt"
  echo
  echo "## 1. hedgerow monitor classify, one core"
  echo
  echo "- Input: $texts lines (95 % benign searches and URLs, 5 % evaluation texts); $flagged flagged."
  echo "- Command (timed with $timer): \`$classify_cmd\`"
  echo "- Median $cmd_median s: **$cmd_rate texts/s** (reading, classifying and writing lines)."
  echo "- The classifier alone (\`hedgerow-bench monitor classify\`, 10 s on core 0): **$lib_rate texts/s** ($lib_ns ns a text)."
  echo
  echo "## 2. The monitor's work per activity event, one core (hedgerow-bench monitor events)"
  echo
  echo "- Mix (55 % DNS, 38 % proxy pages, 5 % searches, 2 % blocked risk attempts): **$ev_ns ns/event**, $ev_rate events/s."
  echo "- Each kind alone: DNS $ev_dns ns, proxy URL $ev_url ns, search $ev_search ns, blocked attempt (burst counting) $ev_blocked ns."
  echo
  echo "## 3. The proxy's path, monitoring off vs on (medians of $RUNS runs, wrk -t1 -c$CONN -d${DURATION}s)"
  echo
  echo "| monitoring | req/s | p50 ms | p99 ms | gateway CPU µs/request | events written (sum of runs) | writer drops (sum) | monitor drops (sum) | alerts raised or folded (metric, sum) | alerts stored (sum) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for m in $MODES; do
    echo "| $m | $(col "$m" 3) | $(col "$m" 4) | $(col "$m" 5) | $(col "$m" 8) | $(sum_col "$m" 9) | $(sum_col "$m" 10) | $(sum_col "$m" 11) | $(sum_col "$m" 12) | $(sum_col "$m" 13) |"
  done
  echo
  for m in $MODES; do
    echo "- $m, per run: req/s $(all_col "$m" 3); p99 ms $(all_col "$m" 5); gateway CPU µs/request $(all_col "$m" 8)."
  done
  awk -v a="$rps_off" -v b="$rps_on" 'BEGIN{printf "Difference in median req/s, on vs off: %+.1f %%.\n", (b-a)*100/a}'
  echo
  for m in $MODES; do
    echo "- status histogram, $m (last run): $(awk -F'\t' -v m="$m" 'NR>1 && $1==m {s=$15} END{print s}' "$runs_tsv")"
  done
} > "$out/summary.md"
cat "$out/summary.md"
