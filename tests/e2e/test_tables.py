"""test_tables.py -- "Your own tables" of the contract, through nginx:
an application's tables, made with plain SQL, declared in the stack's
tables dir (OPTIMIST_TABLES_DIR) and served at /v1/tables/{name}.

Declaring (reload on SIGHUP, a bad reload keeps the old set and logs the
file and the reason, --check), rows and every type both ways and byte for
byte in the database, POST/GET/PATCH/DELETE/list with filters and paging,
the preconditions (428, 409, 412, If-Match * and weak tags), Idempotency-
Key, Prefer: return=minimal, HEAD, 304, tenant isolation, 404 for a name
not declared, 400 with "column", 409 constraint_violation with
"constraint", writers that bypass optimist (the triggers of `table
prepare`), both feeds (record and change, reset, resume) and tickets.

Its own stack: the tests rewrite the tables dir and send SIGHUP."""

import json
import os
import socket
import subprocess

import harness
import tables_schema as ts

STACK_OPTIONS = {"workers": 2, "tables": True,
                 "env": {"OPTIMIST_STREAM_POLL_MS": "100",
                         "OPTIMIST_SSE_PING_SECONDS": "1",
                         "OPTIMIST_IDEMPOTENCY_PURGE": "1"}}
SSE = {"Accept": "text/event-stream"}
CTX = {}


def setup_module(stack):
    CTX["a_id"], CTX["a"] = stack.tenant("tables-a")
    CTX["b_id"], CTX["b"] = stack.tenant("tables-b")
    ts.create_all(stack)
    ts.declare_all(stack, CTX["a_id"])
    ts.prepare_all(stack, ("items", "parents", "children"))
    stack.reload_tables()
    for name in ("items", "parents", "children", "notes"):
        ts.wait_served(stack, name, CTX["a"])


def new_item(stack, tok=None, status=201, **cols):
    tok = tok or CTX["a"]
    body = {"name": "n%d" % next_n()}
    body.update(cols)
    r = stack.post("/v1/tables/items", body, token=tok)
    assert r.status == status, r
    return r.json()


_n = [0]


def next_n():
    _n[0] += 1
    return _n[0]


def db_row(stack, table, key, cols, keycol="id"):
    rows = stack.sql("SELECT %s FROM %s WHERE %s = %d"
                     % (", ".join(cols), table, keycol, key))
    return rows[0] if rows else None


def checksum(stack):
    rows = stack.sql("CHECKSUM TABLE items, parents, children, notes, "
                     "optimist_changes EXTENDED")
    return tuple((r[0], r[1]) for r in rows)


# ---- rows and types ---------------------------------------------------------

def test_post_creates_version_1_with_etag_and_location(stack):
    r = stack.post("/v1/tables/items", {"name": "first", "qty": 3},
                   token=CTX["a"])
    assert r.status == 201, r
    row = r.json()
    assert row["version"] == 1 and isinstance(row["id"], int), row
    assert r.header("ETag") == '"1"', r.headers
    assert r.header("Location", "").endswith("/v1/tables/items/%d"
                                             % row["id"]), r.headers
    # Exactly the served columns, the key as "id", the version as "version".
    assert set(row) == {"id", "version"} | set(ts.ITEM_COLUMNS), row
    assert row["qty"] == 3 and row["flag"] is False and row["price"] is None
    # The tenant column is set from the token.
    assert db_row(stack, "items", row["id"], ["tenant_id"]) == [
        str(CTX["a_id"])]
    assert stack.get("/v1/tables/items/%d" % row["id"],
                     token=CTX["a"]).json() == row


def test_every_type_round_trips_through_post_patch_get_and_the_database(stack):
    values = {
        "name": "every-\u00e9\u4e2d\U0001F600", "qty": -0 + 2147483647,
        "small": 255, "big": -9223372036854775808, "flag": True,
        "price": "12345678.90", "ratio": 0.1, "code": "abc",
        "note": "line\nquote\" back\\slash", "kind": "b", "tags": "x,z",
        "day": "2026-02-28", "at": "2026-11-23T10:00:00.123Z",
        "doc": {"a": [1, 2.5, None, True, "s"], "b": {"c": "d"}},
    }
    r = stack.post("/v1/tables/items", values, token=CTX["a"])
    assert r.status == 201, r
    row = r.json()
    for k, v in values.items():
        assert row[k] == v, (k, row[k], v)
    assert row["created"].endswith("Z") and len(row["created"]) == 24, row
    got = stack.get("/v1/tables/items/%d" % row["id"], token=CTX["a"]).json()
    assert got == row
    # The database holds exactly those values (UTC, DECIMAL's digits, the
    # JSON as text), byte for byte.
    # (Text as HEX: the bytes, whatever the client's character set.)
    db = db_row(stack, "items", row["id"], [
        "HEX(name)", "qty", "small", "big", "flag", "price", "code",
        "HEX(note)", "kind", "tags", "day", "at", "version"])
    hx = lambda t: t.encode("utf-8").hex().upper()  # noqa: E731
    assert db == [hx(values["name"]), "2147483647", "255",
                  "-9223372036854775808", "1", "12345678.90", "abc",
                  hx(values["note"]), "b", "x,z", "2026-02-28",
                  "2026-11-23 10:00:00.123", "1"], db
    doc = stack.sql("SELECT HEX(doc) FROM items WHERE id = %d"
                    % row["id"])[0][0]
    assert json.loads(bytes.fromhex(doc).decode()) == values["doc"]
    # PATCH every type to other values; the number form of a DECIMAL.
    changes = {"qty": 0, "small": 0, "big": 9223372036854775807,
               "flag": False, "price": 19.9, "ratio": -1.5e300,
               "code": "", "note": "", "kind": None, "tags": "",
               "day": "2000-01-01", "at": "1999-12-31T23:59:59.999Z",
               "doc": [1, "two"]}
    r = stack.patch("/v1/tables/items/%d" % row["id"],
                    dict(changes, version=1), token=CTX["a"])
    assert r.status == 200, r
    new = r.json()
    assert new["version"] == 2 and r.header("ETag") == '"2"'
    assert new["price"] == "19.90", new
    for k, v in changes.items():
        if k != "price":
            assert new[k] == v, (k, new[k], v)
    assert new["name"] == values["name"]   # not given: unchanged
    assert stack.get("/v1/tables/items/%d" % row["id"],
                     token=CTX["a"]).json() == new
    db = db_row(stack, "items", row["id"], ["price", "at", "kind", "version",
                                            "big"])
    assert db == ["19.90", "1999-12-31 23:59:59.999", None, "2",
                  "9223372036854775807"], db


def test_decimal_keeps_its_digits_never_through_a_double(stack):
    for text in ("99999999.99", "0.01", "-0.10", "12345678.91"):
        row = new_item(stack, price=text)
        assert row["price"] == text.replace("-0.10", "-0.10"), row
        assert db_row(stack, "items", row["id"], ["price"]) == [text]


# ---- GET, HEAD, 304, list --------------------------------------------------

def test_get_head_and_304(stack):
    row = new_item(stack)
    path = "/v1/tables/items/%d" % row["id"]
    r = stack.get(path, token=CTX["a"])
    assert r.status == 200 and r.header("ETag") == '"1"'
    assert int(r.header("Content-Length")) == len(r.body)
    h = stack.http("HEAD", path, token=CTX["a"])
    assert h.status == 200 and h.body == b"" and h.header("ETag") == '"1"'
    n = stack.get(path, token=CTX["a"], headers={"If-None-Match": '"1"'})
    assert n.status == 304 and n.body == b"" and n.header("ETag") == '"1"'
    o = stack.get(path, token=CTX["a"], headers={"If-None-Match": '"7"'})
    assert o.status == 200 and o.json() == row


def test_missing_rows_ids_and_names_answer_404(stack):
    tok = CTX["a"]
    for path in ("/v1/tables/items/999999", "/v1/tables/items/abc",
                 "/v1/tables/items/-1", "/v1/tables/nosuch",
                 "/v1/tables/nosuch/1", "/v1/tables/Items",
                 "/v1/tables/9items", "/v1/tables/secret_table",
                 "/v1/tables/nosuch/events"):
        r = stack.get(path, token=tok)
        assert r.status == 404 and r.json()["error"] == "not_found", (path, r)
    for method, body in (("POST", {"x": 1}), ("PATCH", {"version": 1}),
                         ("DELETE", {"version": 1})):
        path = "/v1/tables/nosuch" + ("" if method == "POST" else "/1")
        r = stack.http(method, path, body, token=tok)
        assert r.status == 404, (method, r)
    # Without a token: 401 on a declared table, as any route.
    assert stack.get("/v1/tables/items").status == 401


def test_list_pages_in_key_order_with_filters(stack):
    _, tok = stack.tenant()
    made = [stack.post("/v1/tables/items", {"name": "l%d" % i, "qty": i % 3,
                                            "kind": "abc"[i % 3]},
                       token=tok).json() for i in range(7)]
    ids = [m["id"] for m in made]
    r = stack.get("/v1/tables/items", token=tok)
    assert r.status == 200, r
    page = r.json()
    assert [it["id"] for it in page["items"]] == ids
    assert page["next_after"] is None
    assert page["items"][0] == made[0]
    r = stack.get("/v1/tables/items?limit=3", token=tok).json()
    assert [it["id"] for it in r["items"]] == ids[:3]
    assert r["next_after"] == ids[2]
    r = stack.get("/v1/tables/items?limit=3&after=%d" % ids[2],
                  token=tok).json()
    assert [it["id"] for it in r["items"]] == ids[3:6]
    r = stack.get("/v1/tables/items?limit=3&after=%d" % ids[5],
                  token=tok).json()
    assert [it["id"] for it in r["items"]] == ids[6:]
    assert r["next_after"] is None
    # Equality filters, read as the column's type; several must all hold.
    r = stack.get("/v1/tables/items?qty=1", token=tok).json()
    assert [it["id"] for it in r["items"]] == [ids[1], ids[4]]
    r = stack.get("/v1/tables/items?qty=1&kind=b", token=tok).json()
    assert [it["id"] for it in r["items"]] == [ids[1], ids[4]]
    r = stack.get("/v1/tables/items?qty=1&kind=a", token=tok).json()
    assert r["items"] == []
    r = stack.get("/v1/tables/items?name=l5", token=tok).json()
    assert [it["id"] for it in r["items"]] == [ids[5]]
    r = stack.get("/v1/tables/items?name=l5'%20OR%20'1'='1", token=tok)
    assert r.status == 200 and r.json()["items"] == [], r
    # Bad filters and pages: 400, the column named.
    for q, col in (("nosuch=1", "nosuch"), ("secret=x", "secret"),
                   ("qty=abc", "qty"), ("qty=1.5", "qty"),
                   ("kind=d", "kind"), ("day=2026-13-01", "day"),
                   ("small=256", "small")):
        r = stack.get("/v1/tables/items?" + q, token=tok)
        assert r.status == 400 and r.json()["error"] == "bad_request", (q, r)
        assert r.json().get("column") == col, (q, r.json())
    for q in ("limit=0", "limit=501", "after=x", "limit=1.5"):
        r = stack.get("/v1/tables/items?" + q, token=tok)
        assert r.status == 400, (q, r)


# ---- preconditions ------------------------------------------------------------

def test_patch_preconditions_as_every_versioned_write(stack):
    row = new_item(stack, qty=1)
    path = "/v1/tables/items/%d" % row["id"]
    tok = CTX["a"]
    # Neither version: 428 with the current version, nothing written.
    r = stack.patch(path, {"qty": 2}, token=tok)
    assert r.status == 428, r
    assert r.json()["error"] == "precondition_required"
    assert r.json()["current_version"] == 1
    # Good body version: 200, version 2.
    r = stack.patch(path, {"version": 1, "qty": 2}, token=tok)
    assert r.status == 200 and r.json()["version"] == 2, r
    # Stale body version: 409 with the current row.
    r = stack.patch(path, {"version": 1, "qty": 3}, token=tok)
    assert r.status == 409, r
    e = r.json()
    assert e["error"] == "version_conflict" and e["current_version"] == 2
    assert e["current"]["qty"] == 2 and e["current"]["id"] == row["id"]
    # A version from the future: a conflict too.
    r = stack.patch(path, {"version": 9, "qty": 3}, token=tok)
    assert r.status == 409, r
    # Stale If-Match: 412 with the current row; a weak tag never matches.
    r = stack.patch(path, {"qty": 3}, token=tok, headers={"If-Match": '"1"'})
    assert r.status == 412 and r.json()["error"] == "precondition_failed", r
    assert r.json()["current"]["version"] == 2
    r = stack.patch(path, {"qty": 3}, token=tok, headers={"If-Match": 'W/"2"'})
    assert r.status == 412, r
    # Both given and different: 400.
    r = stack.patch(path, {"version": 2, "qty": 3}, token=tok,
                    headers={"If-Match": '"1"'})
    assert r.status == 400, r
    # If-Match: * overwrites whatever the version; with a body version the
    # body decides.
    r = stack.patch(path, {"version": 1, "qty": 3}, token=tok,
                    headers={"If-Match": "*"})
    assert r.status == 409, r
    r = stack.patch(path, {"qty": 4}, token=tok, headers={"If-Match": "*"})
    assert r.status == 200 and r.json()["version"] == 3, r
    r = stack.patch(path, {"qty": 5}, token=tok, headers={"If-Match": '"3"'})
    assert r.status == 200 and r.json()["version"] == 4, r
    # An empty PATCH with a good version: version + 1, nothing else.
    r = stack.patch(path, {"version": 4}, token=tok)
    assert r.status == 200 and r.json()["version"] == 5, r
    assert r.json()["qty"] == 5
    assert db_row(stack, "items", row["id"], ["qty", "version"]) == ["5", "5"]


def test_delete_is_versioned_then_404(stack):
    row = new_item(stack)
    path = "/v1/tables/items/%d" % row["id"]
    tok = CTX["a"]
    assert stack.delete(path, token=tok).status == 428
    r = stack.delete(path, {"version": 2}, token=tok)
    assert r.status == 409 and r.json()["current_version"] == 1, r
    r = stack.delete(path, token=tok, headers={"If-Match": '"2"'})
    assert r.status == 412, r
    r = stack.delete(path, token=tok, headers={"If-Match": '"1"'})
    assert r.status == 204 and r.body == b"", r
    assert stack.get(path, token=tok).status == 404
    assert stack.delete(path, {"version": 1}, token=tok).status == 404
    assert db_row(stack, "items", row["id"], ["id"]) is None


def test_tenant_isolation(stack):
    row = new_item(stack, qty=7)
    path = "/v1/tables/items/%d" % row["id"]
    b = CTX["b"]
    for r in (stack.get(path, token=b),
              stack.patch(path, {"version": 1, "qty": 0}, token=b),
              stack.patch(path, {"qty": 0}, token=b,
                          headers={"If-Match": "*"}),
              stack.delete(path, {"version": 1}, token=b),
              stack.patch(path, {"qty": 0}, token=b)):
        assert r.status == 404 and r.json()["error"] == "not_found", r
    ids = [it["id"] for it in stack.get("/v1/tables/items?limit=500",
                                        token=b).json()["items"]]
    assert row["id"] not in ids
    assert db_row(stack, "items", row["id"], ["qty", "version"]) == ["7", "1"]
    # The same name in two tenants: the unique key is (tenant_id, name).
    r = stack.post("/v1/tables/items", {"name": row["name"]}, token=b)
    assert r.status == 201, r
    # A table owned by one tenant: the other sees none of it.
    n = stack.post("/v1/tables/notes", {"body": "mine"}, token=CTX["a"])
    assert n.status == 201, n
    nid = n.json()["id"]
    assert set(n.json()) == {"id", "version", "body"}, n.json()
    assert stack.get("/v1/tables/notes/%d" % nid, token=b).status == 404
    assert stack.post("/v1/tables/notes", {"body": "x"},
                      token=b).status == 404
    assert stack.get("/v1/tables/notes", token=b).status in (200, 404)
    if stack.get("/v1/tables/notes", token=b).status == 200:
        assert stack.get("/v1/tables/notes", token=b).json()["items"] == []


def test_idempotency_key_and_return_minimal(stack):
    tok = CTX["a"]
    hdr = {"Idempotency-Key": "tables-create-1"}
    body = {"name": "idem-%d" % next_n(), "qty": 1}
    first = stack.post("/v1/tables/items", body, token=tok, headers=hdr)
    assert first.status == 201, first
    again = stack.post("/v1/tables/items", body, token=tok, headers=hdr)
    assert again.status == 201 and again.body == first.body, again
    assert again.header("Idempotent-Replayed") == "true"
    assert again.header("ETag") == first.header("ETag")
    n = stack.sql("SELECT COUNT(*) FROM items WHERE name = '%s'"
                  % body["name"])[0][0]
    assert n == "1", n
    other = stack.post("/v1/tables/items", dict(body, qty=2), token=tok,
                       headers=hdr)
    assert other.status == 422, other
    assert other.json()["error"] == "idempotency_key_reused"
    # A PATCH replayed has no second effect.
    path = "/v1/tables/items/%d" % first.json()["id"]
    ph = {"Idempotency-Key": "tables-patch-1"}
    p1 = stack.patch(path, {"version": 1, "qty": 9}, token=tok, headers=ph)
    p2 = stack.patch(path, {"version": 1, "qty": 9}, token=tok, headers=ph)
    assert p1.status == 200 and p2.status == 200 and p2.body == p1.body
    assert p2.header("Idempotent-Replayed") == "true"
    assert db_row(stack, "items", first.json()["id"], ["version"]) == ["2"]
    # Prefer: return=minimal: the version (and the id of a create) only.
    m = {"Prefer": "return=minimal"}
    r = stack.post("/v1/tables/items", {"name": "min-%d" % next_n()},
                   token=tok, headers=m)
    assert r.status == 201 and set(r.json()) == {"id", "version"}, r
    assert r.header("Preference-Applied") == "return=minimal"
    r = stack.patch("/v1/tables/items/%d" % r.json()["id"],
                    {"version": 1, "qty": 4}, token=tok, headers=m)
    assert r.status == 200 and r.json() == {"version": 2}, r
    assert r.header("ETag") == '"2"'


# ---- bad input and constraints ----------------------------------------------

def test_bad_input_names_the_column_and_writes_nothing(stack):
    row = new_item(stack)
    path = "/v1/tables/items/%d" % row["id"]
    tok = CTX["a"]
    before = checksum(stack)
    cases = [
        ("POST", "/v1/tables/items", {"name": "x", "nosuch": 1}, "nosuch"),
        ("POST", "/v1/tables/items", {"name": "x", "secret": "s"}, "secret"),
        ("POST", "/v1/tables/items", {"name": "x", "created": None},
         "created"),
        ("POST", "/v1/tables/items", {"name": "x", "id": 5}, "id"),
        ("POST", "/v1/tables/items", {"name": "x", "version": 1}, "version"),
        ("POST", "/v1/tables/items", {"name": "x", "tenant_id": 1},
         "tenant_id"),
        ("POST", "/v1/tables/items", {"qty": 1}, "name"),
        ("POST", "/v1/tables/items", {"name": None}, "name"),
        ("POST", "/v1/tables/items", {"name": "x" * 21}, "name"),
        ("POST", "/v1/tables/items", {"name": "x", "qty": "1"}, "qty"),
        ("POST", "/v1/tables/items", {"name": "x", "qty": 2 ** 31}, "qty"),
        ("POST", "/v1/tables/items", {"name": "x", "small": -1}, "small"),
        ("POST", "/v1/tables/items", {"name": "x", "flag": 1}, "flag"),
        ("POST", "/v1/tables/items", {"name": "x", "price": "1.234"},
         "price"),
        ("POST", "/v1/tables/items", {"name": "x", "price": "123456789"},
         "price"),
        ("POST", "/v1/tables/items", {"name": "x", "kind": "d"}, "kind"),
        ("POST", "/v1/tables/items", {"name": "x", "tags": "x,w"}, "tags"),
        ("POST", "/v1/tables/items", {"name": "x", "day": "2026-02-30"},
         "day"),
        ("POST", "/v1/tables/items", {"name": "x", "at": "yesterday"}, "at"),
        ("POST", "/v1/tables/items", {"name": "x", "code": "abcd"}, "code"),
        ("PATCH", path, {"version": 1, "qty": None}, "qty"),
        ("PATCH", path, {"version": 1, "id": 9}, "id"),
        ("PATCH", path, {"version": 1, "tenant_id": 9}, "tenant_id"),
        ("PATCH", path, {"version": 1, "created": "2026-01-01T00:00:00.000Z"},
         "created"),
        ("PATCH", path, {"version": 1, "ratio": "NaN"}, "ratio"),
    ]
    problems = []
    for method, p, body, col in cases:
        r = stack.http(method, p, body, token=tok)
        if r.status != 400:
            problems.append("%s %s: %d %s" % (method, body, r.status, r.body))
            continue
        e = r.json()
        if e.get("error") != "bad_request" or e.get("column") != col:
            problems.append("%s %s: %s" % (method, body, e))
    assert not problems, "\n".join(problems)
    assert checksum(stack) == before


def test_constraint_refusals_answer_409_naming_the_constraint(stack):
    tok = CTX["a"]
    row = new_item(stack, qty=1)
    before = checksum(stack)
    # A duplicate unique key.
    r = stack.post("/v1/tables/items", {"name": row["name"]}, token=tok)
    assert r.status == 409, r
    assert r.json()["error"] == "constraint_violation"
    assert r.json()["constraint"] == "items_name", r.json()
    # A CHECK, on POST and on PATCH.
    r = stack.post("/v1/tables/items", {"name": "neg-%d" % next_n(),
                                        "qty": -1}, token=tok)
    assert r.status == 409 and r.json()["constraint"] == "items_qty_nonneg", r
    r = stack.patch("/v1/tables/items/%d" % row["id"],
                    {"version": 1, "qty": -5}, token=tok)
    assert r.status == 409 and r.json()["constraint"] == "items_qty_nonneg", r
    # A foreign key: a child of no parent; a parent that has children.
    r = stack.post("/v1/tables/children", {"parent_id": 999999}, token=tok)
    assert r.status == 409 and \
        r.json()["constraint"] == "children_parent_fk", r
    assert checksum(stack) == before
    p = stack.post("/v1/tables/parents", {"label": "p"}, token=tok).json()
    c = stack.post("/v1/tables/children", {"parent_id": p["id"]}, token=tok)
    assert c.status == 201, c
    r = stack.delete("/v1/tables/parents/%d" % p["id"], {"version": 1},
                     token=tok)
    assert r.status == 409 and \
        r.json()["constraint"] == "children_parent_fk", r
    assert stack.get("/v1/tables/parents/%d" % p["id"],
                     token=tok).json()["version"] == 1
    # Nothing was written: the row is as it was.
    assert db_row(stack, "items", row["id"], ["qty", "version"]) == ["1", "1"]


# ---- writers that bypass optimist ----------------------------------------

def test_plain_sql_writes_raise_the_version_and_are_never_overwritten(stack):
    row = new_item(stack, qty=10)
    path = "/v1/tables/items/%d" % row["id"]
    # The application's own UPDATE, without touching the version.
    stack.sql("UPDATE items SET qty = qty + 1 WHERE id = %d" % row["id"])
    assert db_row(stack, "items", row["id"], ["version"]) == ["2"]
    # A client that still holds version 1 cannot overwrite it.
    r = stack.patch(path, {"version": 1, "qty": 0}, token=CTX["a"])
    assert r.status == 409 and r.json()["current"]["qty"] == 11, r
    assert r.json()["current_version"] == 2
    # An UPDATE that sets the version itself keeps its own value.
    stack.sql("UPDATE items SET qty = 20, version = version + 1 WHERE id = %d"
              % row["id"])
    assert db_row(stack, "items", row["id"], ["version"]) == ["3"]
    # Its INSERT starts at the column's default, 1.
    stack.sql("INSERT INTO items (tenant_id, name) VALUES (%d, 'sql-%d')"
              % (CTX["a_id"], next_n()))
    key = int(stack.sql("SELECT MAX(id) FROM items")[0][0])
    got = stack.get("/v1/tables/items/%d" % key, token=CTX["a"])
    assert got.status == 200 and got.json()["version"] == 1, got
    # Its DELETE: gone for optimist too.
    stack.sql("DELETE FROM items WHERE id = %d" % key)
    assert stack.get("/v1/tables/items/%d" % key,
                     token=CTX["a"]).status == 404


def test_prepare_is_idempotent_and_dry_run_changes_nothing(stack):
    r = stack.prepare_table("items")
    trig = stack.sql("SELECT trigger_name FROM information_schema.triggers "
                     "WHERE event_object_table = 'items' ORDER BY 1")
    assert len(trig) == 4, trig
    stack.sql("CREATE TABLE IF NOT EXISTS fresh (id INT UNSIGNED NOT NULL "
              "AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT NOT NULL, "
              "v INT NOT NULL DEFAULT 0)")
    stack.declare("fresh", {"table": "fresh", "tenant_column": "tenant_id"})
    cols = stack.sql("SHOW COLUMNS FROM fresh")
    r = stack.prepare_table("fresh", "--dry-run")
    assert "ALTER TABLE" in r.stdout and "TRIGGER" in r.stdout, r.stdout
    assert stack.sql("SHOW COLUMNS FROM fresh") == cols
    r = stack.prepare_table("fresh")
    assert "ALTER TABLE" in r.stdout, r.stdout
    assert any(c[0] == "version" for c in stack.sql("SHOW COLUMNS FROM fresh"))
    r2 = stack.prepare_table("fresh")
    assert "ALTER" not in r2.stdout and "CREATE TRIGGER" not in r2.stdout, \
        r2.stdout
    stack.undeclare("fresh")


# ---- declarations: reload, refusals, --check --------------------------------

def check(stack):
    env = stack.main.pool_env()
    return subprocess.run([os.path.join(harness.BIN, "optimist-fcgi"),
                           "--check"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_reload_serves_a_new_declaration_and_keeps_the_old_set_on_a_bad_one(
        stack):
    tok = CTX["a"]
    stack.sql("CREATE TABLE IF NOT EXISTS later (id INT UNSIGNED NOT NULL "
              "AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT UNSIGNED NOT "
              "NULL, version INT UNSIGNED NOT NULL DEFAULT 1, v INT NULL)")
    assert stack.get("/v1/tables/later", token=tok).status == 404
    assert check(stack).returncode == 0, check(stack)
    stack.declare("later", {"table": "later", "tenant_column": "tenant_id"})
    lines = stack.reload_tables()
    assert stack.post("/v1/tables/later", {"v": 1}, token=tok).status == 201
    assert any("later" in ln for ln in lines) or lines, lines
    # A bad declaration: --check fails naming the file and the reason; a
    # reload keeps every table served before (later included) and logs
    # one line naming the file.
    bads = {
        "bad_table": ({"table": "no_such_table", "tenant": "1"},
                      "no_such_table"),
        "bad_column": ({"table": "later", "tenant_column": "tenant_id",
                        "columns": "v, nope"}, "nope"),
        "bad_tenant": ({"table": "later"}, "tenant"),
        "bad_blob": ({"table": "items", "tenant_column": "tenant_id",
                      "columns": "name, blobby"}, "blobby"),
        "bad_key": ({"table": "items", "key": "name",
                     "tenant_column": "tenant_id"}, "name"),
    }
    for name, (conf, word) in bads.items():
        path = stack.declare(name, conf)
        r = check(stack)
        out = r.stdout + r.stderr
        assert r.returncode != 0, (name, out)
        assert name + ".conf" in out and word in out, (name, out)
        mark = stack.log_mark()
        stack.signal_pool(__import__("signal").SIGHUP)
        log = stack.wait_log(name + ".conf", since=mark, timeout=20)
        line = [ln for ln in log.splitlines() if name + ".conf" in ln]
        assert line and word in line[0], (name, line)
        for served in ("items", "later", "notes"):
            assert stack.get("/v1/tables/" + served,
                             token=tok).status == 200, (name, served)
        assert stack.get("/v1/tables/" + name, token=tok).status == 404
        os.unlink(path)
    # Reading a declaration never alters anything: no trigger on `later`.
    assert stack.sql("SELECT COUNT(*) FROM information_schema.triggers "
                     "WHERE event_object_table = 'later'") == [["0"]]
    # Removed from the folder: no longer served after a reload.
    stack.undeclare("later")
    stack.reload_tables()
    harness.wait_until(
        lambda: stack.get("/v1/tables/later", token=tok).status == 404, 20,
        "later to be gone")
    assert check(stack).returncode == 0, check(stack)


# ---- feeds ------------------------------------------------------------------

class Feed:
    def __init__(self, stack, path, token=None, last=None, query=""):
        headers = dict(SSE)
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        self.s = stack.stream("GET", path + query, headers=headers,
                              token=token, timeout=15)
        self.status = self.s.status
        self.it = self.s.events() if self.status == 200 else None

    def next(self):
        try:
            return next(self.it)
        except StopIteration:
            return None

    def silent(self, seconds=0.6):
        self.s.conn.sock.settimeout(seconds)
        try:
            ev = self.next()
            raise AssertionError("expected nothing, got %r" % (ev,))
        except (socket.timeout, TimeoutError):
            pass

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_record_feed_follows_optimist_and_plain_sql_writes_then_deleted(stack):
    tok = CTX["a"]
    row = new_item(stack, qty=1)
    path = "/v1/tables/items/%d" % row["id"]
    with Feed(stack, path + "/events", tok) as f:
        assert f.status == 200
        assert f.s.headers["Content-Type"].startswith("text/event-stream")
        ev = f.next()
        assert ev["event"] == "version" and ev["id"] == "1", ev
        assert ev["data"] == row
        r = stack.patch(path, {"version": 1, "qty": 2}, token=tok)
        ev = f.next()
        assert ev["id"] == "2" and ev["data"] == r.json(), ev
        # The application's own write reaches the feed too.
        stack.sql("UPDATE items SET qty = 40 WHERE id = %d" % row["id"])
        ev = f.next()
        assert ev["id"] == "3" and ev["data"]["qty"] == 40, ev
        r = stack.delete(path, {"version": 3}, token=tok)
        assert r.status == 204
        ev = f.next()
        assert ev["event"] == "deleted", ev
        assert f.next() is None   # the stream ends
    # Another tenant: 404; a version above the current: 400.
    row = new_item(stack)
    p = "/v1/tables/items/%d/events" % row["id"]
    with Feed(stack, p, CTX["b"]) as f:
        assert f.status == 404
    with Feed(stack, p, tok, last=5) as f:
        assert f.status == 400
    with Feed(stack, p, tok, last=1) as f:
        assert f.status == 200
        f.silent()


def test_change_feed_in_commit_order_resumes_and_resets(stack):
    _, tok = stack.tenant()
    _, other = stack.tenant()
    path = "/v1/tables/items/events"
    with Feed(stack, path, tok) as f:
        assert f.status == 200
        # From now: the first event is the change made after it opened.
        a = stack.post("/v1/tables/items", {"name": "c1"}, token=tok).json()
        stack.post("/v1/tables/items", {"name": "c1"}, token=other)
        ev = f.next()
        assert ev["event"] == "change", ev
        assert ev["data"] == {"id": a["id"], "version": 1, "row": a}, ev
        seq1 = int(ev["id"])
        stack.sql("UPDATE items SET qty = 3 WHERE id = %d" % a["id"])
        ev = f.next()
        assert int(ev["id"]) > seq1 and ev["data"]["version"] == 2, ev
        assert ev["data"]["row"]["qty"] == 3
        seq2 = int(ev["id"])
        r = stack.delete("/v1/tables/items/%d" % a["id"], {"version": 2},
                         token=tok)
        assert r.status == 204
        ev = f.next()
        assert ev["data"] == {"id": a["id"], "version": 3, "row": None}, ev
        seq3 = int(ev["id"])
    # Resume: what followed seq1, in order, then live.
    with Feed(stack, path, tok, last=seq1) as f:
        evs = [f.next(), f.next()]
        assert [int(e["id"]) for e in evs] == [seq2, seq3], evs
        assert [e["data"]["version"] for e in evs] == [2, 3]
        f.silent(0.3)
    with Feed(stack, path, None, query="?last_event_id=%d&x=1" % seq3) as f:
        assert f.status == 401
    # Older than what the log keeps (the janitor purged it): reset, then
    # from now.
    b = stack.post("/v1/tables/items", {"name": "c2"}, token=tok).json()
    stack.sql("DELETE FROM optimist_changes WHERE seq <= %d" % seq3)
    with Feed(stack, path, tok, last=seq1) as f:
        ev = f.next()
        assert ev["event"] == "reset" and ev["data"] == {}, ev
        stack.patch("/v1/tables/items/%d" % b["id"], {"version": 1,
                                                       "qty": 1}, token=tok)
        ev = f.next()
        assert ev["event"] == "change" and ev["data"]["id"] == b["id"], ev


def test_unprepared_table_feeds_optimist_writes(stack):
    tok = CTX["a"]
    with Feed(stack, "/v1/tables/notes/events", tok) as f:
        assert f.status == 200
        n = stack.post("/v1/tables/notes", {"body": "hello"}, token=tok)
        assert n.status == 201, n
        ev = f.next()
        assert ev["event"] == "change" and ev["data"]["id"] == n.json()["id"]
        assert ev["data"]["row"] == n.json()


def test_tickets_open_both_feeds_and_nothing_else(stack):
    tok = CTX["a"]
    row = new_item(stack)
    rec = "/v1/tables/items/%d/events" % row["id"]
    chg = "/v1/tables/items/events"
    tickets = {}
    for p in (rec, chg):
        r = stack.post("/v1/stream-tickets", {"path": p}, token=tok)
        assert r.status == 201, r
        tickets[p] = r.json()["ticket"]
    with Feed(stack, rec, None, query="?ticket=" + tickets[rec]) as f:
        assert f.status == 200 and f.next()["event"] == "version"
    with Feed(stack, chg, None, query="?ticket=" + tickets[chg]) as f:
        assert f.status == 200
    # Crossed: the record ticket does not open the change feed, nor another
    # table's, nor a read or a write.
    with Feed(stack, chg, None, query="?ticket=" + tickets[rec]) as f:
        assert f.status == 401
    with Feed(stack, "/v1/tables/notes/events", None,
              query="?ticket=" + tickets[chg]) as f:
        assert f.status == 401
    assert stack.get("/v1/tables/items/%d?ticket=%s"
                     % (row["id"], tickets[rec])).status == 401
    assert stack.patch("/v1/tables/items/%d?ticket=%s"
                       % (row["id"], tickets[rec]),
                       {"version": 1, "qty": 1}).status == 401
    # A path the tenant cannot see: 404 from the ticket route itself.
    for p in ("/v1/tables/nosuch/events", "/v1/tables/nosuch/1/events",
              "/v1/tables/items/999999/events"):
        r = stack.post("/v1/stream-tickets", {"path": p}, token=tok)
        assert r.status == 404, (p, r)
    r = stack.post("/v1/stream-tickets", {"path": rec}, token=CTX["b"])
    assert r.status == 404, r


def test_the_janitor_purges_changes_older_than_a_day(stack):
    stack.sql("INSERT INTO optimist_changes (table_name, row_key, tenant_id, "
              "version, deleted, committed_at) VALUES "
              "('items', 1, 1, 1, 0, UTC_TIMESTAMP(3) - INTERVAL 25 HOUR), "
              "('items', 1, 1, 2, 0, UTC_TIMESTAMP(3) - INTERVAL 23 HOUR)")
    old = "committed_at < UTC_TIMESTAMP(3) - INTERVAL 24 HOUR"
    harness.wait_until(
        lambda: stack.sql("SELECT COUNT(*) FROM optimist_changes WHERE "
                          + old) == [["0"]], 20,
        "the janitor to purge the change log")
    # What is younger than a day is kept.
    assert stack.sql("SELECT COUNT(*) FROM optimist_changes WHERE "
                     "committed_at < UTC_TIMESTAMP(3) - INTERVAL 22 HOUR") \
        == [["1"]]


def test_a_pool_started_before_its_database_serves_the_tables_once_it_is_up(
        stack):
    """Last: it restarts the module's pool and database."""
    tok = CTX["a"]
    stack.stop_pool()
    stack.db_stop()
    mark = stack.log_mark()
    stack.start_pool()
    stack.wait_log("tables: cannot read", since=mark, timeout=30)
    stack.db_start()
    harness.wait_until(
        lambda: stack.get("/v1/tables/items", token=tok).status == 200, 60,
        "the tables to be served once the database is up")
    assert stack.get("/v1/tables/notes", token=tok).status == 200
