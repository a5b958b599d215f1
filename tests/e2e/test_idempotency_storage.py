"""test_idempotency_storage.py -- stored idempotent
answers do not grow with their resource, and expired keys are purged by
the service itself, without any request.

- An answer over 16 KiB that holds its resource as the GET renders it
  (the body of a 2xx, the "current" of a 409) is kept without those
  bytes, and with the GET's path (sql/0006_idempotency_render.sql,
  fcgi/routes/idem_render.c): a session growing by keyed appends stores at most
  16 KiB per key, whatever its size, and so does a keyed conflict on it.
- A replay while the resource is at the stored version is the first answer
  byte for byte; after later writes a 2xx is the current representation
  with its own ETag, a 409 keeps its members with the current resource and
  version, both with the stored status and Idempotent-Replayed.
- The master's janitor (fcgi/pool/janitor.c) deletes expired keys on its own
  timer: with no request at all, the table empties.

Its own stack: keys expire after 3 s and the janitor runs every second.
"""

import json

import harness

STACK_OPTIONS = {"workers": 2,
                 "env": {"OPTIMIST_IDEMPOTENCY_TTL": "3",
                         "OPTIMIST_IDEMPOTENCY_PURGE": "1"}}

INLINE = 16384


def keyed_append(stack, tok, sid, version, key, content):
    return stack.post("/v1/sessions/%d/messages" % sid,
                      {"version": version,
                       "message": {"role": "user", "content": content}},
                      token=tok, headers={"Idempotency-Key": key})


def stored(stack, tid):
    """[(key, status, body length, render_path)] of a tenant's keys."""
    rows = stack.sql("SELECT idem_key, status, COALESCE(LENGTH(body), 0), "
                     "render_path FROM idempotency_keys WHERE tenant_id = %d "
                     "ORDER BY created_at, idem_key" % tid)
    return [(k, int(s), int(n), p) for k, s, n, p in rows]


def test_a_growing_session_stores_a_bounded_answer_per_key(stack):
    tid, tok = stack.tenant()
    sid = stack.post("/v1/sessions", {"title": "grow"}, token=tok).json()["id"]
    version = 1
    firsts = {}
    for i in range(40):                 # 40 x 2 KB: the session reaches 80 KB
        k = "grow-%02d" % i
        r = keyed_append(stack, tok, sid, version, k, "m%02d " % i + "x" * 2000)
        assert r.status == 200, r
        version += 1
        assert r.headers["ETag"] == '"%d"' % version
        firsts[k] = r
    rows = stored(stack, tid)
    assert len(rows) == 40, rows
    assert all(n <= INLINE for _, _, n, _ in rows), rows
    big = [row for row in rows if row[3] is not None]
    small = [row for row in rows if row[3] is None]
    # The session passed 16 KiB after about 8 appends: every later answer
    # is kept as its GET, without a body.
    assert len(big) >= 30, rows
    assert all(n == 4 and p == "/v1/sessions/%d" % sid    # "null"
               for _, _, n, p in big), big
    assert all(n == len(firsts[k].body) for k, _, n, _ in small), small
    total = sum(n for _, _, n, _ in rows)
    assert total <= 16 * INLINE, total
    # The session itself is 80 KB: storing each answer whole would have
    # kept about 1.6 MB.
    whole = sum(len(r.body) for r in firsts.values())
    assert whole > 1500000
    print("      40 keyed appends, session %d bytes: %d bytes of answers "
          "stored (%d kept as their GET), %d if stored whole"
          % (len(firsts["grow-39"].body), total, len(big), whole))

    # The last append's replay: the resource is still at that version, so
    # the replay is the first answer byte for byte.
    last = "grow-39"
    r = keyed_append(stack, tok, sid, 40, last, "m39 " + "x" * 2000)
    assert r.status == 200, r
    assert r.headers["Idempotent-Replayed"] == "true"
    assert r.body == firsts[last].body
    assert r.headers["ETag"] == firsts[last].headers["ETag"]
    assert int(r.headers["Content-Length"]) == len(r.body)
    # An older big one: the stored status, the session as it is now and
    # its current ETag (never a body that does not match its ETag).
    old = big[0][0]
    n = int(old.split("-")[1])
    r = keyed_append(stack, tok, sid, n + 1, old,
                     "m%02d " % n + "x" * 2000)
    assert r.status == 200, r
    assert r.headers["Idempotent-Replayed"] == "true"
    assert r.headers["ETag"] == '"41"', r.headers
    assert r.json()["version"] == 41
    assert r.body == stack.get("/v1/sessions/%d" % sid, token=tok).body
    # Nothing was appended by the replays.
    assert stack.get("/v1/sessions/%d" % sid,
                     token=tok).json()["version"] == 41
    # A small one is kept and replayed whole, as before.
    k, _, n, _ = small[0]
    r = keyed_append(stack, tok, sid, int(k.split("-")[1]) + 1, k,
                     "m%s " % k.split("-")[1] + "x" * 2000)
    assert r.body == firsts[k].body and r.headers["ETag"] == \
        firsts[k].headers["ETag"]


def test_a_replay_of_a_deleted_resource_is_404(stack):
    tid, tok = stack.tenant()
    sid = stack.post("/v1/sessions", {}, token=tok).json()["id"]
    r = keyed_append(stack, tok, sid, 1, "big", "y" * 20000)
    assert r.status == 200, r
    assert stored(stack, tid)[0][3] == "/v1/sessions/%d" % sid, \
        stored(stack, tid)
    assert stack.delete("/v1/sessions/%d" % sid, {"version": 2},
                        token=tok).status == 204
    r = keyed_append(stack, tok, sid, 1, "big", "y" * 20000)
    assert r.status == 404, r
    assert r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["error"] == "not_found"


def test_a_big_create_is_kept_as_its_location(stack):
    tid, tok = stack.tenant()
    body = {"data": {"blob": "b" * 30000}}
    h = {"Idempotency-Key": "bid-big"}
    first = stack.post("/v1/bids", body, token=tok, headers=h)
    assert first.status == 201, first
    (row,) = stored(stack, tid)
    assert row[2] == 4 and row[3] == first.headers["Location"], row
    again = stack.post("/v1/bids", body, token=tok, headers=h)
    assert again.status == 201 and again.body == first.body
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert int(stack.sql("SELECT COUNT(*) FROM bids WHERE tenant_id = %d"
                         % tid)[0][0]) == 1


def test_a_big_conflict_is_kept_without_its_current(stack):
    """A keyed 409 on a big session keeps its members, not the session:
    replayed byte for byte while the session is at that version, and after
    it moved on, still the same 409 with the session and version of now."""
    tid, tok = stack.tenant()
    sid = stack.post("/v1/sessions", {}, token=tok).json()["id"]
    assert keyed_append(stack, tok, sid, 1, "a", "z" * 20000).status == 200
    r409 = keyed_append(stack, tok, sid, 1, "stale", "late")
    assert r409.status == 409, r409
    first = r409.json()
    assert first["current_version"] == 2 and len(r409.body) > INLINE
    rows = {k: (n, p) for k, _, n, p in stored(stack, tid)}
    n, p = rows["stale"]
    assert p == "/v1/sessions/%d" % sid and n < 1000, rows
    again = keyed_append(stack, tok, sid, 1, "stale", "late")
    assert again.status == 409 and again.body == r409.body
    assert again.headers["ETag"] == r409.headers["ETag"] == '"2"'
    assert again.headers["Idempotent-Replayed"] == "true"
    assert keyed_append(stack, tok, sid, 2, "b", "more").status == 200
    later = keyed_append(stack, tok, sid, 1, "stale", "late")
    assert later.status == 409, later
    body = later.json()
    assert body["error"] == "version_conflict"
    assert body["request_id"] == first["request_id"]
    assert body["current_version"] == 3
    assert body["current"] == stack.get("/v1/sessions/%d" % sid,
                                        token=tok).json()
    assert later.headers["ETag"] == '"3"'
    assert stack.get("/v1/sessions/%d" % sid,
                     token=tok).json()["version"] == 3


def test_expired_keys_are_purged_without_any_request(stack):
    tid, tok = stack.tenant()
    for i in range(5):
        r = stack.post("/v1/sessions", {"title": "k%d" % i}, token=tok,
                       headers={"Idempotency-Key": "purge-%d" % i})
        assert r.status == 201, r
    assert len(stored(stack, tid)) == 5
    mark = stack.log_mark()
    # No request from here on: only the master's timer can delete them
    # (the workers purge between requests only, and at most once a
    # minute).
    harness.wait_until(lambda: not stored(stack, tid), 30,
                       "the janitor to purge the expired keys")
    log = stack.pool_log(mark)
    assert "janitor: purged" in log, log[-2000:]
    assert "access " not in log, "a request ran meanwhile"


def test_the_janitor_purges_a_backlog_in_bounded_turns(stack):
    """2,500 expired keys (more than one batch of 1,000) all go, without
    requests."""
    tid, tok = stack.tenant()
    stack.sql(
        "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, "
        "claim_token, state, claim_until, status, body, created_at, "
        "expires_at) SELECT %d, CONCAT('old-', seq), REPEAT('x', 32), 1, "
        "'done', UTC_TIMESTAMP(3), 200, '{}', UTC_TIMESTAMP(3) - INTERVAL 2 "
        "DAY, UTC_TIMESTAMP(3) + INTERVAL 3 SECOND FROM seq_1_to_2500" % tid)
    # They expire 3 s from now: counted before the janitor may take them.
    assert len(stored(stack, tid)) == 2500
    harness.wait_until(lambda: not stored(stack, tid), 60,
                       "the janitor to purge 2,500 keys")
