"""test_reports.py -- reports and their chat history through nginx and the
pool: every route and error the contract gives them, and the races the chat
exists for (32 clients appending at once, one batch sent five times, one new
id sent twice at once), the limits, and a history at 1,000,000 messages (its
counters and tail seeded in SQL)."""

import threading
import time

import harness

REPORT_KEYS = {"id", "version", "title", "chat_length", "created_at",
               "updated_at"}


def error_of(r, status, code):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def new_report(stack, token, title="t"):
    r = stack.post("/v1/reports", {"title": title}, token=token)
    assert r.status == 201, r
    return r.json()


def msg(mid, content="hi", role="user"):
    return {"id": mid, "role": role, "content": content}


def append(stack, token, rid, messages, **kw):
    return stack.post("/v1/reports/%d/chat" % rid, {"messages": messages},
                      token=token, **kw)


def append_ok(stack, token, rid, messages):
    r = append(stack, token, rid, messages)
    assert r.status == 200, r
    return r.json()


def read_chat(stack, token, rid, query=""):
    r = stack.get("/v1/reports/%d/chat%s" % (rid, query), token=token)
    assert r.status == 200, r
    return r.json()


def all_messages(stack, token, rid):
    out, after = [], 0
    while True:
        page = read_chat(stack, token, rid, "?after=%d&limit=1000" % after)
        out += page["messages"]
        if len(page["messages"]) < 1000:
            assert len(out) == page["length"], (len(out), page["length"])
            return out
        after += 1000


def db_state(stack, rid):
    """(version, chat_length, messages stored in its segments, ids in
    report_chat_ids), read behind the service's back."""
    rows = stack.sql(
        "SELECT version, chat_length, (SELECT COALESCE(SUM(JSON_LENGTH(msgs)),"
        " 0) FROM report_chat_segments WHERE report_id = r.id), "
        "(SELECT COUNT(*) FROM report_chat_ids WHERE report_id = r.id) "
        "FROM reports r WHERE id = %d" % int(rid))
    return tuple(int(v) for v in rows[0]) if rows else None


def element_types(stack, rid):
    """{JSON_TYPE of a stored element: count}, and the same for its id."""
    rows = stack.sql(
        "SELECT JSON_TYPE(jt.m), JSON_TYPE(jt.i), COUNT(*) "
        "FROM report_chat_segments s, "
        "JSON_TABLE(s.msgs, '$[*]' COLUMNS (m JSON PATH '$', "
        "i JSON PATH '$.id')) jt WHERE s.report_id = %d GROUP BY 1, 2"
        % int(rid))
    return {(t, i): int(n) for t, i, n in rows}


def segment_sizes(stack, rid):
    """The message counts of the report's segments, in order."""
    rows = stack.sql("SELECT n, JSON_LENGTH(msgs) FROM report_chat_segments "
                     "WHERE report_id = %d ORDER BY first" % int(rid))
    assert all(n == jlen for n, jlen in rows), rows
    return [int(n) for n, _ in rows]


def assert_ids_consistent(stack, rid):
    """report_chat_ids holds exactly the ids of the stored chat, and the
    segments tile the history: each starts where the one before ends, none
    holds more than 25 (CHAT_SEG_MAX)."""
    rows = stack.sql(
        "SELECT COUNT(*) FROM report_chat_segments s CROSS JOIN "
        "JSON_TABLE(s.msgs, '$[*]' COLUMNS "
        "(i VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PATH '$.id')) jt"
        " LEFT JOIN report_chat_ids c ON c.report_id = s.report_id"
        " AND c.msg_id = jt.i"
        " WHERE s.report_id = %d AND c.msg_id IS NULL" % int(rid))
    assert rows[0][0] == "0", "chat ids missing from report_chat_ids"
    v, length, jlen, nids = db_state(stack, rid)
    assert length == jlen == nids, (length, jlen, nids)
    rows = stack.sql("SELECT first, n FROM report_chat_segments "
                     "WHERE report_id = %d ORDER BY first" % int(rid))
    at = 0
    for first, n in rows:
        assert int(first) == at and 0 < int(n) <= 25, (at, first, n)
        at += int(n)
    assert at == length, (at, length)


def is_time(ts):
    return isinstance(ts, str) and len(ts) == 24 and ts[10] == "T" and \
        ts.endswith("Z") and ts[19] == "."


# ---- the report -------------------------------------------------------------

def test_create_returns_version_1_etag_and_location(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/reports", {"title": "Q3"}, token=tok)
    assert r.status == 201, r
    rep = r.json()
    assert set(rep) == REPORT_KEYS, rep
    assert rep["version"] == 1 and rep["title"] == "Q3"
    assert rep["chat_length"] == 0
    assert isinstance(rep["id"], int) and rep["id"] > 0
    assert r.headers["ETag"] == '"1"'
    assert r.headers["Location"] == "/v1/reports/%d" % rep["id"]
    assert is_time(rep["created_at"]) and is_time(rep["updated_at"])


def test_create_without_title_and_bad_titles(stack):
    _, tok = stack.tenant()
    for body in ({}, None):
        r = stack.http("POST", "/v1/reports", body, token=tok)
        assert r.status == 201, r
        assert r.json()["title"] is None
    for bad in (5, ["x"], {"a": 1}, True, "x" * 1001):
        error_of(stack.post("/v1/reports", {"title": bad}, token=tok), 400,
                 "bad_request")
    r = stack.post("/v1/reports", raw_body=b"title=x", token=tok,
                   headers={"Content-Type": "text/plain"})
    error_of(r, 415, "unsupported_media_type")


def test_get_etag_and_304(stack):
    _, tok = stack.tenant()
    rep = new_report(stack, tok)
    path = "/v1/reports/%d" % rep["id"]
    r = stack.get(path, token=tok)
    assert r.status == 200, r
    assert r.json() == rep and r.headers["ETag"] == '"1"'
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 304 and r.body == b"" and r.headers["ETag"] == '"1"'
    assert stack.patch(path, {"version": 1, "title": "u"},
                       token=tok).status == 200
    r = stack.get(path, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 200 and r.json()["version"] == 2, r


def test_missing_and_malformed_ids_are_404(stack):
    _, tok = stack.tenant()
    for path in ("/v1/reports/999999999", "/v1/reports/abc",
                 "/v1/reports/-1", "/v1/reports/99999999999999999999999",
                 "/v1/reports/999999999/chat", "/v1/reports/x/chat"):
        error_of(stack.get(path, token=tok), 404, "not_found")
    error_of(append(stack, tok, 999999999, [msg("a")]), 404, "not_found")
    error_of(stack.patch("/v1/reports/999999999", {"version": 1, "title": "x"},
                         token=tok), 404, "not_found")


def test_another_tenants_report_is_404_for_every_route(stack):
    _, tok_a = stack.tenant()
    _, tok_b = stack.tenant()
    rep = new_report(stack, tok_a)
    rid = rep["id"]
    append_ok(stack, tok_a, rid, [msg("a1")])
    path = "/v1/reports/%d" % rid
    error_of(stack.get(path, token=tok_b), 404, "not_found")
    error_of(stack.patch(path, {"version": 1, "title": "x"}, token=tok_b),
             404, "not_found")
    error_of(stack.patch(path, {"title": "x"}, token=tok_b,
                         headers={"If-Match": "*"}), 404, "not_found")
    error_of(stack.patch(path, {"title": "x"}, token=tok_b), 404, "not_found")
    error_of(append(stack, tok_b, rid, [msg("b1")]), 404, "not_found")
    error_of(append(stack, tok_b, rid, [msg("a1")]), 404, "not_found")
    error_of(stack.get(path + "/chat", token=tok_b), 404, "not_found")
    assert db_state(stack, rid) == (1, 1, 1, 1)
    assert stack.get(path, token=tok_a).json()["title"] == "t"


def test_auth_and_routing(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    path = "/v1/reports/%d" % rid
    for method, p, body in (("POST", "/v1/reports", {}), ("GET", path, None),
                            ("PATCH", path, {"version": 1, "title": "x"}),
                            ("POST", path + "/chat", {"messages": [msg("a")]}),
                            ("GET", path + "/chat", None)):
        error_of(stack.http(method, p, body), 401, "unauthorized")
        error_of(stack.http(method, p, body, token=tok[:-1] + "x"), 401,
                 "unauthorized")
    r = stack.http("DELETE", path, token=tok)
    error_of(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == \
        {"GET", "PATCH"}
    r = stack.http("PUT", path + "/chat", body={}, token=tok)
    error_of(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == \
        {"GET", "POST"}
    error_of(stack.get(path + "/chats", token=tok), 404, "not_found")
    assert db_state(stack, rid) == (1, 0, 0, 0)


# ---- PATCH: the versioned title -----------------------------------------------

def test_patch_title_with_current_version(stack):
    _, tok = stack.tenant()
    rep = new_report(stack, tok)
    path = "/v1/reports/%d" % rep["id"]
    r = stack.patch(path, {"version": 1, "title": "New"}, token=tok)
    assert r.status == 200, r
    got = r.json()
    assert set(got) == REPORT_KEYS
    assert got["version"] == 2 and got["title"] == "New"
    assert r.headers["ETag"] == '"2"'
    assert got["created_at"] == rep["created_at"]
    r = stack.patch(path, {"title": None}, token=tok,
                    headers={"If-Match": '"2"'})
    assert r.status == 200 and r.json()["title"] is None, r
    r = stack.patch(path, {"title": "any"}, token=tok,
                    headers={"If-Match": "*"})
    assert r.status == 200 and r.json()["version"] == 4, r
    assert stack.get(path, token=tok).json() == r.json()


def test_patch_conflicts_as_for_sessions(stack):
    _, tok = stack.tenant()
    rep = new_report(stack, tok)
    rid = rep["id"]
    path = "/v1/reports/%d" % rid
    assert stack.patch(path, {"version": 1, "title": "A"},
                       token=tok).status == 200
    body = error_of(stack.patch(path, {"version": 1, "title": "B"}, token=tok),
                    409, "version_conflict")
    assert body["current_version"] == 2
    assert body["current"]["title"] == "A" and body["current"]["version"] == 2
    assert set(body["current"]) == REPORT_KEYS
    body = error_of(stack.patch(path, {"version": 9, "title": "B"}, token=tok),
                    409, "version_conflict")
    assert body["current_version"] == 2
    body = error_of(stack.patch(path, {"title": "B"}, token=tok,
                                headers={"If-Match": '"1"'}),
                    412, "precondition_failed")
    assert body["current"]["title"] == "A"
    error_of(stack.patch(path, {"title": "B"}, token=tok,
                         headers={"If-Match": 'W/"2"'}),
             412, "precondition_failed")
    body = error_of(stack.patch(path, {"title": "B"}, token=tok), 428,
                    "precondition_required")
    assert body["current_version"] == 2
    error_of(stack.patch(path, {"version": 2, "title": "B"}, token=tok,
                         headers={"If-Match": '"1"'}), 400, "bad_request")
    # If-Match: * with a body version: the body version decides.
    error_of(stack.patch(path, {"version": 1, "title": "B"}, token=tok,
                         headers={"If-Match": "*"}), 409, "version_conflict")
    for bad in (0, -1, 1.5, None, "2", True, 4294967296):
        error_of(stack.patch(path, {"version": bad, "title": "B"}, token=tok),
                 400, "bad_request")
    for bad in ({"version": 2}, {"version": 2, "title": 5},
                {"version": 2, "title": "x" * 1001}):
        error_of(stack.patch(path, bad, token=tok), 400, "bad_request")
    for bad in ("1", '"abc"', '"0"', "**"):
        error_of(stack.patch(path, {"title": "B"}, token=tok,
                             headers={"If-Match": bad}), 400, "bad_request")
    assert db_state(stack, rid)[0] == 2
    assert stack.get(path, token=tok).json()["title"] == "A"
    text = stack.get("/metrics").text
    line = [l for l in text.splitlines()
            if l.startswith('optimist_conflicts_total{resource="reports"}')]
    assert line and int(line[0].split()[-1]) >= 4, line


def test_two_tabs_patching_the_title_exactly_one_wins(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    barrier = threading.Barrier(2)

    def send(title):
        barrier.wait()
        return stack.patch("/v1/reports/%d" % rid,
                           {"version": 1, "title": title}, token=tok)

    ra, rb = harness.parallel(send, ["tab A", "tab B"])
    assert sorted([ra.status, rb.status]) == [200, 409], (ra, rb)
    win, lose = (ra, rb) if ra.status == 200 else (rb, ra)
    assert lose.json()["current"]["title"] == win.json()["title"]
    assert db_state(stack, rid)[0] == 2


# ---- chat appends ---------------------------------------------------------------

def test_append_and_read_back(stack):
    _, tok = stack.tenant()
    rep = new_report(stack, tok)
    rid = rep["id"]
    got = append_ok(stack, tok, rid, [msg("m1", "hello"),
                                      msg("m2", "hi!", "assistant")])
    assert got == {"appended": 2, "duplicates": 0, "length": 2}
    got = append_ok(stack, tok, rid, [msg("m3", "sys", "system")])
    assert got == {"appended": 1, "duplicates": 0, "length": 3}
    page = read_chat(stack, tok, rid)
    assert page["length"] == 3
    assert [(m["id"], m["role"], m["content"]) for m in page["messages"]] == \
        [("m1", "user", "hello"), ("m2", "assistant", "hi!"),
         ("m3", "system", "sys")]
    for m in page["messages"]:
        assert set(m) == {"id", "role", "content", "at"}, m
        assert is_time(m["at"]), m
    # One call, one stamp; and the stamps never go backwards.
    ats = [m["at"] for m in page["messages"]]
    assert ats[0] == ats[1] and ats == sorted(ats)
    assert element_types(stack, rid) == {("OBJECT", "STRING"): 3}
    assert_ids_consistent(stack, rid)


def test_appends_never_change_version_or_updated_at(stack):
    _, tok = stack.tenant()
    rep = new_report(stack, tok)
    rid = rep["id"]
    time.sleep(0.01)
    append_ok(stack, tok, rid, [msg("a")])
    append_ok(stack, tok, rid, [msg("b"), msg("c")])
    r = stack.get("/v1/reports/%d" % rid, token=tok)
    got = r.json()
    assert got["version"] == 1 and r.headers["ETag"] == '"1"'
    assert got["chat_length"] == 3
    assert got["updated_at"] == rep["updated_at"]
    # The version the client saw before the appends is still current.
    r = stack.patch("/v1/reports/%d" % rid, {"version": 1, "title": "x"},
                    token=tok)
    assert r.status == 200 and r.json()["chat_length"] == 3, r
    assert db_state(stack, rid) == (2, 3, 3, 3)


def test_ids_compare_as_strings(stack):
    """Ids that look like numbers are distinct strings: "1", "01", "1.0",
    "1e3", "1000", "-1", and "a" is not "A"."""
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    ids = ["1", "01", "1.0", "1e3", "1000", "-1", "0x1", "a", "A"]
    got = append_ok(stack, tok, rid, [msg(i, "c" + i) for i in ids])
    assert got == {"appended": 9, "duplicates": 0, "length": 9}
    got = append_ok(stack, tok, rid, [msg("1", "again")])
    assert got == {"appended": 0, "duplicates": 1, "length": 9}
    for i in ids:   # one at a time too: the single-message path
        got = append_ok(stack, tok, rid, [msg(i)])
        assert got == {"appended": 0, "duplicates": 1, "length": 9}, (i, got)
    stored = all_messages(stack, tok, rid)
    assert [m["id"] for m in stored] == ids
    assert all(isinstance(m["id"], str) for m in stored)
    assert element_types(stack, rid) == {("OBJECT", "STRING"): 9}
    assert_ids_consistent(stack, rid)


def test_id_repeated_in_one_call_is_appended_once(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    got = append_ok(stack, tok, rid, [msg("x", "first"), msg("y"),
                                      msg("x", "second"), msg("x", "third")])
    assert got == {"appended": 2, "duplicates": 2, "length": 2}
    assert [(m["id"], m["content"]) for m in all_messages(stack, tok, rid)] \
        == [("x", "first"), ("y", "hi")]
    # A retry of the whole call appends nothing and says so.
    got = append_ok(stack, tok, rid, [msg("x", "first"), msg("y")])
    assert got == {"appended": 0, "duplicates": 2, "length": 2}
    # A mixed retry appends only what is new, in the order sent.
    got = append_ok(stack, tok, rid, [msg("z"), msg("x"), msg("w")])
    assert got == {"appended": 2, "duplicates": 1, "length": 4}
    assert [m["id"] for m in all_messages(stack, tok, rid)] == \
        ["x", "y", "z", "w"]
    assert_ids_consistent(stack, rid)


def test_tricky_content_is_stored_as_objects_verbatim(stack):
    """Both append paths (one new message: built by JSON_OBJECT; several:
    one JSON array) store objects, and content that looks like JSON or SQL
    stays the string it was."""
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    texts = ["'); DROP TABLE reports; --", 'say "hi" \\o/', "tab\there\nnl",
             "\u0001\u001f", "héllo ✓ 🎉", "$.chat[0]", "",
             '{"id": "evil", "role": "system"}', "[1, 2]", "null", "%s%n",
             '", "role": "system', "\\u0000"]
    # A NUL is refused since the contract's \u0000 rule: it
    # would cut the string short.
    r = stack.post("/v1/reports/%d/chat" % rid,
                   {"messages": [msg("nul", "\u0000nul\u0000")]}, token=tok)
    assert r.status == 400 and r.json()["error"] == "bad_request", r
    append_ok(stack, tok, rid, [msg("one-%d" % i, t)
                                for i, t in enumerate(texts)])
    for i, t in enumerate(texts):
        append_ok(stack, tok, rid, [msg("single-%d" % i, t)])
    stored = all_messages(stack, tok, rid)
    assert [m["content"] for m in stored] == texts + texts
    assert [m["role"] for m in stored] == ["user"] * (2 * len(texts))
    n = 2 * len(texts)
    assert element_types(stack, rid) == {("OBJECT", "STRING"): n}
    assert stack.sql("SELECT COUNT(*) FROM reports")[0][0] != "0"
    assert_ids_consistent(stack, rid)


def test_client_fields_other_than_id_role_content_are_ignored(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    m = dict(msg("k"), at="1999-01-01T00:00:00.000Z", extra=[1])
    append_ok(stack, tok, rid, [m])
    (got,) = all_messages(stack, tok, rid)
    assert set(got) == {"id", "role", "content", "at"}
    assert got["at"] != "1999-01-01T00:00:00.000Z"


# ---- limits and bad messages ----------------------------------------------------

def test_bad_messages_are_400_and_change_nothing(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    append_ok(stack, tok, rid, [msg("before")])
    path = "/v1/reports/%d/chat" % rid
    good = msg("fine")
    bodies = [
        {}, {"messages": None}, {"messages": "x"}, {"messages": {"id": "a"}},
        {"messages": []}, {"messages": [5]},
        {"messages": [good, "x"]}, {"message": [good]},
        {"messages": [good for _ in range(101)]},
        # ids
        {"messages": [{"role": "user", "content": "x"}]},
        {"messages": [msg("")]}, {"messages": [msg("a" * 65)]},
        {"messages": [msg(5)]}, {"messages": [msg(None)]},
        {"messages": [msg(["a"])]}, {"messages": [msg("a b")]},
        {"messages": [msg("a/b")]}, {"messages": [msg("é")]},
        {"messages": [msg("a\u0000")]}, {"messages": [msg("a+b")]},
        {"messages": [msg("'or'1'='1")]},
        # roles
        {"messages": [{"id": "r", "content": "x"}]},
        {"messages": [msg("r", role="admin")]},
        {"messages": [msg("r", role="User")]},
        {"messages": [msg("r", role="")]},
        {"messages": [msg("r", role=None)]},
        {"messages": [msg("r", role=["user"])]},
        # content
        {"messages": [{"id": "c", "role": "user"}]},
        {"messages": [msg("c", None)]}, {"messages": [msg("c", 5)]},
        {"messages": [msg("c", {"a": 1})]}, {"messages": [msg("c", ["x"])]},
        {"messages": [msg("c", "a" * 65537)]},
        {"messages": [msg("c", "é" * 32768 + "a")]},  # 65,537 bytes
        # all or nothing: one bad message spoils the batch
        {"messages": [msg("g1"), msg("g2"), msg("bad id")]},
        {"messages": [msg("g1"), msg("g2", "a" * 65537)]},
    ]
    for b in bodies:
        error_of(stack.post(path, b, token=tok), 400, "bad_request")
    raw = [b"{", b'{"messages": [}', b"\xff\xfe",
           b'{"messages": [{"id": "u", "role": "user", "content": '
           b'"\xc3\x28"}]}',
           b'{"messages": [{"id": "u", "role": "user", "content": '
           b'"ok\xed\xa0\x80"}]}',
           b'{"messages": [{"id": "u", "role": "user", "content": '
           b'"\xc0\xaf"}]}']
    for b in raw:
        r = stack.post(path, raw_body=b, token=tok,
                       headers={"Content-Type": "application/json"})
        error_of(r, 400, "bad_request")
    r = stack.post(path, raw_body=b'{"messages": []}', token=tok,
                   headers={"Content-Type": "text/plain"})
    error_of(r, 415, "unsupported_media_type")
    assert db_state(stack, rid) == (1, 1, 1, 1)
    assert [m["id"] for m in all_messages(stack, tok, rid)] == ["before"]


def test_content_limits_and_id_limits_at_the_edge(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    edge_id = "A-z_0.9:" * 8
    assert len(edge_id) == 64
    big = "é" * 32768                     # exactly 65,536 bytes
    got = append_ok(stack, tok, rid, [msg(edge_id, big), msg("x", "a" * 65536)])
    assert got["appended"] == 2
    got = append_ok(stack, tok, rid, [msg("y", "b" * 65536)])
    assert got["appended"] == 1
    stored = all_messages(stack, tok, rid)
    assert [len(m["content"].encode()) for m in stored] == [65536] * 3
    assert stored[0]["id"] == edge_id and stored[0]["content"] == big
    # A batch of 100 is the most a call takes.
    got = append_ok(stack, tok, rid, [msg("b%d" % i) for i in range(100)])
    assert got == {"appended": 100, "duplicates": 0, "length": 103}
    assert_ids_consistent(stack, rid)


def test_body_over_1_mib_is_413_and_changes_nothing(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    r = append(stack, tok, rid, [msg("big%d" % i, "x" * 60000)
                                 for i in range(20)])
    error_of(r, 413, "payload_too_large")
    assert db_state(stack, rid) == (1, 0, 0, 0)


# ---- reads ----------------------------------------------------------------------

def test_read_pages_in_append_order(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    for b in range(3):
        append_ok(stack, tok, rid, [msg("p%03d" % (b * 100 + i))
                                    for i in range(100)])
    append_ok(stack, tok, rid, [msg("p%03d" % (300 + i)) for i in range(5)])
    want = ["p%03d" % i for i in range(305)]

    def ids(query):
        page = read_chat(stack, tok, rid, query)
        assert page["length"] == 305, page["length"]
        assert set(page) == {"messages", "length"}
        return [m["id"] for m in page["messages"]]

    assert ids("") == want[:100]
    assert ids("?after=0") == want[:100]
    assert ids("?limit=1") == want[:1]
    assert ids("?after=100") == want[100:200]
    assert ids("?after=290&limit=50") == want[290:]
    assert ids("?after=304") == want[304:]
    assert ids("?limit=7&after=12") == want[12:19]
    assert ids("?after=305") == []
    assert ids("?after=10000") == []
    assert ids("?after=99999999999999999999999") == []
    assert ids("?limit=1000") == want
    assert ids("?after=0&limit=1000&other=x") == want
    empty = new_report(stack, tok)["id"]
    assert read_chat(stack, tok, empty) == {"messages": [], "length": 0}


def test_bad_read_parameters_are_400(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    append_ok(stack, tok, rid, [msg("a")])
    for q in ("after=-1", "after=abc", "after=1.5", "after=", "after=+1",
              "after=%201", "after=1e3", "after=0x1", "limit=0", "limit=1001",
              "limit=-5", "limit=abc", "limit=", "limit=2.0",
              "limit=99999999999999999999999", "after=" + "9" * 70):
        r = stack.get("/v1/reports/%d/chat?%s" % (rid, q), token=tok)
        error_of(r, 400, "bad_request")


# ---- races ----------------------------------------------------------------------

def test_32_clients_appending_lose_nothing(stack):
    """32 clients send 50 messages each to one report at once, in batches
    of 1, 2, 5, 10, 25 or 50: all 1,600 are stored exactly once, as
    objects, and each client's messages keep the order it sent them."""
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    sizes = [1, 2, 5, 10, 25, 50]
    barrier = threading.Barrier(32)

    def client(k):
        mine = [msg("c%02d-%02d" % (k, i), "from %d #%d" % (k, i),
                    ("user", "assistant", "system")[i % 3])
                for i in range(50)]
        size = sizes[k % len(sizes)]
        barrier.wait()
        appended = 0
        for start in range(0, 50, size):
            r = append(stack, tok, rid, mine[start:start + size], timeout=60)
            assert r.status == 200, r
            body = r.json()
            assert body["duplicates"] == 0, body
            appended += body["appended"]
        return appended

    assert harness.parallel(client, list(range(32))) == [50] * 32
    stored = all_messages(stack, tok, rid)
    assert len(stored) == 1600
    ids = [m["id"] for m in stored]
    assert len(set(ids)) == 1600
    for k in range(32):
        mine = [i for i in ids if i.startswith("c%02d-" % k)]
        assert mine == ["c%02d-%02d" % (k, i) for i in range(50)], k
    assert all(m["content"] == "from %d #%d" % (int(m["id"][1:3]),
                                                int(m["id"][4:]))
               for m in stored)
    ats = [m["at"] for m in stored]
    assert ats == sorted(ats)
    assert element_types(stack, rid) == {("OBJECT", "STRING"): 1600}
    assert db_state(stack, rid) == (1, 1600, 1600, 1600)
    assert_ids_consistent(stack, rid)


def test_same_batch_sent_5_times_at_once_is_appended_once(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    append_ok(stack, tok, rid, [msg("earlier")])
    batch = [msg("dup-%02d" % i, "text %d" % i) for i in range(20)]
    barrier = threading.Barrier(5)

    def send(_):
        barrier.wait()
        r = append(stack, tok, rid, batch)
        assert r.status == 200, r
        return r.json()

    answers = harness.parallel(send, list(range(5)))
    assert sum(a["appended"] for a in answers) == 20, answers
    assert sum(a["duplicates"] for a in answers) == 4 * 20, answers
    # Appends to one report take turns: each call saw all or none.
    assert sorted((a["appended"], a["duplicates"]) for a in answers) == \
        [(0, 20)] * 4 + [(20, 0)], answers
    stored = all_messages(stack, tok, rid)
    assert [m["id"] for m in stored] == ["earlier"] + [m["id"] for m in batch]
    assert db_state(stack, rid) == (1, 21, 21, 21)


def test_same_new_id_twice_at_once_is_appended_once(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    rounds = 8
    for n in range(rounds):
        barrier = threading.Barrier(2)

        def send(content):
            barrier.wait()
            r = append(stack, tok, rid, [msg("same-%d" % n, content)])
            assert r.status == 200, r
            return r.json()

        a, b = harness.parallel(send, ["tab A", "tab B"])
        assert sorted([a["appended"], b["appended"]]) == [0, 1], (a, b)
        assert sorted([a["duplicates"], b["duplicates"]]) == [0, 1], (a, b)
        assert max(a["length"], b["length"]) == n + 1
    stored = all_messages(stack, tok, rid)
    assert [m["id"] for m in stored] == ["same-%d" % n for n in range(rounds)]
    assert db_state(stack, rid) == (1, rounds, rounds, rounds)


# ---- the 1,000,000-message history --------------------------------------------

BASE = 999900  # where the seeded tail segment starts


def seed_near_limit(stack, rid, tail, content_bytes):
    """Behind the service's back: the counters say BASE + tail messages and
    content_bytes bytes of content; the segments from BASE (of 25) hold the
    `tail` messages "f<BASE>".. with content "m", and their ids. (The
    messages before BASE are not there: the limits are what is tested, and
    they read the counters only.)"""
    stack.sql(
        "INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs) "
        "SELECT %d, %d + MIN(seq), COUNT(*), COUNT(*), JSON_ARRAYAGG("
        "JSON_OBJECT('id', CONCAT('f', %d + seq), 'role', 'user', 'content', "
        "'m', 'at', '2026-01-01T00:00:00.000Z') ORDER BY seq) "
        "FROM seq_0_to_%d GROUP BY seq DIV 25"
        % (rid, BASE, BASE, tail - 1))
    stack.sql("INSERT INTO report_chat_ids (report_id, msg_id) SELECT %d, "
              "CONCAT('f', %d + seq) FROM seq_0_to_%d" % (rid, BASE, tail - 1))
    stack.sql("UPDATE reports SET chat_length = %d, chat_bytes = %d, "
              "chat_tail = %d WHERE id = %d"
              % (BASE + tail, content_bytes, BASE + (tail - 1) // 25 * 25,
                 rid))


def test_history_at_1000000_is_chat_full_and_stays_there(stack):
    """A call that would pass 1,000,000 appends nothing (its ids are not
    kept either); calls racing for the last places cannot overshoot; a
    retry of stored ids at the limit is still a harmless 200."""
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    seed_near_limit(stack, rid, 50, 50)
    assert db_state(stack, rid) == (1, 999950, 50, 50)

    # 51 new messages (and one stored id) would make 1,000,001: nothing.
    over = [msg("f%d" % BASE)] + [msg("g%d" % i) for i in range(51)]
    body = error_of(append(stack, tok, rid, over), 409, "chat_full")
    assert body["length"] == 999950 and body["limit"] == 1000000, body
    assert db_state(stack, rid) == (1, 999950, 50, 50)

    # The stored id among them is a duplicate: 40 new ones make 999,990.
    got = append_ok(stack, tok, rid, over[:41])
    assert got == {"appended": 40, "duplicates": 1, "length": 999990}

    # Four calls of 5 at once for the last 10 places: the limit is checked
    # under the row's lock, so exactly two pass, the last ending at the
    # limit.
    barrier = threading.Barrier(4)

    def send(k):
        batch = [msg("g%d" % (40 + 5 * k + i)) for i in range(5)]
        barrier.wait()
        return append(stack, tok, rid, batch)

    answers = harness.parallel(send, list(range(4)))
    assert sorted(r.status for r in answers) == [200, 200, 409, 409], answers
    assert sorted(r.json()["length"] for r in answers) == \
        [999995, 1000000, 1000000, 1000000], answers
    for r in answers:
        if r.status == 409:
            error_of(r, 409, "chat_full")
    for one in ([msg("h1")], [msg("h1"), msg("h2")],
                [msg("g0"), msg("h3")]):
        body = error_of(append(stack, tok, rid, one), 409, "chat_full")
        assert body["length"] == 1000000, body
    got = append_ok(stack, tok, rid, [msg("g0"), msg("f%d" % (BASE + 49))])
    assert got == {"appended": 0, "duplicates": 2, "length": 1000000}

    assert db_state(stack, rid) == (1, 1000000, 100, 100)
    # 25, 25 seeded; 40 at once cut into 25, 15; then 5 and 5 in the tail.
    assert segment_sizes(stack, rid) == [25, 25, 25, 25]
    r = stack.get("/v1/reports/%d" % rid, token=tok)
    assert r.json()["chat_length"] == 1000000 and r.json()["version"] == 1
    tail = read_chat(stack, tok, rid, "?after=999985&limit=1000")
    assert tail["length"] == 1000000
    ids = [m["id"] for m in tail["messages"]]
    assert ids[:5] == ["g%d" % i for i in range(35, 40)]
    passed = [k for k, r in enumerate(answers) if r.status == 200]
    first = min(passed, key=lambda k: answers[k].json()["length"])
    last = max(passed, key=lambda k: answers[k].json()["length"])
    assert ids[5:] == ["g%d" % (40 + 5 * k + i) for k in (first, last)
                       for i in range(5)]
    assert element_types(stack, rid) == {("OBJECT", "STRING"): 100}
    text = stack.get("/metrics").text
    assert 'route="POST /v1/reports/{id}/chat",status="409"' in text


def test_256_mib_of_content_is_chat_full(stack):
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    limit = 256 * 1024 * 1024
    seed_near_limit(stack, rid, 10, limit - 4)
    body = error_of(append(stack, tok, rid, [msg("c1", "abcde")]), 409,
                    "chat_full")
    assert body["bytes"] == limit - 4 and body["bytes_limit"] == limit, body
    assert body["length"] == BASE + 10, body
    got = append_ok(stack, tok, rid, [msg("c1", "ab"), msg("c2", "é")])
    assert got == {"appended": 2, "duplicates": 0, "length": BASE + 12}
    error_of(append(stack, tok, rid, [msg("c3", "x")]), 409, "chat_full")
    assert db_state(stack, rid) == (1, BASE + 12, 12, 12)
    assert stack.sql("SELECT chat_bytes FROM reports WHERE id = %d"
                     % rid) == [[str(limit)]]


def test_appends_open_segments_of_25_and_reads_span_them(stack):
    """Through the API: 255 messages one and ten at a time land in
    segments of at most 25, in order; a read across boundaries is one
    ordered page."""
    _, tok = stack.tenant()
    rid = new_report(stack, tok)["id"]
    for i in range(95):
        append_ok(stack, tok, rid, [msg("m%d" % i)])
    for start in range(95, 255, 10):
        append_ok(stack, tok, rid, [msg("m%d" % i)
                                    for i in range(start, start + 10)])
    # 95 singles: 25, 25, 25, 20; then batches of 10: a new segment
    # (20 + 10 > 25), the next one into it, and so on.
    assert segment_sizes(stack, rid) == [25, 25, 25, 20] + [20] * 8
    page = read_chat(stack, tok, rid, "?after=90&limit=110")
    assert [m["id"] for m in page["messages"]] == \
        ["m%d" % i for i in range(90, 200)]
    assert [m["id"] for m in all_messages(stack, tok, rid)] == \
        ["m%d" % i for i in range(255)]
    assert_ids_consistent(stack, rid)
