#!/usr/bin/env bash
# galera.sh -- a private 3-node MariaDB Galera cluster on loopback, in a
# folder: the database half of `make cluster` (scripts/cluster.sh) and of
# the cluster tests (tests/cluster/). Nothing here touches the system's
# MariaDB: each node reads only its own DIR/nodeN/my.cnf.
#
#   scripts/galera.sh start  DIR      start the nodes that are not running:
#                                     when none runs, the node with the newest
#                                     state (node 1 at first) bootstraps a new
#                                     cluster, the others join it (rsync
#                                     SST); waits until every node is Synced
#                                     in a Primary component of 3
#   scripts/galera.sh stop   DIR      stop every node (3, 2, then 1: node 1
#                                     stops last, so it may bootstrap next)
#   scripts/galera.sh node-start DIR N  start node N (it joins the others)
#   scripts/galera.sh node-stop  DIR N  SIGTERM node N, wait
#   scripts/galera.sh node-kill  DIR N  SIGKILL node N
#   scripts/galera.sh wait   DIR [SIZE]  wait until the running nodes are
#                                     Synced in a Primary component of SIZE
#   scripts/galera.sh sql    DIR N SQL  run SQL on node N as the OS user
#   scripts/galera.sh status DIR      one line per node
#
# Ports (all on 127.0.0.1), from GALERA_PORT_BASE (default 18160): node N
# uses BASE+4(N-1) for clients, +1 for group communication (gmcast), +2 for
# IST, +3 for the rsync SST. They are written to DIR/ports on the first
# start and read from there afterwards, so a restarted node keeps them.
#
# Files per node: DIR/nodeN/{my.cnf,data/,mysqld.sock,mariadbd.pid,
# mariadbd.log,tmp/}.
#
# Accounts: the OS user through the socket (unix_socket, as
# scripts/mariadb.sh makes it), and optimist@127.0.0.1 with the password in
# DIR/password for TCP clients (the pools connect by host:port, as they
# would to real hosts). Grants and users replicate: made once on node 1.
#
# Environment:
#   GALERA_PORT_BASE   first port (see above)
#   GALERA_EXTRA_CNF   more my.cnf lines for every node, separated by ';'
#                      (the tests turn fsync off)
#   GALERA_TIMEOUT     seconds to wait for a node or the cluster (default 120)
#   MARIADB_DATABASE   database to create (default: optimist)
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status|wait DIR | node-start|node-stop|node-kill DIR N | sql DIR N SQL" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
case $cmd in
start) mkdir -p "$2" ;;
*) [ -d "$2" ] || { echo "galera: no folder $2"; [ "$cmd" = stop ] && exit 0; exit 1; } ;;
esac
dir=$(cd "$2" && pwd)
timeout=${GALERA_TIMEOUT:-120}
database=${MARIADB_DATABASE:-optimist}
me=$(id -un)
NODES="1 2 3"
# As root the servers run as mysql: the joiner's rsync daemon, started by
# the server, would otherwise write as nobody (rsyncd's default for root)
# into a datadir only root may write to.
run_as=$me
if [ "$(id -u)" = 0 ] && id mysql >/dev/null 2>&1; then
    run_as=mysql
    chmod 755 "$dir"
fi

# The ports: fixed at the first start.
if [ ! -s "$dir/ports" ]; then
    [ "$cmd" = start ] || { echo "galera: $dir has no cluster (no ports file)" >&2; exit 1; }
    echo "${GALERA_PORT_BASE:-18160}" >"$dir/ports"
fi
base=$(tr -dc 0-9 <"$dir/ports")
port_of() { echo $((base + 4 * ($1 - 1) + $2)); }   # port_of NODE KIND
if [ ! -s "$dir/password" ]; then
    (umask 077 && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/password")
fi

node_dir() { echo "$dir/node$1"; }
sock_of() { echo "$dir/node$1/mysqld.sock"; }

alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# The pid of node N's server, or nothing.
node_pid() {
    local pidfile pid comm
    pidfile=$(node_dir "$1")/mariadbd.pid
    [ -s "$pidfile" ] || return 0
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && alive "$pid" || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case $comm in mariadbd | mysqld) echo "$pid" ;; esac
}

sql_on() {  # sql_on N SQL: as the OS user through the socket
    mariadb --no-defaults --socket="$(sock_of "$1")" --user="$me" \
        --connect-timeout=2 --batch --skip-column-names -e "$2"
}

# state N: "ready status local_state size" of node N, or nothing.
state() {
    sql_on "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('wsrep_ready','wsrep_cluster_status','wsrep_local_state',
         'wsrep_cluster_size')" 2>/dev/null |
        awk '{v[$1]=$2} END {if (NR) print v["wsrep_ready"], v["wsrep_cluster_status"], v["wsrep_local_state"], v["wsrep_cluster_size"]}' ||
        true
}

write_cnf() {
    local n=$1 d g i s addr extra
    d=$(node_dir "$n")
    addr=
    for i in $NODES; do
        addr="$addr${addr:+,}127.0.0.1:$(port_of "$i" 1)"
    done
    g=$(port_of "$n" 1)
    i=$(port_of "$n" 2)
    s=$(port_of "$n" 3)
    extra=$(printf '%s' "${GALERA_EXTRA_CNF:-}" | tr ';' '\n')
    mkdir -p "$d/tmp" "$d/data"
    [ "$run_as" = "$me" ] || chown "$run_as:" "$d" "$d/tmp" "$d/data"
    cat >"$d/my.cnf" <<EOF
# Written by scripts/galera.sh: node $n of the cluster in $dir.
[mariadbd]
user                     = $run_as
datadir                  = $d/data
socket                   = $d/mysqld.sock
pid-file                 = $d/mariadbd.pid
log-error                = $d/mariadbd.log
tmpdir                   = $d/tmp
bind-address             = 127.0.0.1
port                     = $(port_of "$n" 0)
skip-name-resolve
max-connections          = 500
innodb-buffer-pool-size  = 64M
character-set-server     = utf8mb4
collation-server         = utf8mb4_unicode_ci

# What Galera needs: row-based replication, InnoDB, interleaved
# auto-increment locks.
binlog_format            = ROW
default_storage_engine   = InnoDB
innodb_autoinc_lock_mode = 2
# Row images carry the primary key and the changed columns only: a
# write set is not the whole row twice (before and after).
binlog_row_image         = MINIMAL

wsrep_on                 = ON
wsrep_provider           = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name       = optimist
wsrep_cluster_address    = gcomm://$addr
wsrep_node_name          = node$n
wsrep_node_address       = 127.0.0.1:$g
wsrep_sst_method         = rsync
wsrep_sst_receive_address = 127.0.0.1:$s
wsrep_slave_threads      = 2
# gmcast/IST pinned to this node's ports; a failed peer is declared gone
# after 3 s instead of 5 (loopback: no packet is late for long).
wsrep_provider_options   = "gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$i;gcache.size=128M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S"
$extra
EOF
}

# wait_node N: until node N answers and is Synced in a Primary component.
wait_node() {
    local n=$1 pid deadline=$((SECONDS + timeout)) st
    while :; do
        pid=$(node_pid "$n")
        if [ -z "$pid" ]; then
            # The pid file appears only after the SST: look for the process
            # we started too.
            if [ -n "${2:-}" ] && alive "$2"; then
                :
            else
                echo "galera.sh: node $n exited during start; the end of its log:" >&2
                tail -n 30 "$(node_dir "$n")/mariadbd.log" >&2 || true
                return 1
            fi
        fi
        st=$(state "$n")
        case $st in "ON Primary 4 "*) return 0 ;; esac
        if [ $SECONDS -ge $deadline ]; then
            echo "galera.sh: node $n not Synced after ${timeout}s ($st); the end of its log:" >&2
            tail -n 30 "$(node_dir "$n")/mariadbd.log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

# start_node N [bootstrap]
start_node() {
    local n=$1 d pid
    d=$(node_dir "$n")
    pid=$(node_pid "$n")
    if [ -n "$pid" ]; then
        echo "galera: node $n already running (pid $pid)"
        return 0
    fi
    write_cnf "$n"
    local opts=()
    if [ "${2:-}" = bootstrap ]; then
        if [ ! -d "$d/data/mysql" ]; then
            rm -rf "$d/data.new"
            mariadb-install-db --no-defaults --datadir="$d/data.new" \
                --user="$run_as" --auth-root-authentication-method=socket \
                --skip-test-db --tmpdir="$d/tmp" >"$d/install.log" 2>&1 || {
                echo "galera.sh: mariadb-install-db failed:" >&2
                cat "$d/install.log" >&2
                return 1
            }
            rm -rf "$d/data"
            mv "$d/data.new" "$d/data"
        fi
        # Whole cluster down: this node starts a new one. Galera refuses
        # a node that did not leave the Primary component last unless told
        # it is safe; pick_bootstrap chose the one with the newest state.
        [ -f "$d/data/grastate.dat" ] &&
            sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$d/data/grastate.dat"
        opts+=(--wsrep-new-cluster)
    else
        # A joiner gets everything by SST/IST from a donor.
        mkdir -p "$d/data"
    fi
    rm -f "$d/mariadbd.pid"
    [ "$run_as" = "$me" ] || chown -R "$run_as:" "$d"
    mariadbd --defaults-file="$d/my.cnf" "${opts[@]}" </dev/null >>"$d/mariadbd.log" 2>&1 &
    pid=$!
    wait_node "$n" "$pid"
    echo "galera: node $n started (pid $(node_pid "$n"), port $(port_of "$n" 0), socket $(sock_of "$n"))"
}

stop_node() {
    local n=$1 pid deadline
    pid=$(node_pid "$n")
    if [ -z "$pid" ]; then
        echo "galera: node $n not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
    done
    if alive "$pid"; then
        echo "galera.sh: node $n (pid $pid) still up after ${timeout}s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "galera: node $n stopped (pid $pid)"
}

kill_node() {
    local n=$1 pid
    pid=$(node_pid "$n")
    [ -n "$pid" ] || { echo "galera: node $n not running"; return 0; }
    kill -KILL "$pid"
    while alive "$pid"; do sleep 0.05; done
    echo "galera: node $n killed (pid $pid)"
}

# wait_cluster SIZE: every running node Synced, Primary, cluster of SIZE.
wait_cluster() {
    local size=$1 n st ok deadline=$((SECONDS + timeout))
    while :; do
        ok=1
        for n in $NODES; do
            [ -n "$(node_pid "$n")" ] || continue
            st=$(state "$n")
            [ "$st" = "ON Primary 4 $size" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            echo "galera.sh: cluster not Synced at size $size after ${timeout}s" >&2
            return 1
        fi
        sleep 0.2
    done
}

running_nodes() {
    local n
    for n in $NODES; do [ -n "$(node_pid "$n")" ] && echo "$n"; done
    return 0
}

# The node to start a new cluster from when none runs: the one Galera
# marked safe_to_bootstrap (it left the Primary component last), else the
# one with the highest committed seqno, else node 1 (a new cluster).
pick_bootstrap() {
    local n f seq best=1 bestseq=-2
    for n in $NODES; do
        f=$(node_dir "$n")/data/grastate.dat
        [ -f "$f" ] || continue
        if grep -q '^safe_to_bootstrap: *1' "$f"; then
            echo "$n"
            return 0
        fi
        seq=$(sed -n 's/^seqno: *\(-\{0,1\}[0-9]*\).*/\1/p' "$f")
        if [ -n "$seq" ] && [ "$seq" -gt "$bestseq" ]; then
            best=$n
            bestseq=$seq
        fi
    done
    echo "$best"
}

start() {
    local n first boot
    first=$(running_nodes | sed -n 1p)
    if [ -z "$first" ]; then
        boot=$(pick_bootstrap)
        start_node "$boot" bootstrap
        first=$boot
        # Once, on the new cluster: the database and the TCP account.
        sql_on "$boot" "CREATE DATABASE IF NOT EXISTS \`$database\`
            CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
            CREATE USER IF NOT EXISTS 'optimist'@'127.0.0.1'
                IDENTIFIED BY '$(cat "$dir/password")';
            GRANT ALL PRIVILEGES ON \`$database\`.* TO 'optimist'@'127.0.0.1'"
    fi
    for n in $NODES; do
        [ "$n" != "${boot:-}" ] || continue
        start_node "$n"
    done
    wait_cluster 3
    echo "galera: 3 nodes Synced (clients on 127.0.0.1:$(port_of 1 0),$(port_of 2 0),$(port_of 3 0))"
}

stop() {
    local n
    for n in 3 2 1; do
        stop_node "$n"
    done
}

case $cmd in
start) start ;;
stop) stop ;;
node-start) [ $# -eq 3 ] || usage; start_node "$3" ;;
node-stop) [ $# -eq 3 ] || usage; stop_node "$3" ;;
node-kill) [ $# -eq 3 ] || usage; kill_node "$3" ;;
wait) wait_cluster "${3:-3}" ;;
sql) [ $# -eq 4 ] || usage; sql_on "$3" "$4" ;;
status)
    for n in $NODES; do
        pid=$(node_pid "$n")
        if [ -n "$pid" ]; then
            echo "node $n: running (pid $pid, port $(port_of "$n" 0)): $(state "$n")"
        else
            echo "node $n: not running"
        fi
    done
    ;;
*) usage ;;
esac
