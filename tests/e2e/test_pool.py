"""test_pool.py -- the process pool under signals, through nginx: a worker
killed mid-request is replaced and the service keeps answering; SIGHUP
under load refuses nothing; SIGTERM lets the request in flight finish;
workers are recycled after OPTIMIST_MAX_REQUESTS; connections to the
pool's socket that close before a whole request (the worker accepts them
itself, not libfcgi) leave every worker serving.

A request is held "in flight" by a row lock taken from another database
connection: the worker's UPDATE waits on it, so the test knows the request
is inside the worker without guessing with sleeps."""

import os
import signal
import socket
import threading
import time

import harness

STACK_OPTIONS = {"workers": 2, "env": {"OPTIMIST_SHUTDOWN_TIMEOUT": "20"}}


def error_of(r, status, code):
    assert r.status == status, r
    body = r.json()
    assert body["error"] == code, body
    return body


def new_session(stack, tok):
    r = stack.post("/v1/sessions", {"title": "pool"}, token=tok)
    assert r.status == 201, r
    return r.json()["id"]


def append_async(stack, tok, sid, version):
    out = {}

    def run():
        out["r"] = stack.post(
            "/v1/sessions/%d/messages" % sid,
            {"version": version, "message": {"role": "user", "content": "x"}},
            token=tok)
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_connections_closed_before_a_request_leave_workers_serving(stack):
    """The workers accept unix connections themselves and hand the fd to
    libfcgi (fcgi/pool/worker.c): a peer that connects and closes, or
    sends half a record header, or a record that is not a BEGIN_REQUEST,
    must cost neither a worker nor an fd, and the next request answers."""
    _, tok = stack.tenant()
    sid = new_session(stack, tok)
    before = sorted(stack.worker_pids())
    fds_before = {p: len(os.listdir("/proc/%d/fd" % p)) for p in before}
    garbage = [b"", b"\x01\x01\x00", b"\x01\x05\x00\x01\x00\x00\x00\x00",
               b"GET / HTTP/1.1\r\n\r\n"]
    for i in range(40):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(stack.fcgi_socket)
            c.sendall(garbage[i % len(garbage)])
            c.shutdown(socket.SHUT_WR)
            c.settimeout(10)
            # The worker reads what came, finds no request and closes:
            # EOF here, never a hang.
            while c.recv(4096):
                pass
    for _ in range(10):
        r = stack.get("/v1/sessions/%d" % sid, token=tok)
        assert r.status == 200, r
    assert sorted(stack.worker_pids()) == before
    for p in before:
        assert len(os.listdir("/proc/%d/fd" % p)) == fds_before[p], p


def test_worker_killed_mid_request_is_replaced(stack):
    _, tok = stack.tenant()
    sid = new_session(stack, tok)
    before = stack.worker_pids()
    assert len(before) == 2
    restarts_before = metric(stack, "optimist_worker_restarts_total")
    lock = harness.RowLock(stack, "sessions", sid)
    try:
        t, out = append_async(stack, tok, sid, 1)
        harness.wait_until(lambda: lock.waiting() == 1, 20,
                           "the append to wait on the row lock")
        # One of the two workers holds the request: kill both, for sure.
        for pid in before:
            harness._kill(pid, signal.SIGKILL)
        t.join(30)
        # nginx lost its upstream mid-request: the contract's 503 body.
        error_of(out["r"], 503, "unavailable")
    finally:
        lock.release()
    after = stack.wait_workers(2, exclude=before)
    assert not set(after) & set(before)
    # The service answers again, and the killed request changed nothing.
    r = stack.get("/v1/sessions/%d" % sid, token=tok)
    assert r.status == 200, r
    assert r.json()["version"] == 1
    r = stack.post("/v1/sessions/%d/messages" % sid,
                   {"version": 1, "message": {"role": "user", "content": "y"}},
                   token=tok)
    assert r.status == 200, r
    assert metric(stack, "optimist_worker_restarts_total") >= restarts_before + 2


def test_sighup_under_load_refuses_nothing(stack):
    _, tok = stack.tenant()
    sid = new_session(stack, tok)
    old = stack.wait_workers(2)
    mark = stack.log_mark()
    stop = threading.Event()
    results = []

    def load():
        while not stop.is_set():
            r = stack.get("/v1/sessions/%d" % sid, token=tok)
            results.append(r.status)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        harness.wait_until(lambda: len(results) > 20, 10, "load to start")
        stack.signal_pool(signal.SIGHUP)
        stack.wait_log("reload done", since=mark, timeout=60)
        n_at_reload = len(results)
        harness.wait_until(lambda: len(results) > n_at_reload + 20, 10,
                           "load after the reload")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    new = stack.wait_workers(2, exclude=old)
    assert not set(new) & set(old), (old, new)
    bad = [s for s in results if s != 200]
    assert not bad, "refused during reload: %r of %d" % (bad[:10], len(results))
    assert len(results) > 40


def test_workers_are_recycled_after_max_requests():
    st = harness.Stack("recycle").start(
        workers=1, env={"OPTIMIST_MAX_REQUESTS": "5"})
    try:
        first = st.wait_workers(1)
        for i in range(12):
            r = st.get("/healthz")
            assert r.status == 200, (i, r)
        # 12 requests at 5 per worker: the first two workers left.
        log = st.pool_log()
        assert log.count("recycling after 5 requests") >= 2, log[-2000:]
        now = st.wait_workers(1, exclude=first)
        assert now != first
        assert metric(st, "optimist_worker_restarts_total") == 0
    finally:
        st.stop()


def test_sigterm_lets_the_request_in_flight_finish(stack):
    # Last in this module: it stops the pool (restarted at the end).
    _, tok = stack.tenant()
    sid = new_session(stack, tok)
    lock = harness.RowLock(stack, "sessions", sid)
    try:
        t, out = append_async(stack, tok, sid, 1)
        harness.wait_until(lambda: lock.waiting() == 1, 20,
                           "the append to wait on the row lock")
        master = stack.pool_pid()
        stack.signal_pool(signal.SIGTERM)
        # The master is stopping, yet the request is still being served.
        harness.wait_until(lambda: "stopping gracefully" in stack.pool_log(),
                           10, "the graceful stop to begin")
        assert harness.alive(master)
    finally:
        lock.release()
    t.join(30)
    r = out["r"]
    assert r.status == 200, r
    assert r.json()["version"] == 2
    assert stack.stop_pool() == 0
    assert stack.sql("SELECT version FROM sessions WHERE id = %d" % sid) == [["2"]]
    stack.start_pool()
    stack.wait_healthy()


def metric(st, name):
    r = st.get("/metrics")
    assert r.status == 200, r
    for line in r.text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return int(float(line.split()[-1]))
    raise AssertionError("no %s in /metrics" % name)
