"""test_ticket_caps.py -- stream tickets are bounded per tenant: at most
OPTIMIST_STREAM_TICKET_RATE in 10 seconds and OPTIMIST_STREAM_TICKET_MAX
live (each is a row kept for an hour); beyond, 503 `unavailable` with
Retry-After and nothing stored; another tenant is not affected."""

import time

import harness

RATE, MAX = 20, 30
STACK_OPTIONS = {"workers": 2, "env": {
    "OPTIMIST_STREAM_TICKET_RATE": str(RATE),
    "OPTIMIST_STREAM_TICKET_MAX": str(MAX)}}


def _ticket(stack, tok):
    return stack.post("/v1/stream-tickets", {"path": "/v1/approvals/events"},
                      token=tok)


def _live(stack, tenant):
    return int(stack.db.sql("SELECT COUNT(*) FROM stream_tickets WHERE "
                            "tenant_id = %d" % tenant)[0][0])


def test_rate_and_count_per_tenant(stack):
    tid, tok = stack.tenant()
    t0 = time.monotonic()
    for i in range(RATE):
        r = _ticket(stack, tok)
        assert r.status == 201, (i, r)
    r = _ticket(stack, tok)
    assert time.monotonic() - t0 < 10, "too slow to test the rate"
    assert r.status == 503, r
    assert r.json()["error"] == "unavailable", r
    assert r.header("Retry-After"), r
    assert _live(stack, tid) == RATE
    # Another tenant still gets its own.
    _, other = stack.tenant()
    assert _ticket(stack, other).status == 201
    # After the window, up to the count.
    harness.wait_until(lambda: time.monotonic() - t0 > 10.5, 15, "the window")
    for i in range(MAX - RATE):
        r = _ticket(stack, tok)
        assert r.status == 201, (i, r)
    r = _ticket(stack, tok)
    assert r.status == 503, r
    assert "live" in r.json()["message"], r
    assert _live(stack, tid) == MAX
