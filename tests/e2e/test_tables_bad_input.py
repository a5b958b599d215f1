"""test_tables_bad_input.py -- the bad-input table of test_bad_input.py,
for declared tables: every way a request to /v1/tables/... can be wrong,
each refused with its status, the contract's error code, the request_id
of X-Request-Id, "column" naming the column for a value or member the
table refuses, and a CHECKSUM of every table of the database (the declared
tables and the change log included) unchanged after it.

Column by column over the types of the contract's table: wrong JSON type,
out of range, too many digits, too long, a date that does not parse, a
value outside an ENUM or SET, null for NOT NULL; members that are not
served, read-only, the key, the version on POST, the tenant column;
malformed bodies, versions and preconditions; filters; another tenant's
rows and names not declared."""

import json

import harness
import tables_schema as ts

STACK_OPTIONS = {"workers": 2, "tables": True}
JSON_CT = {"Content-Type": "application/json"}
DEEP_33 = "[" * 32 + "]" * 32

# Per served column of `items`: values its type refuses, on POST and PATCH.
BAD_VALUES = {
    "name": [None, 5, True, [], {}, "x" * 21, "\u00e9" * 21, 1.5],
    "qty": ["1", 1.5, 2 ** 31, -2 ** 31 - 1, True, None, [], {}, "abc",
            2 ** 64],
    "small": [-1, 256, 1.5, "1", True, [], 10 ** 20],
    "big": [2 ** 63, -2 ** 63 - 1, "1", 1.5, False],
    "flag": [1, 0, "true", None, "1", [], 2],
    "price": ["1.234", "123456789.00", "abc", "", 100000000, True, [],
              "1.2.3", "NaN", "1e400", {}, 0.001],
    "ratio": ["1.0", True, [], {}, "inf"],
    "code": ["abcd", 5, [], True],
    "note": [5, True, {}, "x" * 65536],
    "kind": ["d", "", 1, "a,b", ["a"], True],
    "tags": ["w", "x,w", 5, ["x"], True],
    "day": ["2026-02-30", "2026-13-01", "26-01-01", 20260101, "",
            "yesterday", "2026-1-1", True],
    "at": ["2026-11-23T25:00:00.000Z", "2026-11-31T10:00:00.000Z", "x", 5,
           "", True, "2026-02-30T00:00:00Z"],
}
# Members no request may write (POST and PATCH alike).
NOT_WRITABLE = ["nosuch", "secret", "blobby", "created", "id", "tenant_id",
                "Name ", ""]


def tables(stack):
    return [r[0] for r in stack.sql(
        "SELECT table_name FROM information_schema.tables WHERE "
        "table_schema = DATABASE() ORDER BY table_name")]


def checksum(stack, names):
    rows = stack.sql("CHECKSUM TABLE " + ", ".join(names) + " EXTENDED")
    return tuple((r[0], r[1]) for r in rows)


def setup_module(stack):
    ts.create_all(stack)
    stack.declare("items", ts.ITEMS_CONF)
    stack.prepare_table("items")
    stack.reload_tables()


def cases(a_item, b_item):
    """[(label, method, path, headers, raw body, status, code, column)]."""
    out = []

    def add(label, method, path, body, status, code, column=None,
            headers=None):
        h = dict(JSON_CT)
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        out.append((label, method, path, h, body, status, code, column))

    post = "/v1/tables/items"
    patch = "/v1/tables/items/%d" % a_item
    # Column by column, values the type refuses.
    for col, values in BAD_VALUES.items():
        for v in values:
            body = {"name": "ok-name"}
            body[col] = v
            # A number beyond 64 bits is refused by the body's parser, as
            # on every route, before any column reads it: no "column".
            named = None if isinstance(v, int) and not isinstance(v, bool) \
                and not -2 ** 63 <= v < 2 ** 64 else col
            add("POST %s=%r" % (col, v), "POST", post, json.dumps(body), 400,
                "bad_request", named)
            add("PATCH %s=%r" % (col, v), "PATCH", patch,
                json.dumps({"version": 1, col: v}), 400, "bad_request", named)
    for col in NOT_WRITABLE:
        add("POST member %r" % col, "POST", post,
            json.dumps({"name": "ok-name", col: 1}), 400, "bad_request", col)
        add("PATCH member %r" % col, "PATCH", patch,
            json.dumps({"version": 1, col: 1}), 400, "bad_request", col)
    add("POST version", "POST", post, json.dumps({"name": "x", "version": 1}),
        400, "bad_request", "version")
    add("POST without a NOT NULL column", "POST", post,
        json.dumps({"qty": 1}), 400, "bad_request", "name")
    add("POST nothing", "POST", post, "{}", 400, "bad_request", "name")

    # The body checks of every write route.
    generic = [
        ("malformed", b'{"version": 1,'), ("text after", b'{"version": 1} x'),
        ("array body", b"[1, 2]"), ("string body", b'"x"'),
        ("invalid utf-8", b'{"version": 1, "note": "\xff\xfe"}'),
        ("overlong utf-8", b'{"version": 1, "note": "\xc0\xaf"}'),
        ("nul in a key", b'{"version": 1, "na\\u0000me": "x"}'),
        ("nul in a value", b'{"version": 1, "name": "a\\u0000"}'),
        ("33 levels", ('{"version": 1, "doc": %s}' % DEEP_33).encode()),
        ("beyond 64 bits", b'{"version": 18446744073709551616}'),
        ("NaN", b'{"version": NaN}'),
        ("lone surrogate", b'{"version": 1, "note": "\\ud800"}'),
        ("single quotes", b"{'version': 1}"),
        ("duplicate nul key", b'{"version": 1, "qty\\u0000": 1, "qty": 2}'),
    ]
    delete = patch
    for method, path in (("POST", post), ("PATCH", patch),
                         ("DELETE", delete)):
        for label, body in generic:
            add(label, method, path, body, 400, "bad_request")
        add("text/plain", method, path, '{"version": 1}', 415,
            "unsupported_media_type", headers={"Content-Type": "text/plain"})
        add("form", method, path, "version=1", 415, "unsupported_media_type",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        add("key too long", method, path, '{"version": 1, "name": "k"}', 400,
            "bad_request", headers={"Idempotency-Key": "k" * 256})
        add("key not printable", method, path, '{"version": 1}', 400,
            "bad_request", headers={"Idempotency-Key": "a\tb"})
        add("body over 1 MiB", method, path, b" " * (1024 * 1024 + 1), 413,
            "payload_too_large")
    for method, path in (("PATCH", patch), ("DELETE", delete)):
        for v in (0, -1, 1.5, "1", None, 4294967296, True, [1], {}):
            add("version %r" % (v,), method, path,
                json.dumps({"version": v}), 400, "bad_request")
        add("If-Match unquoted", method, path, "{}", 400, "bad_request",
            headers={"If-Match": "1"})
        add("If-Match garbage", method, path, "{}", 400, "bad_request",
            headers={"If-Match": '"1'})
        add("If-Match and body differ", method, path, '{"version": 1}', 400,
            "bad_request", headers={"If-Match": '"2"'})
        add("no version", method, path, "{}", 428, "precondition_required")
        add("weak If-Match", method, path, "{}", 412, "precondition_failed",
            headers={"If-Match": 'W/"1"'})
        add("stale version", method, path, '{"version": 2}', 409,
            "version_conflict")

    # Another tenant's row, rows that do not exist, names not declared.
    b = "/v1/tables/items/%d" % b_item
    for method, body in (("GET", None), ("PATCH", '{"version": 1, "qty": 1}'),
                         ("DELETE", '{"version": 1}'),
                         ("PATCH", '{"qty": 1}'), ("GET", None)):
        add("another tenant's row", method, b, body, 404, "not_found")
    add("another tenant's feed", "GET", b + "/events", None, 404, "not_found")
    for path in ("/v1/tables/nosuch", "/v1/tables/nosuch/1",
                 "/v1/tables/items/0x1", "/v1/tables/items/1;DROP",
                 "/v1/tables/items/-1", "/v1/tables/items/99999999999999999999",
                 "/v1/tables/ITEMS", "/v1/tables/items%27", "/v1/tables/",
                 "/v1/tables/items/1/x", "/v1/tables/items/../bids",
                 "/v1/tables/items_/1", "/v1/tables/" + "a" * 65):
        add("no such path", "GET", path, None, 404, "not_found")
    for method in ("POST", "PATCH", "DELETE"):
        add("not declared", method, "/v1/tables/optimist_changes" +
            ("" if method == "POST" else "/1"), '{"version": 1}', 404,
            "not_found")

    # Lists: filters read as the column's type, pages.
    for q, col in (("nosuch=1", "nosuch"), ("secret=x", "secret"),
                   ("blobby=x", "blobby"), ("qty=abc", "qty"),
                   ("qty=1.5", "qty"), ("qty=99999999999", "qty"),
                   ("small=-1", "small"), ("kind=d", "kind"),
                   ("day=2026-13-01", "day"), ("flag=2", "flag"),
                   ("price=1.234", "price"), ("tenant_id=1", "tenant_id"),
                   ("at=noon", "at"),
                   ("qty=1%27%20OR%20%271%27=%271", "qty")):
        add("filter %s" % q, "GET", "/v1/tables/items?" + q, None, 400,
            "bad_request", col)
    for q in ("limit=0", "limit=501", "after=-1", "after=x", "limit=1e3",
              "after=1%20UNION%20SELECT%201", "limit=99999999999999999999"):
        add("page %s" % q, "GET", "/v1/tables/items?" + q, None, 400,
            "bad_request")
    return out


def test_declared_table_bad_input_changes_nothing(stack):
    _, a = stack.tenant()
    _, b = stack.tenant()
    ts.wait_served(stack, "items", a)
    a_item = stack.post("/v1/tables/items", {"name": "mine"},
                        token=a).json()["id"]
    b_item = stack.post("/v1/tables/items", {"name": "theirs"},
                        token=b).json()["id"]
    names = tables(stack)
    assert "items" in names and "optimist_changes" in names, names
    table = cases(a_item, b_item)
    assert len(table) >= 150, len(table)
    before = checksum(stack, names)
    problems = []
    for label, method, path, headers, body, status, code, column in table:
        r = stack.http(method, path, raw_body=body, headers=headers, token=a)
        what = "%s %s [%s]" % (method, path[:60], label[:60])
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
        if column is not None and err.get("column") != column:
            problems.append("%s: column %r, not %r" % (what,
                                                       err.get("column"),
                                                       column))
        rid = r.headers.get("X-Request-Id")
        if not rid or err.get("request_id") != rid:
            problems.append("%s: request_id %r, X-Request-Id %r"
                            % (what, err.get("request_id"), rid))
        after = checksum(stack, names)
        if after != before:
            changed = [x[0] for x, y in zip(after, before) if x != y]
            problems.append("%s: changed %s" % (what, changed))
            before = after
    assert not problems, "%d of %d:\n" % (len(problems), len(table)) + \
        "\n".join(problems[:80])
    print("      %d bad requests to a declared table: each refused with its "
          "code (and column), %d tables unchanged" % (len(table), len(names)))
