"""test_stress.py -- the short run of the lost-update checker
(tests/stress/stress.py; `make stress` runs the long one): 8 clients write
through nginx for STRESS_SHORT_SECONDS (default 30) while workers are
SIGKILLed, MariaDB is SIGKILLed and restarted, the pool's connections are
killed from the server side, the pool gets SIGHUP and nginx reloads. It
fails on any lost, duplicated or phantom write, a version that does not
match the writes applied, an approval decided twice or without its one
outbox event, or an idempotent retry executed twice. Cut answers (no
Content-Length) are printed, and fail it only with STRESS_STRICT=1."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "stress"))

import stress  # noqa: E402

STACK_OPTIONS = {"workers": 4, "db_opts": stress.DURABLE_DB_OPTS}


def test_no_write_lost_or_doubled_under_faults(stack):
    c = stress.Checker(
        stack, clients=8,
        seconds=float(os.environ.get("STRESS_SHORT_SECONDS", "30")),
        fault_interval=0.75,
        log=lambda s: print("      " + s, flush=True)).run()
    print("      " + c.statuses_line())
    print("      " + c.summary(), flush=True)
    assert c.counts["acked"] > 0, c.summary()
    # Every kind of fault happened at least once.
    assert all(c.faults[k] > 0 for k in stress.FAULT_KINDS), c.summary()
    assert c.strict_violations() == 0, "\n".join(c.violations[:50] + [
        c.summary()])
