#!/usr/bin/env python3
"""probe.py -- a test evaluator that reports what it sees from inside its
sandbox, as progress lines (test_sandbox.py reads them from the event
stream), and tries what an attacker would. The bid's data says what to do:

  mode ""          report environment, limits, user, pids, cwd; for each of
                   data.paths whether it exists / can be read; for each of
                   data.sockets (unix paths or 127.0.0.1:port) whether a
                   connect works; every visible /proc/<pid>/environ that
                   holds OPTIMIST_ or data.secret
  mode "hold"      write data.secret into /tmp/secret, put it in the
                   environment of a child, then sleep data.seconds
  mode "spy"       look for data.secret everywhere it can: /tmp, every
                   visible /proc/<pid>/environ, cmdline and mem
  mode "escape"    start double-forked setsid children running
                   `sleep data.mark`, then sleep the same itself (the run's
                   time limit ends it)
  mode "escape-exit"  the same escapees, then the result at once
  mode "stderr"    write data.bytes of stderr with forged log lines
  mode "files"     make data.count files in /tmp/many
  mode "flood"     print data.lines progress lines of data.size bytes
"""
import json
import os
import resource
import socket
import subprocess
import sys
import time

bid = json.loads(sys.stdin.read() or "{}")
data = bid.get("data") or {}
mode = data.get("mode", "")


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def read(path, n=65536):
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        return e


def escapees(mark):
    # Double fork: the middle process calls setsid and exits, its children
    # are orphans in a session of their own.
    for _ in range(2):
        subprocess.Popen(["/bin/sh", "-c", "setsid sh -c 'sleep $0 &' %s"
                          % mark], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL).wait()


if mode == "":
    LIMITS = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU,
              "nproc": resource.RLIMIT_NPROC,
              "fsize": resource.RLIMIT_FSIZE,
              "nofile": resource.RLIMIT_NOFILE,
              "core": resource.RLIMIT_CORE}
    say({"progress": {"env": dict(os.environ)}})
    say({"progress": {"limits": {k: list(resource.getrlimit(v))
                                 for k, v in LIMITS.items()}}})
    with open("/proc/self/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f
                      if ":\t" in line)
    say({"progress": {"cwd": os.getcwd(), "uid": os.getuid(),
                      "pid": os.getpid(), "pids": pids(),
                      "caps": {k: status.get(k, "").strip() for k in
                               ("CapEff", "CapPrm", "NoNewPrivs")},
                      "writable_tmp": os.access("/tmp", os.W_OK),
                      "writable_usr": os.access("/usr", os.W_OK)}})
    paths = {}
    for p in data.get("paths", []):
        r = read(p, 1) if os.path.isfile(p) else None
        paths[p] = ("absent" if not os.path.lexists(p) else
                    "readable" if isinstance(r, bytes) else
                    "unreadable" if isinstance(r, OSError) else "present")
    say({"progress": {"paths": paths}})
    conns = {}
    for s in data.get("sockets", []):
        try:
            if s.startswith("/"):
                c = socket.socket(socket.AF_UNIX)
                c.settimeout(2)
                c.connect(s)
            else:
                host, port = s.rsplit(":", 1)
                c = socket.create_connection((host, int(port)), timeout=2)
            c.close()
            conns[s] = "connected"
        except OSError as e:
            conns[s] = "refused: %s" % e.strerror
    say({"progress": {"sockets": conns}})
    leaks = []
    secret = data.get("secret", "\0never")
    for p in pids():
        env = read("/proc/%d/environ" % p)
        if isinstance(env, bytes) and (b"OPTIMIST_DB" in env or
                                       secret.encode() in env):
            leaks.append(p)
    say({"progress": {"environ_leaks": leaks}})
elif mode == "hold":
    secret = data["secret"]
    with open("/tmp/secret", "w") as f:
        f.write(secret)
    child = subprocess.Popen(["sleep", str(data.get("seconds", 5))],
                             env={"SECRET": secret})
    say({"progress": {"holding": True}})
    child.wait()
elif mode == "spy":
    secret = data["secret"].encode()
    found = []
    # Give the other run time to write it.
    time.sleep(float(data.get("wait", 1)))
    for root, dirs, files in os.walk("/tmp"):
        for name in files:
            r = read(os.path.join(root, name))
            if isinstance(r, bytes) and secret in r:
                found.append(os.path.join(root, name))
    for p in pids():
        for what in ("environ", "cmdline"):
            r = read("/proc/%d/%s" % (p, what))
            if isinstance(r, bytes) and secret in r:
                found.append("/proc/%d/%s" % (p, what))
    say({"progress": {"found": found, "pids": pids()}})
elif mode in ("escape", "escape-exit"):
    escapees(data["mark"])
    say({"progress": {"escaped": True}})
    if mode == "escape":
        os.execvp("sleep", ["sleep", data["mark"]])
elif mode == "stderr":
    line = ("\n127.0.0.1 - - [01/Jan/2026] \"GET /forged HTTP/1.1\" 200 "
            "\x1b[31mred\x1b[0m " + "x" * 200 + "\n")
    n = int(data.get("bytes", 100000))
    sys.stderr.write((line * (n // len(line) + 1))[:n])
    sys.stderr.flush()
elif mode == "files":
    # A working folder full of files: nothing for the hub to clean up (the
    # tmpfs goes with the run's mount namespace).
    d = "/tmp/many"
    os.mkdir(d)
    for i in range(int(data.get("count", 1000))):
        open(os.path.join(d, str(i)), "w").close()
    say({"progress": {"files": len(os.listdir(d))}})
elif mode == "flood":
    pad = "y" * int(data.get("size", 100))
    for i in range(int(data.get("lines", 100))):
        say({"progress": {"i": i, "pad": pad}})

say({"result": {"probe": "done", "mode": mode}})
sys.stdout.flush()
os._exit(0)  # no waiting for the children
