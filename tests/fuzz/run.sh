#!/usr/bin/env bash
# tests/fuzz/run.sh -- `make fuzz`: runs each libFuzzer target for
# FUZZ_SECONDS (default 60) and prints what it did.
#
#   FUZZ_SECONDS=60 tests/fuzz/run.sh build/fuzz/fuzz TARGET...
#
# Each target starts from its committed seeds (tests/fuzz/<t>/, read only)
# and keeps what it finds in build/fuzz/corpus/<t>/ (not committed; later
# runs start from it too). A crash, a sanitizer report or a broken rule
# (fuzz_fail) leaves its reproducer in tests/fuzz/<t>/crashes/, where
# `make test` replays it from then on. The last line: "fuzz: N targets,
# N executions, N crashes"; the exit status is 1 if anything crashed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
prefix=$1
shift
seconds=${FUZZ_SECONDS:-60}
total_exec=0
total_crash=0
for t in "$@"; do
    corpus=build/fuzz/corpus/$t
    mkdir -p "$corpus" "tests/fuzz/$t/crashes"
    log=build/fuzz/$t.log
    "$prefix"_"$t" -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -artifact_prefix="tests/fuzz/$t/crashes/" \
        "$corpus" "tests/fuzz/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    execs=${execs:-0}
    total_exec=$((total_exec + execs))
    if [ $rc -ne 0 ]; then
        total_crash=$((total_crash + 1))
        echo "CRASH $t: exit status $rc, $execs executions; see $log:"
        grep -E 'FUZZ RULE BROKEN|ERROR: |runtime error|Test unit written' "$log" | head -n 5
    else
        echo "ok    $t: $execs executions in ${seconds}s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
    fi
done
echo "fuzz: $# targets, $total_exec executions, $total_crash crashes"
[ $total_crash -eq 0 ]
