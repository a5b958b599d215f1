#!/usr/bin/env bash
# tests/run.sh -- the test driver behind `make test`, `make unit`,
# `make integration`, `make e2e` and `make asan`.
#
#   BUILD=build/test BIN=build/test/bin [SAN=1] tests/run.sh [unit|integration|e2e]...
#
# (The defaults are the test build that `make test` makes: build/test.)
#
# No argument runs the three suites in that order:
#   unit         every $BUILD/tests/unit/test_* built from tests/unit/*.c (cmocka),
#                and tests/web/*.test.mjs (node --test: web/optimist.js)
#   integration  every $BUILD/tests/integration/test_* built from
#                tests/integration/*.c,
#                against a MariaDB started for the run in a temporary folder
#                (scripts/mariadb.sh) and migrated with $BIN/optimistctl;
#                the binaries get OPTIMIST_DB_SOCKET and OPTIMIST_DB_NAME
#   faults       every $BUILD/tests/faults/test_* (fault injection inside
#                lib/, tests/faults/), against a MariaDB of its own
#   fuzz         every fuzz target over its committed corpus (tests/fuzz/)
#   e2e          python3 tests/e2e/runner.py (starts its own stacks; the
#                browser tests, test_browser.py, drive a headless Chromium)
#
# Each binary runs under a time limit (TEST_TIMEOUT seconds, default 300).
# With SAN=1 a sanitizer report fails the binary that prints it.
# Counts come from cmocka's "[  PASSED  ] N test(s)." and "[  FAILED  ] N
# test(s)" lines and from the e2e runner's last line; a binary that crashes
# or times out counts as one more failure. The last line printed is always
# "N passed, N failed"; the exit status is 1 if anything failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build/test}
BIN=${BIN:-build/test/bin}
SAN=${SAN:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
export BUILD BIN SAN

if [ "$SAN" = 1 ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
# cmocka's summary lines are what we count.
export CMOCKA_MESSAGE_OUTPUT=stdout

total_pass=0
total_fail=0
summary=()
work=$(mktemp -d "${TMPDIR:-/tmp}/optimist-tests.XXXXXX")
db_dir=

cleanup() {
    if [ -n "$db_dir" ]; then
        scripts/mariadb.sh stop "$db_dir" >/dev/null 2>&1 || true
        rm -rf "$db_dir"
        db_dir=
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "tests/run.sh: interrupted"; exit 130' INT TERM HUP

hr() { printf '%s\n' "------------------------------------------------------------------------"; }

# run_binary SUITE PATH [ENV=VALUE...]: runs one cmocka binary, adds its
# counts to the totals, prints its output when it failed.
run_binary() {
    local suite=$1 path=$2 name out rc pass fail skip line
    shift 2
    name=$(basename "$path")
    out=$work/$name.out
    if [ ! -x "$path" ]; then
        echo "FAIL  $suite/$name: $path is not built"
        total_fail=$((total_fail + 1))
        suite_fail=$((suite_fail + 1))
        return
    fi
    # (The braces keep bash's own "Aborted" or "Segmentation fault" line
    # out of the way: the status says it, below.)
    { env "$@" timeout --kill-after=10 "$TEST_TIMEOUT" "$path" >"$out" 2>&1 </dev/null; } 2>/dev/null
    rc=$?
    pass=0 fail=0 skip=0
    while IFS= read -r line; do
        if [[ $line =~ ^\[\ \ PASSED\ \ \]\ ([0-9]+)\ test ]]; then
            pass=$((pass + BASH_REMATCH[1]))
        elif [[ $line =~ ^\[\ \ FAILED\ \ \]\ ([0-9]+)\ test ]]; then
            fail=$((fail + BASH_REMATCH[1]))
        elif [[ $line =~ ^\[\ \ SKIPPED\ \]\ ([0-9]+)\ test ]]; then
            skip=$((skip + BASH_REMATCH[1]))
        fi
    done <"$out"
    local why=
    if [ "$SAN" = 1 ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out"; then
        why="sanitizer report"
        [ $fail -gt 0 ] || fail=1
    fi
    if [ $rc -ne 0 ] && [ $fail -eq 0 ]; then
        # It crashed, timed out or failed outside of any cmocka test.
        case $rc in
        124 | 137) why="timed out after ${TEST_TIMEOUT}s" ;;
        *) [ $rc -gt 128 ] && why="killed by signal $((rc - 128))" || why="exit status $rc" ;;
        esac
        fail=1
    fi
    if [ $rc -eq 0 ] && [ $pass -eq 0 ] && [ $fail -eq 0 ] && [ $skip -eq 0 ]; then
        pass=1 # exited 0 without cmocka's summary: one passing check
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    suite_pass=$((suite_pass + pass))
    suite_fail=$((suite_fail + fail))
    if [ $fail -gt 0 ]; then
        hr
        cat "$out"
        hr
        echo "FAIL  $suite/$name: $pass passed, $fail failed${why:+ ($why)}"
    else
        [ $skip -gt 0 ] && why=", $skip skipped"
        echo "ok    $suite/$name: $pass passed$why"
    fi
}

# binaries_for DIR: the built test binaries whose sources are in DIR
# (tests/unit/test_x.c -> $BUILD/tests/unit/test_x).
binaries_for() {
    local src
    for src in "$1"/test_*.c; do
        [ -e "$src" ] || continue
        echo "$BUILD/${src%.c}"
    done
}

suite_unit() {
    local b
    for b in $(binaries_for tests/unit); do
        run_binary unit "$b"
    done
    run_node_tests
}

# run_node_tests: the browser module's own tests (tests/web/*.test.mjs, node's
# built-in runner), counted from its "# pass N" and "# fail N" lines.
run_node_tests() {
    local out=$work/node-tests.out rc pass=0 fail=0 line files
    files=$(ls tests/web/*.test.mjs 2>/dev/null)
    [ -n "$files" ] || return 0
    if ! command -v node >/dev/null 2>&1; then
        echo "FAIL  unit/web: node is not installed (scripts/deps.sh installs nodejs)"
        total_fail=$((total_fail + 1))
        suite_fail=$((suite_fail + 1))
        return
    fi
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$TEST_TIMEOUT" node --test $files >"$out" 2>&1 </dev/null
    rc=$?
    while IFS= read -r line; do
        [[ $line =~ ^#\ pass\ ([0-9]+)$ ]] && pass=${BASH_REMATCH[1]}
        [[ $line =~ ^#\ fail\ ([0-9]+)$ ]] && fail=${BASH_REMATCH[1]}
    done <"$out"
    [ $rc -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    suite_pass=$((suite_pass + pass))
    suite_fail=$((suite_fail + fail))
    if [ "$fail" -gt 0 ]; then
        hr
        cat "$out"
        hr
        echo "FAIL  unit/web (node --test): $pass passed, $fail failed"
    else
        echo "ok    unit/web (node --test): $pass passed"
    fi
}

# start_db: a MariaDB for the run in a temporary folder, migrated; sets
# db_dir and sock. Counts a failure and returns 1 if it cannot.
start_db() {
    db_dir=$(mktemp -d "${TMPDIR:-/tmp}/optimist-db.XXXXXX")
    sock=$db_dir/mysqld.sock
    # Durability is not what these tests are about: no fsync anywhere.
    if ! MARIADB_EXTRA_OPTS="--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync ${MARIADB_EXTRA_OPTS:-}" \
        scripts/mariadb.sh start "$db_dir" >"$work/mariadb.out" 2>&1; then
        cat "$work/mariadb.out"
        echo "FAIL  $1: MariaDB did not start"
        total_fail=$((total_fail + 1))
        suite_fail=$((suite_fail + 1))
        return 1
    fi
    if ! OPTIMIST_DB_SOCKET=$sock OPTIMIST_DB_NAME=optimist \
        timeout 120 "$BIN/optimistctl" migrate >"$work/migrate.out" 2>&1; then
        cat "$work/migrate.out"
        echo "FAIL  $1: $BIN/optimistctl migrate failed"
        total_fail=$((total_fail + 1))
        suite_fail=$((suite_fail + 1))
        return 1
    fi
}

stop_db() {
    scripts/mariadb.sh stop "$db_dir" >/dev/null 2>&1 || true
    rm -rf "$db_dir"
    db_dir=
}

suite_integration() {
    local b binaries sock
    binaries=$(binaries_for tests/integration)
    if [ -z "$binaries" ]; then
        echo "(no tests in tests/integration)"
        return
    fi
    if start_db integration; then
        for b in $binaries; do
            run_binary integration "$b" OPTIMIST_DB_SOCKET="$sock" \
                OPTIMIST_DB_NAME=optimist
        done
    fi
    stop_db
}

# faults: tests/faults/test_* (lib/ with a fault simulator linked in)
# against a MariaDB of their own.
suite_faults() {
    local b binaries sock
    binaries=$(binaries_for tests/faults)
    [ -n "$binaries" ] || return 0
    if start_db faults; then
        for b in $binaries; do
            run_binary faults "$b" OPTIMIST_DB_SOCKET="$sock" \
                OPTIMIST_DB_NAME=optimist
        done
    fi
    stop_db
}

# fuzz: each fuzz target (tests/fuzz/fuzz_<t>.c) over its committed corpus
# tests/fuzz/<t>/ (crash reproducers included), without libFuzzer.
suite_fuzz() {
    local d t
    for d in tests/fuzz/*/; do
        t=$(basename "$d")
        run_binary fuzz "$BUILD/tests/fuzz/replay_$t" FUZZ_CORPUS="$d"
    done
}

suite_e2e() {
    local out=$work/e2e.out rc line pass='' fail=''
    if [ ! -x "$BIN/optimist-fcgi" ]; then
        # The runner would skip what needs the pool; here that is a failure.
        echo "FAIL  e2e: $BIN/optimist-fcgi is not built"
        total_fail=$((total_fail + 1))
        suite_fail=$((suite_fail + 1))
    fi
    python3 -u tests/e2e/runner.py 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=${BASH_REMATCH[1]}
        fail=${BASH_REMATCH[2]}
    fi
    if [ -z "$pass" ]; then
        echo "FAIL  e2e: the runner ended without its summary (exit status $rc)"
        pass=0 fail=1
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        echo "FAIL  e2e: the runner exited with status $rc"
        fail=1
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    suite_pass=$((suite_pass + pass))
    suite_fail=$((suite_fail + fail))
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration faults fuzz e2e)
for s in "${suites[@]}"; do
    case $s in
    unit | integration | faults | fuzz | e2e) ;;
    *)
        echo "usage: $0 [unit|integration|faults|fuzz|e2e]..." >&2
        exit 2
        ;;
    esac
done

for s in "${suites[@]}"; do
    suite_pass=0
    suite_fail=0
    echo "== $s${SAN:+ (SAN=$SAN)}"
    start=$SECONDS
    "suite_$s"
    summary+=("$(printf '%-12s %4d passed, %d failed  (%ds)' "$s" $suite_pass $suite_fail $((SECONDS - start)))")
    echo
done

echo "== summary"
for l in "${summary[@]}"; do
    echo "$l"
done
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
