"""test_sessions.py -- agent sessions through nginx and the pool: every route,
every error the contract gives them, and the races the resource exists for
(two tabs at version 5; 16 clients appending at once)."""

import threading
import time

import harness


def error_of(r, status, code):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def new_session(stack, token, title="t"):
    r = stack.post("/v1/sessions", {"title": title}, token=token)
    assert r.status == 201, r
    return r.json()


def append(stack, token, sid, version, content="hi", role="user", **kw):
    body = {"message": {"role": role, "content": content}}
    if version is not None:
        body["version"] = version
    return stack.post("/v1/sessions/%d/messages" % sid, body, token=token, **kw)


def db_state(stack, sid):
    """The row as the database holds it, read behind the service's back."""
    rows = stack.sql("SELECT version, JSON_LENGTH(messages), title "
                     "FROM sessions WHERE id = %d" % int(sid))
    return rows[0] if rows else None


# ---- create and get -------------------------------------------------------

def test_create_returns_version_1_with_etag_and_location(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "Plan"}, token=tok)
    assert r.status == 201, r
    s = r.json()
    assert s["version"] == 1 and s["title"] == "Plan" and s["messages"] == []
    assert isinstance(s["id"], int) and s["id"] > 0
    assert r.headers["ETag"] == '"1"'
    assert r.headers["Location"] == "/v1/sessions/%d" % s["id"]
    for k in ("created_at", "updated_at"):
        ts = s[k]
        assert len(ts) == 24 and ts[10] == "T" and ts.endswith("Z"), ts


def test_create_without_title_has_null_title(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {}, token=tok)
    assert r.status == 201, r
    assert r.json()["title"] is None
    r = stack.http("POST", "/v1/sessions", token=tok)   # no body at all
    assert r.status == 201, r
    assert r.json()["title"] is None


def test_create_with_bad_title_is_400(stack):
    _, tok = stack.tenant()
    for bad in (5, ["x"], {"a": 1}, True, "x" * 1001):
        r = stack.post("/v1/sessions", {"title": bad}, token=tok)
        error_of(r, 400, "bad_request")
    assert stack.sql("SELECT COUNT(*) FROM sessions WHERE title = 'x'")[0][0] == "0"


def test_get_returns_session_and_etag(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = stack.get("/v1/sessions/%d" % s["id"], token=tok)
    assert r.status == 200, r
    assert r.json() == s
    assert r.headers["ETag"] == '"1"'


def test_if_none_match_current_version_is_304(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d" % s["id"]
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 304, r
    assert r.body == b""
    assert r.headers["ETag"] == '"1"'
    assert append(stack, tok, s["id"], 1).status == 200
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 200, r
    assert r.json()["version"] == 2


def test_missing_and_malformed_ids_are_404(stack):
    _, tok = stack.tenant()
    for path in ("/v1/sessions/999999999", "/v1/sessions/abc",
                 "/v1/sessions/-1", "/v1/sessions/1.5",
                 "/v1/sessions/99999999999999999999999"):
        error_of(stack.get(path, token=tok), 404, "not_found")


def test_another_tenants_session_is_404_for_every_route(stack):
    _, tok_a = stack.tenant()
    _, tok_b = stack.tenant()
    s = new_session(stack, tok_a)
    path = "/v1/sessions/%d" % s["id"]
    error_of(stack.get(path, token=tok_b), 404, "not_found")
    error_of(append(stack, tok_b, s["id"], 1), 404, "not_found")
    error_of(append(stack, tok_b, s["id"], None), 404, "not_found")
    error_of(stack.delete(path, {"version": 1}, token=tok_b), 404, "not_found")
    error_of(stack.delete(path, token=tok_b, headers={"If-Match": "*"}),
             404, "not_found")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]


# ---- auth and routing -------------------------------------------------------

def test_missing_or_unknown_token_is_401(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d" % s["id"]
    error_of(stack.get(path), 401, "unauthorized")
    for bad in ("opt_0000000000000000_" + "A" * 43, tok[:-1] + "x", "nope",
                "' OR '1'='1"):
        error_of(stack.get(path, token=bad), 401, "unauthorized")
    r = stack.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    error_of(r, 401, "unauthorized")
    r = stack.post("/v1/sessions", {"title": "x"})
    error_of(r, 401, "unauthorized")


def test_unknown_route_is_404_with_or_without_token(stack):
    _, tok = stack.tenant()
    error_of(stack.get("/v1/nothing"), 404, "not_found")
    error_of(stack.get("/v1/nothing", token=tok), 404, "not_found")
    error_of(stack.get("/v1/sessions/1/nothing", token=tok), 404, "not_found")


def test_wrong_method_is_405_with_allow(stack):
    _, tok = stack.tenant()
    r = stack.http("PUT", "/v1/sessions/1", body={}, token=tok)
    error_of(r, 405, "method_not_allowed")
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allow == {"GET", "DELETE"}, allow
    r = stack.http("GET", "/v1/sessions/1/messages", token=tok)
    error_of(r, 405, "method_not_allowed")
    assert r.headers["Allow"].strip() == "POST"


# ---- versioned appends ----------------------------------------------------

def test_append_with_current_version_succeeds(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = append(stack, tok, s["id"], 1, content="first", role="assistant")
    assert r.status == 200, r
    body = r.json()
    assert body["version"] == 2
    assert r.headers["ETag"] == '"2"'
    (m,) = body["messages"]
    assert m["role"] == "assistant" and m["content"] == "first"
    assert len(m["at"]) == 24 and m["at"].endswith("Z"), m
    assert db_state(stack, s["id"]) == ["2", "1", "t"]


def test_stale_body_version_is_409_with_current(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    assert append(stack, tok, s["id"], 1, content="A").status == 200
    r = append(stack, tok, s["id"], 1, content="B")
    body = error_of(r, 409, "version_conflict")
    assert body["current_version"] == 2
    assert body["current"]["version"] == 2
    assert [m["content"] for m in body["current"]["messages"]] == ["A"]
    # A version ahead of the row is a conflict too.
    body = error_of(append(stack, tok, s["id"], 7, content="B"), 409,
                    "version_conflict")
    assert body["current_version"] == 2
    assert db_state(stack, s["id"]) == ["2", "1", "t"]


def test_missing_version_is_428_never_a_default(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    body = error_of(append(stack, tok, s["id"], None), 428,
                    "precondition_required")
    assert body["current_version"] == 1
    assert db_state(stack, s["id"]) == ["1", "0", "t"]
    error_of(append(stack, tok, 987654321, None), 404, "not_found")


def test_if_match_current_succeeds_and_stale_is_412(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = append(stack, tok, s["id"], None, headers={"If-Match": '"1"'})
    assert r.status == 200, r
    assert r.json()["version"] == 2
    r = append(stack, tok, s["id"], None, headers={"If-Match": '"1"'})
    body = error_of(r, 412, "precondition_failed")
    assert body["current_version"] == 2 and body["current"]["version"] == 2
    # Body and header agreeing on a stale version: the header's 412.
    r = append(stack, tok, s["id"], 1, headers={"If-Match": '"1"'})
    error_of(r, 412, "precondition_failed")
    assert db_state(stack, s["id"])[0] == "2"


def test_if_match_star_overwrites_any_version(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    assert append(stack, tok, s["id"], 1).status == 200
    r = append(stack, tok, s["id"], None, headers={"If-Match": "*"})
    assert r.status == 200, r
    assert r.json()["version"] == 3
    # With a body version, the body version decides.
    r = append(stack, tok, s["id"], 1, headers={"If-Match": "*"})
    body = error_of(r, 409, "version_conflict")
    assert body["current_version"] == 3
    error_of(append(stack, tok, 987654321, None, headers={"If-Match": "*"}),
             404, "not_found")


def test_weak_if_match_never_matches(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = append(stack, tok, s["id"], None, headers={"If-Match": 'W/"1"'})
    body = error_of(r, 412, "precondition_failed")
    assert body["current_version"] == 1
    assert db_state(stack, s["id"])[0] == "1"


def test_body_and_if_match_disagreeing_is_400(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = append(stack, tok, s["id"], 1, headers={"If-Match": '"2"'})
    error_of(r, 400, "bad_request")
    assert db_state(stack, s["id"])[0] == "1"


def test_malformed_if_match_is_400(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    for bad in ("1", '"abc"', '"0"', '"1", "2"', "**", '"-1"'):
        r = append(stack, tok, s["id"], None, headers={"If-Match": bad})
        error_of(r, 400, "bad_request")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]


def test_bad_versions_are_400(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    for bad in (0, -1, 1.5, 1.0, None, "1", True, 4294967296, [1], {"v": 1}):
        body = {"version": bad, "message": {"role": "user", "content": "x"}}
        r = stack.post("/v1/sessions/%d/messages" % s["id"], body, token=tok)
        error_of(r, 400, "bad_request")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]


def test_bad_messages_are_400_and_change_nothing(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d/messages" % s["id"]
    bodies = [
        {"version": 1},
        {"version": 1, "message": "hi"},
        {"version": 1, "message": {"role": "user"}},
        {"version": 1, "message": {"content": "x"}},
        {"version": 1, "message": {"role": "admin", "content": "x"}},
        {"version": 1, "message": {"role": "User", "content": "x"}},
        {"version": 1, "message": {"role": "user", "content": 5}},
        {"version": 1, "message": {"role": "user", "content": None}},
        {"version": 1, "message": {"role": ["user"], "content": "x"}},
        [1, 2],
        "just a string",
    ]
    for b in bodies:
        error_of(stack.post(path, b, token=tok), 400, "bad_request")
    raw = [b"{", b'{"version": 1,}', b"{'version': 1}", b'{"version": 1} x',
           b"\xff\xfe", b'{"version": 1, "message": {"role": "user", '
           b'"content": "\xc3\x28"}}', b"nul\x00l"]
    for b in raw:
        r = stack.post(path, raw_body=b, token=tok,
                       headers={"Content-Type": "application/json"})
        error_of(r, 400, "bad_request")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]


def test_nesting_32_passes_33_fails(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d/messages" % s["id"]

    def body(levels):
        # The outer object is level 1; "extra" adds levels - 1 more.
        inner = "[" * (levels - 1) + "]" * (levels - 1)
        return ('{"version": 1, "message": {"role": "user", "content": "x"},'
                ' "extra": %s}' % inner)

    r = stack.post(path, raw_body=body(33), token=tok,
                   headers={"Content-Type": "application/json"})
    error_of(r, 400, "bad_request")
    assert db_state(stack, s["id"])[0] == "1"
    r = stack.post(path, raw_body=body(32), token=tok,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r


def test_non_json_content_type_is_415(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d/messages" % s["id"]
    for ct in ("text/plain", "application/x-www-form-urlencoded", None):
        hdrs = {"Content-Type": ct} if ct else {}
        r = stack.post(path, raw_body=b'{"version": 1, "message": '
                       b'{"role": "user", "content": "x"}}',
                       token=tok, headers=hdrs)
        error_of(r, 415, "unsupported_media_type")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]


def test_body_of_exactly_1_mib_passes_and_one_more_byte_is_413(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d/messages" % s["id"]
    head = b'{"version": 1, "message": {"role": "user", "content": "'
    tail = b'"}}'
    fill = 1024 * 1024 - len(head) - len(tail)
    exact = head + b"a" * fill + tail
    assert len(exact) == 1048576
    over = head + b"a" * (fill + 1) + tail
    r = stack.post(path, raw_body=over, token=tok,
                   headers={"Content-Type": "application/json"})
    error_of(r, 413, "payload_too_large")
    assert db_state(stack, s["id"]) == ["1", "0", "t"]
    r = stack.post(path, raw_body=exact, token=tok,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert len(r.json()["messages"][0]["content"]) == fill


def test_tricky_content_round_trips_verbatim(stack):
    """SQL-looking text, quotes, escapes, control characters and non-ASCII
    are stored and answered exactly as sent."""
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    texts = ["'); DROP TABLE sessions; --", 'say "hi" \\o/', "tab\there\nnl",
             "\u0001\u001f", "héllo wörld ✓ 🎉", "$.messages[0]", "", "%s%n",
             "NULL", "\\u0000"]
    v = 1
    for t in texts:
        r = append(stack, tok, s["id"], v, content=t)
        assert r.status == 200, r
        v += 1
    got = stack.get("/v1/sessions/%d" % s["id"], token=tok).json()
    assert [m["content"] for m in got["messages"]] == texts
    assert stack.sql("SELECT COUNT(*) FROM sessions")[0][0] != "0"


# ---- delete -----------------------------------------------------------------

def test_delete_with_version_is_204_then_404(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    path = "/v1/sessions/%d" % s["id"]
    error_of(stack.delete(path, token=tok), 428, "precondition_required")
    body = error_of(stack.delete(path, {"version": 2}, token=tok), 409,
                    "version_conflict")
    assert body["current_version"] == 1
    error_of(stack.delete(path, token=tok, headers={"If-Match": '"2"'}), 412,
             "precondition_failed")
    assert db_state(stack, s["id"]) is not None
    r = stack.delete(path, {"version": 1}, token=tok)
    assert r.status == 204, r
    assert r.body == b""
    error_of(stack.get(path, token=tok), 404, "not_found")
    error_of(stack.delete(path, {"version": 1}, token=tok), 404, "not_found")
    assert db_state(stack, s["id"]) is None


def test_delete_with_if_match(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    r = stack.delete("/v1/sessions/%d" % s["id"], token=tok,
                     headers={"If-Match": '"1"'})
    assert r.status == 204, r
    assert db_state(stack, s["id"]) is None


# ---- races --------------------------------------------------------------------

def test_two_tabs_at_version_5_exactly_one_wins(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    for v in range(1, 5):
        assert append(stack, tok, s["id"], v, content="m%d" % v).status == 200
    # Both tabs have read version 5; both send at the same moment.
    tab = stack.get("/v1/sessions/%d" % s["id"], token=tok).json()
    assert tab["version"] == 5
    barrier = threading.Barrier(2)

    def send(name):
        barrier.wait()
        return append(stack, tok, s["id"], 5, content=name)

    ra, rb = harness.parallel(send, ["tab A", "tab B"])
    statuses = sorted([ra.status, rb.status])
    assert statuses == [200, 409], (ra, rb)
    win, lose = (ra, rb) if ra.status == 200 else (rb, ra)
    body = lose.json()
    assert body["error"] == "version_conflict"
    assert body["current_version"] == 6
    winner_text = win.json()["messages"][-1]["content"]
    assert [m["content"] for m in body["current"]["messages"]] == \
        ["m1", "m2", "m3", "m4", winner_text]
    assert db_state(stack, s["id"]) == ["6", "5", "t"]


def test_16_clients_appending_lose_nothing(stack):
    """Read-then-send loops for a few seconds: every 200 carries a distinct
    version, the versions are contiguous, and the session ends with exactly
    one message per 200."""
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    sid = s["id"]
    deadline = time.monotonic() + 4.0
    ok_versions = []
    conflicts = [0]
    lock = threading.Lock()

    def client(n):
        i = 0
        while time.monotonic() < deadline:
            cur = stack.get("/v1/sessions/%d" % sid, token=tok)
            assert cur.status == 200, cur
            v = cur.json()["version"]
            r = append(stack, tok, sid, v, content="c%d-%d" % (n, i))
            if r.status == 200:
                nv = r.json()["version"]
                assert nv == v + 1, (v, r.json()["version"])
                with lock:
                    ok_versions.append(nv)
                i += 1
            else:
                assert r.status == 409, r
                assert r.json()["current_version"] > v
                with lock:
                    conflicts[0] += 1
        return i

    sent = harness.parallel(client, list(range(16)))
    n = len(ok_versions)
    assert n == sum(sent)
    assert n > 16, "too little progress: %d" % n
    assert sorted(ok_versions) == list(range(2, n + 2)), "versions not contiguous"
    final = stack.get("/v1/sessions/%d" % sid, token=tok).json()
    assert final["version"] == n + 1
    assert len(final["messages"]) == n
    contents = [m["content"] for m in final["messages"]]
    assert len(set(contents)) == n  # each accepted message exactly once
    assert db_state(stack, sid)[:2] == [str(n + 1), str(n)]
    assert conflicts[0] > 0, "16 clients never collided: not a race"


# ---- health and metrics ------------------------------------------------------

def test_healthz_needs_no_token(stack):
    r = stack.get("/healthz")
    assert r.status == 200, r
    assert r.json() == {"status": "ok", "db": "ok"}


def test_metrics_count_requests_and_conflicts(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    assert append(stack, tok, s["id"], 1).status == 200
    assert append(stack, tok, s["id"], 1).status == 409
    r = stack.get("/metrics")
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    assert 'optimist_http_requests_total{route="POST /v1/sessions/{id}/messages",status="409"}' in text
    line = [l for l in text.splitlines()
            if l.startswith('optimist_conflicts_total{resource="sessions"}')]
    assert line and int(line[0].split()[-1]) >= 1, line
    assert "optimist_http_request_duration_seconds_bucket" in text
    assert "optimist_worker_restarts_total" in text
    assert "optimist_db_retries_total" in text
