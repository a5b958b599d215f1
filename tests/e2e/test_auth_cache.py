"""test_auth_cache.py -- the workers' token cache (fcgi/http/auth.c): a token
verified once is not looked up again for AUTH_CACHE_TTL_MS (2 s), and the
price is bounded: a revoked token stops working within that time in every
worker. Unknown tokens are never cached, so a new token works at once."""

import time

import harness

TTL = 2.0   # AUTH_CACHE_TTL_MS


def status_of(stack, token):
    """GET of a session that does not exist: 404 once authenticated, 401
    when the token is refused."""
    return stack.get("/v1/sessions/999999999", token=token).status


def test_a_new_token_works_at_once_and_an_unknown_one_never(stack):
    _, tok = stack.tenant()
    # Made a moment ago, never seen by any worker: answered from the
    # database on the first request.
    assert status_of(stack, tok) == 404
    # One character off: a different hash, never a cache hit.
    other = tok[:-1] + ("A" if tok[-1] != "A" else "B")
    for _ in range(6):
        assert status_of(stack, other) == 401
    assert status_of(stack, tok) == 404


def test_a_revoked_token_stops_working_within_the_ttl(stack):
    tid, tok = stack.tenant()
    # Warm every worker's cache with the token.
    for _ in range(20):
        assert status_of(stack, tok) == 404
    stack.sql("UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(3) "
              "WHERE tenant_id = %d" % tid)
    revoked = time.monotonic()
    # Within the TTL (and some slack for a loaded machine) every worker
    # refuses it, and goes on refusing it.
    harness.wait_until(lambda: all(status_of(stack, tok) == 401
                                   for _ in range(10)),
                       TTL + 3, "the revoked token to be refused")
    assert time.monotonic() - revoked < TTL + 3
    time.sleep(TTL + 0.2)
    for _ in range(10):
        assert status_of(stack, tok) == 401


def test_two_tenants_never_share_a_cache_entry(stack):
    _, tok_a = stack.tenant()
    _, tok_b = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "a"}, token=tok_a)
    assert r.status == 201, r
    sid = r.json()["id"]
    for _ in range(10):
        assert stack.get("/v1/sessions/%d" % sid, token=tok_a).status == 200
        assert stack.get("/v1/sessions/%d" % sid, token=tok_b).status == 404
