#!/usr/bin/env python3
"""runner.py -- runs the end-to-end tests (tests/e2e/test_*.py).

    python3 tests/e2e/runner.py                       every test
    python3 tests/e2e/runner.py test_sessions.py      one file
    python3 tests/e2e/runner.py test_sessions.py::test_create_then_get
    python3 tests/e2e/runner.py -k conflict           names containing it

A test is a function named test_* in a module tests/e2e/test_*.py. If it
takes an argument it gets the Stack (harness.py). By default the tests of
every module share one Stack, started on first use with 4 workers. A
module that needs its own (it kills or reloads the pool, sets pool options)
says so:

    STACK_OPTIONS = {"workers": 2, "env": {"OPTIMIST_MAX_REQUESTS": "5"}}

(the arguments of Stack.start()); `NEEDS_STACK = False` starts none and
passes None. Optional per module: setup_module(stack), teardown_module(stack).

A test passes if it returns, fails on any exception (its traceback is
printed), and is skipped by harness.skip("why"). It also fails if it runs
longer than TEST_TIMEOUT seconds (default 300), if it leaves a sanitizer
report in a pool log (SAN=1), or if the shared stack's pool master died
during it (the pool is then started again for the next tests).

The last line printed is "N passed, N failed"; the exit status is 1 if any
test failed.
"""

import importlib.util
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("TEST_TIMEOUT", "300"))


class TestTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("the test ran longer than %ds (TEST_TIMEOUT)"
                      % TEST_TIMEOUT)


def parse_args(argv):
    selectors, keyword = [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-k" and i + 1 < len(argv):
            keyword = argv[i + 1]
            i += 2
            continue
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        selectors.append(a)
        i += 1
    return selectors, keyword


def wanted(selectors, keyword, filename, funcname):
    if keyword and keyword not in funcname and keyword not in filename:
        return False
    if not selectors:
        return True
    for sel in selectors:
        file_part, _, func_part = os.path.basename(sel).partition("::")
        if not file_part.endswith(".py"):
            file_part += ".py"
        if file_part == filename and (not func_part or func_part == funcname):
            return True
    return False


def file_of(selector):
    name = os.path.basename(selector).partition("::")[0]
    return name if name.endswith(".py") else name + ".py"


def load_modules(selectors, keyword):
    """[(filename, module or the import error, [test names])], in file
    order."""
    files = sorted(f for f in os.listdir(HERE)
                   if f.startswith("test_") and f.endswith(".py"))
    chosen = {file_of(s) for s in selectors}
    for name in sorted(chosen - set(files)):
        print("no such test file: tests/e2e/%s" % name)
        sys.exit(2)
    found = []
    for fname in files:
        if chosen and fname not in chosen:
            continue
        spec = importlib.util.spec_from_file_location(
            fname[:-3], os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            found.append((fname, traceback.format_exc(), ["(import)"]))
            continue
        tests = [obj for name, obj in vars(mod).items()
                 if name.startswith("test_") and inspect.isfunction(obj)
                 and obj.__module__ == mod.__name__
                 and wanted(selectors, keyword, fname, name)]
        tests.sort(key=lambda f: f.__code__.co_firstlineno)
        if tests:
            found.append((fname, mod, tests))
    return found


class Runner:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []
        self.shared = None
        self.shared_error = None

    def shared_stack(self):
        if self.shared is None and self.shared_error is None:
            t0 = time.monotonic()
            try:
                self.shared = harness.Stack("shared").start(workers=4)
                print("(shared stack up in %.1fs on %s)"
                      % (time.monotonic() - t0, self.shared.url))
                if not self.shared.pool_alive():
                    print("WARNING: %s/optimist-fcgi is not built: the "
                          "stack runs without a pool" % harness.BIN)
            except Exception:
                self.shared_error = traceback.format_exc()
                print("the shared stack did not start:\n" + self.shared_error)
        if self.shared_error:
            raise harness.HarnessError("the shared stack did not start")
        return self.shared

    def report(self, status, label, seconds, detail=None):
        print("%-4s  %-60s %6.2fs" % (status, label, seconds), flush=True)
        if detail:
            print("      " + detail.rstrip().replace("\n", "\n      "))
        if status == "FAIL":
            self.failed += 1
            self.failures.append(label)
        elif status == "PASS":
            self.passed += 1
        else:
            self.skipped += 1

    def run_test(self, label, fn, stack):
        shared = stack is not None and stack is self.shared
        if stack is not None:
            stack.new_sanitizer_reports()     # what came before is not ours
        t0 = time.monotonic()
        status, detail = "PASS", None
        signal.alarm(TEST_TIMEOUT)
        try:
            if len(inspect.signature(fn).parameters) >= 1:
                fn(stack)
            else:
                fn()
        except harness.Skip as e:
            status, detail = "SKIP", str(e)
        except KeyboardInterrupt:
            raise
        except BaseException:
            status, detail = "FAIL", traceback.format_exc()
        finally:
            signal.alarm(0)
        elapsed = time.monotonic() - t0
        if stack is not None and stack.main is not None:
            reports = stack.new_sanitizer_reports()
            if reports:
                status = "FAIL"
                detail = (detail or "") + "sanitizer report(s) in the pool " \
                    "log:\n" + "\n".join(reports)
            if status == "FAIL":
                detail += "\n--- end of %s:\n%s" % (
                    stack.main.log_path,
                    harness._tail(stack.main.log_path, 15))
            if shared and stack.main.proc is not None and \
                    not stack.main.pool_alive():
                if status != "FAIL":
                    status = "FAIL"
                    detail = "the shared stack's pool master exited during " \
                        "this test (status %s)" % stack.main.proc.returncode
                try:
                    stack.main.stop_pool()
                    stack.main.start_pool()
                except Exception as e:
                    detail += "\nand it did not start again: %s" % e
        self.report(status, label, elapsed, detail)

    def run_module(self, fname, mod, tests):
        if isinstance(mod, str):   # it did not import
            self.report("FAIL", "%s (import)" % fname, 0, mod)
            return
        own = None
        stack = None
        if getattr(mod, "NEEDS_STACK", True) is False:
            stack = None
        elif hasattr(mod, "STACK_OPTIONS"):
            t0 = time.monotonic()
            try:
                own = harness.Stack(fname[:-3])
                own.start(**(mod.STACK_OPTIONS or {}))
                stack = own
            except Exception:
                err = traceback.format_exc()
                for fn in tests:
                    self.report("FAIL", "%s::%s" % (fname, fn.__name__),
                                time.monotonic() - t0,
                                "the module's stack did not start:\n" + err)
                own.stop()
                return
        else:
            try:
                stack = self.shared_stack()
            except harness.HarnessError as e:
                for fn in tests:
                    self.report("FAIL", "%s::%s" % (fname, fn.__name__), 0,
                                str(e))
                return
        try:
            setup = getattr(mod, "setup_module", None)
            if setup:
                try:
                    setup(stack)
                except Exception:
                    err = traceback.format_exc()
                    for fn in tests:
                        self.report("FAIL", "%s::%s" % (fname, fn.__name__),
                                    0, "setup_module failed:\n" + err)
                    return
            for fn in tests:
                self.run_test("%s::%s" % (fname, fn.__name__), fn, stack)
            teardown = getattr(mod, "teardown_module", None)
            if teardown:
                try:
                    teardown(stack)
                except Exception:
                    self.report("FAIL", "%s::teardown_module" % fname, 0,
                                traceback.format_exc())
        finally:
            if own is not None:
                self.stop_stack(own, fname)

    def stop_stack(self, stack, label):
        stack.stop()
        reports = stack.new_sanitizer_reports()
        if reports:
            self.report("FAIL", "%s (sanitizer reports at shutdown)" % label,
                        0, "\n".join(reports))


def main():
    # SIGTERM ends the run like Ctrl-C does: everything started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGALRM, on_alarm)
    selectors, keyword = parse_args(sys.argv[1:])
    modules = load_modules(selectors, keyword)
    runner = Runner()
    t0 = time.monotonic()
    interrupted = False
    try:
        for fname, mod, tests in modules:
            runner.run_module(fname, mod, tests)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted")
    finally:
        if runner.shared is not None:
            runner.stop_stack(runner.shared, "shared stack")
    if not modules:
        print("no tests selected")
    if runner.failures:
        print("\nfailed:")
        for label in runner.failures:
            print("  " + label)
    print("\n%d skipped, %.1fs" % (runner.skipped, time.monotonic() - t0))
    print("%d passed, %d failed" % (runner.passed, runner.failed))
    if interrupted:
        sys.exit(130)
    sys.exit(1 if runner.failed else 0)


if __name__ == "__main__":
    main()
