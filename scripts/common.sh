# common.sh -- the helpers the stack scripts share (run.sh, cluster.sh,
# stop.sh): sourced, never run. The sourcing script sets `me` (its name,
# for die's messages) first.

say() { printf '%s\n' "$*"; }
die() {
    printf '%s: %s\n' "${me:-optimist}" "$*" >&2
    exit 1
}

# alive PID: exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# running PIDFILE COMM: PIDFILE names a live process called COMM.
running() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc 0-9 <"$1")
    [ -n "$pid" ] && alive "$pid" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        [ $SECONDS -lt $deadline ] || die "timed out waiting for $what"
        sleep 0.1
    done
}
