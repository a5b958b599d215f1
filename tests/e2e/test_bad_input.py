"""test_bad_input.py -- a table of bad requests over every route.

Each row is one request that must be refused: malformed JSON, wrong
types, versions out of range, nesting past 32 levels, invalid UTF-8,
\\u0000, SQL-looking ids and query values, oversized headers and bodies,
wrong content types, malformed Idempotency-Key and If-Match, and another
tenant's ids. For each one the test checks the status, the contract's
error code, that the body's request_id is the X-Request-Id header, and
that a checksum of every table of the database is the same after it as
before (CHECKSUM TABLE over all of them): a refusal changes nothing.

Its own stack, so that nothing else (a running evaluation of another
test, say) moves a table meanwhile. No Idempotency-Key is sent with a
well-formed value: a refused request with a claimed key stores its 4xx,
which is a change, and rightly so.
"""

import json

import harness

STACK_OPTIONS = {"workers": 2}

DEEP_33 = "[" * 32 + "]" * 32            # inside the outer object: 33 levels
DEEP_32 = "[" * 31 + "]" * 31


def tables(stack):
    return [r[0] for r in stack.sql(
        "SELECT table_name FROM information_schema.tables WHERE "
        "table_schema = DATABASE() ORDER BY table_name")]


def checksum(stack, names):
    rows = stack.sql("CHECKSUM TABLE " + ", ".join(names) + " EXTENDED")
    return tuple((r[0], r[1]) for r in rows)


def setup_ids(stack):
    """Resources of tenant A (the one that sends) and of tenant B."""
    ids = {}
    for who in ("a", "b"):
        _, tok = stack.tenant()
        ids[who + "_tok"] = tok
        ids[who + "_sid"] = stack.post("/v1/sessions", {"title": "t"},
                                       token=tok).json()["id"]
        ids[who + "_rid"] = stack.post("/v1/reports", {"title": "r"},
                                       token=tok).json()["id"]
        ids[who + "_aid"] = stack.post(
            "/v1/approvals", {"action": {"type": "deploy"}},
            token=tok).json()["id"]
        ids[who + "_bid"] = stack.post("/v1/bids", {"data": {"p": 1}},
                                       token=tok).json()["id"]
    return ids


def write_routes(ids):
    """(method, path, a valid body, versioned) for every write route, on
    tenant A's resources."""
    s, r, a, b = ids["a_sid"], ids["a_rid"], ids["a_aid"], ids["a_bid"]
    msg = {"role": "user", "content": "x"}
    return [
        ("POST", "/v1/sessions", {"title": "t"}, False),
        ("POST", "/v1/sessions/%d/messages" % s,
         {"version": 1, "message": msg}, True),
        ("DELETE", "/v1/sessions/%d" % s, {"version": 1}, True),
        ("PUT", "/v1/storefront/draft", {"version": 1, "config": {}}, True),
        ("PATCH", "/v1/storefront/draft",
         {"version": 1, "ops": [{"op": "set", "path": "$.a", "value": 1}]},
         True),
        ("POST", "/v1/storefront/publish", {"version": 1}, True),
        ("POST", "/v1/storefront/discard", {"version": 1}, True),
        ("POST", "/v1/approvals", {"action": {"type": "x"}}, False),
        ("POST", "/v1/approvals/%d/approve" % a, {"version": 1}, True),
        ("POST", "/v1/approvals/%d/reject" % a, {"version": 1}, True),
        ("POST", "/v1/reports", {"title": "t"}, False),
        ("PATCH", "/v1/reports/%d" % r, {"version": 1, "title": "u"}, True),
        ("POST", "/v1/reports/%d/chat" % r,
         {"messages": [{"id": "m1", "role": "user", "content": "x"}]},
         False),
        ("POST", "/v1/bids", {"data": {"x": 1}}, False),
        ("PATCH", "/v1/bids/%d" % b, {"version": 1, "data": {"x": 2}}, True),
        ("POST", "/v1/bids/%d/archive" % b, {"version": 1}, True),
        ("POST", "/v1/bids/%d/evaluate" % b, {"version": 1}, True),
    ]


def cases(ids):
    """[(label, method, path, headers, raw body bytes or None, status,
    error code)]."""
    out = []
    json_ct = {"Content-Type": "application/json"}

    def add(label, method, path, body, status, code, headers=None):
        h = dict(json_ct)
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        out.append((label, method, path, h, body, status, code))

    # Every write route: the body checks.
    generic = [
        ("malformed", b'{"version": 1,', 400, "bad_request"),
        ("text after", b'{"version": 1} x', 400, "bad_request"),
        ("array body", b"[1, 2]", 400, "bad_request"),
        ("string body", b'"x"', 400, "bad_request"),
        ("invalid utf-8", b'{"version": 1, "t": "\xff\xfe"}', 400,
         "bad_request"),
        ("overlong utf-8", b'{"version": 1, "t": "\xc0\xaf"}', 400,
         "bad_request"),
        ("nul in a key", b'{"version": 1, "a\\u0000b": 1}', 400,
         "bad_request"),
        ("nul in a value", b'{"version": 1, "t": "a\\u0000"}', 400,
         "bad_request"),
        ("33 levels", ('{"version": 1, "x": %s}' % DEEP_33).encode(), 400,
         "bad_request"),
        ("beyond 64 bits", b'{"version": 18446744073709551616}', 400,
         "bad_request"),
        ("NaN", b'{"version": NaN}', 400, "bad_request"),
        ("lone surrogate", b'{"version": 1, "t": "\\ud800"}', 400,
         "bad_request"),
        ("single quotes", b"{'version': 1}", 400, "bad_request"),
    ]
    for method, path, good, versioned in write_routes(ids):
        for label, body, status, code in generic:
            add(label, method, path, body, status, code)
        add("text/plain", method, path, json.dumps(good), 415,
            "unsupported_media_type", {"Content-Type": "text/plain"})
        add("form", method, path, "version=1", 415, "unsupported_media_type",
            {"Content-Type": "application/x-www-form-urlencoded"})
        if not path.endswith("/evaluate"):   # the header is ignored there
            add("key too long", method, path, json.dumps(good), 400,
                "bad_request", {"Idempotency-Key": "k" * 256})
        if versioned:
            for v in (0, -1, 1.5, "1", None, 4294967296, True, [1]):
                body = dict(good, version=v)
                add("version %r" % (v,), method, path, json.dumps(body), 400,
                    "bad_request")
            add("If-Match unquoted", method, path,
                json.dumps({k: v for k, v in good.items()
                            if k != "version"}), 400, "bad_request",
                {"If-Match": "1"})
            add("If-Match and body differ", method, path, json.dumps(good),
                400, "bad_request", {"If-Match": '"2"'})
        add("body over 1 MiB", method, path, b" " * (1024 * 1024 + 1), 413,
            "payload_too_large")

    # Wrong types, route by route.
    s, r, a, b = ids["a_sid"], ids["a_rid"], ids["a_aid"], ids["a_bid"]
    typed = [
        ("POST", "/v1/sessions", {"title": 5}),
        ("POST", "/v1/sessions", {"title": ["t"]}),
        ("POST", "/v1/sessions/%d/messages" % s, {"version": 1,
                                                  "message": "x"}),
        ("POST", "/v1/sessions/%d/messages" % s, {
            "version": 1, "message": {"role": "robot", "content": "x"}}),
        ("POST", "/v1/sessions/%d/messages" % s, {
            "version": 1, "message": {"role": "user", "content": 5}}),
        ("PUT", "/v1/storefront/draft", {"version": 1, "config": []}),
        ("PUT", "/v1/storefront/draft", {"version": 1, "config": "x"}),
        ("PATCH", "/v1/storefront/draft", {"version": 1, "ops": {}}),
        ("PATCH", "/v1/storefront/draft", {"version": 1, "ops": [
            {"op": "set", "path": "$..a", "value": 1}]}),
        ("PATCH", "/v1/storefront/draft", {"version": 1, "ops": [
            {"op": "set", "path": "$.a'; DROP TABLE tenants; --",
             "value": 1}]}),
        ("POST", "/v1/approvals", {"action": "deploy"}),
        ("POST", "/v1/approvals", {"action": {"type": 5}}),
        ("POST", "/v1/approvals", {"action": {"type": ""}}),
        ("POST", "/v1/approvals/%d/approve" % a, {"version": 1, "note": 5}),
        ("PATCH", "/v1/reports/%d" % r, {"version": 1, "title": 5}),
        ("PATCH", "/v1/reports/%d" % r, {"version": 1}),
        ("POST", "/v1/reports/%d/chat" % r, {"messages": {}}),
        ("POST", "/v1/reports/%d/chat" % r, {"messages": []}),
        ("POST", "/v1/reports/%d/chat" % r, {"messages": [
            {"id": "a b", "role": "user", "content": "x"}]}),
        ("POST", "/v1/reports/%d/chat" % r, {"messages": [
            {"id": "x' OR '1'='1", "role": "user", "content": "x"}]}),
        ("POST", "/v1/bids", {"data": []}),
        ("POST", "/v1/bids", {"data": "x"}),
        ("PATCH", "/v1/bids/%d" % b, {"version": 1, "data": 5}),
        ("POST", "/v1/bids/%d/evaluate" % b, {"version": 1, "kind": 5}),
        ("POST", "/v1/bids/%d/evaluate" % b, {"version": 1,
                                              "kind": "slow"}),
    ]
    for method, path, body in typed:
        add("wrong type %s" % json.dumps(body)[:40], method, path,
            json.dumps(body), 400, "bad_request")

    # Another tenant's ids: 404, exactly like a missing one.
    s, r, a, b = ids["b_sid"], ids["b_rid"], ids["b_aid"], ids["b_bid"]
    msg = {"role": "user", "content": "x"}
    foreign = [
        ("GET", "/v1/sessions/%d" % s, None),
        ("POST", "/v1/sessions/%d/messages" % s, {"version": 1,
                                                  "message": msg}),
        ("DELETE", "/v1/sessions/%d" % s, {"version": 1}),
        ("GET", "/v1/approvals/%d" % a, None),
        ("POST", "/v1/approvals/%d/approve" % a, {"version": 1}),
        ("POST", "/v1/approvals/%d/reject" % a, {"version": 1}),
        ("GET", "/v1/reports/%d" % r, None),
        ("PATCH", "/v1/reports/%d" % r, {"version": 1, "title": "x"}),
        ("POST", "/v1/reports/%d/chat" % r, {"messages": [
            {"id": "m", "role": "user", "content": "x"}]}),
        ("GET", "/v1/reports/%d/chat" % r, None),
        ("GET", "/v1/bids/%d" % b, None),
        ("PATCH", "/v1/bids/%d" % b, {"version": 1, "data": {"x": 1}}),
        ("POST", "/v1/bids/%d/archive" % b, {"version": 1}),
        ("POST", "/v1/bids/%d/evaluate" % b, {"version": 1}),
        ("GET", "/v1/bids/%d/evaluations" % b, None),
    ]
    for method, path, body in foreign:
        add("another tenant's id", method, path,
            None if body is None else json.dumps(body), 404, "not_found")

    # Ids, queries and paths that look like SQL or are out of range.
    for path in ("/v1/sessions/1%20OR%201=1", "/v1/sessions/1;DROP",
                 "/v1/sessions/-1", "/v1/sessions/0x1",
                 "/v1/sessions/99999999999999999999",
                 "/v1/bids/1'--", "/v1/reports/%27", "/v1/approvals/1.0",
                 "/v1/sessions/1/../../tenants", "/v1/nothing"):
        add("no such path", "GET", path, None, 404, "not_found")
    queries = [
        "/v1/approvals?status=pending'%20OR%20'1'='1",
        "/v1/approvals?status=", "/v1/approvals?limit=0",
        "/v1/approvals?limit=501", "/v1/approvals?after=-1",
        "/v1/approvals?after=1;DROP%20TABLE%20approvals",
        "/v1/approvals?limit=1e3",
        "/v1/approvals/events?after=x", "/v1/approvals/events?limit=-5",
        "/v1/bids?status=closed", "/v1/bids?limit=99999999999999999999",
        "/v1/bids?after=1%20UNION%20SELECT%201",
        "/v1/storefront/draft/versions?limit=0",
        "/v1/storefront/draft/versions?after=abc",
        "/v1/reports/%d/chat?after=-1" % ids["a_rid"],
        "/v1/reports/%d/chat?limit=1001" % ids["a_rid"],
        "/v1/reports/%d/chat?limit=1.5" % ids["a_rid"],
    ]
    for q in queries:
        add("bad query", "GET", q, None, 400, "bad_request")

    # Headers nginx refuses before any route: a JSON 400 all the same.
    add("header over 8 KiB", "GET", "/v1/sessions/%d" % ids["a_sid"], None,
        400, "bad_request", {"X-Big": "h" * 9000})
    add("32 KiB of headers", "POST", "/v1/sessions", "{}", 400,
        "bad_request", {"X-%d" % i: "v" * 7000 for i in range(5)})
    return out


def test_bad_input_table_changes_nothing(stack):
    ids = setup_ids(stack)
    names = tables(stack)
    assert len(names) >= 14, names
    table = cases(ids)
    assert len(table) >= 200, len(table)
    before = checksum(stack, names)
    problems = []
    for label, method, path, headers, body, status, code in table:
        r = stack.http(method, path, raw_body=body, headers=headers,
                       token=ids["a_tok"])
        what = "%s %s [%s]" % (method, path[:60], label)
        if r.status != status:
            problems.append("%s: %d, not %d: %s" % (what, r.status, status,
                                                    r.body[:200]))
            continue
        try:
            err = r.json()
        except AssertionError as e:
            problems.append("%s: %s" % (what, e))
            continue
        if err.get("error") != code:
            problems.append("%s: error %r, not %r" % (what, err.get("error"),
                                                      code))
        rid = r.headers.get("X-Request-Id")
        if not rid or err.get("request_id") != rid:
            problems.append("%s: request_id %r, X-Request-Id %r"
                            % (what, err.get("request_id"), rid))
        after = checksum(stack, names)
        if after != before:
            changed = [a[0] for a, b in zip(after, before) if a != b]
            problems.append("%s: changed %s" % (what, changed))
            before = after
    assert not problems, "%d of %d:\n" % (len(problems), len(table)) + \
        "\n".join(problems[:60])
    print("      %d bad requests over %d routes: each refused with its "
          "code and request_id, %d tables unchanged"
          % (len(table), 17 + 5, len(names)))


def test_32_levels_pass_where_33_fail(stack):
    _, tok = stack.tenant()
    sid = stack.post("/v1/sessions", {}, token=tok).json()["id"]
    path = "/v1/sessions/%d/messages" % sid
    base = '{"version": 1, "message": {"role": "user", "content": "x"}, ' \
           '"x": %s}'
    r = stack.post(path, raw_body=base % DEEP_33, token=tok,
                   headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = stack.post(path, raw_body=base % DEEP_32, token=tok,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r


def test_nul_never_cuts_a_key_or_a_string(stack):
    """Regression: PATCH {"price\\u0000_note": ...}
    answered 200 and overwrote "price"; titles, action types and notes
    were cut at the NUL."""
    _, tok = stack.tenant()
    ct = {"Content-Type": "application/json"}
    bid = stack.post("/v1/bids", {"data": {"price": 10}}, token=tok).json()
    r = stack.patch("/v1/bids/%d" % bid["id"], raw_body=(
        b'{"version": 1, "data": {"price\\u0000_note": "call me"}}'),
        token=tok, headers=ct)
    assert r.status == 400 and r.json()["error"] == "bad_request", r
    got = stack.get("/v1/bids/%d" % bid["id"], token=tok).json()
    assert got["version"] == 1 and got["data"] == {"price": 10}, got
    r = stack.post("/v1/bids", raw_body=b'{"data": {"x\\u0000y": 1, "x": 2}}',
                   token=tok, headers=ct)
    assert r.status == 400, r
    for path, body in (
            ("/v1/sessions", b'{"title": "a\\u0000b"}'),
            ("/v1/reports", b'{"title": "a\\u0000b"}'),
            ("/v1/approvals", b'{"action": {"type": "de\\u0000ploy"}}')):
        r = stack.post(path, raw_body=body, token=tok, headers=ct)
        assert r.status == 400 and "\\u0000" in r.json()["message"], r
    a = stack.post("/v1/approvals", {"action": {"type": "x"}},
                   token=tok).json()
    r = stack.post("/v1/approvals/%d/approve" % a["id"], raw_body=(
        b'{"version": 1, "note": "ok\\u0000 not ok"}'), token=tok,
        headers=ct)
    assert r.status == 400, r
    got = stack.get("/v1/approvals/%d" % a["id"], token=tok).json()
    assert got["status"] == "pending" and got["version"] == 1, got
