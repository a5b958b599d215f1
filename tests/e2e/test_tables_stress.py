"""test_tables_stress.py -- the short declared-table run of the lost-update
checker (tests/stress/stress.py --mode tables; `make stress` runs it with
the built-in resources for STRESS_SECONDS): HTTP clients read-modify-write
rows of a declared, prepared table while a plain-SQL writer appends to the
same rows with the application's own UPDATE, under the checker's faults
(workers and MariaDB SIGKILLed, connections killed, SIGHUP to the pool,
which reads the declared tables again, nginx reloads). No acknowledged
write of either writer lost, none applied twice, and each row's version is
1 + the writes applied."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "stress"))

import stress  # noqa: E402

STACK_OPTIONS = {"workers": 4, "db_opts": stress.DURABLE_DB_OPTS,
                 "tables": True}


def test_declared_table_no_write_lost_or_doubled_under_faults(stack):
    c = stress.Checker(
        stack, clients=6,
        seconds=float(os.environ.get("STRESS_TABLES_SECONDS", "15")),
        fault_interval=0.75, mode="tables",
        log=lambda s: print("      " + s, flush=True)).run()
    print("      " + c.statuses_line())
    print("      " + c.summary(), flush=True)
    assert c.counts["acked"] > 0 and c.counts["sql_acked"] > 0, c.summary()
    assert all(c.faults[k] > 0 for k in stress.FAULT_KINDS), c.summary()
    assert c.strict_violations() == 0, "\n".join(c.violations[:50] + [
        c.summary()])
