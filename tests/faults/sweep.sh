#!/usr/bin/env bash
# tests/faults/sweep.sh -- the integration suite under injected faults
# (`make faults`): each tests/integration binary, relinked with the fault
# simulator ($BUILD/tests/faults/integ_*), runs once per offset O in
# 0..FAULTS_STRIDE-1 with a fault at every call n where n % STRIDE == O
# (before and after the server ran it, by turns), against a MariaDB of its
# own. The tests' own assertions are expected to fail then (they assert
# what a healthy connection gives); what must not happen is a crash, a
# hang, or a sanitizer report (memory error, undefined behaviour; leaks
# are left to tests/faults/test_faults, where every path frees what it
# holds, since a failed cmocka test leaves its own allocations behind).
# A run that hangs is stopped after FAULTS_TIMEOUT seconds (30) and its
# stack read with gdb: a test thread waiting at its own barrier for a
# partner whose statement failed is the test's wait (counted, not failed);
# any other hang fails. The last line: "sweep: N runs, N faults injected,
# N crashes, N test waits".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
stride=${FAULTS_STRIDE:-7}
timeout=${FAULTS_TIMEOUT:-30}
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

db=$(mktemp -d "${TMPDIR:-/tmp}/optimist-faults.XXXXXX")
out=$db/out
trap 'scripts/mariadb.sh stop "$db" >/dev/null 2>&1; rm -rf "$db"' EXIT
MARIADB_EXTRA_OPTS="--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync" \
    scripts/mariadb.sh start "$db" >/dev/null || exit 1
export OPTIMIST_DB_SOCKET=$db/mysqld.sock OPTIMIST_DB_NAME=optimist
"$BIN/optimistctl" migrate >/dev/null || exit 1

runs=0 injected=0 crashes=0 waits=0
for b in "$BUILD"/tests/faults/integ_*; do
    [ -x "$b" ] || continue
    for ((o = 0; o < stride; o++)); do
        OPTIMIST_FAULT_EVERY=$stride OPTIMIST_FAULT_OFFSET=$o \
            "$b" >"$out" 2>&1 </dev/null &
        pid=$!
        waited=0
        while kill -0 $pid 2>/dev/null && [ $waited -lt $((timeout * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        hung=
        if kill -0 $pid 2>/dev/null; then
            # Where it waits: a test thread at its barrier, whose partner's
            # statement failed, is the test's wait, not lib/'s.
            hung=$(gdb -p $pid -batch -ex "thread apply all bt" 2>/dev/null |
                grep -E '^#[0-9]+ ' | grep -vE 'futex|pthread_join|lll_|__GI_' |
                head -n 8)
            kill -KILL $pid 2>/dev/null
        fi
        wait $pid 2>/dev/null
        rc=$?
        runs=$((runs + 1))
        n=$(sed -n 's/^faultsim: [0-9]* calls, \([0-9]*\) faults injected$/\1/p' "$out" | tail -n 1)
        injected=$((injected + ${n:-0}))
        why=
        if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$out"; then
            why="sanitizer report"
        elif grep -q 'Test failed with exception' "$out"; then
            why="$(grep -m1 'Test failed with exception' "$out")"
        elif [ -n "$hung" ] && grep -q 'pthread_barrier_wait' <<<"$hung"; then
            waits=$((waits + 1))
            echo "wait  $(basename "$b") offset $o/$stride: a test thread at" \
                "its barrier after its partner failed (the test's, not lib/'s)"
        elif [ -n "$hung" ] || [ $rc -eq 137 ]; then
            why="hung (killed after ${timeout}s): ${hung:-no stack (gdb?)}"
        elif [ $rc -gt 128 ]; then
            why="killed by signal $((rc - 128))"
        elif [ -z "$n" ] && [ -z "$hung" ]; then
            why="ended without the simulator's report (exit status $rc)"
        fi
        if [ -n "$why" ]; then
            crashes=$((crashes + 1))
            echo "CRASH $(basename "$b") offset $o/$stride: $why"
            grep -E -A12 'ERROR: AddressSanitizer|runtime error:|exception' "$out" | head -n 30
        fi
    done
    echo "ok    $(basename "$b"): $stride runs"
done
echo "sweep: $runs runs, $injected faults injected, $crashes crashes," \
    "$waits test waits"
[ $crashes -eq 0 ]
