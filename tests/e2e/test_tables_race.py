"""test_tables_race.py -- optimist clients and the example shop's own PHP
page (examples/shop: php-fpm, mysqli, `UPDATE products SET qty = qty + 1
WHERE id = ?`, no version in sight) increment the same row of a declared
table at the same time, through the same nginx.

The optimist clients read-modify-write: GET the row, PATCH qty + 1 with
the version read, and on 409 start again from the current row the answer
carries. The PHP page's UPDATE raises the version through the trigger of
`optimistctl table prepare`, so a client that read before it gets 409
instead of overwriting it. The final qty must equal every acknowledged
increment of both writers (200 answers), and the version must have grown
by exactly one per acknowledged write: nothing lost, nothing twice."""

import os
import threading

import harness

STACK_OPTIONS = {"workers": 4, "tables": True, "php": True}

SHOP = os.path.join(harness.REPO, "examples", "shop")
CLIENTS, PER_CLIENT = 6, 15          # optimist read-modify-write clients
PHP_CLIENTS, PER_PHP = 3, 30         # the PHP page's callers


def setup_module(stack):
    with open(os.path.join(SHOP, "schema.sql")) as f:
        stack.sql(f.read())
    with open(os.path.join(SHOP, "products.conf")) as f:
        stack.declare("products", f.read())
    stack.prepare_table("products")
    stack.reload_tables()


def optimist_client(stack, tok, path, n, out, errors):
    done = conflicts = 0
    r = stack.get(path, token=tok)
    if r.status != 200:
        errors.append("GET %d %s" % (r.status, r.body[:200]))
        return
    row = r.json()
    while done < n:
        p = stack.patch(path, {"version": row["version"],
                               "qty": row["qty"] + 1}, token=tok)
        if p.status == 200:
            new = p.json()
            if new["version"] != row["version"] + 1 or \
                    new["qty"] != row["qty"] + 1:
                errors.append("200 with %r after %r" % (new, row))
            done += 1
            row = new
        elif p.status == 409:
            conflicts += 1
            row = p.json()["current"]   # theirs: start again from it
        else:
            errors.append("PATCH %d %s" % (p.status, p.body[:200]))
            return
    out.append((done, conflicts))


def php_client(stack, path, n, out, errors):
    acked = 0
    for _ in range(n):
        r = stack.post(path)
        if r.status == 200:
            acked += 1
        else:
            errors.append("shop %d %s" % (r.status, r.body[:200]))
    out.append(acked)


def test_optimist_clients_and_the_php_page_lose_no_increment(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/tables/products", {"name": "race", "qty": 0,
                                           "price": "1.00"}, token=tok)
    assert r.status == 201, r
    pid = r.json()["id"]
    path = "/v1/tables/products/%d" % pid
    # The page works on its own first (and the trigger raises the version).
    r = stack.post("/shop/products/%d/increment" % pid)
    assert r.status == 200 and r.json()["qty"] == 1, r
    assert stack.get(path, token=tok).json()["version"] == 2
    base_qty, base_version = 1, 2

    opt, php, errors = [], [], []
    threads = [threading.Thread(target=optimist_client,
                                args=(stack, tok, path, PER_CLIENT, opt,
                                      errors)) for _ in range(CLIENTS)]
    threads += [threading.Thread(target=php_client,
                                 args=(stack, "/shop/products/%d/increment"
                                       % pid, PER_PHP, php, errors))
                for _ in range(PHP_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors[:10]
    opt_acked = sum(d for d, _ in opt)
    conflicts = sum(c for _, c in opt)
    php_acked = sum(php)
    assert opt_acked == CLIENTS * PER_CLIENT, opt
    row = stack.get(path, token=tok).json()
    want = base_qty + opt_acked + php_acked
    assert row["qty"] == want, (row, opt_acked, php_acked)
    assert row["version"] == base_version + opt_acked + php_acked, row
    assert stack.sql("SELECT qty, version FROM products WHERE id = %d"
                     % pid) == [[str(want), str(row["version"])]]
    # The PHP writes really raced optimist's: some client had to start
    # again from a row the page (or another client) had changed.
    assert conflicts > 0, opt
    print("      qty %d = 1 + %d optimist + %d PHP increments; %d conflicts "
          "answered and retried" % (row["qty"], opt_acked, php_acked,
                                    conflicts))
