#!/usr/bin/env bash
# Prepares the test environment on a Debian machine (as root): installs PostgreSQL and the DNS
# tools (dig, dnsmasq, dnsperf, unbound)
# if missing, and starts (or reuses) a throw-away PostgreSQL server for the test suites.
#
# The server listens only on 127.0.0.1:${HEDGEROW_TEST_PG_PORT:-54329}, keeps its data under
# ${HEDGEROW_TEST_DIR:-/tmp/hedgerow-test}/pg, and trusts loopback connections (it is a test
# server holding no real data). Running this script again reuses the running server.
#
# Usage (pick one):
#   source scripts/test-env.sh                  # sets up and exports HEDGEROW_TEST_POSTGRES_URL
#                                               # (set -e safe; returns non-zero on failure)
#   eval "$(scripts/test-env.sh --print-env)"   # same, from a script that does not source files
#   scripts/test-env.sh                         # sets up; prints the export line at the end
#   scripts/test-env.sh --stop                  # stops the test server (data dir is kept)
#
# Progress messages go to stderr, so with --print-env stdout is exactly one `export` line.
# On failure it exits (or, when sourced, returns) non-zero with a message saying what to do.

_hedgerow_test_env() {
    local mode="${1:-}"
    local test_dir="${HEDGEROW_TEST_DIR:-/tmp/hedgerow-test}"
    local port="${HEDGEROW_TEST_PG_PORT:-54329}"
    local data_dir="$test_dir/pg"
    local log_file="$test_dir/pg.log"
    local url="postgres://postgres@127.0.0.1:${port}/postgres"

    _hedgerow_say() { echo "test-env: $*" >&2; }

    case "$mode" in
        "" | --print-env | --stop) ;;
        *)
            _hedgerow_say "unknown option '$mode'; use --print-env, --stop or no option"
            return 2
            ;;
    esac

    if [ "$(id -u)" -ne 0 ]; then
        _hedgerow_say "must run as root (it installs packages and runs PostgreSQL as the postgres user)"
        return 1
    fi

    local pg_bin
    pg_bin="$(_hedgerow_pg_bin)"

    if [ "$mode" = "--stop" ]; then
        if [ -n "$pg_bin" ] && [ -f "$data_dir/postmaster.pid" ]; then
            runuser -u postgres -- "$pg_bin/pg_ctl" -D "$data_dir" -m fast -w stop >&2 || return 1
        else
            _hedgerow_say "no test server running under $data_dir"
        fi
        return 0
    fi

    # --- packages --------------------------------------------------------------------------
    local missing=()
    [ -n "$pg_bin" ] || missing+=(postgresql)
    command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
    # The DNS filter's tests: dnsmasq answers as a local upstream, dnsperf loads the filter,
    # unbound is the peer of the differential check.
    command -v dnsmasq >/dev/null 2>&1 || missing+=(dnsmasq-base)
    command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
    command -v unbound >/dev/null 2>&1 || missing+=(unbound)
    if [ "${#missing[@]}" -gt 0 ]; then
        _hedgerow_say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2; }; then
            _hedgerow_say "apt-get could not install ${missing[*]}; check network access and apt sources"
            return 1
        fi
        pg_bin="$(_hedgerow_pg_bin)"
        if [ -z "$pg_bin" ]; then
            _hedgerow_say "postgresql installed but no server binaries found under /usr/lib/postgresql/*/bin"
            return 1
        fi
    fi

    # The Debian package may start its own cluster on 5432; ours is separate and unaffected.

    # --- server ------------------------------------------------------------------------------
    mkdir -p "$test_dir" || return 1
    # The postgres user must be able to reach its data dir even if test_dir is private.
    chmod a+x "$test_dir" || return 1

    if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
        _hedgerow_say "reusing PostgreSQL already running on 127.0.0.1:$port"
    else
        if [ ! -s "$data_dir/PG_VERSION" ]; then
            _hedgerow_say "creating PostgreSQL cluster in $data_dir"
            rm -rf "$data_dir"
            install -d -o postgres -g postgres -m 700 "$data_dir" || return 1
            if ! runuser -u postgres -- "$pg_bin/initdb" -D "$data_dir" -U postgres \
                --auth-local=trust --auth-host=trust -E UTF8 --locale=C.UTF-8 >&2; then
                _hedgerow_say "initdb failed; see the messages above"
                return 1
            fi
        fi
        # A crashed earlier run can leave a stale pid file that blocks start-up.
        if [ -f "$data_dir/postmaster.pid" ] &&
            ! runuser -u postgres -- "$pg_bin/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
            rm -f "$data_dir/postmaster.pid"
        fi
        touch "$log_file" && chown postgres:postgres "$log_file" || return 1
        _hedgerow_say "starting PostgreSQL on 127.0.0.1:$port (log: $log_file)"
        # TCP on loopback only and no Unix socket at all, so nothing else on the machine can
        # clash with it; fsync is off because this data is thrown away.
        if ! runuser -u postgres -- "$pg_bin/pg_ctl" -D "$data_dir" -l "$log_file" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=200 -c fsync=off" \
            start >&2; then
            _hedgerow_say "PostgreSQL did not start; last lines of $log_file:"
            tail -n 20 "$log_file" >&2
            return 1
        fi
    fi

    local i
    for i in $(seq 1 60); do
        if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
            break
        fi
        if [ "$i" -eq 60 ]; then
            _hedgerow_say "PostgreSQL on 127.0.0.1:$port is not accepting connections; see $log_file"
            return 1
        fi
        sleep 1
    done

    export HEDGEROW_TEST_POSTGRES_URL="$url"
    if [ "$mode" = "--print-env" ]; then
        printf 'export HEDGEROW_TEST_POSTGRES_URL=%s\n' "$url"
    else
        _hedgerow_say "ready: HEDGEROW_TEST_POSTGRES_URL=$url"
    fi
    return 0
}

# Newest installed PostgreSQL server binaries, or nothing.
_hedgerow_pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    _hedgerow_test_env "$@"
    _hedgerow_status=$?
    if [ "$_hedgerow_status" -eq 0 ] && [ "${1:-}" = "" ]; then
        printf 'export HEDGEROW_TEST_POSTGRES_URL=%s\n' "$HEDGEROW_TEST_POSTGRES_URL"
    fi
    exit "$_hedgerow_status"
else
    # A sourced file sees the sourcing script's own arguments when given none, so only an
    # explicit --stop is honoured here.
    case "${1:-}" in
        --stop) _hedgerow_test_env --stop ;;
        *) _hedgerow_test_env ;;
    esac
fi
