"""test_streams_followed.py -- a worker tells the hub only about rows a
stream follows (fcgi/core/followed.h), and nothing is missed for it.

The poll for changes made elsewhere is 10 s here (the most the option
takes), so a change that reaches a subscriber within a few seconds came
by the worker's notify: each feed kind that a write reaches directly
(a record), through its descriptor's `also` (the chat of a report, the
tenant's outbox of an approval) and again after its last subscriber left
and a new one came (the hub's count went to zero and back)."""

import time

from test_streams_front import Raw, post

STACK_OPTIONS = {"workers": 2, "env": {"OPTIMIST_STREAM_POLL_MS": "10000"}}
PROMPT = 3.0  # well under the 10 s poll


def _next_in_time(s, t0):
    ev = s.next_event(PROMPT + 2)
    assert ev is not None, "stream ended"
    took = time.monotonic() - t0
    assert took < PROMPT, ("came by the poll, not by a notify", took, ev)
    return ev


def test_followed_rows_hear_of_their_changes_at_once(stack):
    _, tok = stack.tenant()
    bid = post(stack, "/v1/bids", {"data": {}}, tok, 201).json()
    rep = post(stack, "/v1/reports", {"title": "f"}, tok, 201).json()
    path = "/v1/bids/%d/events" % bid["id"]

    s = Raw(stack.port, "GET", path, tok, last=1)
    assert s.wait_headers(5) == 200
    t0 = time.monotonic()
    stack.patch("/v1/bids/%d" % bid["id"], {"version": 1, "data": {"a": 1}},
                token=tok)
    assert _next_in_time(s, t0)["id"] == "2"
    s.close()

    # Its last subscriber gone, the hub frees the watch (its count back
    # to zero) once it sees the close; a new subscriber counts it again.
    # Changes made in between are in the new one's first state.
    for v in (2, 3):
        stack.patch("/v1/bids/%d" % bid["id"],
                    {"version": v, "data": {"b": v}}, token=tok)
    v = 4
    s = Raw(stack.port, "GET", path, tok, last=2)
    assert s.wait_headers(5) == 200
    ev = s.next_event(5)
    assert ev["id"] == str(v), (ev, v)  # the first state: nothing missed
    t0 = time.monotonic()
    stack.patch("/v1/bids/%d" % bid["id"], {"version": v, "data": {"c": 1}},
                token=tok)
    assert _next_in_time(s, t0)["id"] == str(v + 1)
    s.close()

    # A report's chat, reached through the chat route's own resource.
    c = Raw(stack.port, "GET", "/v1/reports/%d/chat/events" % rep["id"], tok,
            last=0)
    assert c.wait_headers(5) == 200
    t0 = time.monotonic()
    post(stack, "/v1/reports/%d/chat" % rep["id"],
         {"messages": [{"id": "m1", "role": "user", "content": "hi"}]}, tok,
         200)
    ev = _next_in_time(c, t0)
    assert ev["event"] == "chat" and ev["id"] == "1", ev
    c.close()

    # The tenant's outbox, reached through the approval's `also`.
    ap = post(stack, "/v1/approvals", {"action": {"type": "x"}}, tok,
              201).json()
    o = Raw(stack.port, "GET", "/v1/approvals/events", tok)
    assert o.wait_headers(5) == 200
    t0 = time.monotonic()
    post(stack, "/v1/approvals/%d/approve" % ap["id"], {"version": 1}, tok,
         200)
    ev = _next_in_time(o, t0)
    assert ev["event"] == "approval", ev
    o.close()
