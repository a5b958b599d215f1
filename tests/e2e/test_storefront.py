"""test_storefront.py -- the storefront through nginx and the pool: every
route, every error the contract gives them, and the stories the resource
exists for (two tabs editing one draft; 12 clients appending at once;
publishing while another tab saves; 30 malformed PATCHes that change
nothing; the history's last 50 versions; tenants that never see each
other's storefront)."""

import json
import threading

import harness

DRAFT = "/v1/storefront/draft"
VERSIONS = "/v1/storefront/draft/versions"


def error_of(r, status, code):
    assert r.status == status, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def is_time(ts):
    return isinstance(ts, str) and len(ts) == 24 and ts[10] == "T" and \
        ts.endswith("Z")


def put(stack, tok, version, config, **kw):
    body = {"config": config}
    if version is not None:
        body["version"] = version
    return stack.put(DRAFT, body, token=tok, **kw)


def patch(stack, tok, version, ops, **kw):
    body = {"ops": ops}
    if version is not None:
        body["version"] = version
    return stack.patch(DRAFT, body, token=tok, **kw)


def ok(r, version=None):
    """A 200 with the draft (or storefront) and its ETag; returns the body."""
    assert r.status == 200, r
    body = r.json()
    if version is not None:
        got = body["draft"]["version"] if "draft" in body else body["version"]
        assert got == version, body
        assert r.headers["ETag"] == '"%d"' % version, r.headers
    return body


def db_draft(stack, tid):
    """(version, config) as the database holds them, behind the service."""
    rows = stack.sql("SELECT version, config FROM storefront_drafts "
                     "WHERE tenant_id = %d" % int(tid))
    assert len(rows) == 1, rows
    return int(rows[0][0]), json.loads(rows[0][1])


def db_history(stack, tid):
    rows = stack.sql("SELECT version FROM storefront_versions "
                     "WHERE tenant_id = %d ORDER BY version" % int(tid))
    return [int(r[0]) for r in rows]


def seeded(stack, config):
    """A new tenant whose draft is `config` at version 2."""
    tid, tok = stack.tenant()
    ok(put(stack, tok, 1, config), 2)
    return tid, tok


def assert_is_draft(d, version, config=None):
    assert set(d) == {"version", "config", "updated_at"}, d
    assert d["version"] == version, d
    assert is_time(d["updated_at"]), d
    if config is not None:
        assert d["config"] == config, d


# ---- reading ----------------------------------------------------------------

def test_new_tenant_has_draft_1_empty_and_nothing_published(stack):
    tid, tok = stack.tenant()
    r = stack.get("/v1/storefront", token=tok)
    sf = ok(r)
    assert set(sf) == {"draft", "published"}, sf
    assert_is_draft(sf["draft"], 1, {})
    assert sf["published"] is None
    r = stack.get(DRAFT, token=tok)
    assert_is_draft(ok(r, 1), 1, {})
    items = ok(stack.get(VERSIONS, token=tok))["items"]
    assert [i["version"] for i in items] == [1]
    assert is_time(items[0]["updated_at"])
    v1 = ok(stack.get(VERSIONS + "/1", token=tok))
    assert_is_draft(v1, 1, {})
    assert db_draft(stack, tid) == (1, {})
    assert db_history(stack, tid) == [1]


def test_draft_if_none_match_is_304_until_it_changes(stack):
    _, tok = stack.tenant()
    r = stack.get(DRAFT, token=tok, headers={"If-None-Match": '"1"'})
    assert r.status == 304, r
    assert r.body == b"" and r.headers["ETag"] == '"1"'
    r = stack.get(DRAFT, token=tok, headers={"If-None-Match": '"7", W/"1"'})
    assert r.status == 304, r
    ok(put(stack, tok, 1, {"a": 1}), 2)
    r = stack.get(DRAFT, token=tok, headers={"If-None-Match": '"1"'})
    assert ok(r, 2)["config"] == {"a": 1}


# ---- PUT ------------------------------------------------------------------------

def test_put_replaces_the_whole_config(stack):
    tid, tok = stack.tenant()
    config = {"theme": {"color": "#112233", "font": "Inter"},
              "hero": [{"title": "Sale", "url": "/sale?x=1&y=2"}],
              "flags": [True, False, None], "n": -12.5, "big": 2 ** 63 + 1}
    d = ok(put(stack, tok, 1, config), 2)
    assert_is_draft(d, 2, config)
    d = ok(put(stack, tok, 2, {"only": "this"}), 3)
    assert d["config"] == {"only": "this"}
    assert ok(stack.get(DRAFT, token=tok), 3)["config"] == {"only": "this"}
    assert db_draft(stack, tid) == (3, {"only": "this"})
    assert ok(stack.get(VERSIONS + "/2", token=tok))["config"] == config
    assert db_history(stack, tid) == [1, 2, 3]


def test_put_config_must_be_an_object(stack):
    tid, tok = stack.tenant()
    for bad in ([], [1], "x", 5, None, True):
        error_of(put(stack, tok, 1, bad), 400, "bad_request")
    error_of(stack.put(DRAFT, {"version": 1}, token=tok), 400, "bad_request")
    error_of(stack.put(DRAFT, {"version": 1, "Config": {}}, token=tok), 400,
             "bad_request")
    assert db_draft(stack, tid) == (1, {})


def test_put_preconditions(stack):
    tid, tok = seeded(stack, {"a": 1})
    # No version at all: 428 with the current version, never a default.
    body = error_of(put(stack, tok, None, {"b": 1}), 428,
                    "precondition_required")
    assert body["current_version"] == 2
    # Stale and ahead: 409 with the current draft.
    for stale in (1, 3, 99):
        body = error_of(put(stack, tok, stale, {"b": 1}), 409,
                        "version_conflict")
        assert body["current_version"] == 2
        assert_is_draft(body["current"], 2, {"a": 1})
    # If-Match: stale is 412, weak never matches, current succeeds.
    body = error_of(put(stack, tok, None, {"b": 1},
                        headers={"If-Match": '"1"'}), 412,
                    "precondition_failed")
    assert body["current_version"] == 2
    assert_is_draft(body["current"], 2, {"a": 1})
    error_of(put(stack, tok, None, {"b": 1}, headers={"If-Match": 'W/"2"'}),
             412, "precondition_failed")
    error_of(put(stack, tok, 2, {"b": 1}, headers={"If-Match": '"1"'}), 400,
             "bad_request")
    for bad in ("2", '"abc"', '"0"', "**", '"2", "3"'):
        error_of(put(stack, tok, None, {"b": 1}, headers={"If-Match": bad}),
                 400, "bad_request")
    for bad in (0, -1, 1.5, "2", None, True, 4294967296):
        error_of(stack.put(DRAFT, {"version": bad, "config": {}}, token=tok),
                 400, "bad_request")
    assert db_draft(stack, tid) == (2, {"a": 1})
    ok(put(stack, tok, None, {"b": 1}, headers={"If-Match": '"2"'}), 3)
    # If-Match: * overwrites any version; with a body version, it decides.
    ok(put(stack, tok, None, {"c": 1}, headers={"If-Match": "*"}), 4)
    body = error_of(put(stack, tok, 3, {"d": 1}, headers={"If-Match": "*"}),
                    409, "version_conflict")
    assert body["current_version"] == 4
    assert db_draft(stack, tid) == (4, {"c": 1})
    assert db_history(stack, tid) == [1, 2, 3, 4]


def test_put_bodies_that_are_not_json(stack):
    tid, tok = stack.tenant()
    r = stack.put(DRAFT, raw_body=b'{"version": 1, "config": {}}', token=tok,
                  headers={"Content-Type": "text/plain"})
    error_of(r, 415, "unsupported_media_type")
    for raw in (b"{", b'{"version": 1, "config": {},}', b"\xff",
                b'{"version": 1, "config": {"a": NaN}}'):
        r = stack.put(DRAFT, raw_body=raw, token=tok,
                      headers={"Content-Type": "application/json"})
        error_of(r, 400, "bad_request")
    assert db_draft(stack, tid) == (1, {})


def test_tricky_content_round_trips(stack):
    _, tok = stack.tenant()
    config = {"'); DROP TABLE storefront_drafts; --": "$.a[0]",
              'say "hi" \\o/': "tab\there\nnl\u0001",
              "héllo ✓ 🎉": ["/", "</script>", "", "%s%n", "NULL"],
              "$": {"[0]": {".a": None}}}
    ok(put(stack, tok, 1, config), 2)
    assert ok(stack.get(DRAFT, token=tok))["config"] == config
    # Reachable by quoted names too.
    r = patch(stack, tok, 2, [
        {"op": "set", "path": '$["$"]["[0]"][".a"]', "value": "found"},
        {"op": "append", "path": '$["héllo ✓ 🎉"]', "value": "\u00e9"},
        {"op": "remove",
         "path": '$["\'); DROP TABLE storefront_drafts; --"]'}])
    got = ok(r, 3)["config"]
    assert got["$"] == {"[0]": {".a": "found"}}
    assert got["héllo ✓ 🎉"][-1] == "é"
    assert "'); DROP TABLE storefront_drafts; --" not in got


# ---- PATCH ----------------------------------------------------------------------

def test_patch_set_remove_append_merge(stack):
    tid, tok = seeded(stack, {"a": {"b": [1, 2, 3]}, "s": "x"})
    d = ok(patch(stack, tok, 2, [
        {"op": "set", "path": "$.title", "value": "Shop"},
        {"op": "set", "path": "$.a.b[1]", "value": {"two": 2}},
        {"op": "remove", "path": "$.a.b[0]"},
        {"op": "append", "path": "$.a.b", "value": [4]},
        {"op": "set", "path": "$.items", "value": []},
        {"op": "append", "path": "$.items", "value": None},
        {"op": "remove", "path": "$.s"},
    ]), 3)
    assert d["config"] == {"a": {"b": [{"two": 2}, 3, [4]]}, "title": "Shop",
                           "items": [None]}
    # RFC 7396 at the root: null removes, objects merge, the rest replaces,
    # and nulls under a new member are dropped.
    d = ok(patch(stack, tok, 3, [{"op": "merge", "value": {
        "title": None, "a": {"b": "flat", "c": {"d": None, "e": 1}},
        "items": {"x": None}}}]), 4)
    assert d["config"] == {"a": {"b": "flat", "c": {"e": 1}}, "items": {}}
    # set at $ replaces the whole config.
    d = ok(patch(stack, tok, 4, [{"op": "set", "path": "$",
                                  "value": {"fresh": True}}]), 5)
    assert d["config"] == {"fresh": True}
    assert db_draft(stack, tid) == (5, {"fresh": True})
    assert db_history(stack, tid) == [1, 2, 3, 4, 5]


def test_patch_preconditions(stack):
    tid, tok = seeded(stack, {"items": []})
    ops = [{"op": "append", "path": "$.items", "value": 1}]
    body = error_of(patch(stack, tok, None, ops), 428, "precondition_required")
    assert body["current_version"] == 2
    body = error_of(patch(stack, tok, 1, ops), 409, "version_conflict")
    assert body["current_version"] == 2
    assert_is_draft(body["current"], 2, {"items": []})
    body = error_of(patch(stack, tok, None, ops, headers={"If-Match": '"1"'}),
                    412, "precondition_failed")
    assert_is_draft(body["current"], 2, {"items": []})
    error_of(patch(stack, tok, None, ops, headers={"If-Match": 'W/"2"'}), 412,
             "precondition_failed")
    error_of(patch(stack, tok, 1, ops, headers={"If-Match": '"2"'}), 400,
             "bad_request")
    # A stale version wins over ops that only fail on the current config:
    # they were written for another config.
    body = error_of(patch(stack, tok, 1, [{"op": "remove", "path": "$.nope"}]),
                    409, "version_conflict")
    assert body["current_version"] == 2
    assert db_draft(stack, tid) == (2, {"items": []})
    ok(patch(stack, tok, None, ops, headers={"If-Match": '"2"'}), 3)
    ok(patch(stack, tok, None, ops, headers={"If-Match": "*"}), 4)
    assert db_draft(stack, tid) == (4, {"items": [1, 1]})


def test_patch_errors_name_the_op_and_apply_nothing(stack):
    tid, tok = seeded(stack, {"items": [], "a": 1})
    r = patch(stack, tok, 2, [
        {"op": "append", "path": "$.items", "value": "first"},
        {"op": "set", "path": "$.b", "value": 2},
        {"op": "merge", "value": {"a": None}},
        {"op": "remove", "path": "$.a"}])
    body = error_of(r, 400, "bad_request")
    assert body["message"] == "ops[3] (remove): $.a does not exist", body
    assert db_draft(stack, tid) == (2, {"items": [], "a": 1})
    assert db_history(stack, tid) == [1, 2]


def malformed_patches():
    """30 and more PATCH bodies that must each be refused (version 2 of
    {"a": {"b": [1, 2, 3]}, "s": "x", "items": []}), with the op the
    message must name (None: the ops as a whole)."""
    def op(**kw):
        return kw
    # 29 levels, 3 steps down: the config would be 32 deep, past 31 (and
    # the body, at 32 levels, is within the contract's limit).
    deep = []
    for _ in range(28):
        deep = [deep]
    return [
        ({}, None),
        ({"ops": None}, None),
        ({"ops": {"op": "set", "path": "$.a", "value": 1}}, None),
        ({"ops": "set"}, None),
        ({"ops": []}, None),
        ({"ops": [1]}, "ops[0]"),
        ({"ops": [{}]}, "ops[0]"),
        ({"ops": [op(op="move", path="$.a")]}, "ops[0]"),
        ({"ops": [op(op=5, path="$.a")]}, "ops[0]"),
        ({"ops": [op(op="set", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path=5, value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="a.b", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$..a", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b[-1]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b[01]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b[99999999999999999999]",
                     value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$[*]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a b", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$['a']", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path=" $.a", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.x")]}, "ops[0]"),
        ({"ops": [op(op="set", path="$", value=[1])]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.x.y", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.s.y", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b[3]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b[999999999]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a[0]", value=1)]}, "ops[0]"),
        ({"ops": [op(op="remove", path="$.nope")]}, "ops[0]"),
        ({"ops": [op(op="remove", path="$")]}, "ops[0]"),
        ({"ops": [op(op="remove", path="$.a.b[7]")]}, "ops[0]"),
        ({"ops": [op(op="append", path="$.a", value=1)]}, "ops[0]"),
        ({"ops": [op(op="append", path="$.missing", value=1)]}, "ops[0]"),
        ({"ops": [op(op="append", path="$.items")]}, "ops[0]"),
        ({"ops": [op(op="merge", value=[1])]}, "ops[0]"),
        ({"ops": [op(op="merge")]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.a.b.c", value=deep)]}, "ops[0]"),
        ({"ops": [op(op="set", path="$.t", value=1),
                  op(op="append", path="$.items", value=2),
                  op(op="remove", path="$.a.b[3]")]}, "ops[2]"),
    ]


def test_30_malformed_patches_each_400_and_change_nothing(stack):
    config = {"a": {"b": [1, 2, 3]}, "s": "x", "items": []}
    tid, tok = seeded(stack, config)
    cases = malformed_patches()
    assert len(cases) >= 30
    for body, names in cases:
        body = dict(body, version=2)
        r = stack.patch(DRAFT, body, token=tok)
        err = error_of(r, 400, "bad_request")
        if names:
            assert err["message"].startswith(names + " ") or \
                err["message"].startswith(names + ":"), (body, err)
    assert db_draft(stack, tid) == (2, config)
    assert db_history(stack, tid) == [1, 2]
    assert ok(stack.get(DRAFT, token=tok), 2)["config"] == config


def test_patch_nesting_and_size_limits(stack):
    tid, tok = stack.tenant()
    # MariaDB stores JSON nested at most 31 levels deep: a config of 31
    # levels can be PUT, read and PUT back; one of 32 is refused, and so
    # is a PATCH that would make one, naming the op.
    deep = {}
    for _ in range(30):
        deep = {"d": deep}
    err = error_of(put(stack, tok, 1, {"d": deep}), 400, "bad_request")
    assert "31 levels" in err["message"], err
    ok(put(stack, tok, 1, deep), 2)
    got = ok(stack.get(DRAFT, token=tok), 2)["config"]
    assert got == deep
    ok(put(stack, tok, 2, got), 3)
    path = "$" + ".d" * 29
    ok(patch(stack, tok, 3, [{"op": "set", "path": path,
                              "value": {"x": {}}}]), 4)
    err = error_of(patch(stack, tok, 4, [{"op": "set", "path": path,
                                          "value": {"x": {"y": {}}}}]),
                   400, "bad_request")
    assert err["message"].startswith("ops[0] (set)"), err
    assert db_draft(stack, tid)[0] == 4
    # A PATCH may not grow the config beyond 1 MiB.
    big = "x" * (1024 * 1024 - 100)
    ok(put(stack, tok, 4, {"big": big, "items": []}), 5)
    err = error_of(patch(stack, tok, 5, [{"op": "append", "path": "$.items",
                                          "value": "y" * 200}]),
                   400, "bad_request")
    assert "larger" in err["message"], err
    assert db_draft(stack, tid)[0] == 5


# ---- publish and discard -----------------------------------------------------------

def test_publish_exactly_the_version_named(stack):
    tid, tok = seeded(stack, {"p": 1})
    r = stack.post("/v1/storefront/publish", {"version": 2}, token=tok)
    sf = ok(r, 2)
    assert_is_draft(sf["draft"], 2, {"p": 1})
    pub = sf["published"]
    assert set(pub) == {"draft_version", "config", "published_at"}, pub
    assert pub["draft_version"] == 2 and pub["config"] == {"p": 1}
    assert is_time(pub["published_at"])
    assert ok(stack.get("/v1/storefront", token=tok)) == sf
    # The draft's version does not change; publishing it again is fine.
    assert db_draft(stack, tid) == (2, {"p": 1})
    assert db_history(stack, tid) == [1, 2]
    sf = ok(stack.post("/v1/storefront/publish", token=tok,
                       headers={"If-Match": '"2"'}), 2)
    assert sf["published"]["draft_version"] == 2
    # The draft moves on; the published copy stays what was published.
    ok(put(stack, tok, 2, {"p": 2}), 3)
    sf = ok(stack.get("/v1/storefront", token=tok))
    assert sf["draft"]["config"] == {"p": 2}
    assert sf["published"]["config"] == {"p": 1}
    assert sf["published"]["draft_version"] == 2


def test_publish_errors_carry_the_draft(stack):
    tid, tok = seeded(stack, {"p": 1})
    path = "/v1/storefront/publish"
    body = error_of(stack.post(path, {}, token=tok), 428,
                    "precondition_required")
    assert body["current_version"] == 2
    error_of(stack.post(path, token=tok), 428, "precondition_required")
    for stale in (1, 3):
        body = error_of(stack.post(path, {"version": stale}, token=tok), 409,
                        "version_conflict")
        assert body["current_version"] == 2
        assert_is_draft(body["current"], 2, {"p": 1})
    body = error_of(stack.post(path, token=tok, headers={"If-Match": '"1"'}),
                    412, "precondition_failed")
    assert_is_draft(body["current"], 2, {"p": 1})
    error_of(stack.post(path, token=tok, headers={"If-Match": 'W/"2"'}), 412,
             "precondition_failed")
    error_of(stack.post(path, {"version": 2}, token=tok,
                        headers={"If-Match": '"1"'}), 400, "bad_request")
    error_of(stack.post(path, {"version": "2"}, token=tok), 400,
             "bad_request")
    error_of(stack.post(path, raw_body=b"version=2", token=tok,
                        headers={"Content-Type": "application/x-www-form-"
                                 "urlencoded"}),
             415, "unsupported_media_type")
    assert ok(stack.get("/v1/storefront", token=tok))["published"] is None
    assert stack.sql("SELECT COUNT(*) FROM storefront_published WHERE "
                     "tenant_id = %d" % tid) == [["0"]]
    # If-Match: * publishes whatever is current.
    sf = ok(stack.post(path, token=tok, headers={"If-Match": "*"}), 2)
    assert sf["published"]["draft_version"] == 2


def test_discard_returns_to_the_published_config(stack):
    tid, tok = seeded(stack, {"p": 1})
    path = "/v1/storefront/discard"
    # Nothing published: the draft becomes {}.
    d = ok(stack.post(path, {"version": 2}, token=tok), 3)
    assert_is_draft(d, 3, {})
    ok(put(stack, tok, 3, {"p": 3}), 4)
    ok(stack.post("/v1/storefront/publish", {"version": 4}, token=tok), 4)
    ok(put(stack, tok, 4, {"p": "unsaved idea"}), 5)
    body = error_of(stack.post(path, {"version": 4}, token=tok), 409,
                    "version_conflict")
    assert_is_draft(body["current"], 5, {"p": "unsaved idea"})
    error_of(stack.post(path, token=tok), 428, "precondition_required")
    error_of(stack.post(path, token=tok, headers={"If-Match": '"4"'}), 412,
             "precondition_failed")
    d = ok(stack.post(path, token=tok, headers={"If-Match": '"5"'}), 6)
    assert d["config"] == {"p": 3}
    assert db_draft(stack, tid) == (6, {"p": 3})
    # The discarded draft is still in the history, and so is the discard.
    assert ok(stack.get(VERSIONS + "/5", token=tok))["config"] == \
        {"p": "unsaved idea"}
    assert ok(stack.get(VERSIONS + "/6", token=tok))["config"] == {"p": 3}
    assert db_history(stack, tid) == [1, 2, 3, 4, 5, 6]


# ---- versions -------------------------------------------------------------------

def test_versions_list_pages_and_errors(stack):
    _, tok = stack.tenant()
    for v in range(1, 6):
        ok(put(stack, tok, v, {"v": v + 1}), v + 1)
    lst = ok(stack.get(VERSIONS, token=tok))
    assert [i["version"] for i in lst["items"]] == [6, 5, 4, 3, 2, 1]
    assert lst["next_after"] is None
    page = ok(stack.get(VERSIONS + "?limit=4", token=tok))
    assert [i["version"] for i in page["items"]] == [6, 5, 4, 3]
    assert page["next_after"] == 3
    page = ok(stack.get(VERSIONS + "?limit=4&after=3", token=tok))
    assert [i["version"] for i in page["items"]] == [2, 1]
    assert page["next_after"] is None
    for bad in ("limit=0", "limit=501", "limit=x", "limit=", "after=0",
                "after=-1", "limit=1.5", "after=4294967296"):
        error_of(stack.get(VERSIONS + "?" + bad, token=tok), 400,
                 "bad_request")
    assert ok(stack.get(VERSIONS + "/4", token=tok))["config"] == {"v": 4}
    for v in ("7", "0", "4294967297", "99999999999999999999"):
        error_of(stack.get(VERSIONS + "/" + v, token=tok), 404, "not_found")
    for v in ("abc", "-1", "1.0", ""):
        error_of(stack.get(VERSIONS + "/" + v, token=tok), 404, "not_found")


def test_history_keeps_50_after_60_writes(stack):
    tid, tok = stack.tenant()
    for v in range(1, 61):
        ok(put(stack, tok, None, {"n": v}, headers={"If-Match": '"%d"' % v}),
           v + 1)
    items = ok(stack.get(VERSIONS, token=tok))["items"]
    assert [i["version"] for i in items] == list(range(61, 11, -1))
    assert len(items) == 50
    for gone in (1, 2, 11):
        error_of(stack.get(VERSIONS + "/%d" % gone, token=tok), 404,
                 "not_found")
    assert ok(stack.get(VERSIONS + "/12", token=tok))["config"] == {"n": 11}
    assert ok(stack.get(VERSIONS + "/61", token=tok))["config"] == {"n": 60}
    assert db_history(stack, tid) == list(range(12, 62))


# ---- the stories --------------------------------------------------------------------

def test_two_tabs_neither_loses_an_edit(stack):
    tid, tok = stack.tenant()
    # Both tabs load version 1.
    tab_a = ok(stack.get(DRAFT, token=tok), 1)
    tab_b = ok(stack.get(DRAFT, token=tok), 1)
    tab_a["config"]["headline"] = "A's headline"
    tab_b["config"]["footer"] = "B's footer"
    b_intent = dict(tab_b["config"])
    # A saves first.
    ok(put(stack, tok, tab_a["version"], tab_a["config"]), 2)
    # B saves what it loaded: a conflict that shows A's draft.
    r = put(stack, tok, tab_b["version"], tab_b["config"])
    body = error_of(r, 409, "version_conflict")
    assert body["current_version"] == 2
    assert body["current"]["config"] == {"headline": "A's headline"}
    # B fetches version 2 ("theirs"); its own edit is still in the client.
    theirs = ok(stack.get(VERSIONS + "/2", token=tok))
    assert theirs["config"] == {"headline": "A's headline"}
    assert tab_b["config"] == b_intent == {"footer": "B's footer"}
    # B merges both and saves on version 2.
    merged = dict(theirs["config"], **b_intent)
    ok(put(stack, tok, 2, merged), 3)
    items = ok(stack.get(VERSIONS, token=tok))["items"]
    assert [i["version"] for i in items] == [3, 2, 1]
    assert db_draft(stack, tid) == (3, {"headline": "A's headline",
                                        "footer": "B's footer"})


def test_12_clients_appending_lose_nothing(stack):
    """Each client appends 25 items through PATCH; on 409 it fetches the
    draft again and sends the same item on the version it got."""
    tid, tok = stack.tenant()
    ok(put(stack, tok, 1, {"items": []}), 2)
    oks = [1]   # the PUT above
    conflicts = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def client(n):
        v = 2
        barrier.wait()
        for j in range(25):
            item = "c%02d-%02d" % (n, j)
            while True:
                r = patch(stack, tok, v, [{"op": "append", "path": "$.items",
                                           "value": item}])
                if r.status == 200:
                    nv = r.json()["version"]
                    assert nv == v + 1, (v, nv)
                    v = nv
                    with lock:
                        oks[0] += 1
                    break
                body = error_of(r, 409, "version_conflict")
                assert body["current_version"] > v
                assert body["current"]["version"] == body["current_version"]
                fresh = ok(stack.get(DRAFT, token=tok))
                assert fresh["version"] >= body["current_version"]
                v = fresh["version"]
                with lock:
                    conflicts[0] += 1

    harness.parallel(client, list(range(12)))
    final = ok(stack.get(DRAFT, token=tok))
    items = final["config"]["items"]
    want = sorted("c%02d-%02d" % (n, j) for n in range(12) for j in range(25))
    assert len(items) == 300
    assert sorted(items) == want     # each exactly once
    # Each client's own items are in its order.
    for n in range(12):
        mine = [i for i in items if i.startswith("c%02d-" % n)]
        assert mine == ["c%02d-%02d" % (n, j) for j in range(25)]
    assert final["version"] == 1 + oks[0] == 302
    assert db_draft(stack, tid)[0] == 302
    assert conflicts[0] > 0, "12 clients never collided: not a race"


def test_publish_while_another_tab_saves(stack):
    """Tab A saves 30 times; tab B publishes whatever version it last
    read. Every accepted publish holds exactly the version it named."""
    _, tok = stack.tenant()
    saved = {1: {}}
    done = threading.Event()

    def saver():
        v = 1
        try:
            for i in range(30):
                config = {"n": i, "by": "A", "list": list(range(i % 5))}
                while True:
                    r = put(stack, tok, v, config)
                    if r.status == 200:
                        v = r.json()["version"]
                        saved[v] = config
                        break
                    v = error_of(r, 409, "version_conflict")["current_version"]
        finally:
            done.set()

    published, refused = [], [0]

    def publisher():
        # Races the saver while it runs; once it is done, the draft stops
        # moving and the next publish must be accepted (a fast saver can
        # otherwise win every race, and the test would check nothing).
        while not done.is_set() or not published:
            seen = ok(stack.get(DRAFT, token=tok))
            r = stack.post("/v1/storefront/publish",
                           {"version": seen["version"]}, token=tok)
            if r.status == 200:
                published.append((seen["version"], seen["config"],
                                  r.json()["published"]))
            else:
                body = error_of(r, 409, "version_conflict")
                assert body["current_version"] > seen["version"]
                assert_is_draft(body["current"], body["current_version"])
                refused[0] += 1

    harness.parallel(lambda f: f(), [saver, publisher])
    assert published, "no publish was accepted"
    for v, config_seen, pub in published:
        assert pub["draft_version"] == v, (v, pub)
        assert pub["config"] == config_seen == saved[v], (v, pub)
        hist = ok(stack.get(VERSIONS + "/%d" % v, token=tok))
        assert hist["config"] == pub["config"], (v, hist, pub)
    final = ok(stack.get("/v1/storefront", token=tok))
    assert final["published"]["draft_version"] == published[-1][0]
    assert final["published"]["config"] == published[-1][2]["config"]
    assert final["draft"]["version"] == 31


def test_tenants_see_only_their_own_storefront(stack):
    tid_a, tok_a = seeded(stack, {"owner": "A"})
    tid_b, tok_b = stack.tenant()
    ok(stack.post("/v1/storefront/publish", {"version": 2}, token=tok_a), 2)
    sf_b = ok(stack.get("/v1/storefront", token=tok_b))
    assert sf_b["draft"]["version"] == 1 and sf_b["draft"]["config"] == {}
    assert sf_b["published"] is None
    assert [i["version"] for i in
            ok(stack.get(VERSIONS, token=tok_b))["items"]] == [1]
    error_of(stack.get(VERSIONS + "/2", token=tok_b), 404, "not_found")
    # B's writes move B's draft only, and B's conflicts show B's draft.
    body = error_of(put(stack, tok_b, 2, {"owner": "B"}), 409,
                    "version_conflict")
    assert body["current"]["config"] == {}
    ok(put(stack, tok_b, 1, {"owner": "B"}), 2)
    ok(stack.post("/v1/storefront/discard", {"version": 2}, token=tok_b), 3)
    assert db_draft(stack, tid_a) == (2, {"owner": "A"})
    assert db_draft(stack, tid_b) == (3, {})
    sf_a = ok(stack.get("/v1/storefront", token=tok_a))
    assert sf_a["draft"]["config"] == {"owner": "A"}
    assert sf_a["published"]["config"] == {"owner": "A"}


# ---- auth, routing, metrics --------------------------------------------------------------

ROUTES = [("GET", "/v1/storefront"), ("GET", DRAFT), ("PUT", DRAFT),
          ("PATCH", DRAFT), ("POST", "/v1/storefront/publish"),
          ("POST", "/v1/storefront/discard"), ("GET", VERSIONS),
          ("GET", VERSIONS + "/1")]


def test_every_route_needs_a_token(stack):
    for method, path in ROUTES:
        body = {"version": 1} if method != "GET" else None
        error_of(stack.http(method, path, body=body), 401, "unauthorized")
        error_of(stack.http(method, path, body=body, token="opt_nope"), 401,
                 "unauthorized")


def test_wrong_methods_are_405_with_allow(stack):
    _, tok = stack.tenant()
    cases = [("DELETE", DRAFT, {"GET", "PUT", "PATCH"}),
             ("POST", "/v1/storefront", {"GET"}),
             ("GET", "/v1/storefront/publish", {"POST"}),
             ("PUT", "/v1/storefront/discard", {"POST"}),
             ("DELETE", VERSIONS + "/1", {"GET"})]
    for method, path, allow in cases:
        r = stack.http(method, path, token=tok)
        error_of(r, 405, "method_not_allowed")
        assert {m.strip() for m in r.headers["Allow"].split(",")} == allow, r
    error_of(stack.get("/v1/storefront/nothing", token=tok), 404, "not_found")


def test_metrics_count_storefront_conflicts(stack):
    _, tok = stack.tenant()

    def conflicts():
        for line in stack.get("/metrics").text.splitlines():
            if line.startswith('optimist_conflicts_total{resource="storefront"}'):
                return int(line.split()[-1])
        return 0

    before = conflicts()
    error_of(put(stack, tok, 5, {}), 409, "version_conflict")
    error_of(stack.post("/v1/storefront/publish", token=tok,
                        headers={"If-Match": '"9"'}), 412,
             "precondition_failed")
    assert conflicts() >= before + 2
    text = stack.get("/metrics").text
    assert ('optimist_http_requests_total{route="PUT /v1/storefront/draft",'
            'status="409"}') in text
