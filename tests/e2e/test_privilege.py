"""test_privilege.py -- least privilege on the box: the pool's socket is
0660 (no other local user can speak FastCGI to it and bypass nginx), the
/metrics token, and `make run` as root (scripts/run.sh in a temporary var
folder on a free port): var/run 0750, the socket 0660, MariaDB, the pool
and nginx's workers running as `optimist` with no capability (the demo
evaluator too, with no_new_privs; a program runs in bubblewrap:
test_sandbox.py), and no process of the stack but nginx's master as
root."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import harness

STACK_OPTIONS = {"workers": 2, "env": {"OPTIMIST_METRICS_TOKEN": "m-s3cret"}}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_pool_socket_is_0660(stack):
    assert mode(stack.main.fcgi_socket) == 0o660, oct(
        mode(stack.main.fcgi_socket))


def test_metrics_needs_the_token_when_one_is_set(stack):
    r = stack.get("/metrics")
    assert r.status == 401, r
    assert r.json()["error"] == "unauthorized", r.json()
    assert r.header("WWW-Authenticate", "").startswith("Bearer"), r
    for bad in ("Bearer m-s3cre", "Bearer m-s3cret2", "Basic m-s3cret",
                "Bearer "):
        r = stack.get("/metrics", headers={"Authorization": bad})
        assert r.status == 401, (bad, r)
    r = stack.get("/metrics", headers={"Authorization": "Bearer m-s3cret"})
    assert r.status == 200, r
    assert "optimist_http_requests_total" in r.text, r.text[:200]
    # The token is hidden in the pool's --check dump like the password.
    assert "m-s3cret" not in stack.main.pool_log()


# ---- make run as root ----------------------------------------------------

class _At(harness._Client):
    def __init__(self, port):
        self.port = port


def _status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _uid(pid):
    return int(_status(pid)["Uid"].split()[0]), _status(pid)["Uid"]


def _pid(path):
    with open(path) as f:
        return int(f.read().strip())


def test_make_run_as_root_runs_nothing_that_serves_as_root():
    if os.geteuid() != 0:
        harness.skip("needs root (as in CI)")
    var = tempfile.mkdtemp(prefix="optimist-run-")
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OPTIMIST_")}
    env.update({"OPTIMIST_VAR": var, "PORT": str(port),
                "OPTIMIST_WORKERS": "2", "OPTIMIST_DEMO_EVAL_STEPS": "20",
                "OPTIMIST_DEMO_EVAL_DELAY_MS": "200",
                "BIN": harness.BIN})
    if harness.SAN:
        env.update(harness.SAN_ENV)
    run = subprocess.run(["scripts/run.sh"], cwd=harness.REPO, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=300)
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "run as optimist" in run.stdout, run.stdout
        optimist = pwd.getpwnam("optimist").pw_uid
        assert mode(var) == 0o750 and mode(var + "/run") == 0o750
        sock = var + "/run/optimist.sock"
        assert mode(sock) == 0o660, oct(mode(sock))
        assert os.stat(sock).st_uid == optimist
        assert os.stat(var + "/run").st_uid == optimist

        db = _pid(var + "/mysql/mariadbd.pid")
        pool = _pid(var + "/run/optimist.pid")
        nginx = _pid(var + "/nginx/nginx.pid")
        kids = harness.children(pool)
        hubs = [p for p in kids if harness._is_hub(p)]  # streams, runs
        workers = [p for p in kids if p not in hubs]
        nginx_workers = harness.children(nginx)
        assert len(workers) == 2 and nginx_workers, (workers, nginx_workers)
        assert len(hubs) == 1, kids
        for pid in [db, pool] + workers + hubs + nginx_workers:
            uid, line = _uid(pid)  # real, effective, saved, filesystem
            assert set(line.split()) == {str(optimist)}, (pid, line)
        # The pool holds no capability at all (its evaluators need none:
        # bubblewrap works with user namespaces).
        for pid in [pool] + workers + hubs:
            assert int(_status(pid)["CapEff"], 16) == 0, _status(pid)
            assert int(_status(pid)["CapBnd"], 16) == 0, _status(pid)
        # nginx's master is the one process of the stack left as root.
        assert _uid(nginx)[0] == 0

        # An evaluation: the demo evaluator, forked by the hub, runs as
        # optimist with no capability and no_new_privs.
        with open(var + "/demo-tenant.json") as f:
            tok = json.load(f)["token"]
        at = _At(port)
        r = at.post("/v1/bids", {"data": {"x": 1}}, token=tok)
        assert r.status == 201, r
        s = at.stream("POST", "/v1/bids/%d/evaluate" % r.json()["id"],
                      {"version": 1}, headers={"Accept": "text/event-stream"},
                      token=tok)
        with s:
            events = s.events()
            for ev in events:
                if ev.get("event") == "progress":
                    break
            evaluators = [c for h in hubs for c in harness.children(h)]
            assert len(evaluators) == 1, evaluators
            st = _status(evaluators[0])
            assert set(st["Uid"].split()) == {str(optimist)}, st["Uid"]
            assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
            assert st["NoNewPrivs"] == "1", st
            last = [ev for ev in events][-1]
        assert last["event"] == "result", last
    finally:
        stop = subprocess.run(["scripts/stop.sh"], cwd=harness.REPO, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        shutil.rmtree(var, ignore_errors=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr
