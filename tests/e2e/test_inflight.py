"""test_inflight.py -- a worker holds several requests (OPTIMIST_INFLIGHT,
fcgi/pool/fiber.c): a request stuck behind a row lock that the site's own
SQL holds parks its fiber, and the same worker goes on serving other rows;
when the lock goes, the stuck writes finish, and their versions decide as
always (one wins, the others get 409: nothing done twice).

The pool runs ONE worker, so every answer given while a request is stuck
was given by the worker that holds it. A request is known to be stuck
when MariaDB's process list shows its UPDATE waiting (no sleeps)."""

import json
import os
import signal
import socket
import struct
import subprocess
import threading

import harness

STACK_OPTIONS = {"workers": 1, "env": {"OPTIMIST_INFLIGHT": "8"}}


def new_session(stack, tok):
    r = stack.post("/v1/sessions", {"title": "inflight"}, token=tok)
    assert r.status == 201, r
    return r.json()["id"]


def append(stack, tok, sid, version, content):
    return stack.post(
        "/v1/sessions/%d/messages" % sid,
        {"version": version, "message": {"role": "user", "content": content}},
        token=tok)


def appends_async(stack, tok, sid, version, n):
    out = [None] * n

    def run(i):
        out[i] = append(stack, tok, sid, version, "stuck %d" % i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, out


def check_stuck_then_released(stack, stuck_writers):
    _, tok = stack.tenant()
    locked = new_session(stack, tok)
    free = new_session(stack, tok)
    workers = stack.worker_pids()
    assert len(workers) == 1, workers
    lock = harness.RowLock(stack, "sessions", locked)
    try:
        threads, out = appends_async(stack, tok, locked, 1, stuck_writers)
        harness.wait_until(
            lambda: lock.waiting() == stuck_writers, 20,
            "%d appends to wait on the row lock" % stuck_writers)
        # The one worker answers other rows meanwhile: reads and writes.
        version = 1
        for i in range(10):
            r = stack.get("/v1/sessions/%d" % free, token=tok)
            assert r.status == 200, r
            assert r.json()["version"] == version
            r = append(stack, tok, free, version, "free %d" % i)
            assert r.status == 200, r
            version += 1
            assert r.json()["version"] == version
        # ... while every stuck one still waits (not answered, not given
        # up: a lock wait timeout is retried, and waits again).
        assert all(o is None for o in out), out
    finally:
        lock.release()
    for t in threads:
        t.join(30)
    statuses = sorted(o.status for o in out)
    # All sent version 1: exactly one append wins, the rest are told the
    # current version; the row has exactly one more message.
    assert statuses == [200] + [409] * (stuck_writers - 1), statuses
    for o in out:
        if o.status == 409:
            assert o.json()["current_version"] == 2, o
    r = stack.get("/v1/sessions/%d" % locked, token=tok)
    assert r.status == 200 and r.json()["version"] == 2, r
    assert len(r.json()["messages"]) == 1, r.json()
    r = stack.get("/v1/sessions/%d" % free, token=tok)
    assert r.json()["version"] == 11 and len(r.json()["messages"]) == 10
    assert stack.worker_pids() == workers  # nothing was restarted


def test_a_request_held_by_a_row_lock_does_not_hold_the_worker(stack):
    check_stuck_then_released(stack, 1)


def test_seven_stuck_writes_one_worker_still_serves_and_one_wins(stack):
    # 7 of the worker's 8 fibers stuck; the 8th serves everything else.
    check_stuck_then_released(stack, 7)


def test_a_database_elsewhere_takes_requests_at_once(stack):
    """With a host list (here one entry: the same socket), the worker
    takes requests up to OPTIMIST_INFLIGHT at once instead of one at a
    time (fcgi/pool/worker.c); the same guarantees hold: 16 clients
    appending to one session with retries lose nothing and double
    nothing."""
    stack.restart_pool(workers=1, env={
        "OPTIMIST_INFLIGHT": "8",
        "OPTIMIST_DB_HOSTS": stack.db.socket})
    try:
        _, tok = stack.tenant()
        sid = new_session(stack, tok)
        per_client = 10

        def client(c):
            done = 0
            while done < per_client:
                r = stack.get("/v1/sessions/%d" % sid, token=tok)
                assert r.status == 200, r
                r = append(stack, tok, sid, r.json()["version"],
                           "c%d-%d" % (c, done))
                assert r.status in (200, 409), r
                if r.status == 200:
                    done += 1
        harness.parallel(client, [(c,) for c in range(16)])
        r = stack.get("/v1/sessions/%d" % sid, token=tok)
        contents = sorted(m["content"] for m in r.json()["messages"])
        want = sorted("c%d-%d" % (c, i) for c in range(16)
                      for i in range(per_client))
        assert contents == want
        assert r.json()["version"] == 1 + 16 * per_client
    finally:
        stack.restart_pool(workers=1, env=STACK_OPTIONS["env"])


def fcgi_call(port, method, path, token, body=b""):
    """One request straight to the pool's TCP socket, as nginx sends it;
    returns (status, parsed JSON body)."""
    params = harness.fcgi_params({
                      "REQUEST_METHOD": method, "REQUEST_URI": path,
                      "DOCUMENT_URI": path, "QUERY_STRING": "",
                      "CONTENT_TYPE": "application/json",
                      "CONTENT_LENGTH": str(len(body)),
                      "HTTP_AUTHORIZATION": "Bearer " + token,
                      "REQUEST_ID": os.urandom(16).hex()})
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        rec = harness.fcgi_record
        s.sendall(rec(1, 1, struct.pack(">HB5x", 1, 0)) +
                  rec(4, 1, params) + rec(4, 1, b"") +
                  (rec(5, 1, body) if body else b"") + rec(5, 1, b""))
        got, out = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        while len(got) >= 8:
            _, rtype, _, clen, pad, _ = struct.unpack(">BBHHBB", got[:8])
            if rtype == 6:
                out += got[8:8 + clen]
            got = got[8 + clen + pad:]
    head, _, text = out.partition(b"\r\n\r\n")
    status = int(head.split(b"Status: ", 1)[1][:3])
    return status, json.loads(text) if text else None


def test_a_tcp_listener_holds_requests_in_flight_too(stack):
    """OPTIMIST_LISTEN=host:port: the workers accept there themselves too,
    and a request stuck behind a lock holds a fiber, not the worker."""
    _, tok = stack.tenant()
    locked = new_session(stack, tok)
    free = new_session(stack, tok)
    fe = stack.main
    fe.stop_pool()
    port = harness.free_port()
    env = fe.pool_env()
    env.update({"OPTIMIST_LISTEN": "127.0.0.1:%d" % port,
                "OPTIMIST_WORKERS": "1", "OPTIMIST_INFLIGHT": "8"})
    with open(fe.log_path, "ab") as log:
        proc = subprocess.Popen(
            fe.pool_prefix + [os.path.join(harness.BIN, "optimist-fcgi")],
            cwd=fe.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=log, start_new_session=True)
    try:
        def up():
            assert proc.poll() is None, "the pool exited"
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        harness.wait_until(up, 30, "the pool on 127.0.0.1:%d" % port)
        body = json.dumps({"version": 1, "message": {
            "role": "user", "content": "over tcp"}}).encode()
        stuck = {}
        lock = harness.RowLock(stack, "sessions", locked)
        try:
            t = threading.Thread(target=lambda: stuck.update(r=fcgi_call(
                port, "POST", "/v1/sessions/%d/messages" % locked, tok,
                body)))
            t.start()
            harness.wait_until(lambda: lock.waiting() == 1, 20,
                               "the append to wait on the row lock")
            for _ in range(5):
                status, got = fcgi_call(port, "GET",
                                        "/v1/sessions/%d" % free, tok)
                assert status == 200 and got["version"] == 1, (status, got)
            assert "r" not in stuck
        finally:
            lock.release()
        t.join(30)
        assert stuck["r"][0] == 200 and stuck["r"][1]["version"] == 2, stuck
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        fe.start_pool()
