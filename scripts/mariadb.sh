#!/usr/bin/env bash
# mariadb.sh -- a private MariaDB server in a folder, for `make run` and the
# tests. Nothing here touches the system's MariaDB: no config file is read
# (--no-defaults), no TCP port is opened (--skip-networking), and the server
# runs as the user who calls this script.
#
#   scripts/mariadb.sh start  DIR   create DIR/data if missing, start, wait
#                                   until it answers, create the database
#   scripts/mariadb.sh stop   DIR   SIGTERM, wait, SIGKILL if it must
#   scripts/mariadb.sh status DIR   exit 0 if the server of DIR runs
#
# Files: DIR/data (datadir), DIR/mariadbd.pid, DIR/mariadbd.log and the
# socket DIR/mysqld.sock.
#
# Environment:
#   MARIADB_SOCKET      socket path instead of DIR/mysqld.sock (`make run`
#                       puts it at var/run/mysqld.sock, where optimistctl
#                       looks by default)
#   MARIADB_EXTRA_OPTS  more mariadbd options, split on spaces (the tests
#                       pass --innodb-flush-log-at-trx-commit=0 and friends)
#   MARIADB_DATABASE    database to create (default: optimist)
#   MARIADB_TIMEOUT     seconds to wait for start or stop (default: 60)
#   MARIADB_RUN_AS      as root: the user the server runs as (its files are
#                       chowned to it; `make run` passes optimist). Default:
#                       the caller
#
# The account is the OS user, authenticated by unix_socket through the
# socket: mariadb-install-db --auth-root-authentication-method=socket makes
# root@localhost and <user>@localhost, both with every privilege. That is the
# user the service connects as (OPTIMIST_DB_USER defaults to the OS user).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
case $cmd in
start) mkdir -p "$2" ;;
stop | status)
    if [ ! -d "$2" ]; then
        echo "mariadb: not running (no folder $2)"
        [ "$cmd" = stop ] && exit 0
        exit 1
    fi
    ;;
*) usage ;;
esac
dir=$(cd "$2" && pwd)
data=$dir/data
pidfile=$dir/mariadbd.pid
log=$dir/mariadbd.log
sock=${MARIADB_SOCKET:-$dir/mysqld.sock}
database=${MARIADB_DATABASE:-optimist}
timeout=${MARIADB_TIMEOUT:-60}
me=$(id -un)
run_as=${MARIADB_RUN_AS:-$me}

# A unix socket path must fit in sun_path (108 bytes with the NUL).
if [ ${#sock} -gt 107 ]; then
    echo "mariadb.sh: socket path too long for a unix socket: $sock" >&2
    exit 1
fi

# alive PID: the process exists and is not a zombie (kill -0 succeeds on a
# zombie, and the init of a container may be slow to reap, or never reap).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# The pid of the running server of DIR, or nothing. A pid file left by a
# crash whose pid now belongs to another program does not count.
server_pid() {
    local pid comm
    [ -s "$pidfile" ] || return 0
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && alive "$pid" || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case $comm in mariadbd | mysqld) echo "$pid" ;; esac
}

ping() {
    mariadb-admin --no-defaults --socket="$sock" --user="$me" \
        --connect-timeout=2 ping >/dev/null 2>&1
}

sql() {
    mariadb --no-defaults --socket="$sock" --user="$me" --batch -e "$1"
}

# Waits until the server of DIR has answered a ping or, if it stops first or
# the deadline passes, says why and fails.
wait_ready() {
    local pid=$1 deadline=$((SECONDS + timeout))
    until ping; do
        if ! alive "$pid"; then
            echo "mariadb.sh: mariadbd exited during start; the end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "mariadb.sh: no answer on $sock after ${timeout}s; the end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            kill -KILL "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

create_database() {
    sql "CREATE DATABASE IF NOT EXISTS \`$database\`
         CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
}

start() {
    local pid
    pid=$(server_pid)
    if [ -n "$pid" ]; then
        wait_ready "$pid"
        create_database
        echo "mariadb: already running (pid $pid, socket $sock)"
        return 0
    fi
    if [ ! -d "$data" ]; then
        # Into a temporary name first, so that an interrupted install does
        # not leave a half-made datadir that the next start would trust.
        rm -rf "$data.new"
        mkdir -p "$dir/tmp"
        # Its bootstrap server's temporary tables go to our own tmpdir:
        # parallel installs sharing /tmp have collided on their names.
        [ "$run_as" = "$me" ] || chown -R "$run_as" "$dir"
        if ! mariadb-install-db --no-defaults --datadir="$data.new" \
            --user="$run_as" --auth-root-authentication-method=socket \
            --skip-test-db --tmpdir="$dir/tmp" >"$dir/install.log" 2>&1; then
            echo "mariadb.sh: mariadb-install-db failed:" >&2
            cat "$dir/install.log" >&2
            return 1
        fi
        mv "$data.new" "$data"
    fi
    mkdir -p "$(dirname "$sock")" "$dir/tmp"
    [ "$run_as" = "$me" ] || chown -R "$run_as" "$dir"
    rm -f "$pidfile"
    # shellcheck disable=SC2086 # MARIADB_EXTRA_OPTS is a list of options
    mariadbd --no-defaults --datadir="$data" --socket="$sock" \
        --pid-file="$pidfile" --log-error="$log" --tmpdir="$dir/tmp" \
        --user="$run_as" --skip-networking --skip-name-resolve \
        --innodb-buffer-pool-size=64M --innodb-log-buffer-size=8M \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --max-connections=500 --skip-log-bin \
        ${MARIADB_EXTRA_OPTS:-} </dev/null >>"$log" 2>&1 &
    pid=$!
    wait_ready "$pid"
    create_database
    echo "mariadb: started (pid $pid, socket $sock)"
}

stop() {
    local pid deadline
    pid=$(server_pid)
    if [ -z "$pid" ]; then
        rm -f "$pidfile"
        echo "mariadb: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
    done
    if alive "$pid"; then
        echo "mariadb.sh: mariadbd $pid still up after ${timeout}s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while alive "$pid" && [ $SECONDS -lt $deadline ]; do
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
    echo "mariadb: stopped (pid $pid)"
}

case $cmd in
start) start ;;
stop) stop ;;
status)
    pid=$(server_pid)
    if [ -n "$pid" ]; then
        echo "mariadb: running (pid $pid, socket $sock)"
    else
        echo "mariadb: not running"
        exit 1
    fi
    ;;
*) usage ;;
esac
