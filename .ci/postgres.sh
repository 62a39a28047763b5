#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: local port, temporary data directory, one database
# and one password-protected user.
#
# Sourced (what .ci/run does):
#   source .ci/postgres.sh; postgres_start; trap postgres_stop EXIT
# postgres_start exports
#   BLOCKNAS_TEST_POSTGRES_URL=postgresql://blocknas:PASSWORD@127.0.0.1:PORT/blocknas_test
#   BLOCKNAS_TEST_POSTGRES_STATE=DIR   (what postgres_down / postgres_up / postgres_stop need)
# Run as a command:
#   .ci/postgres.sh run [--no-install] CMD...   start, run CMD with the variables, stop
#   eval "$(.ci/postgres.sh start [--no-install])"   start; prints the two `export` lines
#   .ci/postgres.sh down | up | stop            (stop also deletes the data directory)
#
# PostgreSQL comes from Debian's packages (apt-get install -y postgresql) when it is missing, as
# root or with password-less sudo; --no-install never installs. The server runs as the `postgres`
# user when this runs as root (initdb refuses root), else as the caller.

_pg_log() { echo "postgres.sh: $*" >&2; }
# shellcheck source=.ci/_servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/_servers.sh"

_pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $dir/pg_ctl && -x $dir/initdb ]]; then
            echo "$dir"
            return 0
        fi
    done
    dir=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
    [[ -x $dir/pg_ctl && -x $dir/initdb ]] && echo "$dir"
}

# Run a PostgreSQL program as the server's owner.
_pg_as_owner() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_pg_ctl() {
    local state=$BLOCKNAS_TEST_POSTGRES_STATE
    _pg_as_owner "$BIN/pg_ctl" -D "$state/data" -l "$state/run/server.log" -w -t 60 "$@" >&2
}

# Start a server and export BLOCKNAS_TEST_POSTGRES_URL and BLOCKNAS_TEST_POSTGRES_STATE.
# $1: 0 to never install PostgreSQL.
postgres_start() {
    local bin state port password options url
    bin=$(_pg_bindir) || true
    if [[ -z $bin ]]; then
        _srv_install _pg_log "${1:-1}" PostgreSQL postgresql || return
        bin=$(_pg_bindir) || { _pg_log "no pg_ctl after installing"; return 1; }
    fi
    state=$(mktemp -d "${TMPDIR:-/tmp}/blocknas-postgres.XXXXXX") || return
    chmod 755 "$state"
    mkdir "$state/data" "$state/run"
    if [[ $(id -u) == 0 ]]; then
        chown postgres: "$state/data" "$state/run" || return
    fi
    port=$(_srv_free_port) || return
    password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    # Local socket: trust (to create the user); TCP: password required, so wrong ones are refused.
    if ! _pg_as_owner "$bin/initdb" -D "$state/data" -U postgres -E UTF8 --no-locale --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 >"$state/initdb.log" 2>&1; then
        cat "$state/initdb.log" >&2
        return 1
    fi
    # fsync off: the data is thrown away, and a crashed *server* process loses nothing anyway.
    options="-p $port -k $state/run -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    _pg_as_owner "$bin/pg_ctl" -D "$state/data" -l "$state/run/server.log" -w -t 60 \
        -o "$options" start >&2 || return
    _pg_as_owner "$bin/psql" -q -h "$state/run" -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -c "CREATE ROLE blocknas LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE blocknas_test OWNER blocknas" >&2 || return
    url="postgresql://blocknas:$password@127.0.0.1:$port/blocknas_test"
    printf "BIN='%s'\nOPTIONS='%s'\n" "$bin" "$options" >"$state/env"
    export BLOCKNAS_TEST_POSTGRES_URL=$url BLOCKNAS_TEST_POSTGRES_STATE=$state
    _pg_log "server up, data in $state/data"
    _pg_log "BLOCKNAS_TEST_POSTGRES_URL=postgresql://blocknas:***@127.0.0.1:$port/blocknas_test"
}

# Stop the server (fast shutdown) but keep its data: a database outage.
postgres_down() {
    _srv_load_state _pg_log BLOCKNAS_TEST_POSTGRES_STATE || return
    _pg_ctl -m fast stop
}

# Start a stopped server again on the same port.
postgres_up() {
    _srv_load_state _pg_log BLOCKNAS_TEST_POSTGRES_STATE || return
    if ! _pg_as_owner "$BIN/pg_ctl" -D "$BLOCKNAS_TEST_POSTGRES_STATE/data" status >/dev/null 2>&1; then
        _pg_ctl -o "$OPTIONS" start
    fi
}

# Stop the server and delete its data.
postgres_stop() {
    _srv_load_state _pg_log BLOCKNAS_TEST_POSTGRES_STATE || return 0
    if [[ -f $BLOCKNAS_TEST_POSTGRES_STATE/data/postmaster.pid ]]; then
        _pg_ctl -m fast stop || true
    fi
    rm -rf "$BLOCKNAS_TEST_POSTGRES_STATE"
    _pg_log "server stopped, data removed"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _srv_main postgres POSTGRES 2,17 "$0" "$@"
fi
