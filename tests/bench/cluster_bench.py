"""cluster_bench.py -- `make bench-cluster`: the cluster row of the
benchmark. The same two scenarios (GET of random bids, versioned PATCH
spread over them) with wrk against:

  single   one MariaDB, one pool (tests/e2e/harness.py's stack)
  cluster  scripts/cluster.sh: 3 Galera nodes, pool A on node 1, pool B on
           node 2, through the nginx over both pools

Each pool gets BENCH_WORKERS workers (default 2 x cores), so the cluster
runs twice the workers of the single stack on the same machine, and three
database servers instead of one. On one machine the cluster is slower by
construction: every commit is replicated to two more servers on the same
cores and certified; the point is the figure and where the time goes.

Environment: BENCH_SECONDS (10), BENCH_CONNS (16), BENCH_BIDS (2000),
BENCH_WORKERS. Writes build/bench/cluster.md.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
import harness  # noqa: E402
import test_cluster  # noqa: E402

REPO = harness.REPO
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = int(os.environ.get("BENCH_CONNS", "16"))
NBIDS = int(os.environ.get("BENCH_BIDS", "2000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1))))
OUT = os.path.join(REPO, "build", "bench", "cluster.md")

SEED = ("INSERT INTO bids (tenant_id, data, created_at, updated_at) "
        "SELECT %d, JSON_OBJECT('title', CONCAT('Bid ', seq), 'price', "
        "seq * 10, 'currency', 'EUR'), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) "
        "FROM seq_1_to_%d ORDER BY seq")


def wrk(port, token, scenario, ids_file):
    script = {"get": "get_ids.lua", "spread": "patch_spread.lua"}[scenario]
    cmd = ["wrk", "-t", "2", "-c", str(CONNS), "-d", "%ds" % SECONDS,
           "--timeout", "10s", "-s", os.path.join(HERE, script),
           "http://127.0.0.1:%d" % port, "--", token, "2", ids_file]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, BENCH_LUA_DIR=HERE), timeout=SECONDS + 60)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            res = json.loads(line[6:])
            res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
            return res
    raise harness.HarnessError("wrk failed:\n%s\n%s" % (r.stdout, r.stderr))


def versions_file(rows, path):
    """The "id version" lines patch_spread.lua and get_ids.lua read."""
    with open(path, "w") as f:
        for row in rows:
            f.write("%s %s\n" % (row[0], row[1]))
    return path


def run_single(results):
    st = harness.Stack("bench-single").start(
        workers=WORKERS, env={"OPTIMIST_LOG_LEVEL": "warn"})
    try:
        tid, token = st.tenant("bench")
        st.sql(SEED % (tid, NBIDS))
        path = os.path.join(st.dir, "bench-ids.txt")
        query = "SELECT id, version FROM bids WHERE tenant_id = %d" % tid
        for sc in ("get", "spread"):
            wrk(st.port, token, sc, versions_file(st.sql(query), path))  # warm-up
            res = wrk(st.port, token, sc, versions_file(st.sql(query), path))
            results.append(("single", sc, res))
    finally:
        st.stop()


def run_cluster(results):
    c = test_cluster.Cluster()
    c.env["OPTIMIST_WORKERS"] = str(WORKERS)
    c.env["OPTIMIST_LOG_LEVEL"] = "warn"
    try:
        c.start()
        with open(os.path.join(c.dir, "demo-tenant.json")) as f:
            tid = json.load(f)["tenant_id"]
        c.sql(1, "USE optimist; " + SEED % (tid, NBIDS))
        path = os.path.join(c.dir, "bench-ids.txt")
        query = ("SELECT id, version FROM optimist.bids WHERE tenant_id = %d"
                 % tid)
        for sc in ("get", "spread"):
            wrk(c.port, c.token, sc, versions_file(c.sql(1, query), path))
            res = wrk(c.port, c.token, sc, versions_file(c.sql(1, query), path))
            results.append(("cluster", sc, res))
    finally:
        c.stop()


def main():
    results = []
    run_single(results)
    run_cluster(results)
    lines = ["| target | scenario | req/s | p50 ms | p99 ms | 200 | 409 | other |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for target, sc, r in results:
        lines.append("| %s | %s | %.0f | %.2f | %.2f | %d | %d | %d |" % (
            target, sc, r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000,
            r["c200"], r["c409"], r["cother"]))
    text = ("%d connections, %d s, %d workers a pool, %d bids, %d cores\n\n"
            % (CONNS, SECONDS, WORKERS, NBIDS, os.cpu_count() or 1)
            + "\n".join(lines) + "\n")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(text)
    bad = [r for _, _, r in results if r["cother"] or r["errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
