#!/usr/bin/env python3
"""probe.py -- a test evaluator that reports what it was given: its
environment, its limits, its working directory and user, as progress lines
(test_sandbox.py reads them from the event stream). The bid's data.mode asks
for more:

  "setsid"      start a grandchild that leaves the process group (setsid)
                and sleeps; report its pid
  "background"  start a background child that keeps stdout open and sleeps;
                report its pid; then print the result and exit at once
"""
import json
import os
import resource
import subprocess
import sys

bid = json.loads(sys.stdin.read() or "{}")
mode = (bid.get("data") or {}).get("mode", "")


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


LIMITS = {
    "as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU,
    "nproc": resource.RLIMIT_NPROC, "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE,
}
say({"progress": {"env": dict(os.environ)}})
say({"progress": {"limits": {k: list(resource.getrlimit(v))
                             for k, v in LIMITS.items()}}})
ulimit = subprocess.run(["/bin/sh", "-c", "ulimit -a"], capture_output=True,
                        text=True).stdout
say({"progress": {"ulimit": ulimit, "cwd": os.getcwd(), "uid": os.getuid(),
                  "gid": os.getgid(), "pgid": os.getpgid(0),
                  "pid": os.getpid()}})

with open("/proc/self/status") as f:
    status = dict(line.rstrip("\n").split(":\t", 1) for line in f
                  if ":\t" in line)
say({"progress": {"caps": {k: status.get(k, "").strip() for k in
                           ("CapInh", "CapPrm", "CapEff", "CapAmb",
                            "NoNewPrivs")}}})

if mode == "setsid":
    p = subprocess.Popen(["sleep", "300"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    say({"progress": {"grandchild": p.pid, "sid": os.getsid(p.pid)}})
elif mode == "background":
    p = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
    say({"progress": {"background": p.pid}})

say({"result": {"probe": "done", "mode": mode}})
os._exit(0)  # no waiting for the children
