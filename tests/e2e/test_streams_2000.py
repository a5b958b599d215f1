"""test_streams_2000.py -- 2,000 streams open at once through nginx on one
pool: change feeds on 200 bids (1,968 subscribers) plus 32 evaluations
streaming at once. Every bid is PATCHed once; every subscriber must get
every new version, every evaluation exactly one final event, no 503
within the cap, and GET /v1/sessions/{id} keeps answering meanwhile.

The client is one thread with selectors over raw sockets (HTTP/1.0, so
nginx sends the stream unchunked and closes at its end)."""

import json
import resource
import selectors
import socket
import time

import harness

STREAMS = 2000
BIDS = 200
EVALS = 32
STACK_OPTIONS = {"workers": 4, "env": {
    "OPTIMIST_DEMO_EVAL_STEPS": "5",
    "OPTIMIST_DEMO_EVAL_DELAY_MS": "800",
    "OPTIMIST_LEASE_SECONDS": "30",
    "OPTIMIST_MAX_EVALUATIONS": "32",
    "OPTIMIST_MAX_EVALUATIONS_PER_TENANT": "32",
}}


class Conn:
    def __init__(self, port, request, kind, key):
        self.kind = kind            # "feed" or "eval"
        self.key = key              # bid id
        self.buf = b""
        self.status = None
        self.events = []            # (event, id, data)
        self.closed = False
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(request)
        self.sock.setblocking(False)

    def feed(self, data):
        self.buf += data
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            self.status = int(head.split(" ", 2)[1])
            self.buf = self.buf[end + 4:]
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return
            block, self.buf = self.buf[:end], self.buf[end + 2:]
            ev, eid, data = None, None, []
            for line in block.decode("utf-8", "replace").split("\n"):
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("id: "):
                    eid = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if ev is not None:
                self.events.append((ev, eid, "\n".join(data)))


def request(method, path, tok, body=None):
    head = ("%s %s HTTP/1.0\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Accept: text/event-stream\r\n" % (method, path, tok))
    if body is not None:
        raw = json.dumps(body).encode()
        head += ("Content-Type: application/json\r\nContent-Length: %d\r\n"
                 % len(raw))
        return head.encode() + b"\r\n" + raw
    return head.encode() + b"\r\n"


def pump(sel, timeout):
    for key, _ in sel.select(timeout):
        c = key.data
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data:
            c.feed(data)
        else:
            c.closed = True
            sel.unregister(c.sock)
            c.sock.close()


def pump_until(sel, cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        pump(sel, 0.2)


def test_2000_streams_feeds_and_evaluations(stack):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < STREAMS + 500:
        harness.skip("RLIMIT_NOFILE hard limit %d is too low" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _, tok = stack.tenant()
    bids = [stack.post("/v1/bids", {"data": {"n": i}}, token=tok).json()
            for i in range(BIDS + EVALS)]
    feeds_on, to_eval = bids[:BIDS], bids[BIDS:]
    sid = stack.post("/v1/sessions", {"title": "side"}, token=tok).json()["id"]
    sel = selectors.DefaultSelector()
    conns = []
    try:
        t0 = time.monotonic()
        for i in range(STREAMS - EVALS):
            b = feeds_on[i % BIDS]
            c = Conn(stack.port, request("GET", "/v1/bids/%d/events" % b["id"],
                                         tok), "feed", b["id"])
            sel.register(c.sock, selectors.EVENT_READ, c)
            conns.append(c)
            if i % 200 == 199:   # in waves, as a crowd arrives
                pump_until(sel, lambda: all(x.events for x in conns), 60,
                           "the first event of every feed")
        pump_until(sel, lambda: all(x.events for x in conns), 60,
                   "the first event of every feed")
        opened = time.monotonic() - t0
        for b in to_eval:
            c = Conn(stack.port, request("POST", "/v1/bids/%d/evaluate"
                                         % b["id"], tok, {"version": 1}),
                     "eval", b["id"])
            sel.register(c.sock, selectors.EVENT_READ, c)
            conns.append(c)
        pump_until(sel, lambda: all(x.status is not None for x in conns), 60,
                   "every evaluation's answer")
        evals = [c for c in conns if c.kind == "eval"]
        assert [c.status for c in evals].count(503) == 0, \
            [c.status for c in evals]
        assert all(c.status == 200 for c in conns)
        open_now = sum(1 for c in conns if not c.closed)
        assert open_now == STREAMS, open_now

        # Every bid once, while everything is open; GETs keep answering.
        worst_get = 0.0
        t1 = time.monotonic()
        for i, b in enumerate(feeds_on):
            r = stack.patch("/v1/bids/%d" % b["id"],
                            {"version": 1, "data": {"n": -i}}, token=tok)
            assert r.status == 200, r
            pump(sel, 0)
            if i % 20 == 0:
                g0 = time.monotonic()
                r = stack.get("/v1/sessions/%d" % sid, token=tok, timeout=10)
                worst_get = max(worst_get, time.monotonic() - g0)
                assert r.status == 200, r
        feeds = [c for c in conns if c.kind == "feed"]
        pump_until(sel, lambda: all(any(e[1] == "2" for e in c.events)
                                    for c in feeds), 60,
                   "every subscriber to get its bid's version 2")
        delivered = time.monotonic() - t1
        for c in feeds:
            ids = [e[1] for e in c.events if e[0] == "version"]
            assert ids == ["1", "2"], (c.key, ids)
            last = json.loads(c.events[-1][2])
            assert last["id"] == c.key and last["version"] == 2, last
        pump_until(sel, lambda: all(c.closed for c in evals), 120,
                   "every evaluation's stream to end")
        for c in evals:
            names = [e[0] for e in c.events]
            finals = [n for n in names if n in ("result", "conflict",
                                                "error")]
            assert finals == ["result"] and names[-1] == "result", names
            assert names[0] == "claimed"
            assert [e[1] for e in c.events] == \
                [str(i) for i in range(1, len(names) + 1)]
        print("%d streams open in %.1fs; %d PATCHes delivered to %d "
              "subscribers in %.1fs; worst GET %.0f ms"
              % (STREAMS, opened, BIDS, len(feeds), delivered,
                 worst_get * 1000))
        assert worst_get < 2.0, worst_get
    finally:
        for c in conns:
            if not c.closed:
                c.sock.close()
        sel.close()
