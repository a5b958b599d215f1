"""test_worker_close.py -- how a worker ends a connection (fcgi/pool/worker.c):
it reads the request's input to its end and closes at once, without
waiting for nginx to close first, and each new connection wakes one idle
worker (EPOLLEXCLUSIVE). Nothing of that may cost a request: every answer
arrives whole, whatever the body, and nginx never sees a reset."""

import harness

STACK_OPTIONS = {"workers": 4}


def test_answers_arrive_whole_with_and_without_bodies(stack):
    _, tok = stack.tenant()
    mark = len(stack.nginx_log("error"))
    bodies = [None, b"{}", b'{"title": "x"}',
              b'{"title": "' + b"y" * 900 + b'"}',
              # a body the route refuses after reading it (bad JSON) and a
              # large one: the worker must read both to their end
              b"{" * 10, b'{"title": "' + b"z" * 200000 + b'"}']
    for _ in range(5):
        for body in bodies:
            r = stack.http("POST", "/v1/sessions", raw_body=body, token=tok,
                           headers={"Content-Type": "application/json"})
            assert r.status in (201, 400), r
            assert r.json()["error" if r.status == 400 else "id"], r
    log = stack.nginx_log("error")[mark:]
    for bad in ("reset by peer", "prematurely closed", "upstream"):
        assert bad not in log, log


def test_many_clients_at_once_are_all_answered(stack):
    _, tok = stack.tenant()
    mark = len(stack.nginx_log("error"))

    def one(i):
        r = stack.post("/v1/sessions", {"title": "c%d" % i}, token=tok)
        assert r.status == 201, r
        r = stack.get("/v1/sessions/%d" % r.json()["id"], token=tok)
        assert r.status == 200, r
        return 1

    assert sum(harness.parallel(one, list(range(64)))) == 64
    assert "upstream" not in stack.nginx_log("error")[mark:]
