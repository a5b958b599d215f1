#!/usr/bin/env python3
"""streams_bench.py -- what STREAMS open event streams (default 2,000;
`make bench-streams STREAMS=10000`) cost the rest of the service, through
nginx, on this machine (`make bench-streams`, also run by `make bench`).

The mix: 80 % record feeds on distinct bids, 10 % on distinct sessions,
5 % chat feeds (two a report), 4 % outbox feeds (four tenants) and 1 %
evaluations (up to 50, a demo evaluator that prints a line every 2 s), over
four tenants. So STREAMS=10000 follows about 9,300 distinct records.

  - GET /v1/sessions/{id} req/s (wrk, 16 connections, BENCH_SECONDS) with
    no stream open, then with every stream open while CHANGES (default
    200) changes a second are made (PATCH of a followed bid, one in ten a
    chat append) and delivered;
  - delivery latency, from each change's send to its subscriber's event:
    p50 and p99 over every delivery of that window; every subscriber must
    end at its resource's newest state;
  - the same p99 while another session holds one bid's row FOR UPDATE for
    BENCH_LOCK_SECONDS (default 20; 0 skips it) -- the bid of a running
    evaluation, so the hub's lease renewal waits on it;
  - the database's statements a second (Com_select + Com_insert +
    Com_update) with every stream open and nothing else happening, less
    the same with none open: the hub's polls for changes made on other
    hosts (a second pool would add as many again);
  - memory per open stream: the hub's RSS and nginx's workers' RSS,
    before and after opening them.

Its own stack (tests/e2e/harness.py); prints one table."""

import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402

STREAMS = int(os.environ.get("STREAMS", "2000"))
CHANGES = int(os.environ.get("CHANGES", "200"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
LOCK_SECONDS = int(os.environ.get("BENCH_LOCK_SECONDS", "20"))
TENANTS = 4


class Sub:
    __slots__ = ("kind", "key", "tok", "path", "sock", "buf", "status",
                 "last", "n", "lat", "sent")

    def __init__(self, kind, key, tok, path, sent):
        self.kind, self.key, self.tok, self.path = kind, key, tok, path
        self.sock, self.buf, self.status = None, b"", None
        self.last, self.n, self.lat, self.sent = None, 0, None, sent

    def connect(self, port, sel, method="GET", body=None):
        head = ("%s %s HTTP/1.0\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Accept: text/event-stream\r\n" % (method, self.path, self.tok))
        raw = b""
        if body is not None:
            raw = json.dumps(body).encode()
            head += ("Content-Type: application/json\r\nContent-Length: "
                     "%d\r\n" % len(raw))
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(head.encode() + b"\r\n" + raw)
        self.sock.setblocking(False)
        sel.register(self.sock, selectors.EVENT_READ, self)

    def feed(self, data, now):
        self.buf += data
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.buf[:end].split(b" ", 2)[1])
            self.buf = self.buf[end + 4:]
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return
            block, self.buf = self.buf[:end], self.buf[end + 2:]
            eid = None
            for line in block.split(b"\n"):
                if line.startswith(b"id: "):
                    eid = int(line[4:])
            if eid is None:
                continue
            self.n += 1
            self.last = eid
            if self.lat is not None:
                self.lat.append((eid, now))


def pump(sel, timeout):
    now = time.monotonic()
    for key, _ in sel.select(timeout):
        s = key.data
        try:
            data = s.sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data:
            s.feed(data, now)
        else:
            sel.unregister(s.sock)
            s.sock.close()
            s.sock = None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children_cpu_s():
    """CPU seconds of this script's waited-for children (wrk, the writer
    processes)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pool_cpu_s(stack):
    """The pool's CPU seconds: the master's own, that of the workers it
    reaped (recycled ones still count) and that of its live children (the
    workers and the hub)."""
    pid = stack.pool_pid()
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK") + sum(
        cpu_s(p) for p in harness.children(pid))


def cpu_groups(stack, hub, nginx_workers):
    """CPU seconds so far of each part of the machine: the pool's workers,
    nginx, mariadbd, the hub, and the clients (this script, and wrk and
    the writers once they are waited for)."""
    return {"pool": pool_cpu_s(stack) - cpu_s(hub),
            "nginx": sum(cpu_s(p) for p in nginx_workers),
            "mariadbd": cpu_s(stack.db.pid()),
            "hub": cpu_s(hub),
            "clients": cpu_s(os.getpid()) + children_cpu_s()}


def cpu_line(a, b, seconds):
    return ", ".join("%s %.0f %%" % (k, (b[k] - a[k]) / seconds * 100)
                     for k in a)


def wrk_rps(stack, path, tok):
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "16", "-d", "%ds" % SECONDS, "-H",
         "Authorization: Bearer " + tok, stack.url + path],
        capture_output=True, text=True, timeout=SECONDS + 60).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(m.group(1)) if m else 0.0, int(non2xx.group(1)) if non2xx \
        else 0


def db_statements(stack):
    rows = stack.sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                     "('Com_select', 'Com_insert', 'Com_update')")
    return sum(int(r[1]) for r in rows)


def statements_per_s(stack, seconds=5):
    a = db_statements(stack)
    time.sleep(seconds)
    return (db_statements(stack) - a - 1) / seconds   # less our own SHOW


class Writer:
    """CHANGES changes a second, paced, in `procs` processes of their own
    (so that the subscribers' loop here does not delay them, nor they it)
    with keep-alive connections: PATCHes of followed bids (each bid in one
    process), one in ten a chat append. finish() returns the send times,
    {(kind, key, id): monotonic seconds}, and leaves the new versions and
    chat lengths in `bids` and `reports`."""

    def __init__(self, stack, bids, reports, rate, procs=2):
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        self.port, self.rate = stack.port, rate
        self.bids, self.reports = bids, reports
        self.stop = ctx.Event()
        self.out = ctx.Queue()
        self.procs = []
        for t in range(procs):
            mine = [b for i, b in enumerate(bids) if i % procs == t]
            rep = [r for i, r in enumerate(reports) if i % procs == t]
            self.procs.append(ctx.Process(
                target=self.run, args=(mine, rep, rate / procs)))
        self.done = 0
        self.errors = []

    def start(self):
        for p in self.procs:
            p.start()
        return self

    def finish(self):
        self.stop.set()
        sent = {}
        byid = {b["id"]: b for b in self.bids}
        byrep = {r["id"]: r for r in self.reports}
        for _ in self.procs:
            got = self.out.get(timeout=120)
            sent.update(got["sent"])
            self.done += got["done"]
            self.errors += got["errors"]
            for k, v in got["versions"].items():
                byid[k]["version"] = v
            for k, v in got["lens"].items():
                byrep[k]["len"] = v
        for p in self.procs:
            p.join(60)
        return sent

    def run(self, bids, reports, rate):
        sent, errors, done = {}, [], 0
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        n, t0 = 0, time.monotonic()
        while not self.stop.is_set() and bids:
            due = t0 + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if n % 10 == 9 and reports:
                r = reports[(n // 10) % len(reports)]
                body = {"messages": [{"id": "w%d" % r["len"], "role": "user",
                                      "content": "x"}]}
                key, kind, path, method = r["id"], "chat", \
                    "/v1/reports/%d/chat" % r["id"], "POST"
                nextid, tok = r["len"] + 1, r["tok"]
            else:
                b = bids[n % len(bids)]
                body = {"version": b["version"], "data": {"n": n}}
                key, kind, path, method = b["id"], "bid", \
                    "/v1/bids/%d" % b["id"], "PATCH"
                nextid, tok = b["version"] + 1, b["tok"]
            sent[(kind, key, nextid)] = time.monotonic()
            try:
                conn.request(method, path, body=json.dumps(body),
                             headers={"Authorization": "Bearer " + tok,
                                      "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException) as e:
                errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=60)
                n += 1
                continue
            if resp.status in (200, 201):
                if kind == "chat":
                    r["len"] = nextid
                else:
                    b["version"] = nextid
                done += 1
            else:
                errors.append(resp.status)
            n += 1
        conn.close()
        self.out.put({"sent": sent, "done": done, "errors": errors[:5],
                      "versions": {b["id"]: b["version"] for b in bids},
                      "lens": {r["id"]: r["len"] for r in reports}})


def latencies(subs, sent):
    """Seconds from each change's send to its subscriber's event."""
    out = []
    for x in subs:
        for eid, t in x.lat:
            t0 = sent.get((x.kind, x.key, eid))
            if t0 is not None:
                out.append(t - t0)
    return out


def second_pool_feeds(port, feeds, ready, stop):
    """A process of its own (its own descriptors): one feed a record on
    the second pool; says how many opened, holds them until `stop`."""
    sel = selectors.DefaultSelector()
    subs = []
    for i, (kind, key, tok, path) in enumerate(feeds):
        x = Sub(kind, key, tok, path, {})
        x.connect(port, sel)
        subs.append(x)
        if i % 500 == 499:
            while not all(y.status for y in subs):
                pump(sel, 0.2)
    deadline = time.monotonic() + 120
    while not all(y.status for y in subs) and time.monotonic() < deadline:
        pump(sel, 0.2)
    ready.put(sum(1 for y in subs if y.status == 200))
    while not stop.is_set():
        pump(sel, 0.2)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else 0.0


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < STREAMS + 1000:
        sys.exit("RLIMIT_NOFILE hard limit %d is too low for %d streams"
                 % (hard, STREAMS))
    n_eval = min(50, max(1, STREAMS // 100))
    n_chat = STREAMS * 5 // 100
    n_outbox = STREAMS * 4 // 100
    n_session = STREAMS * 10 // 100
    n_bid = STREAMS - n_eval - n_chat - n_outbox - n_session
    stack = harness.Stack().start(env={
        "OPTIMIST_LOG_LEVEL": "warn",
        "OPTIMIST_DEMO_EVAL_STEPS": "1000",
        "OPTIMIST_DEMO_EVAL_DELAY_MS": "2000",
        "OPTIMIST_EVALUATOR_TIMEOUT": "3600",
        "OPTIMIST_MAX_EVALUATIONS": "64",
        "OPTIMIST_MAX_EVALUATIONS_PER_TENANT": "64"})
    try:
        toks = [stack.tenant()[1] for _ in range(TENANTS)]
        sid = stack.post("/v1/sessions", {"title": "b"},
                         token=toks[0]).json()["id"]

        def make(path, body, tok):
            return stack.post(path, body, token=tok).json()
        t0 = time.monotonic()
        bids = harness.parallel(
            lambda i: dict(make("/v1/bids", {"data": {"n": i}},
                                toks[i % TENANTS]), tok=toks[i % TENANTS]),
            [(i,) for i in range(n_bid + n_eval)], workers=8)
        sessions = harness.parallel(
            lambda i: make("/v1/sessions", {"title": "s%d" % i},
                           toks[i % TENANTS])["id"],
            [(i,) for i in range(n_session)], workers=8)
        reports = harness.parallel(
            lambda i: dict(make("/v1/reports", {"title": "r%d" % i},
                                toks[i % TENANTS]), tok=toks[i % TENANTS],
                           len=0),
            [(i,) for i in range(max(1, n_chat // 2))], workers=8)
        for t in toks:   # the outbox feeds' first event
            make("/v1/approvals", {"action": {"type": "x"}}, t)
        made = time.monotonic() - t0
        followed, to_eval = bids[:n_bid], bids[n_bid:]

        nginx_workers = harness.children(stack.nginx_pid())
        hub = stack.hub_pid()
        g0 = cpu_groups(stack, hub, nginx_workers)
        rps0, bad0 = wrk_rps(stack, "/v1/sessions/%d" % sid, toks[0])
        cpu_idle = cpu_line(g0, cpu_groups(stack, hub, nginx_workers),
                            SECONDS)
        hub0 = rss_kb(hub)
        ngx0 = sum(rss_kb(p) for p in nginx_workers)
        c0 = (cpu_s(hub), cpu_s(stack.db.pid()))
        q0 = statements_per_s(stack)
        idle0 = [(b - a) / 5.0 * 100 for a, b in zip(
            c0, (cpu_s(hub), cpu_s(stack.db.pid())))]

        sent = {}
        sel = selectors.DefaultSelector()
        subs = []
        for i, b in enumerate(followed):
            subs.append(Sub("bid", b["id"], b["tok"],
                            "/v1/bids/%d/events" % b["id"], sent))
        for i, s in enumerate(sessions):
            subs.append(Sub("session", s, toks[i % TENANTS],
                            "/v1/sessions/%d/events" % s, sent))
        for i in range(n_chat):
            r = reports[i % len(reports)]
            subs.append(Sub("chat", r["id"], r["tok"],
                            "/v1/reports/%d/chat/events" % r["id"], sent))
        for i in range(n_outbox):
            subs.append(Sub("outbox", i % TENANTS, toks[i % TENANTS],
                            "/v1/approvals/events", sent))
        evals = [Sub("eval", b["id"], b["tok"],
                     "/v1/bids/%d/evaluate" % b["id"], sent) for b in to_eval]
        t0 = time.monotonic()
        for i, s in enumerate(subs):
            s.connect(stack.port, sel)
            if i % 500 == 499:
                while not all(x.status for x in subs[:i + 1]):
                    pump(sel, 0.2)
        for s in evals:
            s.connect(stack.port, sel, "POST", {"version": 1})
        allsubs = subs + evals
        deadline = time.monotonic() + 120
        while not all(x.status for x in allsubs):
            if time.monotonic() > deadline:
                raise SystemExit("streams not open: %d of %d" % (
                    sum(1 for x in allsubs if x.status), len(allsubs)))
            pump(sel, 0.2)
        opened = time.monotonic() - t0
        statuses = {}
        for x in allsubs:
            statuses[x.status] = statuses.get(x.status, 0) + 1
        if statuses.get(200, 0) != len(allsubs):
            raise SystemExit("not every stream opened: %r" % statuses)
        # Settle, then the idle costs with everything open.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pump(sel, 0.1)
        hub1 = rss_kb(hub)
        ngx1 = sum(rss_kb(p) for p in nginx_workers)
        qa = db_statements(stack)
        ca = (cpu_s(hub), cpu_s(stack.db.pid()),
              sum(cpu_s(p) for p in nginx_workers))
        end = time.monotonic() + 5
        while time.monotonic() < end:
            pump(sel, 0.1)
        q1 = (db_statements(stack) - qa - 1) / 5.0
        idle_cpu = [(b - a) / 5.0 * 100 for a, b in zip(ca, (
            cpu_s(hub), cpu_s(stack.db.pid()),
            sum(cpu_s(p) for p in nginx_workers)))]

        # A second pool on the same database following the same records:
        # what cross-host detection costs the database with two.
        q2, n2 = None, 0
        if os.environ.get("BENCH_TWO_POOLS", "1") == "1":
            import multiprocessing
            ctx = multiprocessing.get_context("fork")
            fe = stack.add_frontend(workers=2, env={
                "OPTIMIST_LOG_LEVEL": "warn"})
            feeds2 = [(x.kind, x.key, x.tok, x.path) for x in subs
                      if x.kind in ("bid", "session")]
            ready, stop2 = ctx.Queue(), ctx.Event()
            child = ctx.Process(target=second_pool_feeds,
                                args=(fe.port, feeds2, ready, stop2))
            child.start()
            n2 = ready.get(timeout=300)
            qa = db_statements(stack)
            end = time.monotonic() + 5
            while time.monotonic() < end:
                pump(sel, 0.1)
            q2 = (db_statements(stack) - qa - 1) / 5.0
            stop2.set()
            child.join(60)
            fe.stop()

        # Changes delivered while wrk measures the GETs.
        for x in allsubs:
            x.lat = []
        w = Writer(stack, followed, reports, CHANGES).start()
        result = {}

        def bench():
            result["rps"] = wrk_rps(stack, "/v1/sessions/%d" % sid, toks[0])
        g1 = cpu_groups(stack, hub, nginx_workers)
        t = threading.Thread(target=bench)
        t.start()
        while t.is_alive():
            pump(sel, 0.02)
        sent = w.finish()
        # The writers' CPU counts once they are joined (finish): the
        # window is then a little longer than wrk's.
        cpu_busy = cpu_line(g1, cpu_groups(stack, hub, nginx_workers),
                            SECONDS)
        rps1, bad1 = result["rps"]
        rate = w.done / float(SECONDS)
        # Everyone ends at the newest state.
        deadline = time.monotonic() + 60
        byid = {b["id"]: b for b in followed}
        byrep = {r["id"]: r for r in reports}

        def level():
            for x in subs:
                if x.kind == "bid" and x.last != byid[x.key]["version"]:
                    return False
                if x.kind == "chat" and byrep[x.key]["len"] and \
                        x.last != byrep[x.key]["len"]:
                    return False
            return True
        while not level() and time.monotonic() < deadline:
            pump(sel, 0.1)
        all_level = level()
        lat = latencies(subs, sent)
        closed = sum(1 for x in allsubs if x.sock is None)

        # A 20 s row lock on the bid of a running evaluation.
        lock_p99, lock_n, lock_rate = None, 0, 0.0
        if LOCK_SECONDS > 0 and evals:
            for x in subs:
                x.lat = []
            lock = harness.RowLock(stack, "bids", to_eval[0]["id"],
                                   seconds=LOCK_SECONDS + 10)
            w = Writer(stack, followed, reports, CHANGES).start()
            end = time.monotonic() + LOCK_SECONDS
            while time.monotonic() < end:
                pump(sel, 0.02)
            sent = w.finish()
            lock_rate = w.done / float(LOCK_SECONDS)
            deadline = time.monotonic() + 30
            while not level() and time.monotonic() < deadline:
                pump(sel, 0.1)
            lock.release()
            ll = latencies(subs, sent)
            lock_p99, lock_n = pct(ll, 0.99), len(ll)
            all_level = all_level and level()

        for x in allsubs:
            if x.sock is not None:
                x.sock.close()
        print("| streams open (mix) | GET req/s (16 conns) | non-2xx | "
              "changes/s | delivery p50 / p99 | p99 under a %d s row lock "
              "| hub DB statements/s | hub RSS | nginx RSS |" % LOCK_SECONDS)
        print("|---|---|---|---|---|---|---|---|---|")
        print("| 0 | %.0f | %d | | | | %.0f (baseline) | %d MB | %d MB |"
              % (rps0, bad0, q0, hub0 // 1024, ngx0 // 1024))
        print("| %d (%d bids, %d sessions, %d chat, %d outbox, %d runs) | "
              "%.0f (%.0f %%) | %d | %.0f | %.0f ms / %.0f ms (%d) | %s | "
              "+%.0f | %d MB (+%.1f KB a stream) | %d MB (+%.1f KB a "
              "stream) |"
              % (STREAMS, n_bid, n_session, n_chat, n_outbox, n_eval, rps1,
                 100.0 * rps1 / rps0 if rps0 else 0, bad1, rate,
                 pct(lat, 0.5), pct(lat, 0.99), len(lat),
                 "%.0f ms (%d, %.0f changes/s)" % (lock_p99, lock_n,
                                                   lock_rate)
                 if lock_p99 is not None else "-",
                 q1 - q0, hub1 // 1024, (hub1 - hub0) / STREAMS,
                 ngx1 // 1024, (ngx1 - ngx0) / STREAMS))
        print()
        if q2 is not None:
            print("two pools on one database, idle: +%.0f statements/s "
                  "(the second pool following %d of the same records)"
                  % (q2 - q0, n2))
        print("idle, no stream open: the hub %.1f %%, mariadbd %.1f %% of a "
              "core; every stream open: the hub %.1f %%, mariadbd %.1f %%, "
              "nginx %.1f %%" % tuple(idle0 + idle_cpu))
        print("CPU during the GET window, %% of a core (2 cores = 200 %%): "
              "no stream open: %s; every stream open and the changes: %s"
              % (cpu_idle, cpu_busy))
        print("resources made in %.0f s; %d streams opened in %.1f s; every "
              "subscriber at the newest state: %s; streams closed early: %d;"
              " writer errors: %s" % (made, STREAMS, opened, all_level,
                                      closed, (w.errors or "none")
                                      if w else "none"))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
