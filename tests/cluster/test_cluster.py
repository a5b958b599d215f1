"""test_cluster.py -- optimist on a 3-node MariaDB Galera cluster: `make
test-cluster` (not part of `make test`: the cluster alone takes ~20 s to
form, and the fault runs wait on membership changes).

It starts scripts/cluster.sh in a temporary folder on free loopback ports
(pool A prefers node 1, pool B node 2, one nginx over both, and each pool
alone behind its own nginx), then:

  - /healthz of each pool names its node and the cluster's state;
  - read-your-writes: a write through one pool is seen at once by a read
    through the other (wsrep_sync_wait);
  - 16 clients race versioned appends on one session through both pools:
    every 200 is in the final history exactly once, nothing else is, and
    no answer is 5xx;
  - approvals raced through both pools, with and without Idempotency-Key:
    exactly one 200, 409 to every loser, never 503 or 500, one outbox
    event per approval;
  - two `optimistctl migrate` at once on two nodes: both succeed, each
    migration applied once (three rounds);
  - a node isolated (gmcast.isolate=1) and a node SIGKILLed and restarted,
    under load through the shared nginx: 0 x 500, every acknowledged write
    present afterwards, each client's read after its own write shows it;
    the 503s are counted and the window they fall in is measured;
  - nginx routing around a pool whose only node cannot serve.

KEEP=1 keeps the folder. Prints "N passed, N failed" last; exit 1 on any
failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402

REPO = harness.REPO
BIN = harness.BIN
KEEP = os.environ.get("KEEP") == "1"


def ports_free(base, n):
    for p in range(base, base + n):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def free_range(n, lo=20000, hi=32000):
    """A base port with n free ports after it (checked now). Below the
    kernel's ephemeral range (32768 and up by default), so that no
    outgoing connection takes one of them between the check and the
    bind; the other stacks of the suites bind port 0, which is in it."""
    import random
    for _ in range(200):
        base = random.randrange(lo, hi - n)
        if ports_free(base, n):
            return base
    raise harness.HarnessError("no %d free ports in a row" % n)


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="optimist-cluster.")
        self.port = free_range(3)
        self.base = free_range(12)
        self.env = dict(os.environ, PORT=str(self.port),
                        CLUSTER_PORT_BASE=str(self.base),
                        BIN=os.path.relpath(BIN, REPO),
                        OPTIMIST_WORKERS="4",
                        # Back to the own node 3 s after it serves again.
                        OPTIMIST_DB_FAILBACK="3",
                        GALERA_EXTRA_CNF="innodb-flush-log-at-trx-commit=0;"
                                         "innodb-doublewrite=0")
        self.token = None

    def script(self, *args, timeout=300, check=True):
        r = subprocess.run([os.path.join(REPO, "scripts", args[0])]
                           + list(args[1:]), env=self.env, cwd=REPO,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise harness.HarnessError("%s failed:\n%s%s" % (
                " ".join(args), r.stdout, r.stderr))
        return r

    def start(self):
        self.script("cluster.sh", "start", self.dir)
        with open(os.path.join(self.dir, "demo-tenant.json")) as f:
            self.token = json.load(f)["token"]
        return self

    def errors(self):
        """The pools' error lines so far (a 500's cause)."""
        out = []
        for name in ("a", "b"):
            try:
                with open(os.path.join(self.dir, "log", "pool-%s.log" % name),
                          errors="replace") as f:
                    out += [ln.rstrip() for ln in f if " error " in ln]
            except FileNotFoundError:
                pass
        return out

    def stop(self, keep=False):
        self.script("cluster.sh", "stop", self.dir, check=False)
        if KEEP or keep:
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- http ----------------------------------------------------------
    def http(self, which, method, path, body=None, headers=None, token=True,
             timeout=30):
        port = {"both": self.port, "a": self.port + 1, "b": self.port + 2}[which]
        return harness.request("127.0.0.1", port, method, path, body=body,
                               headers=headers,
                               token=self.token if token else None,
                               timeout=timeout)

    # -- nodes -----------------------------------------------------------
    def db(self):
        return os.path.join(self.dir, "db")

    def sql(self, node, query):
        r = self.script("galera.sh", "sql", self.db(), str(node), query)
        return [line.split("\t") for line in r.stdout.splitlines()]

    def isolate(self, node, on):
        self.sql(node, "SET GLOBAL wsrep_provider_options='gmcast.isolate=%d'"
                 % (1 if on else 0))

    def wait_synced(self, size=3, timeout=180):
        self.env["GALERA_TIMEOUT"] = str(timeout)
        self.script("galera.sh", "wait", self.db(), str(size),
                    timeout=timeout + 30)

    def node_port(self, n):
        return self.base + 4 * (n - 1)

    def pool_pid(self, name):
        with open(os.path.join(self.dir, "run", "pool-%s.pid" % name)) as f:
            return int(f.read().strip())

    def migrate(self, hosts, dbname):
        """optimistctl migrate as the OS user through node sockets."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OPTIMIST_")}
        env.update(OPTIMIST_DB_HOSTS=hosts, OPTIMIST_DB_NAME=dbname)
        return subprocess.Popen([os.path.join(BIN, "optimistctl"), "migrate"],
                                env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


# --------------------------------------------------------------------------
# Load: writers and readers through the shared nginx, every answer kept.

class Load:
    """`clients` threads, each with its own session: append a message
    (versioned), then read the session back through the shared nginx
    (either pool); each read must show the client's own last acknowledged
    append. Every answer is kept with its time."""

    def __init__(self, c, clients=8):
        self.c = c
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.events = []       # (t, kind, status)
        self.durations = []    # (t, seconds)
        self.acked = {}        # session id -> [contents acknowledged]
        self.unknown = {}      # session id -> [contents with a 503]
        self.stale_reads = []
        self.errors = []
        self.threads = []

    def call(self, kind, method, path, body=None):
        """One request through the shared nginx, kept with the time of its
        answer and how long it took."""
        t = time.monotonic()
        r = self.c.http("both", method, path, body)
        end = time.monotonic()
        with self.lock:
            # An answer counts when it arrives: a 503 caused by the fault
            # may belong to a request sent just before it.
            self.events.append((end, kind, r.status))
            self.durations.append((t, end - t))
        return r

    def client(self, i):
        try:
            r = self.call("create", "POST", "/v1/sessions",
                          {"title": "load %d" % i})
            while r.status != 201:
                if self.stop.is_set():
                    return
                time.sleep(0.1)
                r = self.call("create", "POST", "/v1/sessions",
                              {"title": "load %d" % i})
            sid = r.json()["id"]
            version = 1
            acked, unknown = [], []
            with self.lock:
                self.acked[sid] = acked
                self.unknown[sid] = unknown
            n = 0
            while not self.stop.is_set():
                n += 1
                content = "c%d-m%d" % (i, n)
                r = self.call("append", "POST",
                              "/v1/sessions/%d/messages" % sid,
                              {"version": version,
                               "message": {"role": "user", "content": content}})
                if r.status == 200:
                    acked.append(content)
                    version = r.json()["version"]
                elif r.status == 409:
                    version = r.json().get("current_version", version)
                    unknown.append(content)  # cannot be: we are alone
                    self.errors.append("409 on a session only client %d "
                                       "writes" % i)
                else:
                    unknown.append(content)
                    # Refresh: a 503 at COMMIT leaves the fate unknown.
                    g = self.call("read", "GET", "/v1/sessions/%d" % sid)
                    if g.status == 200:
                        version = g.json()["version"]
                    continue
                g = self.call("read", "GET", "/v1/sessions/%d" % sid)
                if g.status == 200:
                    got = [m["content"] for m in g.json()["messages"]]
                    if not got or got[-1] != content:
                        self.stale_reads.append((sid, content, got[-1:]))
        except Exception as e:  # noqa: BLE001 -- reported as a failure
            self.errors.append("client %d: %r" % (i, e))

    def start(self):
        for i in range(self.clients):
            t = threading.Thread(target=self.client, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self, status, since=0.0):
        with self.lock:
            return sum(1 for t, _, s in self.events if s == status and t >= since)

    def window(self, status):
        with self.lock:
            ts = [t for t, _, s in self.events if s == status]
        return (min(ts), max(ts)) if ts else None

    def check_durable(self):
        """Every acknowledged append is in the history exactly once, and
        nothing is there that was not sent."""
        problems = []
        for sid, acked in self.acked.items():
            g = self.c.http("both", "GET", "/v1/sessions/%d" % sid)
            assert g.status == 200, g
            got = [m["content"] for m in g.json()["messages"]]
            for content in acked:
                if got.count(content) != 1:
                    problems.append("session %d: %s appears %d times"
                                    % (sid, content, got.count(content)))
            sent = set(acked) | set(self.unknown.get(sid, []))
            for content in got:
                if content not in sent:
                    problems.append("session %d: %s was never sent"
                                    % (sid, content))
            if len(got) != len(set(got)):
                problems.append("session %d: a message twice" % sid)
        return problems


def summary(load, t0):
    w = load.window(503)
    return {
        "requests": len(load.events),
        "200": load.count(200) + load.count(201),
        "409": load.count(409),
        "500": load.count(500),
        "503": load.count(503),
        "502": load.count(502),
        "503_window_s": (round(w[1] - w[0], 2) if w else 0.0),
        "503_first_after_s": (round(w[0] - t0, 2) if w else None),
        "stale_reads": len(load.stale_reads),
        # How long the membership change held requests up.
        "slowest_s": round(max((d for t, d in load.durations if t >= t0),
                               default=0.0), 2),
        "over_1s": sum(1 for t, d in load.durations if t >= t0 and d > 1.0),
    }


# --------------------------------------------------------------------------
# The tests. Each takes the cluster.

def test_healthz_names_node(c):
    for which, node in (("a", 1), ("b", 2)):
        r = c.http(which, "GET", "/healthz", token=False)
        assert r.status == 200, r
        body = r.json()
        cl = body["cluster"]
        assert cl["node"] == "127.0.0.1:%d" % c.node_port(node), body
        assert cl["status"] == "Primary" and cl["state"] == "Synced", body
        assert cl["size"] == 3, body


def test_read_your_writes_across_pools(c):
    stale = 0
    for i in range(60):
        w, rd = ("a", "b") if i % 2 == 0 else ("b", "a")
        r = c.http(w, "POST", "/v1/sessions", {"title": "ryw %d" % i})
        assert r.status == 201, r
        sid = r.json()["id"]
        g = c.http(rd, "GET", "/v1/sessions/%d" % sid)
        if g.status != 200:
            stale += 1
            continue
        etag = g.header("ETag")
        p = c.http(w, "POST", "/v1/sessions/%d/messages" % sid,
                   {"version": 1, "message": {"role": "user", "content": "x"}})
        assert p.status == 200, p
        g = c.http(rd, "GET", "/v1/sessions/%d" % sid,
                   headers={"If-None-Match": etag})
        if g.status != 200 or g.json()["version"] != 2:
            stale += 1
        # A stale version through the other pool: the conflict body shows
        # the version just written, never an older one.
        q = c.http(rd, "POST", "/v1/sessions/%d/messages" % sid,
                   {"version": 1, "message": {"role": "user", "content": "y"}})
        assert q.status == 409, q
        if q.json().get("current_version") != 2:
            stale += 1
    assert stale == 0, "%d stale reads through the other pool" % stale


def test_racing_appends_both_pools(c):
    r = c.http("a", "POST", "/v1/sessions", {"title": "race"})
    assert r.status == 201, r
    sid = r.json()["id"]
    acked, statuses = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + 8

    def client(i):
        which = "a" if i % 2 == 0 else "b"
        n = 0
        while time.monotonic() < deadline:
            g = c.http(which, "GET", "/v1/sessions/%d" % sid)
            assert g.status == 200, g
            v = g.json()["version"]
            n += 1
            content = "r%d-%d" % (i, n)
            p = c.http(which, "POST", "/v1/sessions/%d/messages" % sid,
                       {"version": v,
                        "message": {"role": "user", "content": content}})
            with lock:
                statuses.append(p.status)
                if p.status == 200:
                    acked.append(content)
    harness.parallel(client, list(range(16)))
    g = c.http("both", "GET", "/v1/sessions/%d" % sid)
    got = [m["content"] for m in g.json()["messages"]]
    bad = [s for s in statuses if s not in (200, 409)]
    assert not bad, "non-200/409 answers: %s" % {s: bad.count(s) for s in set(bad)}
    assert sorted(got) == sorted(acked), (
        "history %d messages, %d acknowledged" % (len(got), len(acked)))
    assert g.json()["version"] == len(acked) + 1
    print("    racing appends: %d x 200, %d x 409" % (
        statuses.count(200), statuses.count(409)))


def race_approvals(c, keys, rounds=15, racers=12):
    counts = {}
    for rnd in range(rounds):
        r = c.http("a", "POST", "/v1/approvals",
                   {"action": {"type": "pay", "payload": {"round": rnd}}})
        assert r.status == 201, r
        aid = r.json()["id"]

        def approve(i):
            which = "a" if i % 2 == 0 else "b"
            h = {"Idempotency-Key": "k-%d-%d-%d" % (aid, i, keys)} if keys else None
            return c.http(which, "POST", "/v1/approvals/%d/approve" % aid,
                          {"version": 1, "note": "racer %d" % i}, headers=h)
        res = harness.parallel(approve, list(range(racers)))
        st = [x.status for x in res]
        for s in st:
            counts[s] = counts.get(s, 0) + 1
        assert st.count(200) == 1, "round %d: %s" % (rnd, st)
        assert st.count(409) == racers - 1, "round %d: %s" % (rnd, st)
        ev = c.sql(1, "SELECT COUNT(*) FROM optimist.approval_events "
                      "WHERE approval_id = %d" % aid)
        assert ev == [["1"]], "round %d: %s outbox events" % (rnd, ev)
    return counts


def test_approvals_race_without_keys(c):
    counts = race_approvals(c, keys=False)
    print("    approvals without keys: %s" % counts)


def test_approvals_race_with_keys(c):
    counts = race_approvals(c, keys=True)
    print("    approvals with keys: %s" % counts)


def test_two_migrators_on_two_nodes(c):
    socks = [os.path.join(c.db(), "node%d" % n, "mysqld.sock") for n in (1, 2)]
    for rnd in range(3):
        name = "migtest%d" % rnd
        c.sql(1, "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s" % (name, name))
        procs = [c.migrate(s, name) for s in socks]
        outs = [p.communicate(timeout=180)[0] for p in procs]
        for p, out in zip(procs, outs):
            assert p.returncode == 0, "round %d: migrate failed:\n%s" % (rnd, out)
        files = len([f for f in os.listdir(os.path.join(REPO, "sql"))
                     if f.endswith(".sql")])
        rows = c.sql(2, "SELECT version, COUNT(*) FROM %s.schema_migrations "
                        "GROUP BY version" % name)
        assert len(rows) == files and all(r[1] == "1" for r in rows), rows
        applied = sum(int(o.strip().splitlines()[-1].split()[0]) for o in outs)
        assert applied == files, outs
        c.sql(1, "DROP DATABASE %s" % name)


def test_node_isolated_under_load(c):
    load = Load(c).start()
    time.sleep(3)
    t0 = time.monotonic()
    c.isolate(1, True)
    time.sleep(8)
    c.isolate(1, False)
    c.wait_synced(3)
    t1 = time.monotonic()
    time.sleep(3)
    load.finish()
    s = summary(load, t0)
    print("    node 1 isolated %.1f s: %s" % (t1 - t0, s))
    assert not load.errors, load.errors[:5]
    assert s["500"] == 0, s
    assert s["200"] > 0, s
    assert not load.stale_reads, load.stale_reads[:5]
    problems = load.check_durable()
    assert not problems, problems[:5]
    w = load.window(503)
    if w:
        assert w[0] >= t0 and w[1] <= t1 + 1, (
            "503 outside the membership change: %s" % s)
    # Pool A went to node 2 meanwhile; its workers come back to node 1
    # (OPTIMIST_DB_FAILBACK=3): 20 /healthz in a row name node 1.
    own = "127.0.0.1:%d" % c.node_port(1)

    def back():
        for _ in range(20):
            r = c.http("a", "GET", "/healthz", token=False)
            if r.status != 200 or r.json()["cluster"]["node"] != own:
                time.sleep(0.5)
                return False
        return True
    t2 = time.monotonic()
    harness.wait_until(back, 60, "pool A back on node 1")
    print("    pool A back on node 1 %.1f s after the cluster was whole"
          % (time.monotonic() - t2 + (t2 - t1)))


def test_node_killed_and_restarted_under_load(c):
    load = Load(c).start()
    time.sleep(3)
    t0 = time.monotonic()
    c.script("galera.sh", "node-kill", c.db(), "2")
    time.sleep(5)
    c.script("galera.sh", "node-start", c.db(), "2", timeout=240)
    c.wait_synced(3)
    t1 = time.monotonic()
    time.sleep(3)
    load.finish()
    s = summary(load, t0)
    print("    node 2 killed and back after %.1f s: %s" % (t1 - t0, s))
    assert not load.errors, load.errors[:5]
    assert s["500"] == 0, s
    assert not load.stale_reads, load.stale_reads[:5]
    problems = load.check_durable()
    assert not problems, problems[:5]
    w = load.window(503)
    if w:
        assert w[0] >= t0 and w[1] <= t1 + 1, (
            "503 outside the membership change: %s" % s)


def test_nginx_routes_around_a_pool_that_cannot_serve(c):
    """Pool A restarted with node 1 as its only host; node 1 isolated:
    pool A's /healthz says 503 and every GET through the shared nginx
    still answers 200 (nginx tries pool B after pool A's 503)."""
    pid = c.pool_pid("a")
    os.kill(pid, 15)
    harness.wait_until(lambda: not harness.alive(pid), 30, "pool A to stop")
    run = os.path.join(c.dir, "run")
    env = {k: v for k, v in c.env.items()}
    env.update(OPTIMIST_LISTEN=os.path.join(run, "pool-a.sock"),
               OPTIMIST_PIDFILE=os.path.join(run, "pool-a.pid"),
               OPTIMIST_DB_HOSTS="127.0.0.1:%d" % c.node_port(1),
               OPTIMIST_DB_USER="optimist",
               OPTIMIST_DB_PASSWORD=open(os.path.join(c.db(), "password")).read().strip())
    log = open(os.path.join(c.dir, "log", "pool-a.log"), "ab")
    subprocess.Popen([os.path.join(BIN, "optimist-fcgi")], env=env,
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True)
    harness.wait_until(lambda: c.http("a", "GET", "/healthz", token=False).status == 200,
                       30, "pool A on node 1 only")
    r = c.http("a", "POST", "/v1/sessions", {"title": "routing"})
    assert r.status == 201, r
    sid = r.json()["id"]
    try:
        c.isolate(1, True)
        harness.wait_until(
            lambda: c.http("a", "GET", "/healthz", token=False).status == 503,
            30, "pool A's /healthz to say 503")
        statuses = [c.http("both", "GET", "/v1/sessions/%d" % sid).status
                    for _ in range(40)]
        assert statuses.count(200) == 40, statuses
        h = [c.http("both", "GET", "/healthz", token=False).status
             for _ in range(10)]
        assert h.count(200) == 10, h
    finally:
        c.isolate(1, False)
        c.wait_synced(3)


def test_outbox_feed_same_through_both_pools(c):
    """Decisions made at once through both pools: the outbox feed read
    through either pool lists each decision exactly once, in the same
    order, with increasing seq (the streams issue's change events will be
    read from the same table)."""
    r = c.http("a", "GET", "/v1/approvals/events?after=0&limit=500")
    assert r.status == 200, r
    items = r.json()["items"]
    assert len(items) < 500, "more events than one page: page through them"
    start = items[-1]["seq"] if items else 0
    ids = []
    for i in range(20):
        r = c.http("a" if i % 2 else "b", "POST", "/v1/approvals",
                   {"action": {"type": "feed", "payload": i}})
        assert r.status == 201, r
        ids.append(r.json()["id"])

    def decide(i):
        which = "a" if i % 2 == 0 else "b"
        verb = "approve" if i % 3 else "reject"
        return c.http(which, "POST", "/v1/approvals/%d/%s" % (ids[i], verb),
                      {"version": 1}).status
    st = harness.parallel(decide, list(range(20)))
    assert st == [200] * 20, st
    feeds = []
    for which in ("a", "b"):
        r = c.http(which, "GET",
                   "/v1/approvals/events?after=%d&limit=500" % start)
        assert r.status == 200, r
        feeds.append([(e["seq"], e["approval_id"], e["type"])
                      for e in r.json()["items"]])
    assert feeds[0] == feeds[1], feeds
    got = [a for _, a, _ in feeds[0]]
    assert sorted(got) == sorted(ids), got
    seqs = [q for q, _, _ in feeds[0]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


def test_chat_appends_race_through_both_pools(c):
    """16 clients append to one report's chat through both pools (a hot row
    locked per node, certified across nodes), each message id sent twice,
    once through each pool: no 5xx, every id in the chat exactly once."""
    r = c.http("a", "POST", "/v1/reports", {"title": "hot chat"})
    assert r.status == 201, r
    rid = r.json()["id"]
    statuses = []
    lock = threading.Lock()

    def client(i):
        for n in range(25):
            mid = "c%d-%d" % (i, n)
            msg = {"messages": [{"id": mid, "role": "user", "content": mid}]}
            for which in (("a", "b") if i % 2 else ("b", "a")):
                x = c.http(which, "POST", "/v1/reports/%d/chat" % rid, msg)
                with lock:
                    statuses.append(x.status)
    harness.parallel(client, list(range(16)))
    bad = [s for s in statuses if s != 200]
    assert not bad, "non-200: %s" % {s: bad.count(s) for s in set(bad)}
    g = c.http("b", "GET", "/v1/reports/%d/chat?after=0&limit=1000" % rid)
    assert g.status == 200, g
    got = [m["id"] for m in g.json()["messages"]]
    assert len(got) == 16 * 25 == len(set(got)), len(got)
    assert g.json()["length"] == 400, g.json()["length"]


def replicated_bytes(c, node):
    rows = c.sql(node, "SHOW GLOBAL STATUS LIKE 'wsrep_replicated_bytes'")
    return int(rows[0][1])


def test_chat_append_write_set(c):
    """The write set of one chat append once the chat
    holds 1,000 messages of 300 bytes. Measured on node 1 (pool A's), with
    nothing else writing; printed for the report. It must stay far below
    the size of the history once the chat no longer lives in one document
    (the chat-scale layout); with one JSON document per report it is about
    the whole history."""
    r = c.http("a", "POST", "/v1/reports", {"title": "write set"})
    assert r.status == 201, r
    rid = r.json()["id"]
    body = "x" * 300
    for call in range(10):
        msgs = [{"id": "m%d-%d" % (call, i), "role": "user", "content": body}
                for i in range(100)]
        r = c.http("a", "POST", "/v1/reports/%d/chat" % rid,
                   {"messages": msgs})
        assert r.status == 200 and r.json()["appended"] == 100, r
    before = replicated_bytes(c, 1)
    r = c.http("a", "POST", "/v1/reports/%d/chat" % rid,
               {"messages": [{"id": "last", "role": "user", "content": body}]})
    assert r.status == 200 and r.json()["length"] == 1001, r
    grew = replicated_bytes(c, 1) - before
    history = 1000 * (len(body) + 60)
    print("    one append after 1,000 messages: %d bytes replicated "
          "(history ~%d bytes)" % (grew, history))
    assert grew > 300, grew  # the append itself went through node 1


TESTS = [
    test_healthz_names_node,
    test_read_your_writes_across_pools,
    test_racing_appends_both_pools,
    test_approvals_race_without_keys,
    test_approvals_race_with_keys,
    test_two_migrators_on_two_nodes,
    test_node_isolated_under_load,
    test_node_killed_and_restarted_under_load,
    test_nginx_routes_around_a_pool_that_cannot_serve,
    test_outbox_feed_same_through_both_pools,
    test_chat_appends_race_through_both_pools,
    test_chat_append_write_set,
]


def main(argv):
    names = set(argv[1:])
    chosen = [t for t in TESTS if not names or t.__name__ in names]
    passed = failed = 0
    t_start = time.monotonic()
    c = Cluster()
    try:
        print("starting the cluster in %s (ports %d.., http %d..)"
              % (c.dir, c.base, c.port), flush=True)
        c.start()
        print("cluster up in %.1f s" % (time.monotonic() - t_start), flush=True)
        for t in chosen:
            t0 = time.monotonic()
            try:
                t(c)
                passed += 1
                print("ok    %s (%.1fs)" % (t.__name__, time.monotonic() - t0),
                      flush=True)
            except Exception:  # noqa: BLE001
                failed += 1
                print("FAIL  %s (%.1fs)" % (t.__name__, time.monotonic() - t0))
                traceback.print_exc()
                for line in c.errors()[-10:]:
                    print("      pool: " + line)
                sys.stdout.flush()
    except Exception:  # noqa: BLE001
        failed += 1
        traceback.print_exc()
    finally:
        c.stop(keep=failed > 0)  # a failure's logs stay for a look
    print("total %.1f s" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
