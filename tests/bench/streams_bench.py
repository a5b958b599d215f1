#!/usr/bin/env python3
"""streams_bench.py -- what 2,000 open streams cost the rest of the
service (`make bench-streams`, also run by `make bench`):

  - GET /v1/sessions/{id} req/s at 16 connections (wrk, BENCH_SECONDS,
    default 5) with no stream open, then with 2,000 open (1,968 feeds on
    200 bids + 32 idle feeds on the session);
  - delivery latency of a change to its subscribers: each of the 200 bids
    PATCHed once, time from the PATCH's answer... from its send to each
    subscriber's event; p50 and p99 over all 1,968 deliveries;
  - memory per open stream: the hub's RSS and nginx's workers' RSS, before
    and after opening them, divided by 2,000.

Its own stack (tests/e2e/harness.py) on this machine; prints one table."""

import os
import resource
import re
import selectors
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402
from test_streams_2000 import Conn, request, pump  # noqa: E402

STREAMS, BIDS = 2000, 200
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))


class TimedConn(Conn):
    def feed(self, data):
        n = len(self.events)
        Conn.feed(self, data)
        now = time.monotonic()
        for _ in range(len(self.events) - n):
            self.times.append(now)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wrk_rps(stack, path, tok):
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "16", "-d", "%ds" % SECONDS, "-H",
         "Authorization: Bearer " + tok, stack.url + path],
        capture_output=True, text=True, timeout=SECONDS + 60).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(m.group(1)) if m else 0.0, int(non2xx.group(1)) if non2xx \
        else 0


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = harness.Stack().start(env={"OPTIMIST_LOG_LEVEL": "warn"})
    try:
        _, tok = stack.tenant()
        sid = stack.post("/v1/sessions", {"title": "b"}, token=tok).json()["id"]
        bids = [stack.post("/v1/bids", {"data": {"n": i}}, token=tok).json()
                for i in range(BIDS)]
        nginx_workers = harness.children(stack.nginx_pid())
        hub = stack.hub_pid()
        rps0, bad0 = wrk_rps(stack, "/v1/sessions/%d" % sid, tok)
        hub0 = rss_kb(hub)
        ngx0 = sum(rss_kb(p) for p in nginx_workers)

        sel = selectors.DefaultSelector()
        conns = []
        for i in range(STREAMS):
            path = ("/v1/bids/%d/events" % bids[i % BIDS]["id"]
                    if i < STREAMS - 32 else "/v1/sessions/%d/events" % sid)
            c = TimedConn(stack.port, request("GET", path, tok), "feed",
                          i % BIDS)
            c.times = []
            sel.register(c.sock, selectors.EVENT_READ, c)
            conns.append(c)
            if i % 200 == 199:
                while not all(x.events for x in conns):
                    pump(sel, 0.2)
        while not all(x.events for x in conns):
            pump(sel, 0.2)
        time.sleep(1)
        hub1 = rss_kb(hub)
        ngx1 = sum(rss_kb(p) for p in nginx_workers)
        rps1, bad1 = wrk_rps(stack, "/v1/sessions/%d" % sid, tok)

        sent = {}
        for i, b in enumerate(bids):
            sent[i] = time.monotonic()
            stack.patch("/v1/bids/%d" % b["id"], {"version": 1,
                                                  "data": {"n": -i}},
                        token=tok)
            pump(sel, 0)
        feeds = conns[:STREAMS - 32]
        deadline = time.monotonic() + 60
        while not all(len(c.events) >= 2 for c in feeds) and \
                time.monotonic() < deadline:
            pump(sel, 0.2)
        lat = sorted((c.times[1] - sent[c.key]) * 1000 for c in feeds
                     if len(c.times) >= 2)
        for c in conns:
            c.sock.close()
        p50 = lat[len(lat) // 2]
        p99 = lat[int(len(lat) * 0.99) - 1]
        print("| streams open | GET req/s (16 conns) | non-2xx | delivery "
              "p50 / p99 | hub RSS | nginx RSS |")
        print("|---|---|---|---|---|---|")
        print("| 0 | %.0f | %d | | %d MB | %d MB |"
              % (rps0, bad0, hub0 // 1024, ngx0 // 1024))
        print("| %d | %.0f (%.0f %%) | %d | %.0f ms / %.0f ms (%d of %d) | "
              "%d MB (+%.1f KB a stream) | %d MB (+%.1f KB a stream) |"
              % (STREAMS, rps1, 100.0 * rps1 / rps0 if rps0 else 0, bad1,
                 p50, p99, len(lat), len(feeds), hub1 // 1024,
                 (hub1 - hub0) / STREAMS, ngx1 // 1024,
                 (ngx1 - ngx0) / STREAMS))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
