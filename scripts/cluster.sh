#!/usr/bin/env bash
# cluster.sh -- `make cluster`: the cluster twin of `make run`. A 3-node
# MariaDB Galera cluster on loopback (scripts/galera.sh), pool A on node 1
# and pool B on node 2, and one nginx upstream over both pools, with a demo
# tenant. Also what the cluster tests start, in a folder of their own.
#
#   PORT=8090 scripts/cluster.sh start [DIR]   (make cluster [PORT=...])
#   scripts/cluster.sh stop [DIR]              (make cluster-stop)
#   scripts/cluster.sh status [DIR]
#
# DIR defaults to var/cluster. In it:
#   db/                 the nodes (galera.sh): db/nodeN/{my.cnf,data,...}
#   run/                pool-a.sock, pool-a.pid, pool-b.*, ports
#   nginx/, nginx-a/, nginx-b/   the three nginx instances
#   log/                pool-a.log, pool-b.log, nginx-*.log
#   demo-tenant.json    the demo tenant, made once and reused
#
# http://127.0.0.1:$PORT    nginx over both pools (fastcgi_next_upstream
#                           error timeout http_503: a pool that is down or
#                           says 503 is skipped, for GET and HEAD; nginx
#                           never sends a POST or PATCH twice)
#   :$((PORT+1))            pool A alone, :$((PORT+2)) pool B alone (to
#                           watch one pool, or to write through a chosen one)
#
# Pool A: OPTIMIST_DB_HOSTS=node1,node2,node3; pool B: node2,node3,node1:
# each prefers its own node and moves to the next one that serves when its
# node leaves the Primary component or dies, and back when it returns.
#
# Environment: PORT (default 8090), CLUSTER_PORT_BASE (the nodes' first
# port, default 18160; see galera.sh), GALERA_EXTRA_CNF, OPTIMIST_WORKERS
# and any other OPTIMIST_* for both pools.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
cmd=${1:-start}
dir=${2:-$repo/var/cluster}
bin=${BIN:-bin}
case $bin in /*) ;; *) bin=$repo/$bin ;; esac

me=cluster.sh
# shellcheck source=common.sh
. "$PWD/scripts/common.sh"   # (the script has cd-ed to the checkout)

# stop_pid NAME PIDFILE COMM SECONDS: SIGTERM, wait, SIGKILL.
stop_pid() {
    local name=$1 pidfile=$2 comm=$3 limit=$4 pid deadline
    if ! running "$pidfile" "$comm"; then
        rm -f "$pidfile"
        say "$name: not running"
        return 0
    fi
    pid=$(tr -dc 0-9 <"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + limit))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive "$pid"; then
        say "$name: pid $pid still up after ${limit}s: SIGKILL" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    say "$name: stopped (pid $pid)"
}

stop_all() {
    [ -d "$dir" ] || { say "cluster: nothing in $dir"; return 0; }
    local n
    for n in nginx nginx-a nginx-b; do
        stop_pid "$n" "$dir/$n/nginx.pid" nginx 10
    done
    for n in a b; do
        stop_pid "pool $n" "$dir/run/pool-$n.pid" optimist-fcgi \
            $((${OPTIMIST_SHUTDOWN_TIMEOUT:-10} + 5))
    done
    scripts/galera.sh stop "$dir/db"
}

# hosts_for FIRST: the node list starting at node FIRST, as host:port.
hosts_for() {
    local base=$1 first=$2 out= i n
    for i in 0 1 2; do
        n=$(((first - 1 + i) % 3 + 1))
        out="$out${out:+,}127.0.0.1:$((base + 4 * (n - 1)))"
    done
    echo "$out"
}

start_pool() {  # start_pool NAME FIRST_NODE
    local name=$1 first=$2 sock pidf log starter
    sock=$dir/run/pool-$name.sock
    pidf=$dir/run/pool-$name.pid
    log=$dir/log/pool-$name.log
    if running "$pidf" optimist-fcgi; then
        say "pool $name: already running (pid $(cat "$pidf"))"
        return 0
    fi
    rm -f "$pidf"
    OPTIMIST_LISTEN=$sock OPTIMIST_PIDFILE=$pidf \
        OPTIMIST_DB_HOSTS=$(hosts_for "$base" "$first") \
        setsid "$bin/optimist-fcgi" </dev/null >>"$log" 2>&1 &
    starter=$!
    pool_ready() {
        if ! alive "$starter" && ! running "$pidf" optimist-fcgi; then
            tail -n 20 "$log" >&2
            die "pool $name exited during start ($log)"
        fi
        [ -S "$sock" ] && running "$pidf" optimist-fcgi
    }
    wait_for 30 "pool $name on $sock" pool_ready
    say "pool $name: started (pid $(cat "$pidf"), $sock, hosts $(hosts_for "$base" "$first"))"
}

# start_nginx NAME PORT SOCKET...: an nginx whose upstream is the pools of
# SOCKET..., from nginx/nginx.conf.in.
start_nginx() {
    local name=$1 port=$2 ndir servers= s user_line=
    shift 2
    ndir=$dir/$name
    if running "$ndir/nginx.pid" nginx; then
        say "$name: already running (pid $(cat "$ndir/nginx.pid"))"
        return 0
    fi
    mkdir -p "$ndir/tmp" "$dir/log/$name"
    for s in "$@"; do
        servers="$servers${servers:+;}$s"
    done
    [ "$(id -u)" = 0 ] && user_line="user root;"
    sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
    sed -e "s|@PREFIX@|$(sed_escape "$ndir")|g" \
        -e "s|@LOG_DIR@|$(sed_escape "$dir/log/$name")|g" \
        -e "s|@CONF_DIR@|$(sed_escape "$repo/nginx")|g" \
        -e "s|@LISTEN_ADDR@|127.0.0.1|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@USER_LINE@|$user_line|g" \
        nginx/nginx.conf.in |
        awk -v servers="$servers" '
            /upstream optimist \{/ {
                print "    # A pool that is down, or answers 503 (its database cannot"
                print "    # serve), is skipped; after a 503 only GET and HEAD go to the"
                print "    # next pool (nginx never sends a POST or PATCH twice)."
                print "    fastcgi_next_upstream error timeout http_503;"
                print "    fastcgi_next_upstream_tries 2;"
                print ""
            }
            /server "unix:@FCGI_SOCKET@";/ {
                n = split(servers, s, ";")
                for (i = 1; i <= n; i++)
                    printf "        server \"unix:%s\" max_fails=1 fail_timeout=2s;\n", s[i]
                next
            }
            { print }' >"$ndir/nginx.conf"
    cp /etc/nginx/fastcgi_params "$ndir/fastcgi_params" ||
        die "no /etc/nginx/fastcgi_params: is nginx installed?"
    nginx -t -q -p "$ndir" -c "$ndir/nginx.conf" || die "nginx -t failed on $ndir/nginx.conf"
    rm -f "$ndir/nginx.pid"
    nginx -p "$ndir" -c "$ndir/nginx.conf" || die "$name did not start (is port $port taken?)"
    wait_for 10 "$name's pid file" running "$ndir/nginx.pid" nginx
    say "$name: started (pid $(cat "$ndir/nginx.pid"), http://127.0.0.1:$port)"
}

start_all() {
    local port=${PORT:-8090}
    for f in "$bin/optimist-fcgi" "$bin/optimistctl"; do
        [ -x "$f" ] || die "$f is not built: run make first"
    done
    mkdir -p "$dir/run" "$dir/log" "$dir/db"
    dir=$(cd "$dir" && pwd)
    [ ${#dir} -le 90 ] || die "path too long for unix sockets: $dir"
    # As root the nodes run as mysql (galera.sh), who must reach db/.
    [ "$(id -u)" = 0 ] && chmod 755 "$dir"
    if [ -s "$dir/run/port" ]; then
        port=$(cat "$dir/run/port")
    fi
    on_exit() {
        local rc=$?
        if [ $rc -ne 0 ]; then
            say "cluster.sh: the cluster did not come up; logs are in $dir/log and $dir/db/node*/mariadbd.log. Stopping it." >&2
            stop_all >&2 || true
        fi
    }
    trap on_exit EXIT

    # 1. The nodes.
    GALERA_PORT_BASE=${CLUSTER_PORT_BASE:-18160} scripts/galera.sh start "$dir/db"
    base=$(tr -dc 0-9 <"$dir/db/ports")

    # 2. The schema, through node 1 (any node would do; so would all three
    # at once: the migration lock is cluster-wide).
    export OPTIMIST_DB_USER=optimist
    OPTIMIST_DB_PASSWORD=$(cat "$dir/db/password")
    export OPTIMIST_DB_PASSWORD
    export OPTIMIST_DB_NAME=${OPTIMIST_DB_NAME:-optimist}
    unset OPTIMIST_DB_SOCKET
    OPTIMIST_DB_HOSTS=$(hosts_for "$base" 1) "$bin/optimistctl" migrate

    # 3. The pools, A on node 1, B on node 2.
    start_pool a 1
    start_pool b 2

    # 4. nginx: both pools, and each alone.
    start_nginx nginx "$port" "$dir/run/pool-a.sock" "$dir/run/pool-b.sock"
    start_nginx nginx-a $((port + 1)) "$dir/run/pool-a.sock"
    start_nginx nginx-b $((port + 2)) "$dir/run/pool-b.sock"
    echo "$port" >"$dir/run/port"
    local url=http://127.0.0.1:$port
    healthy() { curl -fsS -o /dev/null --max-time 2 "$1/healthz" 2>/dev/null; }
    wait_for 30 "$url/healthz" healthy "$url"

    # 5. The demo tenant.
    local tf=$dir/demo-tenant.json token=
    token_of() { sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$1"; }
    if [ -s "$tf" ]; then
        token=$(token_of "$tf")
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            -H "Authorization: Bearer $token" "$url/v1/sessions/0" || true)
        [ "$code" = 401 ] && token=
    fi
    if [ -z "$token" ]; then
        (umask 077 && OPTIMIST_DB_HOSTS=$(hosts_for "$base" 1) \
            "$bin/optimistctl" tenant create demo >"$tf.new")
        mv "$tf.new" "$tf"
        token=$(token_of "$tf")
        [ -n "$token" ] || die "optimistctl tenant create printed no token"
    fi
    trap - EXIT
    cat <<EOF

optimist runs on a 3-node Galera cluster: $url   (make cluster-stop to stop it)
  pool A (node 1 first): http://127.0.0.1:$((port + 1))   pool B (node 2 first): http://127.0.0.1:$((port + 2))
  nodes: 127.0.0.1:$base, :$((base + 4)), :$((base + 8))  (scripts/galera.sh status $dir/db)
  logs: $dir/log/, $dir/db/node*/mariadbd.log
  demo tenant: $(cat "$tf")

Try it:
  TOKEN=$token
  curl -s $url/healthz
  curl -s -X POST http://127.0.0.1:$((port + 1))/v1/sessions -H "Authorization: Bearer \$TOKEN" -d '{"title": "via A"}'
  curl -s http://127.0.0.1:$((port + 2))/v1/sessions/1 -H "Authorization: Bearer \$TOKEN"   # read through B
  scripts/galera.sh sql $dir/db 1 "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'"   # cut node 1 off
  curl -s http://127.0.0.1:$((port + 1))/healthz   # pool A moved to node 2
EOF
}

case $cmd in
start) start_all ;;
stop) stop_all ;;
status)
    scripts/galera.sh status "$dir/db" || true
    for n in a b; do
        running "$dir/run/pool-$n.pid" optimist-fcgi && say "pool $n: running (pid $(cat "$dir/run/pool-$n.pid"))" || say "pool $n: not running"
    done
    for n in nginx nginx-a nginx-b; do
        running "$dir/$n/nginx.pid" nginx && say "$n: running (pid $(cat "$dir/$n/nginx.pid"))" || say "$n: not running"
    done
    ;;
*)
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
    ;;
esac
