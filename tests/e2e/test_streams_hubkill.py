"""test_streams_hubkill.py -- kill -9 of the hub while 1,000 feeds are open
and changes keep coming: every client reconnects with its Last-Event-ID
(as EventSource does) and resumes with nothing missed and never a version
older than one it has seen. 900 record feeds on 100 bids (folding
allowed: each ends at its bid's newest version, versions only grow) and
100 chat feeds on 10 reports (exact: every message once, in order).

One thread with selectors over raw sockets (HTTP/1.0: nginx closes the
client's connection when the upstream goes away)."""

import json
import os
import resource
import selectors
import signal
import socket
import threading
import time

import harness

BIDS, PER_BID = 100, 9
REPORTS, PER_REPORT = 10, 10
STACK_OPTIONS = {"workers": 4, "env": {"OPTIMIST_LOG_LEVEL": "warn"}}


class Sub:
    def __init__(self, port, tok, kind, key, path):
        self.port, self.tok, self.kind, self.key, self.path = \
            port, tok, kind, key, path
        self.last = None        # the last id seen
        self.ids = []           # every id seen, across connections
        self.messages = []      # chat: message ids, across connections
        self.reconnects = 0
        self.statuses = []
        self.sock = None

    def connect(self, sel):
        head = ("GET %s HTTP/1.0\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                "Accept: text/event-stream\r\n" % (self.path, self.tok))
        if self.last is not None:
            head += "Last-Event-ID: %s\r\n" % self.last
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.sendall(head.encode() + b"\r\n")
        self.sock.setblocking(False)
        self.buf, self.status = b"", None
        sel.register(self.sock, selectors.EVENT_READ, self)

    def feed(self, data):
        self.buf += data
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.buf[:end].split(b" ", 2)[1])
            self.statuses.append(self.status)
            self.buf = self.buf[end + 4:]
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return
            block, self.buf = self.buf[:end], self.buf[end + 2:]
            ev, eid, data = None, None, []
            for line in block.decode().split("\n"):
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("id: "):
                    eid = int(line[4:])
                elif line.startswith("data: "):
                    data.append(line[6:])
            if ev is None:
                continue
            self.ids.append(eid)
            self.last = eid
            if ev == "chat":
                self.messages += [m["id"] for m in
                                  json.loads("".join(data))["messages"]]


def pump(sel, timeout, closed):
    for key, _ in sel.select(timeout):
        s = key.data
        try:
            data = s.sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data:
            s.feed(data)
        else:
            sel.unregister(s.sock)
            s.sock.close()
            s.sock = None
            closed.append(s)


def test_kill_9_of_the_hub_under_1000_feeds_resumes_exactly(stack):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _, tok = stack.tenant()
    bids = [stack.post("/v1/bids", {"data": {"n": i}}, token=tok).json()
            for i in range(BIDS)]
    reports = [stack.post("/v1/reports", {"title": "r%d" % i},
                          token=tok).json() for i in range(REPORTS)]
    sent_msgs = {r["id"]: [] for r in reports}

    def append(rid):
        mid = "m%d" % len(sent_msgs[rid])
        r = stack.post("/v1/reports/%d/chat" % rid, {"messages": [
            {"id": mid, "role": "user", "content": mid}]}, token=tok)
        assert r.status == 200, r
        sent_msgs[rid].append(mid)
    for r in reports:
        append(r["id"])
    subs = []
    for i in range(BIDS * PER_BID):
        b = bids[i % BIDS]
        subs.append(Sub(stack.port, tok, "bid", b["id"],
                        "/v1/bids/%d/events" % b["id"]))
    for i in range(REPORTS * PER_REPORT):
        r = reports[i % REPORTS]
        subs.append(Sub(stack.port, tok, "chat", r["id"],
                        "/v1/reports/%d/chat/events" % r["id"]))
    sel = selectors.DefaultSelector()
    closed = []
    for i, s in enumerate(subs):
        s.connect(sel)
        if i % 200 == 199:
            deadline = time.monotonic() + 60
            while not all(x.ids for x in subs[:i + 1]):
                assert time.monotonic() < deadline, "first events"
                pump(sel, 0.2, closed)
    deadline = time.monotonic() + 60
    while not all(x.ids for x in subs):
        assert time.monotonic() < deadline, "first events"
        pump(sel, 0.2, closed)
    assert not closed, [s.path for s in closed]

    # Changes keep coming, before, during and after the kill.
    versions = {b["id"]: 1 for b in bids}
    stop = threading.Event()
    errors = []

    def writer():
        n = 0
        try:
            while not stop.is_set():
                b = bids[n % BIDS]["id"]
                r = stack.patch("/v1/bids/%d" % b, {
                    "version": versions[b], "data": {"w": n}}, token=tok)
                if r.status == 200:
                    versions[b] = r.json()["version"]
                elif r.status != 503:
                    errors.append(r)
                if n % 5 == 0:
                    append(reports[(n // 5) % REPORTS]["id"])
                n += 1
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)
    w = threading.Thread(target=writer)
    w.start()
    try:
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            pump(sel, 0.05, closed)
        hub = stack.hub_pid()
        os.kill(hub, signal.SIGKILL)
        killed = time.monotonic()
        # Every client sees its stream end, and reconnects with its id.
        resumed = set()
        while len(resumed) < len(subs):
            assert time.monotonic() - killed < 40, \
                "%d of %d resumed" % (len(resumed), len(subs))
            pump(sel, 0.05, closed)
            while closed:
                s = closed.pop()
                s.reconnects += 1
                resumed.add(id(s))
                s.connect(sel)
            if time.monotonic() - killed > 3:
                break
        # (A stream the hub had not written to for a while is closed by
        # nginx all the same: the upstream connection is gone.)
        t_end = time.monotonic() + 2
        while time.monotonic() < t_end:
            pump(sel, 0.05, closed)
            while closed:
                s = closed.pop()
                s.reconnects += 1
                s.connect(sel)
    finally:
        stop.set()
        w.join(30)
    assert not errors, errors[:3]
    # Every client ends at the newest state.
    final_v = {b["id"]: stack.get("/v1/bids/%d" % b["id"], token=tok)
               .json()["version"] for b in bids}

    def level():
        for s in subs:
            if s.kind == "bid" and s.last != final_v[s.key]:
                return False
            if s.kind == "chat" and s.last != len(sent_msgs[s.key]):
                return False
        return True
    deadline = time.monotonic() + 90   # generous: a loaded machine
    while not level():
        assert time.monotonic() < deadline, [
            (s.path, s.last) for s in subs
            if (s.kind == "bid" and s.last != final_v[s.key]) or
            (s.kind == "chat" and s.last != len(sent_msgs[s.key]))][:5]
        pump(sel, 0.1, closed)
        while closed:
            s = closed.pop()
            s.reconnects += 1
            s.connect(sel)
    for s in subs:
        if s.sock is not None:
            sel.unregister(s.sock)
            s.sock.close()
    assert all(s.reconnects >= 1 for s in subs), \
        sum(1 for s in subs if s.reconnects == 0)
    assert all(st == 200 for s in subs for st in s.statuses), \
        [s.statuses for s in subs if any(st != 200 for st in s.statuses)][:5]
    for s in subs:
        # Never an older version after a newer, never one twice.
        assert all(a < b for a, b in zip(s.ids, s.ids[1:])), (s.path, s.ids)
        if s.kind == "chat":
            assert s.messages == sent_msgs[s.key], (s.path, s.messages[:5])
    print("hub killed under %d feeds: every one resumed (%d reconnects), "
          "%d chat messages each exact" % (
              len(subs), sum(s.reconnects for s in subs),
              sum(len(v) for v in sent_msgs.values())))
