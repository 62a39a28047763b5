#!/usr/bin/env bash
# A throw-away MariaDB (MySQL) server for the tests: local port, temporary data directory, one
# database and one password-protected user.
#
# Sourced (what .ci/run does):
#   source .ci/mysql.sh; mysql_start; trap mysql_stop EXIT
# mysql_start exports
#   BLOCKNAS_TEST_MYSQL_URL=mysql://blocknas:PASSWORD@127.0.0.1:PORT/blocknas_test
#   BLOCKNAS_TEST_MYSQL_STATE=DIR   (what mysql_down / mysql_up / mysql_stop need)
# Run as a command:
#   .ci/mysql.sh run [--no-install] CMD...   start, run CMD with the variables, stop
#   eval "$(.ci/mysql.sh start [--no-install])"   start; prints the two `export` lines
#   .ci/mysql.sh down | up | stop            (stop also deletes the data directory)
#
# MariaDB comes from Debian's packages (apt-get install -y mariadb-server) when it is missing, as
# root or with password-less sudo; --no-install never installs. The server runs as the `mysql`
# user when this runs as root, else as the caller; only the caller can log in without a password
# (over the server's socket), to create the database and the user.

_my_log() { echo "mysql.sh: $*" >&2; }
# shellcheck source=.ci/_servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/_servers.sh"

_my_bin() {
    local name dir
    for name in mariadbd mysqld; do
        for dir in "" /usr/sbin/ /usr/local/sbin/ /usr/libexec/; do
            if [[ -z $dir ]]; then
                command -v "$name" 2>/dev/null && return 0
            elif [[ -x $dir$name ]]; then
                echo "$dir$name"
                return 0
            fi
        done
    done
    return 1
}

_my_tool() {  # the first of the given client programs on PATH
    local name
    for name in "$@"; do
        command -v "$name" 2>/dev/null && return 0
    done
    return 1
}

_my_alive() {
    "$ADMIN" --no-defaults --socket="$BLOCKNAS_TEST_MYSQL_STATE/run/mysqld.sock" \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# Start the server described by the state's env file and wait until it answers.
_my_launch() {
    local state=$BLOCKNAS_TEST_MYSQL_STATE i
    # shellcheck disable=SC2086
    setsid "$SERVER" --no-defaults $OPTIONS </dev/null >>"$state/run/server.log" 2>&1 &
    for ((i = 0; i < 120; i++)); do
        _my_alive && return 0
        sleep 0.5
    done
    _my_log "the server did not answer within 60 s; its log:"
    tail -n 20 "$state/run/server.log" >&2
    return 1
}

# Start a server and export BLOCKNAS_TEST_MYSQL_URL and BLOCKNAS_TEST_MYSQL_STATE.
# $1: 0 to never install MariaDB.
mysql_start() {
    local server client admin installer state port password options user owner
    server=$(_my_bin) || true
    if [[ -z $server ]]; then
        _srv_install _my_log "${1:-1}" MariaDB mariadb-server || return
        server=$(_my_bin) || { _my_log "no mariadbd after installing"; return 1; }
    fi
    client=$(_my_tool mariadb mysql) || { _my_log "no mariadb client program"; return 1; }
    admin=$(_my_tool mariadb-admin mysqladmin) || { _my_log "no mariadb-admin"; return 1; }
    installer=$(_my_tool mariadb-install-db mysql_install_db) || {
        _my_log "no mariadb-install-db"
        return 1
    }
    user=$(id -un)
    owner=$user
    [[ $(id -u) == 0 ]] && owner=mysql
    state=$(mktemp -d "${TMPDIR:-/tmp}/blocknas-mysql.XXXXXX") || return
    chmod 755 "$state"
    mkdir "$state/data" "$state/run"
    if [[ $owner != "$user" ]]; then
        chown "$owner:" "$state/data" "$state/run" || return
    fi
    port=$(_srv_free_port) || return
    password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    # Only the caller logs in without a password, and only over the socket (unix_socket auth).
    if ! "$installer" --no-defaults --datadir="$state/data" --user="$owner" \
        --auth-root-authentication-method=socket --auth-root-socket-user="$user" \
        --skip-test-db >"$state/install.log" 2>&1; then
        cat "$state/install.log" >&2
        return 1
    fi
    # No binary log, no flush per commit: the data is thrown away.
    options="--datadir=$state/data --socket=$state/run/mysqld.sock --port=$port"
    options+=" --bind-address=127.0.0.1 --pid-file=$state/run/mysqld.pid --user=$owner"
    options+=" --skip-log-bin --innodb-flush-log-at-trx-commit=0 --max-connections=200"
    printf "SERVER='%s'\nCLIENT='%s'\nADMIN='%s'\nOPTIONS='%s'\n" \
        "$server" "$client" "$admin" "$options" >"$state/env"
    export BLOCKNAS_TEST_MYSQL_STATE=$state
    _srv_load_state _my_log BLOCKNAS_TEST_MYSQL_STATE && _my_launch || return
    "$CLIENT" --no-defaults --socket="$state/run/mysqld.sock" -u "$user" -e "
        CREATE DATABASE blocknas_test;
        CREATE USER 'blocknas'@'127.0.0.1' IDENTIFIED BY '$password';
        CREATE USER 'blocknas'@'localhost' IDENTIFIED BY '$password';
        GRANT ALL ON blocknas_test.* TO 'blocknas'@'127.0.0.1', 'blocknas'@'localhost';" >&2 ||
        return
    export BLOCKNAS_TEST_MYSQL_URL="mysql://blocknas:$password@127.0.0.1:$port/blocknas_test"
    _my_log "server up, data in $state/data"
    _my_log "BLOCKNAS_TEST_MYSQL_URL=mysql://blocknas:***@127.0.0.1:$port/blocknas_test"
}

# Stop the server but keep its data: a database outage.
mysql_down() {
    _srv_load_state _my_log BLOCKNAS_TEST_MYSQL_STATE || return
    local i
    _my_alive || return 0
    "$ADMIN" --no-defaults --socket="$BLOCKNAS_TEST_MYSQL_STATE/run/mysqld.sock" shutdown >&2 ||
        return
    for ((i = 0; i < 120; i++)); do
        [[ -f $BLOCKNAS_TEST_MYSQL_STATE/run/mysqld.pid ]] || return 0
        sleep 0.5
    done
    _my_log "the server did not stop within 60 s"
    return 1
}

# Start a stopped server again on the same port.
mysql_up() {
    _srv_load_state _my_log BLOCKNAS_TEST_MYSQL_STATE || return
    _my_alive || _my_launch
}

# Stop the server and delete its data.
mysql_stop() {
    _srv_load_state _my_log BLOCKNAS_TEST_MYSQL_STATE || return 0
    mysql_down || true
    rm -rf "$BLOCKNAS_TEST_MYSQL_STATE"
    _my_log "server stopped, data removed"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _srv_main mysql MYSQL 2,18 "$0" "$@"
fi
