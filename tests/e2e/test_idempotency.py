"""test_idempotency.py -- the Idempotency-Key header on every write route,
through nginx: replays answer the stored status, body and ETag with
Idempotent-Replayed: true and do nothing again; the same key with another
request is 422; while the first is in flight, 409 idempotency_key_in_use;
after a 5xx, or once the key expired, the key is free again. It works for
routes that knew nothing of it (sessions). The crash windows (a worker
killed before or after the COMMIT) are in test_approvals.py."""

import threading
import time

import harness


def error_of(r, status, code):
    assert r.status == status, r
    body = r.json()
    assert body["error"] == code, body
    return body


def key(k):
    return {"Idempotency-Key": k}


def create(stack, tok, k, type_="deploy", **kw):
    return stack.post("/v1/approvals", {"action": {"type": type_}},
                      token=tok, headers=key(k), **kw)


def count(stack, table, tenant_id):
    return int(stack.sql("SELECT COUNT(*) FROM %s WHERE tenant_id = %d"
                         % (table, tenant_id))[0][0])


def test_create_replayed_5_times_makes_one_approval(stack):
    tid, tok = stack.tenant()
    first = create(stack, tok, "create-1")
    assert first.status == 201, first
    assert first.headers.get("Idempotent-Replayed") is None
    for _ in range(5):
        r = create(stack, tok, "create-1")
        assert r.status == 201, r
        assert r.headers["Idempotent-Replayed"] == "true"
        assert r.body == first.body
        assert r.headers["ETag"] == first.headers["ETag"] == '"1"'
        assert r.headers["Location"] == first.headers["Location"]
        assert r.headers.get("Content-Type", "").startswith("application/json")
    assert count(stack, "approvals", tid) == 1
    # Keys are per tenant, and compared byte for byte.
    _, tok2 = stack.tenant()
    r = create(stack, tok2, "create-1")
    assert r.status == 201 and r.headers.get("Idempotent-Replayed") is None
    r = create(stack, tok, "CREATE-1")
    assert r.status == 201 and r.headers.get("Idempotent-Replayed") is None
    assert count(stack, "approvals", tid) == 2


def test_same_key_with_another_request_is_422(stack):
    tid, tok = stack.tenant()
    a = create(stack, tok, "reuse")
    assert a.status == 201, a
    error_of(create(stack, tok, "reuse", type_="other"), 422,
             "idempotency_key_reused")
    # The same bytes mean the same request: reformatted JSON is another one.
    r = stack.post("/v1/approvals", raw_body='{"action": {"type":"deploy"}}',
                   token=tok, headers={"Content-Type": "application/json",
                                       "Idempotency-Key": "reuse"})
    error_of(r, 422, "idempotency_key_reused")
    aid = a.json()["id"]
    r = stack.post("/v1/approvals/%d/approve" % aid, {"action": {"type":
                                                                 "deploy"}},
                   token=tok, headers=key("reuse"))
    error_of(r, 422, "idempotency_key_reused")          # another path
    r = stack.put("/v1/approvals", {"action": {"type": "deploy"}}, token=tok,
                  headers=key("reuse"))
    error_of(r, 405, "method_not_allowed")      # no route: the key untouched
    assert count(stack, "approvals", tid) == 1
    assert create(stack, tok, "reuse").headers["Idempotent-Replayed"] == "true"


def test_10_concurrent_requests_with_one_key_have_one_effect(stack):
    tid, tok = stack.tenant()
    barrier = threading.Barrier(10)

    def client(_):
        barrier.wait()
        return create(stack, tok, "burst")

    results = harness.parallel(client, list(range(10)))
    fresh = [r for r in results if r.status == 201
             and r.headers.get("Idempotent-Replayed") is None]
    assert len(fresh) == 1, results
    for r in results:
        if r is fresh[0]:
            continue
        if r.status == 201:
            assert r.headers["Idempotent-Replayed"] == "true"
            assert r.body == fresh[0].body
        else:
            error_of(r, 409, "idempotency_key_in_use")
            assert r.headers.get("Retry-After") == "1"
    assert count(stack, "approvals", tid) == 1
    r = create(stack, tok, "burst")
    assert r.body == fresh[0].body and r.headers["Idempotent-Replayed"] == "true"


def test_malformed_keys_are_400_and_get_ignores_the_header(stack):
    tid, tok = stack.tenant()
    for bad in ("", "x" * 256, "cl\u00e9", "a\x7fb", "a\tb"):
        r = create(stack, tok, bad)
        error_of(r, 400, "bad_request")
    assert count(stack, "approvals", tid) == 0
    ok = "!~ " + "k" * 252
    assert len(ok) == 255
    r = create(stack, tok, ok)
    assert r.status == 201, r
    assert create(stack, tok, ok).headers["Idempotent-Replayed"] == "true"
    aid = r.json()["id"]
    for k in ("", "x" * 300, "same"):
        r = stack.get("/v1/approvals/%d" % aid, token=tok, headers=key(k))
        assert r.status == 200, r
        assert r.headers.get("Idempotent-Replayed") is None
    r = stack.get("/v1/approvals/%d" % aid, token=tok, headers=key("same"))
    assert r.headers.get("Idempotent-Replayed") is None


def test_4xx_answers_are_stored_and_replayed(stack):
    tid, tok = stack.tenant()
    bad = stack.post("/v1/approvals", {"action": {}}, token=tok,
                     headers=key("bad-body"))
    error_of(bad, 400, "bad_request")
    again = stack.post("/v1/approvals", {"action": {}}, token=tok,
                       headers=key("bad-body"))
    assert again.status == 400 and again.body == bad.body, again
    assert again.headers["Idempotent-Replayed"] == "true"
    # A conflict is a final answer too: replayed even once it would pass.
    aid = create(stack, tok, "c").json()["id"]
    path = "/v1/approvals/%d/approve" % aid
    conflict = stack.post(path, {"version": 2}, token=tok,
                          headers=key("stale"))
    error_of(conflict, 409, "version_conflict")
    assert conflict.headers["ETag"] == '"1"'
    r = stack.post(path, {"version": 2}, token=tok, headers=key("stale"))
    assert r.status == 409 and r.body == conflict.body, r
    assert r.headers["ETag"] == '"1"' and r.headers["Idempotent-Replayed"]
    assert count(stack, "approval_events", tid) == 0


def test_session_append_and_delete_are_idempotent(stack):
    tid, tok = stack.tenant()
    s = stack.post("/v1/sessions", {"title": "t"}, token=tok,
                   headers=key("s-create")).json()
    body = {"version": 1, "message": {"role": "user", "content": "hello"}}
    path = "/v1/sessions/%d/messages" % s["id"]
    first = stack.post(path, body, token=tok, headers=key("s-append"))
    assert first.status == 200 and first.json()["version"] == 2, first
    for _ in range(3):
        r = stack.post(path, body, token=tok, headers=key("s-append"))
        assert r.status == 200 and r.body == first.body, r
        assert r.headers["Idempotent-Replayed"] == "true"
        assert r.headers["ETag"] == '"2"'
    # Without the key the same body is a stale append: 409.
    error_of(stack.post(path, body, token=tok), 409, "version_conflict")
    got = stack.get("/v1/sessions/%d" % s["id"], token=tok).json()
    assert [m["content"] for m in got["messages"]] == ["hello"]
    spath = "/v1/sessions/%d" % s["id"]
    d = stack.delete(spath, {"version": 2}, token=tok, headers=key("s-del"))
    assert d.status == 204, d
    r = stack.delete(spath, {"version": 2}, token=tok, headers=key("s-del"))
    assert r.status == 204 and r.body == b"", r
    assert r.headers["Idempotent-Replayed"] == "true"
    error_of(stack.delete(spath, {"version": 2}, token=tok), 404,
             "not_found")
    assert count(stack, "sessions", tid) == 0


def test_a_5xx_frees_the_key(stack):
    """The request's database connection is killed while its UPDATE waits
    on a row lock: the worker answers 503, stores nothing, and frees the
    key, so the retry does the work."""
    tid, tok = stack.tenant()
    aid = create(stack, tok, "x").json()["id"]
    path = "/v1/approvals/%d/approve" % aid
    lock = harness.RowLock(stack, "approvals", aid)
    try:
        out = {}
        t = threading.Thread(target=lambda: out.update(r=stack.post(
            path, {"version": 1}, token=tok, headers=key("five-oh-three"))))
        t.start()

        def waiting():
            rows = stack.sql("SELECT ID FROM information_schema.PROCESSLIST "
                             "WHERE INFO LIKE 'UPDATE approvals%'")
            return rows[0][0] if rows else None
        conn = harness.wait_until(waiting, 20, "the approve to wait")
        stack.sql("KILL %s" % conn)
        t.join(30)
    finally:
        lock.release()
    r = out["r"]
    error_of(r, 503, "unavailable")
    assert r.headers.get("Retry-After") == "1"
    assert stack.sql("SELECT COUNT(*) FROM idempotency_keys WHERE "
                     "tenant_id = %d AND idem_key = 'five-oh-three'"
                     % tid) == [["0"]]
    r = stack.post(path, {"version": 1}, token=tok,
                   headers=key("five-oh-three"))
    assert r.status == 200 and r.headers.get("Idempotent-Replayed") is None, r
    assert r.json()["status"] == "executed"
    assert count(stack, "approval_events", tid) == 1


def test_the_key_is_free_again_after_the_configured_expiry(stack):
    fe = stack.add_frontend(workers=1,
                            env={"OPTIMIST_IDEMPOTENCY_TTL": "1"})
    try:
        tid, tok = stack.tenant()
        t0 = time.monotonic()
        first = create(fe, tok, "short-lived")
        assert first.status == 201, first
        # Within the second (checked after each answer: a slow machine may
        # already be past it, and then the key is rightly free).
        r = create(fe, tok, "short-lived")
        if time.monotonic() - t0 < 0.8:
            assert r.headers["Idempotent-Replayed"] == "true", r
        r = create(fe, tok, "short-lived", type_="other")
        if time.monotonic() - t0 < 0.8:
            error_of(r, 422, "idempotency_key_reused")
        # Once expired, the key takes any request, and does it.
        if r.status == 422:
            r = harness.wait_until(
                lambda: (lambda x: x if x.status != 422 else None)(
                    create(fe, tok, "short-lived", type_="other")),
                15, "the key to expire")
        assert r.status == 201 and r.headers.get("Idempotent-Replayed") is None
        assert r.json()["action"]["type"] == "other"
        assert r.json()["id"] != first.json()["id"]
        assert count(stack, "approvals", tid) == 2
    finally:
        fe.stop()
