"""test_limits.py -- documents cannot grow without bound, and a client can
ask for less than the whole document (fcgi/http/doclimits.c): a session refuses
the message past OPTIMIST_SESSION_MAX_MESSAGES or past
OPTIMIST_SESSION_MAX_BYTES with 409 document_full and stays unchanged;
`Prefer: return=minimal` answers writes with the version and the ETag
only. The module's stack runs with small session limits."""

import harness

MAX_MESSAGES, MAX_BYTES = 5, 300000
PAGE_MAX = 65536
STACK_OPTIONS = {"workers": 2, "env": {
    "OPTIMIST_SESSION_MAX_MESSAGES": str(MAX_MESSAGES),
    "OPTIMIST_SESSION_MAX_BYTES": str(MAX_BYTES),
    "OPTIMIST_PAGE_MAX_BYTES": str(PAGE_MAX),
}}
MINIMAL = {"Prefer": "return=minimal"}


def new_session(stack, tok):
    r = stack.post("/v1/sessions", {"title": "t"}, token=tok)
    assert r.status == 201, r
    return r.json()


def append(stack, tok, sid, version, content, headers=None):
    return stack.post("/v1/sessions/%d/messages" % sid,
                      {"version": version,
                       "message": {"role": "user", "content": content}},
                      token=tok, headers=headers)


def stored(stack, sid):
    (row,) = stack.sql("SELECT version, JSON_LENGTH(messages), "
                       "LENGTH(messages) FROM sessions WHERE id = %d" % sid)
    return tuple(int(x) for x in row)


def full_error(r, what, limit, version):
    assert r.status == 409, r
    body = r.json()
    assert body["error"] == "document_full", body
    assert body["what"] == what and body["limit"] == limit, body
    assert body["current_version"] == version, body
    assert "current" not in body, body  # never the whole document again
    return body


def test_a_session_refuses_the_message_past_its_count(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    v = 1
    for i in range(MAX_MESSAGES):
        r = append(stack, tok, s["id"], v, "m%d" % i)
        assert r.status == 200, r
        v += 1
    before = stored(stack, s["id"])
    assert before[:2] == (v, MAX_MESSAGES), before
    full_error(append(stack, tok, s["id"], v, "one more"), "messages",
               MAX_MESSAGES, v)
    # With a stale version, or If-Match: *, it is full all the same.
    full_error(append(stack, tok, s["id"], 1, "x"), "messages",
               MAX_MESSAGES, v)
    r = stack.post("/v1/sessions/%d/messages" % s["id"],
                   {"message": {"role": "user", "content": "x"}},
                   token=tok, headers={"If-Match": "*"})
    full_error(r, "messages", MAX_MESSAGES, v)
    assert stored(stack, s["id"]) == before
    # A new session of the same tenant is not affected.
    s2 = new_session(stack, tok)
    assert append(stack, tok, s2["id"], 1, "fine").status == 200


def test_a_session_refuses_the_message_past_its_bytes(stack):
    _, tok = stack.tenant()
    s = new_session(stack, tok)
    big = "x" * 120000
    assert append(stack, tok, s["id"], 1, big).status == 200
    assert append(stack, tok, s["id"], 2, big).status == 200
    before = stored(stack, s["id"])
    assert before[2] <= MAX_BYTES, before
    full_error(append(stack, tok, s["id"], 3, big), "bytes", MAX_BYTES, 3)
    assert stored(stack, s["id"]) == before
    # What still fits, fits; nothing ever passes the limit.
    room = MAX_BYTES - before[2]
    r = append(stack, tok, s["id"], 3, "y" * (room - 200))
    assert r.status == 200, r
    after = stored(stack, s["id"])
    assert after[2] <= MAX_BYTES, (after, MAX_BYTES)
    full_error(append(stack, tok, s["id"], 4, "z" * 200), "bytes",
               MAX_BYTES, 4)


def test_prefer_return_minimal_answers_the_version_only(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "t"}, token=tok,
                   headers=MINIMAL)
    assert r.status == 201, r
    sid = r.json()["id"]
    assert r.json() == {"id": sid, "version": 1}, r.json()
    assert r.header("ETag") == '"1"'
    assert r.header("Location") == "/v1/sessions/%d" % sid
    assert r.header("Preference-Applied") == "return=minimal"
    r = append(stack, tok, sid, 1, "a" * 50000, headers=MINIMAL)
    assert r.status == 200, r
    assert r.json() == {"version": 2}, r.json()
    assert r.header("ETag") == '"2"'
    assert r.header("Preference-Applied") == "return=minimal"
    assert len(r.body) < 100, len(r.body)
    # Other spellings of the same preference (RFC 7240: a list, any case).
    r = append(stack, tok, sid, 2, "b",
               headers={"Prefer": 'respond-async, RETURN = "minimal"'})
    assert r.json() == {"version": 3}, r.json()
    # Without it, the whole resource as before; GET ignores it.
    r = append(stack, tok, sid, 3, "c")
    assert r.status == 200 and len(r.json()["messages"]) == 3, r
    assert r.header("Preference-Applied") is None
    r = stack.get("/v1/sessions/%d" % sid, token=tok, headers=MINIMAL)
    assert r.status == 200 and len(r.json()["messages"]) == 3, r
    # return=representation, or another preference: the whole resource.
    r = append(stack, tok, sid, 4, "d",
               headers={"Prefer": "return=representation"})
    assert "messages" in r.json(), r.json()
    # The storefront draft and a bid PATCH.
    r = stack.put("/v1/storefront/draft", {"version": 1, "config": {"a": 1}},
                  token=tok, headers=MINIMAL)
    assert r.status == 200 and r.json() == {"version": 2}, r
    r = stack.post("/v1/bids", {"data": {"x": 1}}, token=tok,
                   headers=MINIMAL)
    bid = r.json()["id"]
    assert r.status == 201 and r.json() == {"id": bid, "version": 1}, r
    r = stack.patch("/v1/bids/%d" % bid, {"version": 1, "data": {"y": 2}},
                    token=tok, headers=MINIMAL)
    assert r.status == 200 and r.json() == {"version": 2}, r
    # The write happened in full.
    r = stack.get("/v1/bids/%d" % bid, token=tok)
    assert r.json()["data"] == {"x": 1, "y": 2}, r.json()
    # Errors are never shortened: a conflict still carries `current`.
    r = append(stack, tok, sid, 1, "stale", headers=MINIMAL)
    assert r.status == 409 and "current" in r.json(), r


def test_approval_pages_end_on_their_byte_bound(stack):
    """Approvals are streamed and cut by bytes too (no SQL pre-cut: the
    rows past the bound are read and dropped, never held)."""
    _, tok = stack.tenant()
    ids = []
    for i in range(12):
        r = stack.post("/v1/approvals", {"action": {
            "type": "t", "payload": {"i": i, "pad": "p" * 20000}}},
            token=tok)
        assert r.status == 201, r
        ids.append(r.json()["id"])
    seen, after, pages = [], 0, 0
    while True:
        r = stack.get("/v1/approvals?limit=500&after=%d" % after, token=tok)
        assert r.status == 200 and len(r.body) <= PAGE_MAX, (r, len(r.body))
        page = r.json()
        pages += 1
        seen += [a["id"] for a in page["items"]]
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["items"][-1]["id"], page
        after = page["next_after"]
    assert seen == ids, (seen, ids)
    assert pages >= 4, pages  # 12 x 20 KB in pages of at most 64 KiB
