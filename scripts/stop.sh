#!/usr/bin/env bash
# stop.sh -- `make stop`: stops what `make run` (scripts/run.sh) started,
# by the pid files under var/: nginx, then the example shop's php-fpm, then
# the FastCGI pool, then MariaDB.
# Each gets SIGTERM (for the pool a graceful stop: requests in flight
# finish), a bounded wait, then SIGKILL for it and its children. Harmless
# when nothing runs.
set -euo pipefail

cd "$(dirname "$0")/.."
var=${OPTIMIST_VAR:-$PWD/var}

# shellcheck source=common.sh
. "$PWD/scripts/common.sh"   # (the script has cd-ed to the checkout)

# children PID: the pids whose parent is PID (one ps, not a cat per
# process of the machine: a loaded machine has many).
children() {
    ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true
}

# stop NAME PIDFILE COMM SECONDS
stop() {
    local name=$1 pidfile=$2 comm=$3 limit=$4 pid kids deadline
    pid=
    [ -s "$pidfile" ] && pid=$(tr -dc 0-9 <"$pidfile")
    if [ -z "$pid" ] || ! alive "$pid" ||
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
        rm -f "$pidfile"
        echo "$name: not running"
        return 0
    fi
    kids=$(children "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + limit))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
    done
    if alive "$pid"; then
        echo "$name: pid $pid still up after ${limit}s: SIGKILL" >&2
        kids="$kids $(children "$pid")"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Children that outlived their parent (a killed master leaves them).
    for k in $kids; do
        if alive "$k" && [ "$(cat "/proc/$k/comm" 2>/dev/null)" = "$comm" ]; then
            kill -KILL "$k" 2>/dev/null || true
        fi
    done
    rm -f "$pidfile"
    echo "$name: stopped (pid $pid)"
}

stop nginx "$var/nginx/nginx.pid" nginx 10
# php-fpm's processes are named after its binary (php-fpm8.2, say).
php_comm=php-fpm
[ -s "$var/run/php-fpm.pid" ] &&
    php_comm=$(cat "/proc/$(tr -dc 0-9 <"$var/run/php-fpm.pid")/comm" 2>/dev/null || echo php-fpm)
case $php_comm in php-fpm*) ;; *) php_comm=php-fpm ;; esac
stop php-fpm "$var/run/php-fpm.pid" "$php_comm" 10
# The pool's own SIGTERM escalation takes OPTIMIST_SHUTDOWN_TIMEOUT
# (default 10 s); give it that and a little more.
stop optimist-fcgi "$var/run/optimist.pid" optimist-fcgi \
    $((${OPTIMIST_SHUTDOWN_TIMEOUT:-10} + 5))
MARIADB_SOCKET=$var/run/mysqld.sock scripts/mariadb.sh stop "$var/mysql"
