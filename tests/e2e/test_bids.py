"""test_bids.py -- bids and their evaluations through nginx and the pool:
every route and error of the contract, the event stream as it happens,
an edit that wins over a running evaluation, two claims at once, the hub
(which runs every evaluation) killed mid-run, a client that hangs up,
evaluators that fail, and short requests that still answer while the
evaluation slots are full.

The module's stack runs the built-in demo evaluator at 5 steps x 400 ms,
with a 3 s lease (for the expiry test) and 2 evaluation slots (a
tenant may take both) on 4 workers. Programs that misbehave run on extra frontends (add_frontend:
another pool and nginx on the same database), one per evaluator script."""

import http.client
import os
import signal
import stat
import tempfile
import threading
import time

import harness

STEPS, DELAY = 5, 0.4
LEASE = 3
STACK_OPTIONS = {"workers": 4, "env": {
    "OPTIMIST_DEMO_EVAL_STEPS": str(STEPS),
    "OPTIMIST_DEMO_EVAL_DELAY_MS": str(int(DELAY * 1000)),
    "OPTIMIST_LEASE_SECONDS": str(LEASE),
    "OPTIMIST_SSE_PING_SECONDS": "1",
    "OPTIMIST_MAX_EVALUATIONS": "2",
    "OPTIMIST_MAX_EVALUATIONS_PER_TENANT": "2",
}}
SSE = {"Accept": "text/event-stream"}
TERMINAL = ("result", "conflict", "error")


def error_of(r, status, code):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def new_bid(stack, tok, data=None):
    r = stack.post("/v1/bids", {"data": data if data is not None else
                                {"title": "roof", "amount": 1200}},
                   token=tok)
    assert r.status == 201, r
    return r.json()


def get_bid(stack, tok, bid_id):
    r = stack.get("/v1/bids/%d" % bid_id, token=tok)
    assert r.status == 200, r
    return r.json()


def runs_of(stack, tok, bid_id):
    r = stack.get("/v1/bids/%d/evaluations" % bid_id, token=tok)
    assert r.status == 200, r
    return r.json()["items"]


def evaluate(stack, tok, bid_id, version, kind=None, **kw):
    body = {"version": version}
    if kind:
        body["kind"] = kind
    return stack.post("/v1/bids/%d/evaluate" % bid_id, body, token=tok, **kw)


def open_stream(stack, tok, bid_id, version, kind=None, timeout=30):
    body = {"version": version}
    if kind:
        body["kind"] = kind
    s = stack.stream("POST", "/v1/bids/%d/evaluate" % bid_id, body,
                     headers=SSE, token=tok, timeout=timeout)
    assert s.status == 200, (s.status, s.read()[:500])
    assert s.headers["Content-Type"].startswith("text/event-stream"), \
        s.headers["Content-Type"]
    return s


def read_all(s, t0=None, comments=False):
    """Every event until the stream ends, as (seconds since t0, event)."""
    t0 = time.monotonic() if t0 is None else t0
    return [(time.monotonic() - t0, ev) for ev in s.events(comments)]


def names(events):
    return [ev.get("event", ":" + ev.get("comment", "")) for _, ev in events]


def one_terminal(events):
    """The stream ends with exactly one of result/conflict/error."""
    evs = [ev for _, ev in events if "event" in ev]
    ends = [ev for ev in evs if ev["event"] in TERMINAL]
    assert len(ends) == 1, names(events)
    assert evs[-1] is ends[0], names(events)
    return ends[0]


def metric(stack, name):
    for line in stack.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    raise AssertionError("no %s in /metrics" % name)


def wait_slots_free(stack, timeout=10):
    """Every evaluation slot of the pool is free (a run whose client hung
    up gives its slot back a moment after the bid is decided)."""
    harness.wait_until(
        lambda: metric(stack, "optimist_evaluations_running") == 0, timeout,
        "the evaluation slots to be free")


def seconds_left(lease):
    """Seconds until an RFC 3339 lease.until, from this machine's clock."""
    import datetime
    until = datetime.datetime.strptime(lease["until"],
                                       "%Y-%m-%dT%H:%M:%S.%fZ")
    until = until.replace(tzinfo=datetime.timezone.utc)
    return (until - datetime.datetime.now(datetime.timezone.utc)) \
        .total_seconds()


def wait_status(stack, tok, bid_id, status, timeout=15):
    return harness.wait_until(
        lambda: (lambda b: b if b["status"] == status else None)(
            get_bid(stack, tok, bid_id)), timeout, "bid %s" % status)


# ---- create, get, list ------------------------------------------------------

def test_create_and_get_with_etag_and_304(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/bids", {"data": {"title": "roof", "n": [1, 2]}},
                   token=tok)
    assert r.status == 201, r
    b = r.json()
    assert b["version"] == 1 and b["status"] == "open", b
    assert b["data"] == {"title": "roof", "n": [1, 2]}
    assert b["evaluation"] is None and b["lease"] is None
    assert r.headers["ETag"] == '"1"'
    assert r.headers["Location"] == "/v1/bids/%d" % b["id"]
    for k in ("created_at", "updated_at"):
        assert len(b[k]) == 24 and b[k][10] == "T" and b[k].endswith("Z"), b
    r = stack.get("/v1/bids/%d" % b["id"], token=tok)
    assert r.status == 200 and r.json() == b, r
    assert r.headers["ETag"] == '"1"'
    r = stack.get("/v1/bids/%d" % b["id"], token=tok,
                  headers={"If-None-Match": '"1"'})
    assert r.status == 304 and r.body == b"", r
    assert r.headers["ETag"] == '"1"'


def test_create_needs_a_data_object(stack):
    _, tok = stack.tenant()
    for bad in ({}, {"data": [1]}, {"data": "x"}, {"data": None},
                {"data": 5}, [1]):
        error_of(stack.post("/v1/bids", bad, token=tok), 400, "bad_request")
    r = stack.post("/v1/bids", raw_body=b'{"data": {', token=tok,
                   headers={"Content-Type": "application/json"})
    error_of(r, 400, "bad_request")
    r = stack.post("/v1/bids", raw_body=b'{"data": {}}', token=tok,
                   headers={"Content-Type": "text/plain"})
    error_of(r, 415, "unsupported_media_type")
    error_of(stack.post("/v1/bids", {"data": {}}), 401, "unauthorized")


def test_data_deeper_than_the_database_stores_is_400(stack):
    _, tok = stack.tenant()

    def nested(levels):   # an object `levels` deep, itself level 1
        d = {}
        for _ in range(levels - 1):
            d = {"n": d}
        return d

    assert stack.post("/v1/bids", {"data": nested(31)}, token=tok).status \
        == 201
    error_of(stack.post("/v1/bids", {"data": nested(32)}, token=tok), 400,
             "bad_request")
    b = new_bid(stack, tok, {"n": nested(29)})   # 30 levels
    r = stack.patch("/v1/bids/%d" % b["id"],
                    {"version": 1, "data": {"n": {"n": nested(30)}}},
                    token=tok)
    error_of(r, 400, "bad_request")
    assert get_bid(stack, tok, b["id"])["version"] == 1


def test_idempotency_key_on_writes_and_not_on_evaluate(stack):
    _, tok = stack.tenant()
    key = {"Idempotency-Key": "bid-create-1"}
    r1 = stack.post("/v1/bids", {"data": {"x": 1}}, token=tok, headers=key)
    r2 = stack.post("/v1/bids", {"data": {"x": 1}}, token=tok, headers=key)
    assert r1.status == r2.status == 201, (r1, r2)
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.headers.get("Idempotent-Replayed") == "true"
    bid_id = r1.json()["id"]
    p = "/v1/bids/%d" % bid_id
    key = {"Idempotency-Key": "bid-patch-1"}
    for _ in range(2):
        r = stack.patch(p, {"version": 1, "data": {"y": 2}}, token=tok,
                        headers=key)
        assert r.status == 200 and r.json()["version"] == 2, r
    # /evaluate ignores the header: the second call is a second request.
    key = {"Idempotency-Key": "bid-eval-1"}
    r = evaluate(stack, tok, bid_id, 2, kind="quick_scan", headers=key)
    assert r.status == 200 and r.json()["outcome"] == "applied", r
    assert "Idempotent-Replayed" not in r.headers
    r = evaluate(stack, tok, bid_id, 2, kind="quick_scan", headers=key)
    error_of(r, 409, "version_conflict")
    assert len(runs_of(stack, tok, bid_id)) == 1


def test_missing_foreign_and_malformed_ids_are_404(stack):
    _, tok_a = stack.tenant()
    _, tok_b = stack.tenant()
    b = new_bid(stack, tok_a)
    p = "/v1/bids/%d" % b["id"]
    error_of(stack.get(p, token=tok_b), 404, "not_found")
    error_of(stack.patch(p, {"version": 1, "data": {}}, token=tok_b), 404,
             "not_found")
    error_of(stack.post(p + "/archive", {"version": 1}, token=tok_b), 404,
             "not_found")
    error_of(evaluate(stack, tok_b, b["id"], 1), 404, "not_found")
    error_of(stack.get(p + "/evaluations", token=tok_b), 404, "not_found")
    for path in ("/v1/bids/999999999", "/v1/bids/abc", "/v1/bids/1x",
                 "/v1/bids/999999999/evaluations"):
        error_of(stack.get(path, token=tok_a), 404, "not_found")
    assert get_bid(stack, tok_a, b["id"])["version"] == 1
    r = stack.http("DELETE", p, token=tok_a)
    error_of(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == \
        {"GET", "PATCH"}


def test_list_pages_by_id_and_filters_by_status(stack):
    _, tok = stack.tenant()
    _, other = stack.tenant()
    new_bid(stack, other)
    ids = [new_bid(stack, tok, {"i": i})["id"] for i in range(3)]
    r = stack.post("/v1/bids/%d/archive" % ids[1], {"version": 1}, token=tok)
    assert r.status == 200, r

    page = stack.get("/v1/bids?limit=2", token=tok).json()
    assert [b["id"] for b in page["items"]] == ids[:2]
    assert page["next_after"] == ids[1]
    page = stack.get("/v1/bids?limit=2&after=%d" % ids[1], token=tok).json()
    assert [b["id"] for b in page["items"]] == ids[2:]
    assert page["next_after"] is None
    page = stack.get("/v1/bids", token=tok).json()
    assert [b["id"] for b in page["items"]] == ids
    assert page["next_after"] is None
    assert page["items"][0]["data"] == {"i": 0}

    page = stack.get("/v1/bids?status=open", token=tok).json()
    assert [b["id"] for b in page["items"]] == [ids[0], ids[2]]
    page = stack.get("/v1/bids?status=archived&limit=1", token=tok).json()
    assert [b["id"] for b in page["items"]] == [ids[1]]
    assert page["next_after"] == ids[1]
    page = stack.get("/v1/bids?status=decided", token=tok).json()
    assert page == {"items": [], "next_after": None}

    for q in ("limit=0", "limit=501", "limit=abc", "limit=-1", "limit=",
              "limit=1.5", "after=-3", "after=x", "status=closed",
              "status=", "status=OPEN"):
        error_of(stack.get("/v1/bids?" + q, token=tok), 400, "bad_request")
    assert len(stack.get("/v1/bids?limit=500", token=tok).json()["items"]) \
        == 3


# ---- patch -------------------------------------------------------------------

def test_patch_is_a_json_merge_patch(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok, {"title": "roof", "amount": 1200,
                             "meta": {"a": 1, "b": 2}, "tags": ["x", "y"]})
    r = stack.patch("/v1/bids/%d" % b["id"],
                    {"version": 1, "data": {"amount": 1500, "title": None,
                                            "meta": {"b": None, "c": 3},
                                            "tags": ["z"]}},
                    token=tok)
    assert r.status == 200, r
    got = r.json()
    assert got["version"] == 2 and r.headers["ETag"] == '"2"'
    assert got["data"] == {"amount": 1500, "meta": {"a": 1, "c": 3},
                           "tags": ["z"]}
    assert get_bid(stack, tok, b["id"]) == got


def test_patch_removing_a_key_keeps_the_other_changes(stack):
    # Regression: MariaDB 10.11's JSON_MERGE_PATCH answers {"b": 2} here
    # (and loses removals when a patch removes several keys); the merge is
    # done by the service, under the row's lock.
    _, tok = stack.tenant()
    b = new_bid(stack, tok, {"a": 1, "b": 2})
    r = stack.patch("/v1/bids/%d" % b["id"],
                    {"version": 1, "data": {"b": 3, "a": None}}, token=tok)
    assert r.status == 200 and r.json()["data"] == {"b": 3}, r
    b = new_bid(stack, tok, {"c": 0, "d": {"x": [6]}, "e": 5})
    r = stack.patch("/v1/bids/%d" % b["id"],
                    {"version": 1, "data": {"d": None, "c": None}}, token=tok)
    assert r.status == 200 and r.json()["data"] == {"e": 5}, r


def test_patch_preconditions(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    p = "/v1/bids/%d" % b["id"]
    body = error_of(stack.patch(p, {"data": {"x": 1}}, token=tok), 428,
                    "precondition_required")
    assert body["current_version"] == 1
    assert stack.patch(p, {"version": 1, "data": {"x": 1}},
                       token=tok).status == 200
    body = error_of(stack.patch(p, {"version": 1, "data": {"x": 2}},
                                token=tok), 409, "version_conflict")
    assert body["current_version"] == 2
    assert body["current"]["data"]["x"] == 1
    body = error_of(stack.patch(p, {"data": {"x": 2}}, token=tok,
                                headers={"If-Match": '"1"'}), 412,
                    "precondition_failed")
    assert body["current_version"] == 2 and body["current"]["version"] == 2
    error_of(stack.patch(p, {"data": {"x": 2}}, token=tok,
                         headers={"If-Match": 'W/"2"'}), 412,
             "precondition_failed")
    error_of(stack.patch(p, {"version": 2, "data": {"x": 2}}, token=tok,
                         headers={"If-Match": '"1"'}), 400, "bad_request")
    for bad in (0, -1, 1.5, "2", None):
        error_of(stack.patch(p, {"version": bad, "data": {}}, token=tok),
                 400, "bad_request")
    for bad in ([1], "x", None, 3):
        error_of(stack.patch(p, {"version": 2, "data": bad}, token=tok),
                 400, "bad_request")
    r = stack.patch(p, {"data": {"x": 3}}, token=tok,
                    headers={"If-Match": '"2"'})
    assert r.status == 200 and r.json()["version"] == 3, r
    r = stack.patch(p, {"data": {"x": 4}}, token=tok,
                    headers={"If-Match": "*"})
    assert r.status == 200 and r.json()["version"] == 4, r
    assert get_bid(stack, tok, b["id"])["data"]["x"] == 4


def test_12_clients_patching_one_bid_lose_nothing(stack):
    """Each client writes 20 keys of its own into one bid's data, one PATCH
    each, and on a 409 resends on the 409's current_version (no refetch).
    Every key ends in the data exactly once, the version counts the 200s,
    and each 200 carries the bid exactly as it was at that version."""
    _, tok = stack.tenant()
    b = new_bid(stack, tok, {"title": "roof"})
    p = "/v1/bids/%d" % b["id"]
    lock = threading.Lock()
    answers = {}        # version -> the 200's body
    conflicts = [0]
    barrier = threading.Barrier(12)

    def client(n):
        v = 1
        barrier.wait()
        for j in range(20):
            key = "c%02d_%02d" % (n, j)
            while True:
                r = stack.patch(p, {"version": v, "data": {key: j}},
                                token=tok)
                if r.status == 200:
                    got = r.json()
                    assert got["version"] == v + 1, (v, got["version"])
                    assert r.headers["ETag"] == '"%d"' % got["version"]
                    assert got["data"][key] == j
                    # Nothing of this client's earlier writes is lost.
                    for k in range(j):
                        assert got["data"]["c%02d_%02d" % (n, k)] == k
                    with lock:
                        assert got["version"] not in answers
                        answers[got["version"]] = got
                    v = got["version"]
                    break
                body = error_of(r, 409, "version_conflict")
                assert body["current_version"] != v
                assert body["current"]["version"] == body["current_version"]
                v = body["current_version"]
                with lock:
                    conflicts[0] += 1

    harness.parallel(client, list(range(12)))
    final = get_bid(stack, tok, b["id"])
    want = {"c%02d_%02d" % (n, j): j for n in range(12) for j in range(20)}
    want["title"] = "roof"
    assert final["data"] == want
    assert final["version"] == 1 + 240 == 1 + len(answers)
    assert sorted(answers) == list(range(2, 242))
    assert answers[241] == final
    # Each version's data is the previous one's plus exactly one key, and
    # updated_at never goes back.
    for v in range(3, 242):
        before, after = answers[v - 1]["data"], answers[v]["data"]
        assert len(after) == len(before) + 1 and \
            all(after[k] == before[k] for k in before), v
        assert answers[v]["updated_at"] >= answers[v - 1]["updated_at"]
    assert conflicts[0] > 0, "12 clients never collided: not a race"


def test_patches_racing_an_archive_one_wins(stack):
    """20 PATCHes and one archive, all on version 1 at once: exactly one
    write wins; when the archive won, the data is untouched."""
    _, tok = stack.tenant()
    for _ in range(5):
        b = new_bid(stack, tok, {"n": 0})
        p = "/v1/bids/%d" % b["id"]
        barrier = threading.Barrier(21)

        def one(n):
            barrier.wait()
            if n == 20:
                return "archive", stack.post(p + "/archive", {"version": 1},
                                             token=tok)
            return "patch", stack.patch(p, {"version": 1,
                                            "data": {"n": n + 1}},
                                        token=tok)

        results = harness.parallel(one, list(range(21)))
        wins = [(kind, r) for kind, r in results if r.status == 200]
        assert len(wins) == 1, [(k, r.status) for k, r in results]
        for kind, r in results:
            if r.status != 200:
                body = error_of(r, 409, r.json()["error"])
                assert body["error"] in ("version_conflict", "invalid_state")
                assert body["current_version"] == 2
        final = get_bid(stack, tok, b["id"])
        assert final["version"] == 2
        kind, r = wins[0]
        assert final == r.json()
        if kind == "archive":
            assert final["status"] == "archived" and final["data"] == {"n": 0}
        else:
            assert final["status"] == "open" and final["data"]["n"] >= 1


# ---- archive -----------------------------------------------------------------

def test_archive_then_nothing_changes_it(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    p = "/v1/bids/%d" % b["id"]
    error_of(stack.post(p + "/archive", token=tok), 428,
             "precondition_required")
    body = error_of(stack.post(p + "/archive", {"version": 2}, token=tok),
                    409, "version_conflict")
    assert body["current_version"] == 1
    r = stack.post(p + "/archive", {"version": 1}, token=tok)
    assert r.status == 200, r
    a = r.json()
    assert a["status"] == "archived" and a["version"] == 2, a
    assert r.headers["ETag"] == '"2"'
    for resp in (stack.post(p + "/archive", {"version": 2}, token=tok),
                 stack.patch(p, {"version": 2, "data": {"x": 1}}, token=tok),
                 evaluate(stack, tok, b["id"], 2)):
        body = error_of(resp, 409, "invalid_state")
        assert body["status"] == "archived", body
        assert body["current_version"] == 2 and body["current"] == a, body
        assert "lease" not in body
    assert get_bid(stack, tok, b["id"]) == a
    assert runs_of(stack, tok, b["id"]) == []


# ---- evaluate: the happy paths -------------------------------------------------

def test_first_progress_reaches_the_client_long_before_the_end(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    t0 = time.monotonic()
    with open_stream(stack, tok, b["id"], 1) as s:
        events = read_all(s, t0)
    evs = [(t, ev) for t, ev in events if "event" in ev]
    assert names(evs) == ["claimed"] + ["progress"] * STEPS + ["result"], \
        names(events)
    claimed = evs[0][1]["data"]
    assert claimed["version"] == 2 and claimed["evaluation_id"] > 0
    t_first = evs[1][0]
    t_end = evs[-1][0]
    assert t_first < 1.0, "first progress after %.2fs" % t_first
    assert t_end - t_first > 1.0, (t_first, t_end)
    assert evs[1][1]["data"] == {"progress": {"step": 1, "of": STEPS}}
    result = evs[-1][1]["data"]
    assert result["version"] == 3
    assert result["evaluation"]["kind"] == "full", result
    bid = get_bid(stack, tok, b["id"])
    assert bid["status"] == "decided" and bid["version"] == 3
    assert bid["evaluation"] == result["evaluation"]
    assert bid["lease"] is None
    (run,) = runs_of(stack, tok, b["id"])
    assert run["id"] == claimed["evaluation_id"]
    assert run["outcome"] == "applied" and run["kind"] == "full"
    assert run["result"] == result["evaluation"]
    assert run["started_at"] <= run["finished_at"]


def test_stream_sends_pings(stack):
    # The stack pings every second; a run takes 2 s.
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    with open_stream(stack, tok, b["id"], 1) as s:
        events = read_all(s, comments=True)
    assert ":ping" in names(events), names(events)
    assert one_terminal(events)["event"] == "result"


def test_evaluate_without_stream_waits_for_the_outcome(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    r = evaluate(stack, tok, b["id"], 1, kind="quick_scan")
    assert r.status == 200, r
    body = r.json()
    assert body["outcome"] == "applied", body
    assert body["bid"]["status"] == "decided" and body["bid"]["version"] == 3
    assert body["bid"]["evaluation"]["kind"] == "quick_scan"
    assert r.headers["ETag"] == '"3"'
    # A decided bid can be evaluated again; runs are listed newest first.
    r = evaluate(stack, tok, b["id"], 3, headers={"If-Match": '"3"'})
    assert r.status == 200 and r.json()["bid"]["version"] == 5, r
    runs = runs_of(stack, tok, b["id"])
    assert [x["kind"] for x in runs] == ["full", "quick_scan"]
    assert runs[1]["id"] == body["evaluation_id"]
    assert [x["outcome"] for x in runs] == ["applied", "applied"]


def test_evaluate_preconditions_and_input(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    p = "/v1/bids/%d/evaluate" % b["id"]
    body = error_of(stack.post(p, {}, token=tok), 428,
                    "precondition_required")
    assert body["current_version"] == 1
    body = error_of(evaluate(stack, tok, b["id"], 7), 409,
                    "version_conflict")
    assert body["current_version"] == 1 and body["current"]["id"] == b["id"]
    error_of(stack.post(p, {}, token=tok, headers={"If-Match": '"2"'}), 412,
             "precondition_failed")
    error_of(stack.post(p, {}, token=tok, headers={"If-Match": 'W/"1"'}),
             412, "precondition_failed")
    for kind in ("fast", 5, ["full"], "FULL"):
        error_of(stack.post(p, {"version": 1, "kind": kind}, token=tok), 400,
                 "bad_request")
    error_of(stack.post(p, {"version": 0}, token=tok), 400, "bad_request")
    # A stream was asked for, but nothing was claimed: a plain JSON error.
    r = stack.post(p, {"version": 9}, token=tok, headers=SSE)
    error_of(r, 409, "version_conflict")
    assert get_bid(stack, tok, b["id"])["version"] == 1
    assert runs_of(stack, tok, b["id"]) == []


def test_a_running_evaluation_holds_the_bid(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    with open_stream(stack, tok, b["id"], 1) as s:
        events = s.events()
        claimed = next(events)
        assert claimed["event"] == "claimed", claimed
        cur = get_bid(stack, tok, b["id"])
        assert cur["status"] == "evaluating" and cur["version"] == 2
        assert cur["lease"]["expired"] is False, cur
        assert cur["lease"]["until"].endswith("Z"), cur
        (run,) = runs_of(stack, tok, b["id"])
        assert run["outcome"] == "running" and run["finished_at"] is None
        for resp in (evaluate(stack, tok, b["id"], 2),
                     stack.post("/v1/bids/%d/archive" % b["id"],
                                {"version": 2}, token=tok)):
            body = error_of(resp, 409, "invalid_state")
            assert body["status"] == "evaluating", body
            assert body["lease"]["expired"] is False, body
            assert body["current_version"] == 2
        rest = [ev["event"] for ev in events]
    assert rest[-1] == "result", rest
    assert [x["outcome"] for x in runs_of(stack, tok, b["id"])] == ["applied"]


# ---- evaluate: the races it exists for --------------------------------------------

def test_an_edit_during_the_evaluation_wins(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok, {"title": "roof", "amount": 1200})
    with open_stream(stack, tok, b["id"], 1) as s:
        events = s.events()
        claimed = next(events)["data"]
        assert next(events)["event"] == "progress"
        r = stack.patch("/v1/bids/%d" % b["id"],
                        {"version": claimed["version"],
                         "data": {"amount": 999}}, token=tok)
        assert r.status == 200, r
        assert r.json()["status"] == "evaluating"
        assert r.json()["version"] == 3
        rest = list(events)
    end = rest[-1]
    assert [ev["event"] for ev in rest if ev["event"] in TERMINAL] == \
        ["conflict"], rest
    assert end["data"] == {"current_version": 4,
                           "evaluation_id": claimed["evaluation_id"]}
    bid = get_bid(stack, tok, b["id"])
    assert bid["status"] == "open" and bid["version"] == 4, bid
    assert bid["data"] == {"title": "roof", "amount": 999}
    assert bid["evaluation"] is None and bid["lease"] is None
    (run,) = runs_of(stack, tok, b["id"])
    assert run["outcome"] == "superseded", run
    assert run["result"]["evaluator"] == "demo", run   # kept, not applied
    assert run["finished_at"] is not None


def test_an_edit_during_a_waiting_evaluation_is_a_409(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    out = {}
    t = threading.Thread(target=lambda: out.update(
        r=evaluate(stack, tok, b["id"], 1, kind="quick_scan")))
    t.start()
    try:
        harness.wait_until(lambda: get_bid(stack, tok, b["id"])["status"]
                           == "evaluating", 10, "the claim")
        r = stack.patch("/v1/bids/%d" % b["id"],
                        {"version": 2, "data": {"late": True}}, token=tok)
        assert r.status == 200, r
    finally:
        t.join(30)
    body = error_of(out["r"], 409, "version_conflict")
    assert body["current_version"] == 4 and body["current"]["version"] == 4
    assert body["current"]["data"]["late"] is True
    assert body["current"]["status"] == "open"
    assert body["evaluation_id"] == runs_of(stack, tok, b["id"])[0]["id"]


def test_two_evaluations_at_once_one_claims(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    wait_slots_free(stack)
    barrier = threading.Barrier(2)

    def go(_):
        barrier.wait()
        return evaluate(stack, tok, b["id"], 1, kind="quick_scan")

    r1, r2 = harness.parallel(go, [1, 2])
    assert sorted([r1.status, r2.status]) == [200, 409], (r1, r2)
    lose = r1 if r1.status == 409 else r2
    assert lose.json()["error"] in ("version_conflict", "invalid_state")
    assert lose.json()["current_version"] >= 2
    runs = runs_of(stack, tok, b["id"])
    assert [x["outcome"] for x in runs] == ["applied"], runs
    assert get_bid(stack, tok, b["id"])["version"] == 3


def test_a_client_that_hangs_up_does_not_stop_the_run(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    s = open_stream(stack, tok, b["id"], 1)
    events = s.events()
    assert next(events)["event"] == "claimed"
    assert next(events)["event"] == "progress"
    s.close()
    bid = wait_status(stack, tok, b["id"], "decided", timeout=STEPS * DELAY + 10)
    assert bid["version"] == 3 and bid["evaluation"]["evaluator"] == "demo"
    (run,) = runs_of(stack, tok, b["id"])
    assert run["outcome"] == "applied", run
    wait_slots_free(stack)


def evaluator_children(stack):
    """The evaluators running now: the hub's children."""
    hub = stack.hub_pid()
    return harness.children(hub) if hub else []


def test_a_killed_hub_is_restarted_and_its_runs_expire(stack):
    # The hub runs every evaluation and holds every stream. SIGKILLed
    # mid-run: the master starts another; the run's evaluator dies with
    # it; once the lease has passed the run is expired, the bid is open
    # again (nothing stays evaluating), and the run's stream, resumed,
    # ends with exactly one final event: error "expired".
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    s = open_stream(stack, tok, b["id"], 1)
    hub = stack.hub_pid()
    try:
        events = s.events()
        claimed = next(events)
        assert claimed["event"] == "claimed" and claimed["id"] == "1"
        first = next(events)
        assert first["event"] == "progress" and first["id"] == "2", first
        kids = evaluator_children(stack)
        assert len(kids) == 1, kids
        harness._kill(hub, signal.SIGKILL)
        try:
            list(events)   # the stream just ends: nginx lost its upstream
        except (http.client.HTTPException, OSError):
            pass           # ... possibly in the middle of a chunk
    finally:
        s.close()
    harness.wait_until(lambda: not any(harness.alive(k) for k in kids), 5,
                       "the evaluator to die with its hub")
    harness.wait_until(lambda: stack.hub_pid() not in (None, hub), 10,
                       "the master to start another hub")
    eval_id = claimed["data"]["evaluation_id"]
    # Resumed after what it saw: the rest, then error "expired" (the new
    # hub ends a run its dead predecessor held at once, as the sweep ends
    # one whose lease passed; docs/streams.md).
    with stack.stream("GET", "/v1/evaluations/%d/events" % eval_id,
                      headers={"Last-Event-ID": "2"}, token=tok,
                      timeout=LEASE + 20) as r:
        assert r.status == 200, r.status
        rest = list(r.events())
    assert [int(e["id"]) for e in rest] == list(range(3, 3 + len(rest)))
    assert [e["event"] for e in rest[-1:]] == ["error"], rest
    assert rest[-1]["data"]["error"] == "expired", rest[-1]
    assert all(e["event"] == "progress" for e in rest[:-1]), rest
    cur = get_bid(stack, tok, b["id"])
    assert cur["status"] == "open" and cur["version"] == 3, cur
    (run,) = runs_of(stack, tok, b["id"])
    assert run["id"] == eval_id and run["outcome"] == "expired", run
    r = stack.get("/v1/evaluations/%d" % eval_id, token=tok)
    assert r.status == 200 and r.json()["outcome"] == "expired", r
    # The slot was given back and the bid can be evaluated again.
    wait_slots_free(stack)
    r = evaluate(stack, tok, b["id"], 3, kind="quick_scan")
    assert r.status == 200 and r.json()["outcome"] == "applied", r
    runs = runs_of(stack, tok, b["id"])
    assert [x["outcome"] for x in runs] == ["applied", "expired"], runs


def test_short_requests_answer_while_every_slot_streams(stack):
    # As many evaluations as there are workers (4), at once: the 2 slots
    # (OPTIMIST_MAX_EVALUATIONS) run, the rest are told to come back, and
    # the workers left answer short requests at once.
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "side"}, token=tok)
    assert r.status == 201, r
    sid = r.json()["id"]
    bids = [new_bid(stack, tok) for _ in range(4)]
    wait_slots_free(stack)
    assert metric(stack, "optimist_evaluations_max") == 2

    def start(b):
        return stack.stream("POST", "/v1/bids/%d/evaluate" % b["id"],
                            {"version": 1}, headers=SSE, token=tok,
                            timeout=30)

    streams = harness.parallel(start, bids)
    try:
        running = [s for s in streams if s.status == 200]
        refused = [s for s in streams if s.status != 200]
        assert len(running) == 2, [s.status for s in streams]
        for s in refused:
            assert s.status == 503, s.status
            assert int(s.headers["Retry-After"]) > 0
            assert b'"error":"unavailable"' in s.read()
        for s in running:
            assert next(s.events())["event"] == "claimed"
        assert metric(stack, "optimist_evaluations_running") == 2
        for _ in range(5):
            t0 = time.monotonic()
            r = stack.get("/v1/sessions/%d" % sid, token=tok, timeout=5)
            dt = time.monotonic() - t0
            assert r.status == 200, r
            assert dt < 1.0, "GET took %.2fs" % dt
            t0 = time.monotonic()
            r = stack.get("/v1/bids/%d" % bids[0]["id"], token=tok, timeout=5)
            assert r.status == 200 and time.monotonic() - t0 < 1.0, r
        for s in running:
            assert one_terminal(read_all(s))["event"] == "result"
    finally:
        for s in streams:
            s.close()
    # The refused ones changed nothing and can run now.
    idle = [b for b in bids if get_bid(stack, tok, b["id"])["version"] == 1]
    assert len(idle) == 2, idle
    r = evaluate(stack, tok, idle[0]["id"], 1, kind="quick_scan")
    assert r.status == 200, r


def test_conflicts_are_counted_for_bids(stack):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)

    def conflicts():
        for line in stack.get("/metrics").text.splitlines():
            if line.startswith('optimist_conflicts_total{resource="bids"}'):
                return int(line.split()[-1])
        raise AssertionError("no bids conflict counter")

    before = conflicts()
    error_of(stack.patch("/v1/bids/%d" % b["id"], {"version": 5, "data": {}},
                         token=tok), 409, "version_conflict")
    assert conflicts() == before + 1


# ---- evaluators that misbehave ---------------------------------------------------

SCRIPTS = {
    # reads the bid, reports what it got: the protocol's happy path
    "good": 'bid=$(cat)\n'
            'echo \'{"progress": "read"}\'\n'
            'echo "{\\"result\\": {\\"kind\\": \\"$OPTIMIST_EVAL_KIND\\", '
            '\\"bytes\\": ${#bid}, \\"id\\": $OPTIMIST_EVALUATION_ID}}"\n',
    "exit1": 'cat >/dev/null\necho \'{"progress": 1}\'\n'
             'echo \'{"result": {}}\'\nexit 1\n',
    "garbage": 'cat >/dev/null\necho \'{"progress": 1}\'\n'
               'echo "this is not json"\nsleep 20\n'
               'echo \'{"result": {}}\'\n',
    "hang": 'cat >/dev/null\necho \'{"progress": 1}\'\nsleep 60\n',
}


def frontend_with(stack, name, timeout="2"):
    """A pool (2 workers) and nginx on the stack's database whose evaluator
    is SCRIPTS[name]."""
    d = tempfile.mkdtemp(prefix="optimist-eval-", dir=stack.dir)
    harness.readable_by_evaluators(d)
    path = os.path.join(d, name + ".sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + SCRIPTS[name])
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP |
             stat.S_IXOTH)
    return stack.add_frontend(workers=2, env={
        "OPTIMIST_EVALUATOR": path, "OPTIMIST_EVALUATOR_TIMEOUT": timeout,
        "OPTIMIST_LEASE_SECONDS": "30"})


def no_leftover_processes(fe):
    """Nothing in the pool's session but the master, its workers and its
    hub (which runs the evaluators), and no zombie under any of them."""
    master = fe.pool_pid()
    workers = set(fe.worker_pids()) | {fe.hub_pid()}
    extra = [p for p in harness._scan(harness.SESSION, master)
             if p != master and p not in workers]
    zombies = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = harness._stat(int(name))
            if st and st[harness.STATE] == "Z" and int(st[harness.PPID]) in \
                    workers:
                zombies.append(int(name))
    return not extra and not zombies and (extra, zombies)


def test_an_external_evaluator_gets_the_bid_and_its_kind(stack):
    fe = frontend_with(stack, "good")
    try:
        _, tok = stack.tenant()
        b = new_bid(stack, tok)
        with open_stream(fe, tok, b["id"], 1, kind="quick_scan") as s:
            events = read_all(s)
        assert names(events) == ["claimed", "progress", "result"], events
        claimed = events[0][1]["data"]
        ev = events[-1][1]["data"]["evaluation"]
        assert ev["kind"] == "quick_scan" and ev["bytes"] > 20, ev
        assert ev["id"] == claimed["evaluation_id"]
        assert events[1][1]["data"] == {"progress": "read"}
        assert get_bid(stack, tok, b["id"])["evaluation"] == ev
        harness.wait_until(lambda: no_leftover_processes(fe), 5,
                           "no evaluator left behind")
    finally:
        fe.stop()


def check_failed_run(stack, fe, name, timeout="2"):
    _, tok = stack.tenant()
    b = new_bid(stack, tok)
    t0 = time.monotonic()
    with open_stream(fe, tok, b["id"], 1) as s:
        events = read_all(s, t0)
    end = one_terminal(events)
    assert end["event"] == "error", events
    assert end["data"]["error"] == "evaluation_failed", end
    assert end["data"]["current_version"] == 3, end
    bid = get_bid(stack, tok, b["id"])
    assert bid["status"] == "open" and bid["version"] == 3, bid
    assert bid["evaluation"] is None and bid["lease"] is None
    (run,) = runs_of(stack, tok, b["id"])
    assert run["outcome"] == "failed" and run["result"] is None, run
    assert run["error"], run
    harness.wait_until(lambda: no_leftover_processes(fe), 5,
                       "no evaluator left behind")
    return events[-1][0], run


def test_an_evaluator_that_exits_1_fails_the_run(stack):
    fe = frontend_with(stack, "exit1")
    try:
        _, run = check_failed_run(stack, fe, "exit1")
        assert "status 1" in run["error"], run
        # Waiting instead of streaming: 200 with the outcome.
        _, tok = stack.tenant()
        b = new_bid(stack, tok)
        r = evaluate(fe, tok, b["id"], 1)
        assert r.status == 200, r
        assert r.json()["outcome"] == "failed", r.json()
        assert r.json()["bid"]["status"] == "open"
    finally:
        fe.stop()


def test_an_evaluator_that_prints_garbage_is_stopped_at_once(stack):
    fe = frontend_with(stack, "garbage", timeout="30")
    try:
        took, run = check_failed_run(stack, fe, "garbage")
        assert took < 10, "not stopped at the garbage line: %.1fs" % took
        assert "not JSON" in run["error"], run
    finally:
        fe.stop()


def test_an_evaluator_that_hangs_is_killed_at_its_limit(stack):
    fe = frontend_with(stack, "hang", timeout="1")
    try:
        took, run = check_failed_run(stack, fe, "hang")
        assert 0.9 < took < 10, took
        assert "longer than" in run["error"], run
    finally:
        fe.stop()
