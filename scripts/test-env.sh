#!/usr/bin/env bash
# Prepares the test environment on a Debian machine (as root): installs PostgreSQL, the DNS
# tools (dig, dnsmasq, dnsperf, unbound) and the web proxy's test tools (chromium and
# chromium-driver, libnss3-tools for certutil, curl, squid and squidguard for the differential
# test, wrk for load) and python3-aiosmtpd (the SMTP server the alert email tests send to) if
# missing, and starts (or reuses) a throw-away PostgreSQL server for the
# test suites. Only squid's binaries are used: the service its package would start is kept from
# starting (policy-rc.d) and disabled, so nothing holds port 3128.
#
# The server listens only on 127.0.0.1:${HEDGEROW_TEST_PG_PORT:-54329}, keeps its data under
# ${HEDGEROW_TEST_DIR:-/tmp/hedgerow-test}/pg, and trusts loopback connections (it is a test
# server holding no real data). Running this script again reuses the running server.
#
# It also installs Schemathesis (from PyPI, pinned) into its own virtual environment under
# /opt/hedgerow-test/schemathesis for the admin API's test (crates/hedgerow/tests/admin_api.rs).
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
    # The web proxy's tests: a real browser driven through chromedriver, certutil to make it
    # trust a test CA, curl as a client, squid + squidGuard as the differential peer, wrk.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ] || missing+=(squid)
    command -v squidGuard >/dev/null 2>&1 || [ -x /usr/bin/squidGuard ] || missing+=(squidguard)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    # The governors' termly report's test turns its PDF into PNG pages and text with poppler.
    { command -v pdftoppm && command -v pdftotext; } >/dev/null 2>&1 || missing+=(poppler-utils)
    # The admin API's test runs Schemathesis, installed below into a venv of Debian's Python.
    [ -x /usr/bin/python3 ] || missing+=(python3)
    /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    # The alert email tests (crates/hedgerow-notify/tests/smtp.rs) send to Debian's aiosmtpd.
    /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
    if [ "${#missing[@]}" -gt 0 ]; then
        _hedgerow_say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Packages must not start services (squid would take port 3128): policy-rc.d answering
        # 101 is honoured by invoke-rc.d and deb-systemd-invoke. Ours is removed afterwards;
        # one already present (as in container images) is left alone.
        local own_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\n# hedgerow test-env: no service starts during apt-get install\nexit 101\n' \
                >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
        fi
        local apt_ok=1
        { apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2; } || apt_ok=""
        [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
        if [ -z "$apt_ok" ]; then
            _hedgerow_say "apt-get could not install ${missing[*]}; check network access and apt sources"
            return 1
        fi
        _hedgerow_quiet_squid_service
        pg_bin="$(_hedgerow_pg_bin)"
        if [ -z "$pg_bin" ]; then
            _hedgerow_say "postgresql installed but no server binaries found under /usr/lib/postgresql/*/bin"
            return 1
        fi
    fi

    # --- Schemathesis ------------------------------------------------------------------------
    # From PyPI with pip, pinned, in a venv of its own so nothing else on the machine changes.
    local st_dir="/opt/hedgerow-test/schemathesis"
    local st_version="4.32.5"
    if ! "$st_dir/bin/schemathesis" --version 2>/dev/null | grep -qF "$st_version"; then
        _hedgerow_say "installing Schemathesis $st_version into $st_dir"
        rm -rf "$st_dir"
        if ! { mkdir -p "$(dirname "$st_dir")" &&
            /usr/bin/python3 -m venv "$st_dir" >&2 &&
            "$st_dir/bin/pip" install --quiet --disable-pip-version-check \
                "schemathesis==$st_version" >&2; }; then
            _hedgerow_say "could not install Schemathesis $st_version from PyPI into $st_dir; check network access to PyPI"
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

# Keeps the squid package's own service from running: the tests start squid themselves on
# their own ports. Disables it where an init system is in charge, and stops a daemon the
# package started anyway (by the PID in its pid file, never by name).
_hedgerow_quiet_squid_service() {
    [ -x /usr/sbin/squid ] || return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now squid.service >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/squid ]; then
        update-rc.d squid disable >/dev/null 2>&1 || true
    fi
    local pid_file pid
    for pid_file in /run/squid.pid /var/run/squid.pid; do
        [ -s "$pid_file" ] || continue
        pid="$(cat "$pid_file" 2>/dev/null)"
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = squid ]; then
            _hedgerow_say "stopping the squid service the package started (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            local i
            for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$pid_file"
    done
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
