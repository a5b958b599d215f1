#!/usr/bin/env python3
"""profile_pool.py -- where the optimist pool's CPU goes, per scenario.

Starts the bench's stack (tests/bench/bench.py's Bench: a private MariaDB,
the pool, nginx; optimist only), then for each scenario of
PROFILE_SCENARIOS (default get,spread,chat):

- runs wrk at PROFILE_CONNS connections (default 64) for PROFILE_SECONDS
  (default 5) while `perf record -e cpu-clock -g` samples the pool's
  workers, and prints perf report's top symbols (self time, the workers
  only) and the pool's CPU per answer from /proc;
- runs it again with `strace -c -f` on the workers and prints the system
  calls per answer (strace slows the pool a lot: its rates mean nothing,
  its counts per answer do).

PROFILE_PROC picks whose CPU perf samples: `workers` (the default), `db`
(mariadbd: what the pool's statements cost the server) or `nginx` (its
workers); the report is then profile-<scenario>-<proc>.txt. strace always
counts the workers' calls.

perf and strace are Debian's linux-perf and strace. Writes the reports
into build/bench/profile-<scenario>.txt. Everything is stopped by pid at
the end, as in bench.py.
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("BENCH_TARGETS", "optimist")
os.environ.setdefault("BENCH_SCENARIOS",
                      os.environ.get("PROFILE_SCENARIOS", "get,spread,chat"))
os.environ.setdefault("BENCH_WARMUP", "0")
sys.path.insert(0, HERE)
import bench  # noqa: E402

SECONDS = int(os.environ.get("PROFILE_SECONDS", "5"))
CONNS = int(os.environ.get("PROFILE_CONNS", "64"))
TOP = int(os.environ.get("PROFILE_TOP", "40"))
# Whose CPU perf samples: the pool's workers (the default), MariaDB's
# server or nginx's workers (what the pool's statements cost the server,
# what an answer costs in front).
PROC = os.environ.get("PROFILE_PROC", "workers")
OUTDIR = os.path.join(bench.REPO, "build", "bench")


def perf_run(b, sc, pids):
    data = os.path.join(b.stack.dir, "perf-%s.data" % sc)
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g",
         "-o", data, "-p", ",".join(map(str, pids))],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(0.5)
    try:
        res = b.run("optimist", sc, CONNS, SECONDS, record=False)
    finally:
        os.kill(perf.pid, signal.SIGINT)
        perf.wait(30)
    rep = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
         "--stdio", "-g", "none", "--percent-limit", "0.5"],
        capture_output=True, text=True)
    lines = [ln for ln in rep.stdout.splitlines()
             if ln.strip() and not ln.startswith("#")][:TOP]
    return res, lines


def strace_run(b, sc, pids):
    out = os.path.join(b.stack.dir, "strace-%s.txt" % sc)
    cmd = ["strace", "-c", "-o", out]
    for p in pids:
        cmd += ["-p", str(p)]
    st = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    time.sleep(0.5)
    try:
        res = b.run("optimist", sc, min(CONNS, 16), SECONDS, record=False)
    finally:
        os.kill(st.pid, signal.SIGINT)
        st.wait(30)
    with open(out) as f:
        text = f.read()
    n = max(res["requests"], 1)
    rows = []
    for ln in text.splitlines():
        parts = ln.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls = int(parts[3])
            rows.append((calls / n, parts[-1]))
    rows.sort(reverse=True)
    total = sum(c for c, _ in rows)
    return total, rows


def harness_children(pid):
    return bench.harness.children(pid)


def main():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, bench.on_signal)
    b = bench.Bench()
    rc = 0
    try:
        b.start()
        for sc in bench.SCENARIOS:
            if not b.runnable("optimist", sc):
                continue
            b.run("optimist", sc, 16, 2, record=False)  # warm
            pids = {"workers": b.fe.worker_pids,
                    "db": lambda: [b.stack.db.pid()],
                    "nginx": lambda: harness_children(b.fe.nginx_pid())}[PROC]()
            res, top = perf_run(b, sc, pids)
            total, calls = strace_run(b, sc, b.fe.worker_pids())
            text = ["%s, %d connections, %d s: %.0f req/s, pool CPU %.0f µs "
                    "an answer (nginx %.0f, MariaDB %.0f); load %.1f" % (
                        sc, CONNS, SECONDS, res["rps"], res["cpu_us"]["app"],
                        res["cpu_us"]["nginx"], res["cpu_us"]["db"],
                        os.getloadavg()[0]),
                    "", "perf (cpu-clock, %s, self time):" % PROC] + top
            text += ["", "system calls an answer (strace -c): %.1f" % total]
            text += ["  %6.2f %s" % (c, name) for c, name in calls if c >= 0.05]
            out = "\n".join(text) + "\n"
            os.makedirs(OUTDIR, exist_ok=True)
            name = sc if PROC == "workers" else "%s-%s" % (sc, PROC)
            with open(os.path.join(OUTDIR, "profile-%s.txt" % name), "w") as f:
                f.write(out)
            sys.stdout.write(out + "\n")
    except (KeyboardInterrupt, bench.Interrupted):
        rc = 130
    except bench.harness.HarnessError as e:
        bench.log("failed: %s" % e)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        b.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
