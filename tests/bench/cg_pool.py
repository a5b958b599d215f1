#!/usr/bin/env python3
"""cg_pool.py -- user-space instructions per answer of one pool worker,
under valgrind's callgrind (deterministic: the load on the machine does
not move it). Set BIN to a folder whose optimist-fcgi runs the real one
under `valgrind --tool=callgrind --trace-children=yes
--toggle-collect=worker_run`, CG_OUT to where it writes; then this runs
CG_SCENARIOS (default get,spread,chat) with 1 connection for CG_SECONDS
each, one pool worker, and prints the requests each run made."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("BENCH_TARGETS", "optimist")
os.environ.setdefault("BENCH_SCENARIOS", os.environ.get("CG_SCENARIOS",
                                                        "get,spread,chat"))
os.environ.setdefault("BENCH_WARMUP", "0")
os.environ.setdefault("BENCH_WORKERS", "1")
os.environ.setdefault("BENCH_BIDS", "1000")
sys.path.insert(0, HERE)
import bench  # noqa: E402

b = bench.Bench()
try:
    b.start()
    for sc in bench.SCENARIOS:
        r = b.run("optimist", sc, 1, int(os.environ.get("CG_SECONDS", "8")),
                  record=False)
        print("%s %d" % (sc, r["requests"]), flush=True)
        if len(bench.SCENARIOS) > 1:
            print("(one scenario a run gives Ir per answer; several add up)")
finally:
    b.stop()
