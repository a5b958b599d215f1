"""test_db_outage.py -- the database goes away and comes back: requests
answer 503 `unavailable` with Retry-After (never a 500, never a hang), and
every worker recovers by itself once MariaDB is back, with no restart of
the pool."""

import time

import harness

STACK_OPTIONS = {"workers": 2}


def test_database_down_is_503_and_workers_recover(stack):
    _, tok = stack.tenant()
    r = stack.post("/v1/sessions", {"title": "outage"}, token=tok)
    assert r.status == 201, r
    sid = r.json()["id"]
    workers = stack.worker_pids()

    stack.db_stop()
    try:
        # Enough requests that every worker meets the dead connection.
        for _ in range(6):
            t0 = time.monotonic()
            r = stack.get("/v1/sessions/%d" % sid, token=tok)
            assert time.monotonic() - t0 < 10, "a request hung"
            assert r.status == 503, r
            body = r.json()
            assert body["error"] == "unavailable", body
            assert r.headers["Retry-After"] == "1", r.headers
            w = stack.post("/v1/sessions/%d/messages" % sid,
                           {"version": 1,
                            "message": {"role": "user", "content": "lost?"}},
                           token=tok)
            assert w.status == 503, w
            h = stack.get("/healthz")
            assert h.status == 503, h
            assert h.json() == {"status": "degraded", "db": "down"}
    finally:
        stack.db_start()

    # Recovered without a pool restart: same workers, answers again.
    def healthy():
        return all(stack.get("/healthz").status == 200 for _ in range(4))
    harness.wait_until(healthy, 30, "the workers to reconnect")
    assert stack.worker_pids() == workers
    r = stack.get("/v1/sessions/%d" % sid, token=tok)
    assert r.status == 200, r
    # The writes refused during the outage changed nothing.
    assert r.json()["version"] == 1 and r.json()["messages"] == []
    r = stack.post("/v1/sessions/%d/messages" % sid,
                   {"version": 1, "message": {"role": "user", "content": "ok"}},
                   token=tok)
    assert r.status == 200, r
    assert r.json()["version"] == 2
    text = stack.get("/metrics").text
    errors = [l for l in text.splitlines()
              if l.startswith("optimist_db_errors_total ")]
    assert errors and int(errors[0].split()[-1]) > 0, errors
