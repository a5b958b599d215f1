"""test_sandbox.py -- the evaluator runs sandboxed (fcgi/hub/sandbox.c), read
from inside: tests/e2e/evaluators/probe.py prints its environment, limits,
working directory and user as progress lines. No OPTIMIST_DB_* (nor any
other variable outside the allow-list), every limit as configured, a fresh
working directory that is gone after the run, its own process group; a
grandchild that called setsid is killed when the run ends; a background
child that keeps stdout open does not hold a successful run. As root (CI),
the evaluator also runs as `nobody`."""

import os
import shutil
import tempfile
import time

import harness

ROOT = os.geteuid() == 0
# The probe and the run folders must be reachable by `nobody`.
PROBE_DIR = tempfile.mkdtemp(prefix="optimist-probe-")
os.chmod(PROBE_DIR, 0o755)
PROBE = os.path.join(PROBE_DIR, "probe.py")
shutil.copy(os.path.join(harness.REPO, "tests/e2e/evaluators/probe.py"),
            PROBE)
os.chmod(PROBE, 0o755)
WORK_BASE = os.path.join(PROBE_DIR, "runs")
os.mkdir(WORK_BASE)
os.chmod(WORK_BASE, 0o711)

TIMEOUT = 20
ENV = {
    "OPTIMIST_EVALUATOR": PROBE,
    "OPTIMIST_EVALUATOR_TIMEOUT": str(TIMEOUT),
    "OPTIMIST_EVALUATOR_WORKDIR": WORK_BASE,
    "OPTIMIST_EVALUATOR_MEMORY_MB": "700",
    "OPTIMIST_EVALUATOR_CPU_SECONDS": "17",
    "OPTIMIST_EVALUATOR_FILE_MB": "3",
    "OPTIMIST_EVALUATOR_OPEN_FILES": "33",
    "OPTIMIST_EVALUATOR_PROCESSES": "50",
    "OPTIMIST_LEASE_SECONDS": "30",
    "OPTIMIST_MAX_EVALUATIONS": "1",
    # Must not reach the evaluator:
    "OPTIMIST_DB_PASSWORD": "",
    "SECRET_OF_THE_POOL": "s3cret",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
}
if ROOT:
    ENV["OPTIMIST_EVALUATOR_USER"] = "nobody"
STACK_OPTIONS = {"workers": 2, "env": ENV}
SSE = {"Accept": "text/event-stream"}
MiB = 1024 * 1024


def teardown_module(stack):
    shutil.rmtree(PROBE_DIR, ignore_errors=True)


def run_probe(stack, mode=""):
    """Evaluates a new bid with the probe; returns (seconds, progress
    dicts merged into one, the terminal event)."""
    _, tok = stack.tenant()
    r = stack.post("/v1/bids", {"data": {"mode": mode}}, token=tok)
    assert r.status == 201, r
    bid = r.json()
    t0 = time.monotonic()
    s = stack.stream("POST", "/v1/bids/%d/evaluate" % bid["id"],
                     {"version": 1}, headers=SSE, token=tok, timeout=60)
    assert s.status == 200, (s.status, s.read()[:500])
    with s:
        events = list(s.events())
    took = time.monotonic() - t0
    seen = {}
    for ev in events:
        if ev.get("event") == "progress":
            seen.update(ev["data"]["progress"])
    return took, seen, events[-1]


def gone(pid):
    return not harness.alive(pid)


def test_environment_limits_workdir_and_user(stack):
    took, seen, end = run_probe(stack)
    assert end["event"] == "result", end
    env = seen["env"]
    assert not [k for k in env if k.startswith("OPTIMIST_DB_")], env
    assert "SECRET_OF_THE_POOL" not in env, env
    allowed = {"PATH", "LANG", "TZ", "HOME", "TMPDIR", "OPTIMIST_EVAL_KIND",
               "OPTIMIST_EVALUATION_ID", "OPTIMIST_BID_ID"}
    extra = [k for k in env if k not in allowed and not k.startswith("LC_")]
    assert not extra, extra
    assert env["LANG"] == "C.UTF-8" and env["TZ"] == "UTC", env
    # Its own, fresh working directory, HOME and TMPDIR, removed after.
    cwd = seen["cwd"]
    assert os.path.dirname(cwd) == WORK_BASE, cwd
    assert os.path.basename(cwd).startswith("optimist-eval."), cwd
    assert env["HOME"] == cwd and env["TMPDIR"] == cwd, env
    harness.wait_until(lambda: not os.path.exists(cwd), 5,
                       "the run's folder to be removed")
    # Limits as configured, soft = hard.
    lim = seen["limits"]
    # An ASan build leaves the address space alone (sandbox.c): its
    # shadow memory needs terabytes of it.
    AS = [-1, -1] if harness.SAN else [700 * MiB] * 2
    assert lim["as"] == AS, lim
    assert lim["cpu"] == [17, 17], lim
    assert lim["fsize"] == [3 * MiB] * 2, lim
    assert lim["nofile"] == [33, 33], lim
    assert lim["core"] == [0, 0], lim
    # The same seen by a shell (dash: "nofiles 33", "vmemory(kbytes) ...").
    ul = dict(line.rsplit(None, 1) for line in seen["ulimit"].splitlines())
    assert ul["nofiles"] == "33" and ul["time(seconds)"] == "17", ul
    assert ul["vmemory(kbytes)"] == ("unlimited" if harness.SAN
                                     else str(700 * 1024)), ul
    # Its own process group.
    assert seen["pgid"] == seen["pid"], seen
    if ROOT:
        import pwd
        nobody = pwd.getpwnam("nobody")
        assert seen["uid"] == nobody.pw_uid, seen
        assert seen["gid"] == nobody.pw_gid, seen
        assert lim["nproc"] == [50, 50], lim
        # No capability left (the pool may hold CAP_SETUID/CAP_SETGID).
        caps = seen["caps"]
        for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(caps[k], 16) == 0, caps
        assert caps["NoNewPrivs"] == "1", caps
    else:
        assert seen["uid"] == os.getuid(), seen


def test_a_setsid_grandchild_is_gone_after_the_run(stack):
    took, seen, end = run_probe(stack, "setsid")
    assert end["event"] == "result", end
    gc = seen["grandchild"]
    assert seen["sid"] == gc, seen  # it did leave the group
    harness.wait_until(lambda: gone(gc), 5,
                       "the setsid grandchild %d to be killed" % gc)


def test_a_background_child_holding_stdout_does_not_hold_the_run(stack):
    took, seen, end = run_probe(stack, "background")
    assert end["event"] == "result", end
    assert end["data"]["evaluation"] == {"probe": "done",
                                         "mode": "background"}, end
    assert took < TIMEOUT / 2, "the run waited %.1fs for its child" % took
    bg = seen["background"]
    harness.wait_until(lambda: gone(bg), 5,
                       "the background child %d to be killed" % bg)
