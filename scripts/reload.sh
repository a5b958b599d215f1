#!/usr/bin/env bash
# reload.sh -- `make reload`: SIGHUP to the pool of `make run` (its pid is
# in var/run/optimist.pid), which reads its options and the declared tables
# (var/tables.d/) again. A declaration that fails its check leaves the
# tables served before in place; the pool's log (var/log/optimist.log) says
# which file and why. Fails when the pool is not running.
set -euo pipefail

cd "$(dirname "$0")/.."
var=${OPTIMIST_VAR:-$PWD/var}
pidfile=$var/run/optimist.pid

me=reload.sh
# shellcheck source=common.sh
. "$PWD/scripts/common.sh"

running "$pidfile" optimist-fcgi || die "the pool of make run is not running (make run)"
pid=$(tr -dc 0-9 <"$pidfile")
log=$var/log/optimist.log
mark=0
[ -f "$log" ] && mark=$(stat -c %s "$log")
kill -HUP "$pid"
# The pool logs one "tables:" line a reload: show it.
tables_line() { tail -c +$((mark + 1)) "$log" 2>/dev/null | grep -m1 'tables:'; }
deadline=$((SECONDS + 10))
until line=$(tables_line); do
    if [ $SECONDS -ge $deadline ]; then
        say "optimist-fcgi: SIGHUP sent (pid $pid); see var/log/optimist.log"
        exit 0
    fi
    sleep 0.1
done
say "optimist-fcgi: reloaded (pid $pid): $line"
