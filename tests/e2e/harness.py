"""harness.py -- the whole stack for end-to-end tests: a private MariaDB,
the FastCGI pool (bin/optimist-fcgi) and nginx (nginx/nginx.conf.in), all
in one temporary folder, on a free loopback port. Python 3 stdlib only.

    stack = Stack().start(workers=4, env={"OPTIMIST_LOG_LEVEL": "debug"})
    try:
        tenant_id, token = stack.tenant()
        r = stack.post("/v1/sessions", {"title": "t"}, token=token)
        assert r.status == 201, r
        assert r.json()["version"] == 1
    finally:
        stack.stop()

A Stack is one database with one or more Frontends (a pool and the nginx in
front of it). The Stack itself answers for its first Frontend: stack.http()
is stack.main.http(). add_frontend() starts another pool and nginx on the
same database, for tests that kill or reload a pool without breaking the
shared one.

What tests use most:
    stack.tenant(name=None) -> (tenant_id, token)
    stack.http(method, path, body=None, headers=None, token=None,
               raw_body=None, timeout=30, source_address=None) -> Response
    stack.get/post/put/patch/delete(path, body=None, **same keywords)
    Response: .status .reason .headers (case-insensitive) .body .text .json()
    stack.stream(method, path, ...) -> Stream; for ev in s.events(): ...
    stack.pool_pid(), worker_pids(), wait_workers(n, exclude=()),
    signal_pool(sig), stop_pool(), start_pool(workers=, env=),
    restart_pool(), kill_pool(), orphans
    stack.pool_log(since=0), log_mark(), wait_log(text, since=0)
    stack.add_frontend(workers=2, env=None) -> Frontend (same methods)
    stack.sql(query) -> rows; stack.db_stop(), db_start(); stack.ctl(*args)
    Declared tables (Stack.start(tables=True), or STACK_OPTIONS): stack.sql()
    creates the table with plain SQL (the mariadb client on the stack's
    socket), stack.declare(name, text) writes tables.d/<name>.conf,
    stack.prepare_table(name) runs optimistctl table prepare, and
    stack.reload_tables() sends SIGHUP and waits for the pool's "tables:" line
    The example shop (examples/shop, Stack.start(php=True)): php-fpm on a temp
    socket behind the same nginx at /shop/ (stack.php: PhpFpm)
    wait_until(cond, timeout, what), parallel(fn, args_list), skip(reason)

Environment: BIN (default build/test/bin: the test build, which has the
test hooks) is the folder of the binaries, relative to
the repository (`make asan` sets build/asan/bin). SAN=1 runs the pool with
ASAN_OPTIONS/UBSAN_OPTIONS that make a sanitizer error fatal; the runner
then fails a test whose run left a report in a pool log
(sanitizer_reports()). KEEP=1 keeps the temporary folders (logs included)
and prints where they are.
"""

import concurrent.futures
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(REPO, os.environ.get("BIN", "build/test/bin"))
SAN = os.environ.get("SAN") == "1"
KEEP = os.environ.get("KEEP") == "1"

# A test database need not survive a crash of the machine: no fsync.
FAST_DB_OPTS = ("--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 "
                "--innodb-flush-method=nosync")

SAN_ENV = {
    "ASAN_OPTIONS": os.environ.get(
        "ASAN_OPTIONS",
        "detect_leaks=1:halt_on_error=1:abort_on_error=0:"
        "detect_stack_use_after_return=1"),
    "UBSAN_OPTIONS": os.environ.get(
        "UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
}

# What a sanitizer prints when it finds something.
SAN_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                "runtime error:")


class Skip(Exception):
    """Raise in a test to skip it: harness.skip("why")."""


def skip(reason):
    raise Skip(reason)


class HarnessError(Exception):
    """Something in the stack would not start or stop."""


# --------------------------------------------------------------------------
# Small tools

def wait_until(cond, timeout=10.0, what="condition", interval=0.05):
    """Polls cond() until it returns something true and returns that, or
    raises HarnessError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A port nobody listens on right now (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# Fields of /proc/<pid>/stat, counted after the command name.
STATE, PPID, PGRP, SESSION, STARTTIME = 0, 1, 2, 3, 19


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()


def alive(pid):
    """The process exists and is not a zombie."""
    st = _stat(pid)
    return st is not None and st[STATE] != "Z"


def _scan(field, value):
    """Live processes whose stat field (PPID, PGRP, SESSION) is value."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[STATE] != "Z" and int(st[field]) == value:
                found.append(int(name))
    return sorted(found)


def children(pid):
    """Live processes whose parent is pid, sorted."""
    return _scan(PPID, pid)


def _is_hub(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip() == "optimist-hub"
    except OSError:
        return False


def _identity(pid):
    """(pid, starttime): still the same process if both match later."""
    st = _stat(pid)
    return (pid, st[STARTTIME]) if st else None


def _same(ident):
    st = _stat(ident[0])
    return st is not None and st[STATE] != "Z" and st[STARTTIME] == ident[1]


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _tail(path, lines=20):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return "(no %s)" % path
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def parallel(fn, args_list, workers=None):
    """Calls fn(*args) for each args tuple (or single value) in args_list
    on threads, all at once, and returns the results in order. The first
    exception raised by a call is raised again here."""
    calls = [a if isinstance(a, tuple) else (a,) for a in args_list]
    if not calls:
        return []
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers or len(calls)) as ex:
        futures = [ex.submit(fn, *a) for a in calls]
        return [f.result() for f in futures]


def fcgi_record(rtype, rid, content):
    """One FastCGI record (version 1), padded to 8 bytes, as nginx writes
    it: for tests that talk to the pool's socket without nginx."""
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + \
        content + b"\0" * pad


def fcgi_params(pairs):
    """A FCGI_PARAMS body: name-value pairs with 1- or 4-byte lengths."""
    out = b""
    for k, v in pairs.items():
        k, v = k.encode(), v.encode()
        for x in (k, v):
            out += struct.pack(">B", len(x)) if len(x) < 128 else \
                struct.pack(">I", len(x) | 0x80000000)
        out += k + v
    return out


class RowLock:
    """Holds FOR UPDATE on row `row_id` of `table` from a separate mariadb
    client until release() (or `seconds`, as a safety net): a write of that
    row waits on the lock meanwhile."""

    def __init__(self, stack, table, row_id, seconds=30):
        self.stack = stack
        self.table = table
        self.tag = "optimist_test_lock_%s_%d" % (table, row_id)
        sql = ("START TRANSACTION; SELECT id FROM %s WHERE id = %d "
               "FOR UPDATE; SELECT SLEEP(%d) AS %s; COMMIT;"
               % (table, row_id, seconds, self.tag))
        self.proc = subprocess.Popen(
            ["mariadb", "--no-defaults", "--socket=" + stack.db.socket,
             "--user=" + _os_user(), stack.db.name, "-e", sql],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_until(lambda: self._sleeping() is not None, 20,
                   "the lock holder")

    def _sleeping(self):
        rows = self.stack.sql(
            "SELECT ID FROM information_schema.PROCESSLIST "
            "WHERE INFO LIKE 'SELECT SLEEP%%%s%%'" % self.tag)
        return rows[0][0] if rows else None

    def waiting(self):
        """Statements now running that update the lock's table: the
        writes waiting on it, known to be inside the pool (no sleeps)."""
        rows = self.stack.sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE INFO LIKE 'UPDATE %s%%'" % self.table)
        return int(rows[0][0])

    def release(self):
        tid = self._sleeping()
        if tid is not None:
            self.stack.sql("KILL QUERY %s" % tid)   # SLEEP ends, COMMIT runs
        self.proc.wait(30)


# --------------------------------------------------------------------------
# HTTP

class Response:
    """One HTTP answer: status, reason, headers (case-insensitive:
    r.headers["etag"], r.headers.get_all("set-cookie")), body (bytes)."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON (AssertionError, with the body, if it is
        not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError("body is not JSON: %r" % self.body[:500])

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        body = self.body[:500].decode("utf-8", "replace")
        return "<Response %d %s %s>" % (self.status, self.reason, body)


def _prepare(body, headers, token, raw_body):
    hdrs = dict(headers or {})
    lower = {k.lower() for k in hdrs}
    data = None
    if raw_body is not None:
        data = raw_body.encode() if isinstance(raw_body, str) else raw_body
    elif body is not None:
        data = json.dumps(body).encode()
        if "content-type" not in lower:
            hdrs["Content-Type"] = "application/json"
    if token is not None and "authorization" not in lower:
        hdrs["Authorization"] = "Bearer " + token
    return data, hdrs


def request(host, port, method, path, body=None, headers=None, token=None,
            raw_body=None, timeout=30, source_address=None):
    """One request on a new connection. body: a value sent as JSON (with
    Content-Type: application/json unless headers name one); raw_body:
    bytes or str sent as they are; token: Authorization: Bearer token;
    source_address: (ip, port) to bind the client side to."""
    data, hdrs = _prepare(body, headers, token, raw_body)
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=source_address)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, resp.reason, resp.headers, payload)
    finally:
        conn.close()


class Stream:
    """A response read as it arrives (Server-Sent Events). Use as a context
    manager; events() yields {"event", "data", "id"} dicts (data is parsed
    as JSON when it is JSON), comments() are skipped unless asked."""

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.headers = resp.headers

    def readline(self):
        return self.resp.readline()

    def read(self):
        return self.resp.read()

    def events(self, comments=False):
        event = {}
        data = []
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if data or event:
                    text = "\n".join(data)
                    try:
                        event["data"] = json.loads(text)
                    except ValueError:
                        event["data"] = text
                    event.setdefault("event", "message")
                    yield event
                event, data = {}, []
            elif line.startswith(":"):
                if comments:
                    yield {"comment": line[1:].strip()}
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                elif name in ("event", "id", "retry"):
                    event[name] = value

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Client:
    """HTTP helpers shared by Stack and Frontend (self.host, self.port)."""

    host = "127.0.0.1"
    port = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def http(self, method, path, body=None, headers=None, token=None,
             raw_body=None, timeout=30, source_address=None):
        """See request(). Returns a Response."""
        return request(self.host, self.port, method, path, body=body,
                       headers=headers, token=token, raw_body=raw_body,
                       timeout=timeout, source_address=source_address)

    def get(self, path, **kw):
        return self.http("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.http("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.http("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.http("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.http("DELETE", path, body, **kw)

    def stream(self, method, path, body=None, headers=None, token=None,
               raw_body=None, timeout=60):
        """Sends a request and returns a Stream once the headers are in."""
        data, hdrs = _prepare(body, headers, token, raw_body)
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            return Stream(conn, conn.getresponse())
        except BaseException:
            conn.close()
            raise


# --------------------------------------------------------------------------
# The parts

class Database:
    """The private MariaDB of a stack (scripts/mariadb.sh), in dir."""

    def __init__(self, dir, extra_opts=FAST_DB_OPTS):
        self.dir = dir
        self.socket = os.path.join(dir, "mysqld.sock")
        self.extra_opts = extra_opts
        self.name = "optimist"

    def _script(self, cmd):
        env = dict(os.environ, MARIADB_EXTRA_OPTS=self.extra_opts,
                   MARIADB_DATABASE=self.name)
        env.pop("MARIADB_SOCKET", None)
        # In a session of its own: a Ctrl-C meant for the runner does not
        # reach mariadbd, and an interrupted start is ended here, group and
        # all (mariadb-install-db and the server it may have started).
        proc = subprocess.Popen(
            [os.path.join(REPO, "scripts", "mariadb.sh"), cmd, self.dir],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=120)
        except BaseException:
            _end_group(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out)

    def start(self):
        r = self._script("start")
        if r.returncode != 0:
            raise HarnessError("MariaDB did not start:\n" + r.stdout)

    def stop(self):
        self._script("stop")

    def running(self):
        return self._script("status").returncode == 0

    def pid(self):
        try:
            with open(os.path.join(self.dir, "mariadbd.pid")) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def sql(self, query):
        """Runs SQL in the stack's database as the OS user; returns the
        rows of the last statement as lists of strings (NULL is None)."""
        r = subprocess.run(
            ["mariadb", "--no-defaults", "--socket=" + self.socket,
             "--user=" + _os_user(), "--batch", "--skip-column-names",
             "--raw", self.name, "-e", query],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60)
        if r.returncode != 0:
            raise HarnessError("mariadb: %s" % r.stderr.strip())
        rows = []
        for line in r.stdout.splitlines():
            rows.append([None if v == "NULL" else v
                         for v in line.split("\t")])
        return rows


def _end_group(proc):
    """SIGTERM to the group proc leads, SIGKILL to what is left after 10s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _scan(PGRP, proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _scan(PGRP, proc.pid):
            break
    try:
        proc.wait(1)
    except subprocess.TimeoutExpired:
        pass


def readable_by_evaluators(path):
    """Makes `path`, a folder right in a stack's folder, reachable by the
    user a root pool runs evaluators as (`nobody`: fcgi/hub/sandbox.h):
    bwrap binds the program as that user, so the folders above it must let
    it pass (the stack's folder: search only, not list)."""
    os.chmod(path, 0o755)
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | 0o111)


def _os_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def php_fpm_binary():
    """php-fpm's path (Debian: /usr/sbin/php-fpm8.2), or HarnessError."""
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
        try:
            names = sorted(os.listdir(d), reverse=True)
        except OSError:
            continue
        for n in names:
            if n == "php-fpm" or (n.startswith("php-fpm") and
                                  n[7:].replace(".", "").isdigit()):
                return os.path.join(d, n)
    raise HarnessError("php-fpm is not installed (scripts/deps.sh installs "
                       "php-fpm and php-mysql)")


SHOP_DIR = os.path.join(REPO, "examples", "shop")


class PhpFpm:
    """The example shop (examples/shop/index.php) on php-fpm, a process of
    the stack's own (no systemd): php-fpm -F -y DIR/php-fpm.conf -p DIR on
    the socket DIR/php.sock, writing the stack's database through its unix
    socket as the OS user. Stopped by its pid (SIGQUIT: graceful)."""

    def __init__(self, stack, children=4):
        self.stack = stack
        self.dir = os.path.join(stack.dir, "php")
        self.socket = os.path.join(self.dir, "php.sock")
        self.pidfile = os.path.join(self.dir, "php-fpm.pid")
        self.log_path = os.path.join(self.dir, "php-fpm.log")
        self.children = children
        self.proc = None

    def start(self, timeout=30):
        os.makedirs(self.dir, exist_ok=True)
        root = os.getuid() == 0
        with open(os.path.join(SHOP_DIR, "php-fpm.conf.in")) as f:
            text = f.read()
        subst = {
            "@DIR@": self.dir,
            "@SOCKET@": self.socket,
            "@USER_LINES@": "user = root\ngroup = root" if root else "",
            "@CHILDREN@": str(self.children),
            "@DB_SOCKET@": self.stack.db.socket,
            "@DB_NAME@": self.stack.db.name,
            "@DB_USER@": _os_user(),
        }
        for key, value in subst.items():
            text = text.replace(key, value)
        conf = os.path.join(self.dir, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write(text)
        cmd = [php_fpm_binary(), "-F", "-y", conf, "-p", self.dir]
        if root:
            cmd.append("-R")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("php-fpm exited with status %s:\n%s" % (
                    self.proc.returncode, _tail(self.log_path)))
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(self.socket)
                    return True
                except OSError:
                    return False
        wait_until(ready, timeout, "php-fpm on " + self.socket)
        return self

    def write_nginx_snippet(self, path):
        with open(os.path.join(SHOP_DIR, "nginx-shop.conf.in")) as f:
            text = f.read()
        text = text.replace("@SHOP_ROOT@", SHOP_DIR).replace(
            "@PHP_SOCKET@", self.socket)
        with open(path, "w") as f:
            f.write(text)

    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None \
            else None

    def stop(self, timeout=10):
        """SIGQUIT (graceful) to the master, SIGKILL after `timeout`; any
        child left in its session is killed by pid."""
        if self.proc is None:
            return
        session = self.proc.pid
        if self.proc.poll() is None:
            _kill(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid in _scan(SESSION, session):
            _kill(pid, signal.SIGKILL)
        self.proc = None


class Frontend(_Client):
    """A FastCGI pool and the nginx in front of it, in their own folder
    (dir: optimist.sock, optimist.pid, optimist.log, nginx/), on the
    stack's database."""

    def __init__(self, stack, name, workers=4, env=None, web=False):
        self.stack = stack
        self.web = web   # nginx also serves web/ (nginx/optimist-web.conf)
        self.name = name
        self.dir = os.path.join(stack.dir, name)
        self.workers = workers
        self.env = dict(env or {})
        self.fcgi_socket = os.path.join(self.dir, "optimist.sock")
        self.pidfile = os.path.join(self.dir, "optimist.pid")
        self.log_path = os.path.join(self.dir, "optimist.log")
        self.nginx_dir = os.path.join(self.dir, "nginx")
        self.nginx_conf = os.path.join(self.nginx_dir, "nginx.conf")
        self.proc = None
        self.port = None
        self.orphans = []   # workers left alive by the last stop_pool()
        # Put before the pool's command (e.g. setpriv to run it as another
        # user: test_sandbox.py).
        self.pool_prefix = []
        self._nginx_pid = None
        self._san_checked = 0
        os.makedirs(os.path.join(self.nginx_dir, "tmp"), exist_ok=True)

    # -- the pool ---------------------------------------------------------

    def pool_env(self):
        """The environment the pool is started with."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OPTIMIST_")}
        env.update({
            "OPTIMIST_LISTEN": self.fcgi_socket,
            "OPTIMIST_PIDFILE": self.pidfile,
            "OPTIMIST_DB_SOCKET": self.stack.db.socket,
            "OPTIMIST_DB_NAME": self.stack.db.name,
            "OPTIMIST_WORKERS": str(self.workers),
        })
        if self.stack.tables_dir:
            env["OPTIMIST_TABLES_DIR"] = self.stack.tables_dir
        # E2E_POOL_ENV="K=V ...": pool options for every stack of a run
        # (a module's own STACK_OPTIONS still win).
        for kv in os.environ.get("E2E_POOL_ENV", "").split():
            k, _, v = kv.partition("=")
            env[k] = v
        if SAN:
            env.update(SAN_ENV)
        env.update(self.env)
        return env

    def start_pool(self, workers=None, env=None, timeout=30):
        """Starts the pool and waits until it accepts on its socket.
        workers/env replace the frontend's settings from now on."""
        if self.pool_alive():
            raise HarnessError("pool %s already runs" % self.name)
        if workers is not None:
            self.workers = workers
        if env is not None:
            self.env = dict(env)
        exe = os.path.join(BIN, "optimist-fcgi")
        if not os.access(exe, os.X_OK):
            raise HarnessError("%s is not built (make all)" % exe)
        for path in (self.pidfile,):
            if os.path.exists(path):
                os.unlink(path)
        with open(self.log_path, "ab") as log:
            log.write(b"--- harness: starting the pool ---\n")
            log.flush()
            self.proc = subprocess.Popen(
                self.pool_prefix + [exe], cwd=self.dir, env=self.pool_env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError(
                    "optimist-fcgi exited with status %s during start:\n%s"
                    % (self.proc.returncode, _tail(self.log_path)))
            if not os.path.exists(self.pidfile):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(self.fcgi_socket)
                    return True
                except OSError:
                    return False
        wait_until(ready, timeout, "optimist-fcgi on " + self.fcgi_socket)
        return self

    def pool_pid(self):
        """The master's pid (None when the pool is not running)."""
        return self.proc.pid if self.pool_alive() else None

    def pool_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def worker_pids(self):
        """The live workers: children of the master but the hub, sorted."""
        pid = self.pool_pid()
        return [p for p in children(pid) if not _is_hub(p)] if pid else []

    def hub_pid(self):
        """The pool's hub (the child of the master named optimist-hub),
        or None."""
        pid = self.pool_pid()
        hubs = [p for p in children(pid) if _is_hub(p)] if pid else []
        return hubs[0] if hubs else None

    def wait_workers(self, n=None, timeout=20, exclude=()):
        """Waits until the pool has n workers (default: as configured),
        none of them in exclude, and returns their pids."""
        n = self.workers if n is None else n
        excl = set(exclude)

        def ok():
            pids = self.worker_pids()
            return pids if len(pids) == n and not excl & set(pids) else None
        return wait_until(ok, timeout, "%d workers" % n)

    def signal_pool(self, sig):
        """Sends sig to the master (SIGHUP: reload, SIGTERM: stop...)."""
        pid = self.pool_pid()
        if pid is None:
            raise HarnessError("pool %s is not running" % self.name)
        os.kill(pid, sig)

    def stop_pool(self, sig=signal.SIGTERM, timeout=None):
        """Stops the master with sig and waits for it (SIGKILL once
        timeout passes, default OPTIMIST_SHUTDOWN_TIMEOUT + 5 s). Any
        process of the pool still alive after its master (a worker, or a
        program a worker ran) is killed and listed in self.orphans: the
        pool runs in a session of its own, so none can hide. Returns the
        master's exit status (negative: killed by that signal), or None if
        it was never started."""
        self.orphans = []
        if self.proc is None:
            return None
        if timeout is None:
            timeout = int(self.pool_env().get("OPTIMIST_SHUTDOWN_TIMEOUT",
                                              "10")) + 5
        session = self.proc.pid
        if self.proc.poll() is None:
            _kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write("harness: pool %s still up %ds after %s: "
                                 "SIGKILL\n" % (self.name, timeout, sig))
                _kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # A worker gets a moment to follow its master out.
        deadline = time.monotonic() + 5
        while _scan(SESSION, session) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _scan(SESSION, session):
            self.orphans.append(pid)
            _kill(pid, signal.SIGKILL)
        return self.proc.returncode

    def kill_pool(self):
        """SIGKILL to every process of the pool at once."""
        if self.proc is None:
            return
        for pid in _scan(SESSION, self.proc.pid):
            _kill(pid, signal.SIGKILL)
        self.stop_pool(signal.SIGKILL, timeout=10)

    def restart_pool(self, workers=None, env=None):
        """stop_pool() then start_pool(workers, env)."""
        self.stop_pool()
        return self.start_pool(workers=workers, env=env)

    def pool_log(self, since=0):
        """The pool's log (all its runs), from byte offset `since`."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """The log's current size: pool_log(since=mark) is what came
        after."""
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def wait_log(self, text, since=0, timeout=10):
        """Waits until `text` appears in the log after `since`; returns the
        log from there."""
        return wait_until(
            lambda: text in self.pool_log(since) and self.pool_log(since),
            timeout, "%r in %s" % (text, self.log_path))

    # -- nginx ------------------------------------------------------------

    def render_nginx_conf(self, port):
        with open(os.path.join(REPO, "nginx", "nginx.conf.in")) as f:
            text = f.read()
        subst = {
            "@PREFIX@": self.nginx_dir,
            "@LOG_DIR@": self.nginx_dir,
            "@CONF_DIR@": os.path.join(REPO, "nginx"),
            "@LISTEN_ADDR@": "127.0.0.1",
            "@PORT@": str(port),
            "@FCGI_SOCKET@": self.fcgi_socket,
            "@USER_LINE@": "user root;" if os.getuid() == 0 else "",
        }
        for key, value in subst.items():
            text = text.replace(key, value)
        with open(self.nginx_conf, "w") as f:
            f.write(text)
        shutil.copy("/etc/nginx/fastcgi_params",
                    os.path.join(self.nginx_dir, "fastcgi_params"))
        web_conf = os.path.join(self.nginx_dir, "web.conf")
        if self.web:
            with open(web_conf, "w") as f:
                f.write('root "%s";\ninclude "%s";\n' % (
                    os.path.join(REPO, "web"),
                    os.path.join(REPO, "nginx", "optimist-web.conf")))
        elif os.path.exists(web_conf):
            os.unlink(web_conf)
        # The example shop's location (nginx.conf.in includes web*.conf).
        shop_conf = os.path.join(self.nginx_dir, "web-shop.conf")
        if self.stack.php is not None:
            self.stack.php.write_nginx_snippet(shop_conf)
        elif os.path.exists(shop_conf):
            os.unlink(shop_conf)

    def nginx_test(self):
        """`nginx -t` on the generated configuration (CompletedProcess)."""
        return subprocess.run(
            ["nginx", "-t", "-p", self.nginx_dir, "-c", self.nginx_conf],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=30)

    def start_nginx(self, port=None):
        """Starts nginx on `port`, or on a free one (tried again on another
        port if that one was taken meanwhile)."""
        pidfile = os.path.join(self.nginx_dir, "nginx.pid")
        last = ""
        for _ in range(5):
            p = port or free_port()
            self.render_nginx_conf(p)
            if os.path.exists(pidfile):
                os.unlink(pidfile)
            r = subprocess.run(
                ["nginx", "-p", self.nginx_dir, "-c", self.nginx_conf],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=30)
            if r.returncode == 0:
                def started():
                    try:
                        with open(pidfile) as f:
                            pid = int(f.read().strip())
                    except (FileNotFoundError, ValueError):
                        return None
                    return pid if alive(pid) else None
                self._nginx_pid = wait_until(started, 10, "nginx's pid file")
                self.port = p
                return self
            last = r.stderr
            if port or "Address already in use" not in r.stderr:
                break
        raise HarnessError("nginx did not start:\n" + last)

    def nginx_pid(self):
        return self._nginx_pid if self._nginx_pid and alive(
            self._nginx_pid) else None

    def stop_nginx(self, timeout=10):
        pid = self.nginx_pid()
        self._nginx_pid = None
        if pid is None:
            return
        kids = [i for i in map(_identity, children(pid)) if i]
        _kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not alive(pid), timeout, "nginx to stop")
        except HarnessError:
            _kill(pid, signal.SIGKILL)
        for k in kids:
            if _same(k):
                _kill(k[0], signal.SIGKILL)

    def nginx_log(self, which="error"):
        """nginx's error or access log."""
        path = os.path.join(self.nginx_dir, "nginx-%s.log" % which)
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # -- both -------------------------------------------------------------

    def start(self, pool=True):
        if pool:
            self.start_pool()
        self.start_nginx()
        return self

    def wait_healthy(self, timeout=30):
        """Waits until GET /healthz answers 200."""
        def ok():
            try:
                return self.get("/healthz", timeout=5).status == 200
            except OSError:
                return False
        wait_until(ok, timeout, "%s/healthz to answer 200" % self.url)

    def stop(self):
        self.stop_nginx()
        self.stop_pool()

    def sanitizer_reports(self, since=0):
        """Sanitizer reports in the pool log after byte offset `since`, as
        text excerpts (an empty list when there are none)."""
        log = self.pool_log(since)
        found = []
        for pat in SAN_PATTERNS:
            start = 0
            while True:
                i = log.find(pat, start)
                if i < 0:
                    break
                begin = log.rfind("\n", 0, max(0, i - 200)) + 1
                found.append("%s: %s" % (self.log_path, log[begin:i + 2000]))
                start = i + len(pat)
        return found

    def new_sanitizer_reports(self):
        """The reports that appeared since the last call."""
        mark = self.log_mark()
        found = self.sanitizer_reports(self._san_checked)
        self._san_checked = mark
        return found


class Stack(_Client):
    """A database and its frontends, in one temporary folder (self.dir).

    The methods of the first frontend (self.main) are available on the
    stack itself: http, get, post, put, patch, delete, stream, url, port,
    pool_pid, worker_pids, wait_workers, signal_pool, stop_pool,
    start_pool, kill_pool, restart_pool, pool_log, log_mark, wait_log,
    nginx_test, nginx_log."""

    def __init__(self, name="stack"):
        self.name = name
        self.dir = None
        self.db = None
        self.main = None
        self.frontends = []
        self.tenants = 0
        self.san_findings = []   # reports found by stop(), not yet taken
        self.tables_dir = None   # OPTIMIST_TABLES_DIR when tables=True
        self.php = None          # PhpFpm when php=True

    def start(self, workers=4, env=None, pool=None, web=False,
              db_opts=FAST_DB_OPTS, tables=False, php=False):
        """Starts MariaDB, migrates, starts a pool with `workers` workers
        and `env` added to its environment, and nginx; waits for /healthz.
        pool=False starts no pool (nginx then answers 503); the default is
        to start it if bin/optimist-fcgi is built. web=True: nginx also
        serves web/ at / (the browser tests). db_opts: mariadbd's extra
        options (tests that SIGKILL the server want commits that survive
        it). tables=True: the pools get OPTIMIST_TABLES_DIR=DIR/tables.d
        (empty at first: see declare()). php=True: the example shop on
        php-fpm behind the same nginx, at /shop/. Returns self."""
        self.dir = tempfile.mkdtemp(prefix="optimist-e2e-")
        try:
            self.db = Database(os.path.join(self.dir, "db"), db_opts)
            self.db.start()
            if os.access(os.path.join(BIN, "optimistctl"), os.X_OK):
                r = self.ctl("migrate")
                if r.returncode != 0:
                    raise HarnessError("optimistctl migrate failed:\n"
                                       + r.stdout + r.stderr)
            if tables:
                self.tables_dir = os.path.join(self.dir, "tables.d")
                os.makedirs(self.tables_dir, exist_ok=True)
            if php:
                self.php = PhpFpm(self).start()
            if pool is None:
                pool = os.access(os.path.join(BIN, "optimist-fcgi"),
                                 os.X_OK)
            self.main = Frontend(self, "main", workers, env, web=web)
            self.frontends.append(self.main)
            self.main.start(pool=pool)
            if pool:
                self.main.wait_healthy()
            return self
        except BaseException:
            self.stop()
            raise

    def add_frontend(self, workers=2, env=None, pool=True):
        """Another pool and nginx on this stack's database, with their own
        socket, port and log. Stopped by stop(); returns the Frontend."""
        fe = Frontend(self, "fe%d" % len(self.frontends), workers, env)
        self.frontends.append(fe)
        fe.start(pool=pool)
        if pool:
            fe.wait_healthy()
        return fe

    def stop(self):
        """Stops every frontend and the database, then removes the folder
        (unless KEEP=1). Safe to call twice."""
        for fe in reversed(self.frontends):
            try:
                fe.stop()
            except Exception as e:   # go on stopping the rest
                sys.stderr.write("harness: stopping %s: %s\n" % (fe.name, e))
            if SAN:
                self.san_findings += fe.new_sanitizer_reports()
        self.frontends = []
        if self.php is not None:
            try:
                self.php.stop()
            except Exception as e:
                sys.stderr.write("harness: stopping php-fpm: %s\n" % e)
            self.php = None
        if self.db is not None:
            self.db.stop()
            self.db = None
        if self.dir is not None:
            if KEEP:
                sys.stderr.write("harness: kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- tools ------------------------------------------------------------

    def ctl(self, *args):
        """Runs bin/optimistctl with the stack's database (CompletedProcess
        with text stdout/stderr)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OPTIMIST_")}
        env.update(OPTIMIST_DB_SOCKET=self.db.socket,
                   OPTIMIST_DB_NAME=self.db.name)
        if self.tables_dir:
            env["OPTIMIST_TABLES_DIR"] = self.tables_dir
        if SAN:
            env.update(SAN_ENV)
        return subprocess.run(
            [os.path.join(BIN, "optimistctl")] + list(args), cwd=REPO,
            env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60)

    def tenant(self, name=None):
        """Creates a tenant; returns (tenant_id, token)."""
        self.tenants += 1
        name = name or "tenant-%d" % self.tenants
        r = self.ctl("tenant", "create", name)
        if r.returncode != 0:
            raise HarnessError("optimistctl tenant create failed:\n"
                               + r.stdout + r.stderr)
        out = json.loads(r.stdout)
        return out["tenant_id"], out["token"]

    def sql(self, query):
        """See Database.sql()."""
        return self.db.sql(query)

    # -- declared tables (start(tables=True)) --------------------------------

    def declare(self, name, text):
        """Writes tables.d/<name>.conf. text: the file, or a dict of its
        KEY = value lines. Nothing is read until reload_tables()."""
        if not self.tables_dir:
            raise HarnessError("the stack has no tables dir (tables=True)")
        if isinstance(text, dict):
            text = "".join("%s = %s\n" % kv for kv in text.items())
        path = os.path.join(self.tables_dir, name + ".conf")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        return path

    def undeclare(self, name):
        try:
            os.unlink(os.path.join(self.tables_dir, name + ".conf"))
        except FileNotFoundError:
            pass

    def prepare_table(self, name, *args):
        """optimistctl table prepare NAME [args]; HarnessError on failure,
        else its CompletedProcess."""
        r = self.ctl("table", "prepare", name, *args)
        if r.returncode != 0:
            raise HarnessError("optimistctl table prepare %s failed:\n%s%s"
                               % (name, r.stdout, r.stderr))
        return r

    def reload_tables(self, timeout=30):
        """SIGHUP to every pool of the stack; waits until each has logged
        its "tables:" line for this reload and rolled its workers over
        ("reload done": every worker now serves what was read), and
        returns the "tables:" lines."""
        found = []
        for fe in self.frontends:
            mark = fe.log_mark()
            fe.signal_pool(signal.SIGHUP)
            fe.wait_log("reload done", since=mark, timeout=timeout)
            log = fe.wait_log("tables:", since=mark, timeout=timeout)
            found += [ln for ln in log.splitlines() if "tables:" in ln]
        return found

    def db_stop(self):
        """Stops MariaDB (the pools keep running: /healthz turns 503)."""
        self.db.stop()

    def db_start(self):
        self.db.start()

    def new_sanitizer_reports(self):
        """Sanitizer reports that appeared in any pool log of the stack
        since the last call (the runner calls it after each test)."""
        found, self.san_findings = self.san_findings, []
        for fe in self.frontends:
            found += fe.new_sanitizer_reports()
        return found

    # -- the first frontend's -----------------------------------------------

    @property
    def port(self):
        return self.main.port if self.main else None

    @property
    def fcgi_socket(self):
        return self.main.fcgi_socket

    @property
    def log_path(self):
        return self.main.log_path

    def __getattr__(self, name):
        if name in ("pool_pid", "hub_pid", "pool_alive", "worker_pids", "wait_workers",
                    "signal_pool", "stop_pool", "start_pool", "kill_pool",
                    "restart_pool", "pool_log", "log_mark", "wait_log",
                    "nginx_test", "nginx_log", "nginx_pid", "wait_healthy",
                    "orphans"):
            main = self.__dict__.get("main")
            if main is None:
                raise HarnessError("the stack is not started")
            return getattr(main, name)
        raise AttributeError(name)
