"""test_whole_answers.py -- every answer that is
not a stream carries Content-Length (so an answer cut short by a crash is
an error for the client, never a well-formed shorter one), HEAD works
wherever GET does, and an HTTP version nginx does not speak gets the
contract's JSON error.

The module runs its own stack with the TEST ONLY hook
OPTIMIST_TEST_PAUSE=mid_answer:/v1/storefront: a worker answering a write
under /v1/storefront sends half of its answer and stops, so that the test
can SIGKILL it exactly there. No other test of this module writes under
/v1/storefront.
"""

import http.client
import json
import signal
import socket
import threading

import harness

STACK_OPTIONS = {"workers": 3,
                 "env": {"OPTIMIST_TEST_PAUSE": "mid_answer:/v1/storefront",
                         "OPTIMIST_DEMO_EVAL_STEPS": "2",
                         "OPTIMIST_DEMO_EVAL_DELAY_MS": "20"}}


def raw(stack, data, timeout=10):
    """Sends raw bytes on a new connection, returns everything read until
    the server closes."""
    with socket.create_connection(("127.0.0.1", stack.port),
                                  timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def split_answer(data):
    """(status, {lower-case header: value}, body) of one raw HTTP answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def assert_whole(r, what):
    """An answer with a body: Content-Length, no chunking, the body as
    long as announced."""
    te = r.headers.get("Transfer-Encoding")
    assert te is None, (what, "chunked answer", te, r)
    cl = r.headers.get("Content-Length")
    assert cl is not None, (what, "no Content-Length", r)
    assert int(cl) == len(r.body), (what, cl, len(r.body))
    assert len(r.body) > 0, (what, r)


def assert_empty(r, what):
    """204 and 304: no body, no chunking, no length other than 0."""
    assert r.headers.get("Transfer-Encoding") is None, (what, r)
    assert r.headers.get("Content-Length") in (None, "0"), (what, r)
    assert r.body == b"", (what, r)


def test_every_kind_of_answer_carries_content_length(stack):
    _, tok = stack.tenant()
    seen = {}

    def check(what, r, status):
        assert r.status == status, (what, r)
        seen[what] = r.status
        if status in (204, 304):
            assert_empty(r, what)
        else:
            assert_whole(r, what)
            if status >= 400:
                body = r.json()
                assert body["request_id"] == r.headers["X-Request-Id"], r

    r = stack.post("/v1/sessions", {"title": "t"}, token=tok)
    check("201 create", r, 201)
    sid = r.json()["id"]
    path = "/v1/sessions/%d" % sid
    check("200 get", stack.get(path, token=tok), 200)
    check("304 not modified",
          stack.get(path, token=tok, headers={"If-None-Match": '"1"'}), 304)
    check("200 append", stack.post(path + "/messages", {
        "version": 1, "message": {"role": "user", "content": "x" * 70000}},
        token=tok), 200)
    check("400 malformed", stack.post("/v1/sessions", raw_body=b"{",
          token=tok, headers={"Content-Type": "application/json"}), 400)
    check("401 no token", stack.get(path), 401)
    check("404 no route", stack.get("/v1/nothing", token=tok), 404)
    check("404 not found", stack.get("/v1/sessions/999999", token=tok), 404)
    check("405 method", stack.put(path, {}, token=tok), 405)
    check("409 conflict", stack.post(path + "/messages", {
        "version": 1, "message": {"role": "user", "content": "y"}},
        token=tok), 409)
    check("412 stale If-Match", stack.post(path + "/messages", {
        "message": {"role": "user", "content": "y"}}, token=tok,
        headers={"If-Match": '"1"'}), 412)
    check("413 too large (nginx)", stack.post(
        "/v1/sessions", raw_body=b"x" * (1024 * 1024 + 1), token=tok,
        headers={"Content-Type": "application/json"}), 413)
    check("415 media type", stack.post("/v1/sessions", raw_body=b"{}",
          token=tok, headers={"Content-Type": "text/plain"}), 415)
    key = {"Idempotency-Key": "cl-1"}
    check("201 keyed", stack.post("/v1/sessions", {"title": "a"},
          token=tok, headers=key), 201)
    replay = stack.post("/v1/sessions", {"title": "a"}, token=tok,
                        headers=key)
    check("201 replayed", replay, 201)
    assert replay.headers.get("Idempotent-Replayed") == "true", replay
    check("422 key reused", stack.post("/v1/sessions", {"title": "b"},
          token=tok, headers=key), 422)
    check("428 no version", stack.post(path + "/messages", {
        "message": {"role": "user", "content": "y"}}, token=tok), 428)
    check("200 healthz", stack.get("/healthz"), 200)
    check("200 metrics", stack.get("/metrics"), 200)
    check("204 delete", stack.delete(path, {"version": 2}, token=tok), 204)
    # The pool's own 503 (a database that is down) is covered by
    # test_db_outage.py; nginx's 503 for a pool that is gone:
    fe = stack.add_frontend(pool=False)
    check("503 pool gone", fe.get("/v1/sessions/1", token=tok), 503)
    fe.stop()
    assert len(seen) >= 21, seen


def test_head_works_wherever_get_does(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "head"}, token=tok)
    sid = r.json()["id"]
    for path, auth in (("/v1/sessions/%d" % sid, True), ("/healthz", False),
                       ("/v1/storefront/draft", True),
                       ("/v1/approvals?status=pending", True)):
        kw = {"token": tok} if auth else {}
        g = stack.get(path, **kw)
        h = stack.http("HEAD", path, **kw)
        assert g.status == 200, g
        assert h.status == 200, (path, h)
        assert h.body == b"", (path, h)
        assert int(h.headers["Content-Length"]) == len(g.body), \
            (path, h.headers["Content-Length"], len(g.body))
        assert h.headers.get("ETag") == g.headers.get("ETag"), path
    # HEAD of something missing is the GET's 404, without its body
    h = stack.http("HEAD", "/v1/sessions/999999", token=tok)
    assert h.status == 404 and h.body == b"", h
    # and HEAD on a write-only route is still 405
    h = stack.http("HEAD", "/v1/sessions", token=tok)
    assert h.status == 405 and h.body == b"", h


def test_unknown_http_version_gets_the_json_error(stack):
    for version in (b"HTTP/9.9", b"HTTP/2.5", b"HTTP/3.0"):
        data = raw(stack, b"GET /healthz " + version +
                   b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, hdrs, body = split_answer(data)
        assert status == 400, (version, data[:300])
        assert hdrs.get("content-type") == "application/json", data[:300]
        err = json.loads(body)
        assert err["error"] == "bad_request", err
        assert err["request_id"] == hdrs["x-request-id"], (err, hdrs)
        assert int(hdrs["content-length"]) == len(body), hdrs


def test_worker_killed_mid_answer_is_an_error_not_a_short_200(stack):
    """Regression: without Content-Length, nginx turned a worker's early
    close into a clean chunked end, and the client read a well-formed but
    cut answer."""
    _, tok = stack.tenant()
    config = {"blob": "z" * 400000}
    out = {}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", stack.port,
                                          timeout=60)
        try:
            conn.request("PUT", "/v1/storefront/draft",
                         body=json.dumps({"version": 1, "config": config}),
                         headers={"Content-Type": "application/json",
                                  "Authorization": "Bearer " + tok})
            resp = conn.getresponse()
            out["status"] = resp.status
            out["length"] = resp.getheader("Content-Length")
            out["chunked"] = resp.getheader("Transfer-Encoding")
            try:
                out["body"] = resp.read()
            except http.client.IncompleteRead as e:
                out["incomplete"] = len(e.partial)
        except (ConnectionError, http.client.HTTPException) as e:
            out["error"] = repr(e)
        finally:
            conn.close()

    mark = stack.log_mark()
    t = threading.Thread(target=client)
    t.start()
    stack.wait_log("TEST PAUSE mid_answer", since=mark, timeout=30)

    def stopped():
        for pid in stack.worker_pids():
            st = harness._stat(pid)
            if st and st[harness.STATE] == "T":
                return pid
        return None
    pid = harness.wait_until(stopped, 10, "the paused worker")
    import os
    os.kill(pid, signal.SIGKILL)
    t.join(60)
    assert not t.is_alive(), "the client still waits"
    assert "body" not in out, ("a cut answer was read as whole", out.keys(),
                               out.get("status"), out.get("length"))
    assert out.get("chunked") is None, out
    if "incomplete" in out:
        assert out["status"] == 200, out
        assert out["incomplete"] < int(out["length"]), out
    else:
        assert "error" in out, out
    stack.wait_workers()


def test_the_pools_own_5xx_carry_content_length(stack):
    """503 from the pool itself (the database is down), healthz's 503."""
    _, tok = stack.tenant()
    sid = stack.post("/v1/sessions", {}, token=tok).json()["id"]
    stack.db_stop()
    try:
        r = stack.get("/v1/sessions/%d" % sid, token=tok)
        assert r.status == 503 and r.json()["error"] == "unavailable", r
        assert_whole(r, "503 from the pool")
        h = stack.get("/healthz")
        assert h.status == 503, h
        assert_whole(h, "healthz 503")
    finally:
        stack.db_start()
    harness.wait_until(lambda: stack.get("/healthz").status == 200, 30,
                       "healthz to answer 200 again")


def test_an_event_stream_has_no_content_length(stack):
    """Streams are the one exception: sent as they happen, so no length;
    nginx frames them (chunked) and the stream ends with its last event."""
    _, tok = stack.tenant()
    r = stack.post("/v1/bids", {"data": {"p": 1}}, token=tok)
    assert r.status == 201, r
    bid = r.json()["id"]
    with stack.stream("POST", "/v1/bids/%d/evaluate" % bid,
                      {"version": 1}, token=tok,
                      headers={"Accept": "text/event-stream"}) as s:
        assert s.status == 200
        assert s.headers["Content-Type"].startswith("text/event-stream")
        assert s.headers.get("Content-Length") is None, s.headers
        events = [e["event"] for e in s.events()]
    assert events[0] == "claimed" and events[-1] == "result", events
