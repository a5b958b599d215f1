"""test_approvals.py -- approvals through nginx and the pool: every route and
every error the contract gives them, and what the resource exists for: of
any number of concurrent approve/reject calls exactly one succeeds, each
decision writes exactly one event to the outbox in the same transaction,
and a consumer polling the feed sees each decision once, in order -- even
when a worker is killed between the decision and its answer.

Tests that stop a worker at an exact point use the test-only hook
OPTIMIST_TEST_PAUSE (fcgi/core/testhook.h) on a frontend of their own: the
worker stops itself (SIGSTOP) there, the test sees it stopped in /proc and
SIGKILLs it. No sleeps guess at the window."""

import signal
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


def create(stack, tok, type_="deploy", payload=None, **kw):
    action = {"type": type_}
    if payload is not None:
        action["payload"] = payload
    r = stack.post("/v1/approvals", {"action": action}, token=tok, **kw)
    assert r.status == 201, r
    return r.json()


def decide(stack, tok, aid, verb, version, note=None, **kw):
    body = {}
    if version is not None:
        body["version"] = version
    if note is not None:
        body["note"] = note
    return stack.post("/v1/approvals/%d/%s" % (aid, verb), body, token=tok,
                      **kw)


def events(stack, tok, after=0, limit=500):
    r = stack.get("/v1/approvals/events?after=%d&limit=%d" % (after, limit),
                  token=tok)
    assert r.status == 200, r
    return r.json()


def all_events(stack, tok):
    """The whole feed, page by page, as a consumer reads it."""
    out, after = [], 0
    while True:
        page = events(stack, tok, after, 500)
        out += page["items"]
        if page["next_after"] is None:
            return out
        after = page["next_after"]


def db_row(stack, aid):
    rows = stack.sql("SELECT version, status, "
                     "(SELECT COUNT(*) FROM approval_events e "
                     " WHERE e.approval_id = a.id) "
                     "FROM approvals a WHERE id = %d" % int(aid))
    return rows[0] if rows else None


def is_time(ts):
    return isinstance(ts, str) and len(ts) == 24 and ts[10] == "T" \
        and ts.endswith("Z")


# ---- create ------------------------------------------------------------------

def test_create_is_201_pending_version_1(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/approvals",
                   {"action": {"type": "refund", "payload": {"order": 7,
                                                             "to": "a/b"}}},
                   token=tok)
    assert r.status == 201, r
    a = r.json()
    assert set(a) == {"id", "version", "status", "action", "note",
                      "created_at", "decided_at"}, a
    assert a["version"] == 1 and a["status"] == "pending"
    assert a["action"] == {"type": "refund",
                           "payload": {"order": 7, "to": "a/b"}}
    assert a["note"] is None and a["decided_at"] is None
    assert is_time(a["created_at"])
    assert r.headers["ETag"] == '"1"'
    assert r.headers["Location"] == "/v1/approvals/%d" % a["id"]


def test_create_payload_is_any_json_and_optional(stack):
    _, tok = stack.tenant()
    for payload in ([1, "two", None, {"x": [True]}], "text", 42, 1.5, True,
                    {"deep": {"er": {"é": "ünïcode ✓"}}}):
        a = create(stack, tok, payload=payload)
        assert a["action"]["payload"] == payload, a
    r = stack.post("/v1/approvals",
                   {"action": {"type": "t", "payload": None}}, token=tok)
    assert r.status == 201 and r.json()["action"]["payload"] is None, r
    a = create(stack, tok)               # no payload at all
    assert a["action"] == {"type": "deploy", "payload": None}
    r = stack.post("/v1/approvals", {"action": {"type": "t"}, "extra": 1},
                   token=tok)
    assert r.status == 201, r            # unknown fields are ignored


def test_create_with_bad_body_is_400_and_creates_nothing(stack):
    tid, tok = stack.tenant()
    for body in ({}, {"action": None}, {"action": "deploy"},
                 {"action": []}, {"action": {}}, {"action": {"type": None}},
                 {"action": {"type": 5}}, {"action": {"type": ""}},
                 {"action": {"type": ["x"]}},
                 {"action": {"type": "x" * 201}}):
        error_of(stack.post("/v1/approvals", body, token=tok), 400,
                 "bad_request")
    for raw in (b"{", b"[]", b'{"action": {"type": "x"}} x', b"null"):
        r = stack.post("/v1/approvals", raw_body=raw, token=tok,
                       headers={"Content-Type": "application/json"})
        error_of(r, 400, "bad_request")
    r = stack.post("/v1/approvals", raw_body=b'{"action":{"type":"x"}}',
                   token=tok, headers={"Content-Type": "text/plain"})
    error_of(r, 415, "unsupported_media_type")
    assert stack.sql("SELECT COUNT(*) FROM approvals WHERE tenant_id = %d"
                     % tid) == [["0"]]
    assert create(stack, tok, type_="x" * 200)["action"]["type"] == "x" * 200


# ---- get ---------------------------------------------------------------------

def test_get_with_etag_and_304(stack):
    _, tok = stack.tenant()
    a = create(stack, tok, payload={"n": 1})
    path = "/v1/approvals/%d" % a["id"]
    r = stack.get(path, token=tok)
    assert r.status == 200 and r.json() == a, r
    assert r.headers["ETag"] == '"1"'
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 304 and r.body == b"", r
    assert r.headers["ETag"] == '"1"'
    assert decide(stack, tok, a["id"], "approve", 1).status == 200
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 200 and r.json()["version"] == 2, r


def test_missing_foreign_and_malformed_ids_are_404(stack):
    _, tok_a = stack.tenant()
    _, tok_b = stack.tenant()
    a = create(stack, tok_a)
    for path in ("/v1/approvals/999999999", "/v1/approvals/abc",
                 "/v1/approvals/-1", "/v1/approvals/99999999999999999999"):
        error_of(stack.get(path, token=tok_a), 404, "not_found")
    error_of(stack.get("/v1/approvals/%d" % a["id"], token=tok_b), 404,
             "not_found")
    for verb in ("approve", "reject"):
        error_of(decide(stack, tok_b, a["id"], verb, 1), 404, "not_found")
        error_of(decide(stack, tok_b, a["id"], verb, None), 404, "not_found")
        error_of(decide(stack, tok_a, 999999999, verb, 1), 404, "not_found")
    assert db_row(stack, a["id"]) == ["1", "pending", "0"]


def test_auth_and_routing_errors(stack):
    _, tok = stack.tenant()
    a = create(stack, tok)
    error_of(stack.get("/v1/approvals/%d" % a["id"]), 401, "unauthorized")
    error_of(stack.get("/v1/approvals"), 401, "unauthorized")
    error_of(stack.get("/v1/approvals/events"), 401, "unauthorized")
    error_of(stack.post("/v1/approvals", {"action": {"type": "x"}}), 401,
             "unauthorized")
    error_of(stack.post("/v1/approvals/%d/approve" % a["id"], {"version": 1},
                        token="opt_0000000000000000_x"), 401, "unauthorized")
    r = stack.put("/v1/approvals/%d" % a["id"], {}, token=tok)
    error_of(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    r = stack.get("/v1/approvals/%d/approve" % a["id"], token=tok)
    error_of(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"
    r = stack.post("/v1/approvals/events", {}, token=tok)
    error_of(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    r = stack.delete("/v1/approvals", token=tok)
    error_of(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == \
        {"GET", "POST"}
    error_of(stack.post("/v1/approvals/%d/execute" % a["id"], {},
                        token=tok), 404, "not_found")


# ---- list --------------------------------------------------------------------

def test_list_by_status_with_paging(stack):
    _, tok = stack.tenant()
    _, other = stack.tenant()
    create(stack, other)                 # never in this tenant's lists
    ids = [create(stack, tok, type_="t%d" % i)["id"] for i in range(5)]
    assert decide(stack, tok, ids[1], "approve", 1).status == 200
    assert decide(stack, tok, ids[3], "reject", 1).status == 200

    def listing(query):
        r = stack.get("/v1/approvals" + query, token=tok)
        assert r.status == 200, r
        return r.json()

    page = listing("")
    assert [a["id"] for a in page["items"]] == ids   # every status, by id
    assert page["next_after"] is None
    assert [a["status"] for a in page["items"]] == \
        ["pending", "executed", "pending", "rejected", "pending"]
    assert page["items"][1]["version"] == 2
    pend = listing("?status=pending")
    assert [a["id"] for a in pend["items"]] == [ids[0], ids[2], ids[4]]
    assert [a["id"] for a in listing("?status=executed")["items"]] == [ids[1]]
    assert [a["id"] for a in listing("?status=rejected")["items"]] == [ids[3]]
    # Paging: next_after is the last id of a full page, null otherwise.
    p1 = listing("?status=pending&limit=2")
    assert [a["id"] for a in p1["items"]] == [ids[0], ids[2]]
    assert p1["next_after"] == ids[2]
    p2 = listing("?status=pending&limit=2&after=%d" % p1["next_after"])
    assert [a["id"] for a in p2["items"]] == [ids[4]]
    assert p2["next_after"] is None
    p = listing("?limit=5")
    assert len(p["items"]) == 5 and p["next_after"] == ids[4]
    p = listing("?after=%d" % ids[4])
    assert p == {"items": [], "next_after": None}
    assert len(listing("?limit=500")["items"]) == 5
    assert len(listing("?limit=1")["items"]) == 1


def test_list_bad_parameters_are_400(stack):
    _, tok = stack.tenant()
    for q in ("?status=done", "?status=", "?status=PENDING", "?limit=0",
              "?limit=501", "?limit=-1", "?limit=abc", "?limit=",
              "?limit=1.5", "?after=abc", "?after=-1", "?after=",
              "?after=1e3"):
        error_of(stack.get("/v1/approvals" + q, token=tok), 400,
                 "bad_request")


# ---- approve and reject --------------------------------------------------------

def test_approve_executes_and_writes_one_event(stack):
    _, tok = stack.tenant()
    a = create(stack, tok, type_="pay", payload={"amount": 10})
    r = decide(stack, tok, a["id"], "approve", 1, note="looks right")
    assert r.status == 200, r
    d = r.json()
    assert d["status"] == "executed" and d["version"] == 2
    assert d["note"] == "looks right" and is_time(d["decided_at"])
    assert d["action"] == a["action"] and d["created_at"] == a["created_at"]
    assert r.headers["ETag"] == '"2"'
    assert stack.get("/v1/approvals/%d" % a["id"], token=tok).json() == d
    feed = events(stack, tok)
    assert feed["next_after"] is None
    [ev] = feed["items"]
    assert set(ev) == {"seq", "approval_id", "type", "action", "at"}
    assert ev["approval_id"] == a["id"] and ev["type"] == "approval.executed"
    assert ev["action"] == {"type": "pay", "payload": {"amount": 10}}
    assert ev["at"] == d["decided_at"] and isinstance(ev["seq"], int)


def test_reject_with_and_without_note(stack):
    _, tok = stack.tenant()
    a = create(stack, tok)
    b = create(stack, tok)
    r = decide(stack, tok, a["id"], "reject", 1)
    assert r.status == 200, r
    assert r.json()["status"] == "rejected" and r.json()["note"] is None
    assert r.json()["version"] == 2 and r.headers["ETag"] == '"2"'
    r = decide(stack, tok, b["id"], "reject", None, note="no",
               headers={"If-Match": '"1"'})
    assert r.status == 200 and r.json()["note"] == "no", r
    feed = events(stack, tok)["items"]
    assert [(e["approval_id"], e["type"]) for e in feed] == \
        [(a["id"], "approval.rejected"), (b["id"], "approval.rejected")]
    assert feed[0]["seq"] < feed[1]["seq"]


def test_decided_approval_is_invalid_state_whatever_the_version(stack):
    _, tok = stack.tenant()
    a = create(stack, tok)
    d = decide(stack, tok, a["id"], "approve", 1).json()
    tries = [("approve", 2, {}), ("reject", 2, {}), ("approve", 1, {}),
             ("reject", 1, {}), ("approve", 7, {}),
             ("reject", None, {"If-Match": '"1"'}),
             ("approve", None, {"If-Match": '"2"'}),
             ("approve", None, {"If-Match": "*"})]
    for verb, version, headers in tries:
        r = decide(stack, tok, a["id"], verb, version, headers=headers)
        body = error_of(r, 409, "invalid_state")
        assert body["status"] == "executed", body
        assert body["current_version"] == 2 and body["current"] == d, body
    b = create(stack, tok)
    assert decide(stack, tok, b["id"], "reject", 1).status == 200
    body = error_of(decide(stack, tok, b["id"], "approve", 2), 409,
                    "invalid_state")
    assert body["status"] == "rejected"
    assert db_row(stack, a["id"]) == ["2", "executed", "1"]
    assert db_row(stack, b["id"]) == ["2", "rejected", "1"]


def test_preconditions_of_a_pending_approval(stack):
    _, tok = stack.tenant()
    a = create(stack, tok)
    aid = a["id"]
    # A well-formed version that is not the current one: a conflict.
    for v in (2, 3, 4294967295):
        body = error_of(decide(stack, tok, aid, "approve", v), 409,
                        "version_conflict")
        assert body["current_version"] == 1 and body["current"] == a, body
    body = error_of(decide(stack, tok, aid, "reject", None,
                           headers={"If-Match": '"5"'}),
                    412, "precondition_failed")
    assert body["current_version"] == 1 and body["current"] == a
    error_of(decide(stack, tok, aid, "approve", None,
                    headers={"If-Match": 'W/"1"'}), 412,
             "precondition_failed")
    body = error_of(decide(stack, tok, aid, "approve", None), 428,
                    "precondition_required")
    assert body["current_version"] == 1
    error_of(decide(stack, tok, aid, "approve", 1,
                    headers={"If-Match": '"2"'}), 400, "bad_request")
    error_of(decide(stack, tok, aid, "approve", None,
                    headers={"If-Match": "one"}), 400, "bad_request")
    for bad in (0, -1, 1.5, "1", None, True):
        r = stack.post("/v1/approvals/%d/approve" % aid, {"version": bad},
                       token=tok)
        error_of(r, 400, "bad_request")
    for bad in (5, ["x"], {"a": 1}, "x" * 10001):
        error_of(decide(stack, tok, aid, "approve", 1, note=bad), 400,
                 "bad_request")
    assert db_row(stack, aid) == ["1", "pending", "0"]
    assert events(stack, tok)["items"] == []
    r = decide(stack, tok, aid, "approve", None, headers={"If-Match": "*"})
    assert r.status == 200 and r.json()["version"] == 2, r


def test_outbox_refuses_a_second_event_for_one_approval(stack):
    tid, tok = stack.tenant()
    a = create(stack, tok)
    assert decide(stack, tok, a["id"], "approve", 1).status == 200
    try:
        stack.sql("INSERT INTO approval_events (tenant_id, approval_id, "
                  "type, action, at) VALUES (%d, %d, 'approval.executed', "
                  "'{}', UTC_TIMESTAMP(3))" % (tid, a["id"]))
    except harness.HarnessError as e:
        assert "Duplicate" in str(e), e
    else:
        raise AssertionError("the database took a second event")


def test_conflicts_are_counted_in_metrics(stack):
    _, tok = stack.tenant()

    def count():
        for line in stack.get("/metrics").text.splitlines():
            if line.startswith('optimist_conflicts_total{resource="approvals"}'):
                return int(line.split()[-1])
        return 0
    before = count()
    a = create(stack, tok)
    assert decide(stack, tok, a["id"], "approve", 2).status == 409
    assert decide(stack, tok, a["id"], "approve", 1).status == 200
    assert decide(stack, tok, a["id"], "reject", 2).status == 409
    assert count() >= before + 2


# ---- the events feed -------------------------------------------------------------

def test_events_feed_paging_and_tenants(stack):
    _, tok = stack.tenant()
    _, other = stack.tenant()
    o = create(stack, other)
    assert decide(stack, other, o["id"], "approve", 1).status == 200
    ids = [create(stack, tok)["id"] for _ in range(5)]
    for i, aid in enumerate(ids):
        verb = "approve" if i % 2 == 0 else "reject"
        assert decide(stack, tok, aid, verb, 1).status == 200
    feed = events(stack, tok)["items"]
    assert [e["approval_id"] for e in feed] == ids
    assert [e["type"] for e in feed] == ["approval.executed",
                                         "approval.rejected"] * 2 + \
        ["approval.executed"]
    seqs = [e["seq"] for e in feed]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    p1 = events(stack, tok, 0, 2)
    assert [e["seq"] for e in p1["items"]] == seqs[:2]
    assert p1["next_after"] == seqs[1]
    p2 = events(stack, tok, p1["next_after"], 2)
    assert [e["seq"] for e in p2["items"]] == seqs[2:4]
    p3 = events(stack, tok, p2["next_after"], 2)
    assert [e["seq"] for e in p3["items"]] == seqs[4:]
    assert p3["next_after"] is None
    assert events(stack, tok, seqs[-1])["items"] == []
    r = stack.get("/v1/approvals/events", token=tok)      # the defaults
    assert r.status == 200 and len(r.json()["items"]) == 5, r
    for q in ("?limit=0", "?limit=501", "?after=x", "?limit=", "?after=-5"):
        error_of(stack.get("/v1/approvals/events" + q, token=tok), 400,
                 "bad_request")


# ---- races ---------------------------------------------------------------------

def test_50_clients_approve_at_once_exactly_one_wins(stack):
    _, tok = stack.tenant()
    a = create(stack, tok, type_="wire", payload={"amount": 1000000})
    barrier = threading.Barrier(50)

    def client(i):
        barrier.wait()
        # Half send the right version (1), half a well-formed wrong one (2).
        return decide(stack, tok, a["id"], "approve", 1 if i % 2 else 2)

    results = harness.parallel(client, list(range(50)))
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [409] * 49, statuses
    for r in results:
        if r.status == 409:
            assert r.json()["error"] in ("invalid_state",
                                         "version_conflict"), r
    feed = events(stack, tok)["items"]
    assert len(feed) == 1 and feed[0]["approval_id"] == a["id"], feed
    got = stack.get("/v1/approvals/%d" % a["id"], token=tok).json()
    assert got["status"] == "executed" and got["version"] == 2
    assert db_row(stack, a["id"]) == ["2", "executed", "1"]


def test_approve_and_reject_race_on_100_approvals(stack):
    """Each approval gets an approve and a reject at once: exactly one wins
    each. Meanwhile a consumer polls the feed with ?after=<last seq seen>:
    it must end up with every event exactly once, in seq order -- an event
    that committed late with a smaller seq would be skipped for ever."""
    _, tok = stack.tenant()
    ids = harness.parallel(lambda i: create(stack, tok, payload=i)["id"],
                           list(range(100)), workers=8)
    seen = []
    stop = threading.Event()

    def consumer():
        after = 0
        while True:
            done = stop.is_set()
            items = events(stack, tok, after, 500)["items"]
            seen.extend(items)
            if items:
                after = items[-1]["seq"]
            elif done:
                return

    t = threading.Thread(target=consumer)
    t.start()
    try:
        calls = [(aid, verb) for aid in ids for verb in ("approve", "reject")]
        results = harness.parallel(
            lambda aid, verb: (aid, verb, decide(stack, tok, aid, verb, 1)),
            calls, workers=16)
    finally:
        stop.set()
        t.join(60)
    winners = {}
    for aid, verb, r in results:
        if r.status == 200:
            assert aid not in winners, "two decisions for %d" % aid
            winners[aid] = "approval.executed" if verb == "approve" \
                else "approval.rejected"
        else:
            assert error_of(r, 409, "invalid_state")["status"] in \
                ("executed", "rejected")
    assert sorted(winners) == sorted(ids)
    feed = all_events(stack, tok)
    assert len(feed) == 100
    seqs = [e["seq"] for e in feed]
    assert seqs == sorted(seqs) and len(set(seqs)) == 100
    assert {e["approval_id"]: e["type"] for e in feed} == winners
    assert [e["seq"] for e in seen] == seqs, \
        "the polling consumer missed or repeated events"
    assert all(e["action"]["type"] == "deploy" for e in feed)


# ---- a worker killed between the decision and its answer --------------------------

def paused_worker(fe):
    """The worker of `fe` that stopped itself at the test pause point."""
    def stopped():
        for pid in fe.worker_pids():
            st = harness._stat(pid)
            if st and st[harness.STATE] == "T":
                return pid
        return None
    return harness.wait_until(stopped, 20, "a worker to reach the pause")


def approve_async(fe, tok, aid, key):
    out = {}

    def run():
        out["r"] = decide(fe, tok, aid, "approve", 1, note="once",
                          headers={"Idempotency-Key": key})
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_killed_before_commit_leaves_neither_and_the_retry_does_it_once(stack):
    fe = stack.add_frontend(workers=1, env={
        "OPTIMIST_TEST_PAUSE": "before_commit:/v1/approvals/",
        "OPTIMIST_IDEMPOTENCY_CLAIM": "3"})
    try:
        _, tok = stack.tenant()
        a = create(stack, tok)
        t0 = time.monotonic()
        t, out = approve_async(fe, tok, a["id"], "kill-before")
        pid = paused_worker(fe)
        # The decision is made, its event written, its answer built: all in
        # one open transaction. Kill the worker there.
        harness._kill(pid, signal.SIGKILL)
        t.join(30)
        error_of(out["r"], 503, "unavailable")     # nginx lost the worker
    finally:
        fe.stop()
    # Both absent: the server rolled the transaction back.
    assert db_row(stack, a["id"]) == ["1", "pending", "0"]
    assert events(stack, tok)["items"] == []
    # The key is still claimed by the dead request for a moment...
    r = decide(stack, tok, a["id"], "approve", 1, note="once",
               headers={"Idempotency-Key": "kill-before"})
    if time.monotonic() - t0 < 2.5:
        error_of(r, 409, "idempotency_key_in_use")
    # ...then the same request may claim it again, and does the work once.
    r = harness.wait_until(
        lambda: (lambda x: x if x.status != 409 else None)(
            decide(stack, tok, a["id"], "approve", 1, note="once",
                   headers={"Idempotency-Key": "kill-before"})),
        20, "the dead request's claim to run out")
    assert r.status == 200 and r.json()["version"] == 2, r
    assert r.headers.get("Idempotent-Replayed") is None
    assert db_row(stack, a["id"]) == ["2", "executed", "1"]
    again = decide(stack, tok, a["id"], "approve", 1, note="once",
                   headers={"Idempotency-Key": "kill-before"})
    assert again.status == 200 and again.body == r.body, again
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(events(stack, tok)["items"]) == 1


def test_killed_after_commit_keeps_both_and_the_retry_replays(stack):
    fe = stack.add_frontend(workers=1, env={
        "OPTIMIST_TEST_PAUSE": "after_commit:/v1/approvals/"})
    try:
        _, tok = stack.tenant()
        a = create(stack, tok)
        t, out = approve_async(fe, tok, a["id"], "kill-after")
        pid = paused_worker(fe)
        # Committed: decision, event and stored answer; nothing sent yet.
        harness._kill(pid, signal.SIGKILL)
        t.join(30)
        error_of(out["r"], 503, "unavailable")
    finally:
        fe.stop()
    assert db_row(stack, a["id"]) == ["2", "executed", "1"]
    r = decide(stack, tok, a["id"], "approve", 1, note="once",
               headers={"Idempotency-Key": "kill-after"})
    assert r.status == 200, r
    assert r.headers["Idempotent-Replayed"] == "true"
    assert r.headers["ETag"] == '"2"'
    body = r.json()
    assert body["status"] == "executed" and body["version"] == 2
    assert body["note"] == "once"
    # Without the key, the same request is a decision on a decided approval.
    error_of(decide(stack, tok, a["id"], "approve", 1), 409, "invalid_state")
    feed = events(stack, tok)["items"]
    assert len(feed) == 1 and feed[0]["approval_id"] == a["id"]
