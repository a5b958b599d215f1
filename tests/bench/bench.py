#!/usr/bin/env python3
"""bench.py -- `make bench`: optimist against PHP-FPM, Node, Go and the
ceiling (nginx alone, the raw database), side by side, in one run.

It starts its own stack in a temporary folder (tests/e2e/harness.py: a
private MariaDB, the optimist pool, and one nginx that fronts optimist,
php-fpm, the Node cluster and the Go server on four ports, and answers
the same bytes from memory on a fifth), seeds 10,000 bids for one
tenant plus one hot bid, and runs wrk (tests/bench/*.lua) for each scenario
and connection count against each target in turn, A B C D A B C D, so that
a machine that gets busier or quieter affects every target alike:

    get     GET /v1/bids/{id}, random ids
    spread  PATCH /v1/bids/{id}, random ids, versions tracked (nearly all 200)
    hot     PATCH of one bid, last version seen (nearly all 409)
    chat    POST /v1/reports/{id}/chat, distinct message ids, spread over
            BENCH_CHAT_REPORTS fresh reports (optimist only)
    chat100k  the same on BENCH_CHAT_REPORTS reports already holding
            100,000 messages each (seeded by SQL, ids included)
    chatread  GET /v1/reports/{id}/chat, the last 100 messages of a
            1,000,000-message history (seeded by SQL)
    tget    GET /v1/tables/bench_items/{id}: a declared table (an
            application's own, made by SQL, prepared), random ids
    tspread PATCH /v1/tables/bench_items/{id} {"version", "qty"}, random
            ids, versions tracked (optimist only; beside get and spread:
            the goal is 0.9 x the bid rows, same run)

and, for get, spread and hot, the two halves of the ceiling: "nginx"
(the bench's nginx answering optimist's own answer -- status, headers,
body -- from memory with `return`, through the same wrk script) and
"raw" (tests/bench/rawdb.c: the same statements from N threads, no HTTP).
It prints one table (and writes it to build/bench/last.md) with req/s,
p50/p99, the counts of 200/409/other, the ratios optimist/PHP,
optimist/Node, optimist/Go, optimist/raw, the CPU time per request of
each process group (from /proc), the ceiling (nginx alone + MariaDB
alone, per answer) and optimist's fraction of it, the resident memory of
the pool's workers after the run, the load average before, during and
after, and whether each bar of BENCH.md is met.

Everything it starts is stopped by pid when it ends, fails, or is
interrupted (Ctrl-C, SIGTERM).

Environment:
    BENCH_SECONDS      seconds per run (default 10)
    BENCH_CONNS        connection counts (default 1,16,64)
    BENCH_SCENARIOS    default get,tget,spread,tspread,hot,chat,chat100k,
                       chatread (a declared table's rows right after the
                       bid rows they are compared with)
    BENCH_CHAT_REPORTS reports the chat scenarios spread over (default 8)
    BENCH_TARGETS      default optimist,php,node,go,nginx,raw (nginx: the
                       ceiling's HTTP half; go needs build/bench/gopeer)
    BENCH_ROUNDS       A B C D repetitions (default 2)
    BENCH_WARMUP       seconds of warm-up per target and scenario before
                       the measured runs (default 8: Node's JIT needs a
                       few thousand requests to settle)
    BENCH_WORKERS      optimist pool workers (default: the pool's own
                       default, one a core)
    BENCH_PHP_CHILDREN php-fpm static children (default 16)
    BENCH_NODE_WORKERS Node cluster workers (default 2)
    BENCH_NODE_POOL    mysql2 connections per Node worker (default 16)
    BENCH_GO_POOL      database/sql connections of the Go server (default 32)
    BENCH_DURABLE      1: innodb_flush_log_at_trx_commit=1 (fsync at
                       every commit); default 2 (write at commit, fsync
                       once a second)
    BENCH_BIDS         bids to seed (default 10000)
    BENCH_OUT          the table's file (default build/bench/last.md)
    BENCH_EXTRA_SQL    a file of SQL run after the migrations (debugging)
    BENCH_DB_OPTS      more mariadbd options (e.g. to compare
                       --thread-handling=pool-of-threads)
    BENCH_POOL_ENV     extra pool settings, "K=V K=V" (e.g. to compare
                       OPTIMIST_LOG_LEVEL=info)
    KEEP=1             keep the temporary folder and its logs
"""

import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
os.environ.setdefault("BIN", "bin")  # the release build, not the test one

import harness  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = [int(c) for c in os.environ.get("BENCH_CONNS", "1,16,64").split(",")]
SCENARIOS = os.environ.get("BENCH_SCENARIOS",
                           "get,tget,spread,tspread,hot,chat,chat100k,"
                           "chatread").split(",")
CHAT_REPORTS = int(os.environ.get("BENCH_CHAT_REPORTS", "8"))
CHAT_SCENARIOS = ("chat", "chat100k", "chatread")
TARGETS = os.environ.get("BENCH_TARGETS",
                         "optimist,php,node,go,nginx,raw").split(",")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
PHP_CHILDREN = int(os.environ.get("BENCH_PHP_CHILDREN", "16"))
NODE_WORKERS = int(os.environ.get("BENCH_NODE_WORKERS", "2"))
NODE_POOL = int(os.environ.get("BENCH_NODE_POOL", "16"))
GO_POOL = int(os.environ.get("BENCH_GO_POOL", "32"))
DURABLE = os.environ.get("BENCH_DURABLE") == "1"
NBIDS = int(os.environ.get("BENCH_BIDS", "10000"))
OUT = os.environ.get("BENCH_OUT", os.path.join(REPO, "build", "bench",
                                               "last.md"))
RAWDB = os.path.join(REPO, os.environ.get("BUILD", "build"), "bench", "rawdb")
SWITCHCOST = os.path.join(REPO, os.environ.get("BUILD", "build"), "bench",
                          "switchcost")
GOPEER = os.path.join(REPO, os.environ.get("BUILD", "build"), "bench",
                      "gopeer")
CORES = os.cpu_count() or 1

# Which scenarios each target implements.
SUPPORTS = {
    "optimist": {"get", "spread", "hot", "chat", "chat100k", "chatread",
                 "tget", "tspread"},
    "php": {"get", "spread", "hot"},
    "node": {"get", "spread", "hot"},
    "go": {"get", "spread", "hot"},
    "nginx": {"get", "spread", "hot"},
    "raw": {"get", "spread", "hot"},
}
BID_SCENARIOS = [s for s in SCENARIOS if s in ("get", "spread", "hot")]
SCRIPTS = {"get": "get.lua", "spread": "patch_spread.lua",
           "hot": "patch_hot.lua", "chat": "chat.lua", "chat100k": "chat.lua",
           "chatread": "chat_read.lua", "tget": "table_get.lua",
           "tspread": "table_patch.lua"}

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


class Interrupted(Exception):
    pass


def on_signal(sig, frame):
    raise Interrupted("signal %d" % sig)


# --------------------------------------------------------------------------
# CPU time and memory from /proc

def _stat_fields(pid):
    return harness._stat(pid)


def group_cpu(pid):
    """CPU seconds of a process group led by pid: its own time, the time of
    its children it has reaped (cutime/cstime: workers that exited during
    the run still count), and that of its live children. Threads are
    included in their process's numbers."""
    if pid is None:
        return 0.0
    st = _stat_fields(pid)
    if st is None:
        return 0.0
    # After the command name: utime 11, stime 12, cutime 13, cstime 14.
    ticks = sum(int(st[i]) for i in (11, 12, 13, 14))
    for child in harness.children(pid):
        cs = _stat_fields(child)
        if cs is not None:
            ticks += int(cs[11]) + int(cs[12])
    return ticks / CLK_TCK


def machine_cpu():
    """CPU seconds the whole machine has spent in processes so far (user,
    nice and system of /proc/stat's first line: interrupts and idle left
    out, as they are out of each process's utime + stime)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return sum(int(x) for x in fields[1:4]) / CLK_TCK


def other_share(seconds=2.0):
    """The share of the machine's CPU that processes took over `seconds`,
    before the bench starts anything: other work, measured. (The 1-minute
    load average takes minutes to forget a run that just ended.)"""
    c0, t0 = machine_cpu(), time.monotonic()
    time.sleep(seconds)
    return (machine_cpu() - c0) / ((time.monotonic() - t0) * CORES)


def vm(pid, field):
    """VmRSS or VmHWM of pid in KiB (None if gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------
# The stack

class BenchFrontend(harness.Frontend):
    """The optimist pool plus one nginx for all three HTTP targets."""

    php_port = node_port = go_port = ceil_port = None
    php_socket = node_socket = go_socket = None

    def render_nginx_conf(self, port):
        with open(os.path.join(HERE, "nginx-bench.conf.in")) as f:
            text = f.read()
        subst = {
            "@PREFIX@": self.nginx_dir,
            "@LOG_DIR@": self.nginx_dir,
            "@CONF_DIR@": os.path.join(REPO, "nginx"),
            "@LISTEN_ADDR@": "127.0.0.1",
            "@PORT@": str(port),
            "@PHP_PORT@": str(self.php_port),
            "@NODE_PORT@": str(self.node_port),
            "@GO_PORT@": str(self.go_port),
            "@GO_SOCKET@": self.go_socket,
            "@CEIL_PORT@": str(self.ceil_port),
            "@FCGI_SOCKET@": self.fcgi_socket,
            "@PHP_SOCKET@": self.php_socket,
            "@NODE_SOCKET@": self.node_socket,
            "@PHP_INDEX@": os.path.join(HERE, "peers", "php", "index.php"),
            "@USER_LINE@": "user root;" if os.getuid() == 0 else "",
        }
        for key, value in subst.items():
            text = text.replace(key, value)
        with open(self.nginx_conf, "w") as f:
            f.write(text)
        # The ceiling's answers are known once optimist answers: until
        # then (Bench.setup_ceiling rewrites it and reloads nginx), 503.
        ceiling = os.path.join(self.nginx_dir, "ceiling.conf")
        if not os.path.exists(ceiling):
            with open(ceiling, "w") as f:
                f.write("location / { return 503; }\n")
        import shutil
        shutil.copy("/etc/nginx/fastcgi_params",
                    os.path.join(self.nginx_dir, "fastcgi_params"))


def php_fpm_binary():
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/bin"):
        try:
            names = sorted(os.listdir(d), reverse=True)
        except OSError:
            continue
        for n in names:
            if n == "php-fpm" or (n.startswith("php-fpm") and
                                  n[7:].replace(".", "").isdigit()):
                return os.path.join(d, n)
    raise harness.HarnessError("php-fpm is not installed (make bench "
                               "installs it when run as root)")


class Bench:
    def __init__(self):
        self.stack = harness.Stack("bench")
        self.fe = None
        self.php = None
        self.node = None
        self.go = None
        self.ceiling_ok = False
        self.load = {"before": os.getloadavg(), "after": None,
                     "other_before": other_share()}
        self.client = None
        self.token = None
        self.tenant_id = None
        self.db_user = "bench"
        self.db_password = secrets.token_hex(12)
        self.lo = self.hi = self.hot = None
        self.results = []   # dicts, one per run

    # -- start and stop ------------------------------------------------

    def start(self):
        st = self.stack
        st.dir = tempfile.mkdtemp(prefix="optimist-bench-")
        log("folder %s" % st.dir)
        opts = ("--innodb-buffer-pool-size=256M --innodb-log-file-size=256M "
                "--innodb-flush-log-at-trx-commit=%d --max-connections=1000"
                % (1 if DURABLE else 2))
        opts += " " + os.environ.get("BENCH_DB_OPTS", "")
        st.db = harness.Database(os.path.join(st.dir, "db"), extra_opts=opts)
        st.db.start()
        r = st.ctl("migrate")
        if r.returncode != 0:
            raise harness.HarnessError("migrate failed:\n" + r.stdout + r.stderr)
        extra = os.environ.get("BENCH_EXTRA_SQL")
        if extra:
            with open(extra) as f:
                st.sql(f.read())
        self.tenant_id, self.token = st.tenant("bench")
        st.sql("CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s';"
               "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO '%s'@'localhost'"
               % (self.db_user, self.db_password, st.db.name, self.db_user))
        if BID_SCENARIOS:
            self.seed()
        self.long_reports, self.read_report = [], None
        if "chat100k" in SCENARIOS:
            self.long_reports = [self.seed_chat(100000, True)
                                 for _ in range(CHAT_REPORTS)]
        if "chatread" in SCENARIOS:
            self.read_report = self.seed_chat(1000000, False)

        pool_env = {"OPTIMIST_LOG_LEVEL": "warn"}
        table_bench_setup(self, pool_env)
        for kv in os.environ.get("BENCH_POOL_ENV", "").split():
            k, _, v = kv.partition("=")
            pool_env[k] = v
        fe = BenchFrontend(st, "main", WORKERS, pool_env)
        self.fe = fe
        st.frontends.append(fe)
        st.main = fe
        fe.php_socket = os.path.join(st.dir, "php", "php.sock")
        fe.node_socket = os.path.join(st.dir, "node", "node.sock")
        fe.php_port = harness.free_port()
        fe.node_port = harness.free_port()
        fe.go_socket = os.path.join(st.dir, "go", "go.sock")
        fe.go_port = harness.free_port()
        fe.ceil_port = harness.free_port()
        fe.start_pool()
        # Only the targets measured (BENCH_TARGETS=optimist needs neither
        # php-fpm nor Node installed).
        if "php" in TARGETS:
            self.start_php()
        if "node" in TARGETS:
            self.start_node()
        if "go" in TARGETS:
            self.start_go()
        fe.start_nginx()
        fe.wait_healthy()
        self.check_targets()
        if "nginx" in TARGETS and BID_SCENARIOS and "optimist" in TARGETS:
            self.setup_ceiling()

    def stop(self):
        if self.client is not None and self.client.poll() is None:
            harness._end_group(self.client)
        for proc in (self.go, self.node, self.php):
            if proc is not None:
                harness._end_group(proc)
        self.go = self.node = self.php = None
        self.stack.stop()

    def seed(self):
        """NBIDS bids and one hot bid for the tenant, by SQL in one
        statement (the sequence engine), as POST /v1/bids would make them
        (sql/0005_bids.sql's defaults: status open, version 1), each with a
        small realistic data object."""
        t = self.tenant_id
        before = int(self.stack.sql("SELECT COALESCE(MAX(id), 0) FROM bids")[0][0])
        self.stack.sql(
            "INSERT INTO bids (tenant_id, data, created_at, updated_at) "
            "SELECT %d, JSON_OBJECT('title', "
            "CONCAT('Bid ', seq), 'customer', CONCAT('Customer ', seq %% 97), "
            "'price', seq * 10, 'currency', 'EUR', 'lines', JSON_ARRAY("
            "JSON_OBJECT('sku', 'A-1', 'qty', 2), JSON_OBJECT('sku', 'B-7', "
            "'qty', 1))), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) "
            "FROM seq_1_to_%d ORDER BY seq" % (t, NBIDS + 1))
        ids = self.stack.sql("SELECT MIN(id), MAX(id) FROM bids WHERE "
                             "tenant_id = %d AND id > %d" % (t, before))[0]
        self.lo, last = int(ids[0]), int(ids[1])
        self.hi = last - 1
        self.hot = last
        log("seeded bids %d..%d and the hot bid %d" % (self.lo, self.hi,
                                                      self.hot))

    def seed_chat(self, length, with_ids):
        """A report of the tenant whose chat holds `length` messages, by
        SQL, laid out as lib/chat.c lays it out: segments of 25
        (CHAT_SEG_MAX; the sequence engine makes them), the counters, and (with_ids) the ids
        in report_chat_ids. The ids are not needed by reads."""
        t0 = time.monotonic()
        t = self.tenant_id
        rid = int(self.stack.sql(
            "INSERT INTO reports (tenant_id, title, created_at, updated_at) "
            "VALUES (%d, 'seeded', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)); "
            "SELECT LAST_INSERT_ID()" % t)[0][0])
        content = "seeded message"
        self.stack.sql(
            "SET SESSION group_concat_max_len = 1073741824; "
            "INSERT INTO report_chat_segments (report_id, first, n, bytes, "
            "msgs) SELECT %d, s.seq * 25, 25, %d, JSON_ARRAYAGG("
            "JSON_OBJECT('id', CONCAT('seed-', s.seq * 25 + m.seq), "
            "'role', 'user', 'content', '%s', 'at', "
            "'2026-01-01T00:00:00.000Z') ORDER BY m.seq) "
            "FROM seq_0_to_%d s JOIN seq_0_to_24 m GROUP BY s.seq"
            % (rid, 25 * len(content), content, length // 25 - 1))
        if with_ids:
            self.stack.sql("INSERT INTO report_chat_ids (report_id, msg_id) "
                           "SELECT %d, CONCAT('seed-', seq) FROM seq_0_to_%d"
                           % (rid, length - 1))
        self.stack.sql("UPDATE reports SET chat_length = %d, chat_bytes = %d,"
                       " chat_tail = %d WHERE id = %d"
                       % (length, length * len(content), length - 25, rid))
        log("seeded report %d with %d messages in %.1fs" % (
            rid, length, time.monotonic() - t0))
        return rid

    def start_php(self):
        d = os.path.join(self.stack.dir, "php")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(HERE, "peers", "php", "php-fpm.conf.in")) as f:
            text = f.read()
        for k, v in {"@DIR@": d, "@CHILDREN@": str(PHP_CHILDREN),
                     "@DB_SOCKET@": self.stack.db.socket,
                     "@DB_USER@": self.db_user,
                     "@DB_PASSWORD@": self.db_password,
                     "@DB_NAME@": self.stack.db.name}.items():
            text = text.replace(k, v)
        conf = os.path.join(d, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write(text)
        # opcache (and its JIT, which only helps PHP here) must be set at
        # start-up: a pool's php_admin_value comes too late for them.
        cmd = [php_fpm_binary(), "-F", "-y", conf, "-d", "opcache.enable=1",
               "-d", "opcache.jit_buffer_size=64M", "-d", "opcache.jit=tracing"]
        if os.getuid() == 0:
            cmd.append("-R")
        with open(os.path.join(d, "stdout.log"), "ab") as out:
            self.php = subprocess.Popen(cmd, cwd=d, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=out,
                                        start_new_session=True)
        self._wait_socket(self.fe.php_socket, self.php, "php-fpm")
        harness.wait_until(lambda: len(harness.children(self.php.pid))
                           >= PHP_CHILDREN, 20, "php-fpm's children")

    def start_node(self):
        d = os.path.join(self.stack.dir, "node")
        os.makedirs(d, exist_ok=True)
        peer = os.path.join(HERE, "peers", "node")
        if not os.path.isdir(os.path.join(peer, "node_modules", "express")):
            raise harness.HarnessError(
                "%s/node_modules is missing: run `npm ci` there (make bench "
                "does)" % peer)
        env = dict(os.environ, NODE_ENV="production",
                   BENCH_LISTEN=self.fe.node_socket,
                   BENCH_DB_SOCKET=self.stack.db.socket,
                   BENCH_DB_USER=self.db_user,
                   BENCH_DB_PASSWORD=self.db_password,
                   BENCH_DB_NAME=self.stack.db.name,
                   BENCH_NODE_WORKERS=str(NODE_WORKERS),
                   BENCH_NODE_POOL=str(NODE_POOL))
        with open(os.path.join(d, "node.log"), "ab") as out:
            self.node = subprocess.Popen(
                ["node", os.path.join(peer, "server.js")], cwd=d, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        self._wait_socket(self.fe.node_socket, self.node, "node")
        harness.wait_until(lambda: len(harness.children(self.node.pid))
                           >= NODE_WORKERS, 20, "node's workers")

    def start_go(self):
        if not os.access(GOPEER, os.X_OK):
            # As for rawdb: the Go column is left out, the rest runs.
            log("%s is missing, Go is skipped: `make bench` builds it "
                "(golang-go and golang-github-go-sql-driver-mysql-dev, "
                "from scripts/bench-deps.sh)" % GOPEER)
            return
        d = os.path.join(self.stack.dir, "go")
        os.makedirs(d, exist_ok=True)
        env = dict(os.environ, BENCH_LISTEN=self.fe.go_socket,
                   BENCH_DB_SOCKET=self.stack.db.socket,
                   BENCH_DB_USER=self.db_user,
                   BENCH_DB_PASSWORD=self.db_password,
                   BENCH_DB_NAME=self.stack.db.name,
                   BENCH_GO_POOL=str(GO_POOL))
        with open(os.path.join(d, "go.log"), "ab") as out:
            self.go = subprocess.Popen(
                [GOPEER], cwd=d, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=out, start_new_session=True)
        self._wait_socket(self.fe.go_socket, self.go, "the Go server")

    def setup_ceiling(self):
        """The ceiling's HTTP half: nginx answering, from memory, what
        optimist answers -- status, headers and body -- for each scenario:
        the GET of a bid, a successful PATCH, the hot bid's 409. Written
        into the ceiling server's include and loaded with a SIGHUP to our
        nginx."""
        path = "/v1/bids/%d" % self.lo
        get = self.request("optimist", "GET", path)
        v = get.json()["version"]
        patch = self.request("optimist", "PATCH", path,
                             {"version": v, "data": {"price": 10}})
        hot = self.request("optimist", "PATCH", "/v1/bids/%d" % self.hot,
                           {"version": 4294967295, "data": {"price": 1}})
        if (get.status, patch.status, hot.status) != (200, 200, 409):
            raise harness.HarnessError("ceiling: optimist answered %r %r %r"
                                       % (get, patch, hot))

        def quoted(text):
            # nginx strings: \ and ' escaped; $ would start a variable,
            # so it comes from one ($ceil_dollar, nginx-bench.conf.in).
            text = text.replace("\\", "\\\\").replace("'", "\\'")
            return "'%s'" % text.replace("$", "${ceil_dollar}")

        def answer(r):
            out = []
            for name, value in r.headers.items():
                low = name.lower()
                if low in ("server", "date", "content-type", "content-length",
                           "connection", "transfer-encoding", "keep-alive"):
                    continue
                if low == "x-request-id":
                    out.append("add_header %s $request_id always;" % name)
                else:
                    out.append("add_header %s %s always;" % (name,
                                                              quoted(value)))
            out.append("return %d %s;" % (r.status, quoted(r.text)))
            return " ".join(out)

        self.ceiling_bytes = {"get": len(get.body), "spread": len(patch.body),
                              "hot": len(hot.body)}
        conf = ("location = /v1/bids/%d { %s }\n"
                "location /v1/bids/ {\n"
                "    if ($request_method = PATCH) { %s }\n"
                "    %s\n}\n" % (self.hot, answer(hot), answer(patch),
                                  answer(get)))
        with open(os.path.join(self.fe.nginx_dir, "ceiling.conf"), "w") as f:
            f.write(conf)
        t = self.fe.nginx_test()
        if t.returncode != 0:
            raise harness.HarnessError("ceiling: nginx -t:\n" + t.stderr)
        os.kill(self.fe.nginx_pid(), signal.SIGHUP)

        def loaded():
            r = harness.request("127.0.0.1", self.fe.ceil_port, "GET", path,
                                token=self.token)
            return r.status == 200 and r.body == get.body
        harness.wait_until(loaded, 20, "nginx to load the ceiling")
        self.ceiling_ok = True

    def _wait_socket(self, path, proc, what):
        import socket

        def ready():
            if proc.poll() is not None:
                raise harness.HarnessError("%s exited during start (%s)"
                                           % (what, proc.returncode))
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(path)
                    return True
                except OSError:
                    return False
        harness.wait_until(ready, 30, "%s on %s" % (what, path))

    def port_of(self, target):
        return {"optimist": self.fe.port, "php": self.fe.php_port,
                "node": self.fe.node_port, "go": self.fe.go_port,
                "nginx": self.fe.ceil_port}[target]

    def request(self, target, method, path, body=None, headers=None):
        return harness.request("127.0.0.1", self.port_of(target), method,
                               path, body=body, headers=headers,
                               token=self.token)

    def check_targets(self):
        """Every HTTP target answers the same bid the same way, and a
        conflict the same way: the bench compares like with like."""
        seen = {}
        for t in ("optimist", "php", "node", "go"):
            if t not in TARGETS or not BID_SCENARIOS:
                continue
            path = "/v1/bids/%d" % self.lo
            if t not in TARGETS:
                continue
            r = self.request(t, "GET", path)
            if r.status != 200:
                raise harness.HarnessError("%s: GET %s answered %r"
                                           % (t, path, r))
            seen[t] = r.json()
            v = seen[t]["version"]
            r = self.request(t, "PATCH", path, {"version": v + 100,
                                                "data": {"price": 1}})
            if r.status != 409 or r.json().get("current_version") != v \
                    or r.json().get("current") != seen[t]:
                raise harness.HarnessError("%s: stale PATCH answered %r"
                                           % (t, r))
            r = self.request(t, "PATCH", path, {"version": v,
                                                "data": {"price": 10}})
            if r.status != 200 or r.json()["version"] != v + 1 \
                    or r.json()["data"]["price"] != 10:
                raise harness.HarnessError("%s: PATCH answered %r" % (t, r))
            seen[t] = r.json()
            r = self.request(t, "GET", path, headers={"Authorization":
                                                      "Bearer opt_0"})
            if r.status != 401:
                raise harness.HarnessError("%s: a bad token got %r" % (t, r))
        base = seen.get("optimist")
        for t, bid in seen.items():
            a = dict(bid)
            b = dict(base or bid)
            for k in ("updated_at", "version"):
                a.pop(k, None)
                b.pop(k, None)
            if a != b:
                raise harness.HarnessError(
                    "%s answers a bid unlike optimist:\n%s\n%s" % (t, a, b))
        self.chat_ok = False
        if set(CHAT_SCENARIOS) & set(SCENARIOS) and "optimist" in TARGETS:
            rid = self.new_report()
            r = self.request("optimist", "POST", "/v1/reports/%d/chat" % rid,
                             {"messages": [{"id": "probe", "role": "user",
                                            "content": "hello"}]})
            self.chat_ok = r.status == 200
            if not self.chat_ok:
                log("POST /v1/reports/{id}/chat answered %d: the chat "
                    "scenario is skipped" % r.status)

    def new_report(self):
        r = self.request("optimist", "POST", "/v1/reports",
                         {"title": "bench"})
        if r.status != 201:
            return 0
        return r.json()["id"]

    # -- one run -------------------------------------------------------

    def groups(self, target):
        """pid of each process group to account: nginx, app, db."""
        app = {"optimist": self.fe.pool_pid(),
               "php": self.php.pid if self.php else None,
               "node": self.node.pid if self.node else None,
               "go": self.go.pid if self.go else None,
               "nginx": None, "raw": None}[target]
        return {"nginx": None if target == "raw" else self.fe.nginx_pid(),
                "app": app, "db": self.stack.db.pid()}

    def versions_file(self):
        rows = self.stack.sql("SELECT id, version FROM bids WHERE id BETWEEN "
                              "%d AND %d" % (self.lo, self.hi))
        path = os.path.join(self.stack.dir, "versions.txt")
        with open(path, "w") as f:
            for row in rows:
                f.write("%s %s\n" % (row[0], row[1]))
        return path

    def hot_version(self):
        return int(self.stack.sql("SELECT version FROM bids WHERE id = %d"
                                  % self.hot)[0][0])

    def client_cmd(self, target, scenario, conns, seconds):
        if target == "raw":
            cmd = [RAWDB, "--socket", self.stack.db.socket,
                   "--user", self.db_user, "--password", self.db_password,
                   "--db", self.stack.db.name, "--threads", str(conns),
                   "--seconds", str(seconds), "--scenario", scenario,
                   "--token", self.token, "--ids", str(self.lo), str(self.hi),
                   "--hot", str(self.hot)]
            return cmd
        threads = min(2, conns)
        args = [self.token, str(threads)]
        if scenario == "get":
            args += [str(self.lo), str(self.hi)]
        elif scenario == "spread":
            args += [self.versions_file()]
        elif scenario == "hot":
            args += [str(self.hot), str(self.hot_version())]
        elif scenario == "chat":
            # Fresh reports for each run.
            ids = [str(self.new_report()) for _ in range(CHAT_REPORTS)]
            args += [secrets.token_hex(4), ",".join(ids)]
        elif scenario == "chat100k":
            args += [secrets.token_hex(4),
                     ",".join(str(r) for r in self.long_reports)]
        elif scenario == "chatread":
            args += [str(self.read_report), "1000000"]
        elif scenario in TABLE_SCENARIOS:
            args += table_bench_args(self, scenario)
        return ["wrk", "-t", str(threads), "-c", str(conns),
                "-d", "%ds" % seconds, "--timeout", "10s",
                "-s", os.path.join(HERE, SCRIPTS[scenario]),
                "http://127.0.0.1:%d" % self.port_of(target), "--"] + args

    def run(self, target, scenario, conns, seconds=SECONDS, record=True):
        cmd = self.client_cmd(target, scenario, conns, seconds)
        groups = self.groups(target)
        load = os.getloadavg()[0]
        before = {g: group_cpu(p) for g, p in groups.items()}
        machine_before, wall_before = machine_cpu(), time.monotonic()
        env = dict(os.environ, BENCH_LUA_DIR=HERE)
        # In a session of its own, like every server here: stop() ends it
        # by its process group whatever interrupted the run.
        self.client = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=env,
                                       start_new_session=True)
        out = self.client.stdout.read()
        err = self.client.stderr.read()
        _, status, ru = os.wait4(self.client.pid, 0)
        self.client.returncode = os.waitstatus_to_exitcode(status)
        after = {g: group_cpu(p) for g, p in groups.items()}
        machine_s = machine_cpu() - machine_before
        wall_s = time.monotonic() - wall_before
        rc = self.client.returncode
        self.client = None
        line = None
        for ln in out.decode("utf-8", "replace").splitlines():
            if ln.startswith("BENCH "):
                line = json.loads(ln[6:])
        if rc != 0 or line is None:
            raise harness.HarnessError("%s failed (%s):\n%s\n%s" % (
                " ".join(cmd[:8]), rc, out.decode()[-2000:],
                err.decode()[-2000:]))
        n = max(line["requests"], 1)
        cpu = {g: (after[g] - before[g]) / n * 1e6 for g in groups}
        cpu["client"] = (ru.ru_utime + ru.ru_stime) / n * 1e6
        # What the rest of the machine spent meanwhile: its CPU minus that
        # of the processes this run accounts (servers and client), as a
        # share of all the cores. The load average cannot tell it: at 64
        # connections the database alone keeps it over the cores.
        ours = sum(after[g] - before[g] for g in groups) + \
            ru.ru_utime + ru.ru_stime
        other = max(0.0, machine_s - ours) / max(wall_s * CORES, 1e-9)
        res = dict(line, target=target, scenario=scenario, conns=conns,
                   cpu_us=cpu, load=load, other=other)
        res["rps"] = line["requests"] / (line["duration_us"] / 1e6)
        if record:
            self.results.append(res)
            log("%-6s %-8s c=%-3d %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  "
                "200=%d 409=%d other=%d%s" % (
                    scenario, target, conns, res["rps"],
                    line["p50_us"] / 1000, line["p99_us"] / 1000,
                    line["c200"], line["c409"], line["cother"],
                    ("  first other: " + line["first_other"])
                    if line["first_other"] else ""))
        return res

    # -- the whole matrix ----------------------------------------------

    def runnable(self, target, scenario):
        if target not in SUPPORTS or scenario not in SUPPORTS[target]:
            return False
        if target == "raw" and not os.access(RAWDB, os.X_OK):
            return False
        if target == "go" and self.go is None:
            return False
        if target == "nginx" and not self.ceiling_ok:
            return False
        if scenario in CHAT_SCENARIOS and not self.chat_ok:
            return False
        if scenario in TABLE_SCENARIOS and not self.table_lo:
            return False
        return True

    def warm_up(self):
        if WARMUP <= 0:
            return
        log("warming up every target (%d s a scenario)" % WARMUP)
        for t in TARGETS:
            for sc in ("get", "spread", "hot") + CHAT_SCENARIOS + \
                    TABLE_SCENARIOS:
                if self.runnable(t, sc) and sc in SCENARIOS and \
                        t not in ("raw", "nginx"):
                    self.run(t, sc, 16, WARMUP, record=False)

    def run_all(self):
        self.warm_up()
        for sc in SCENARIOS:
            for c in CONNS:
                for rnd in range(ROUNDS):
                    for t in TARGETS:
                        if self.runnable(t, sc):
                            self.run(t, sc, c)
                            time.sleep(0.3)


# --------------------------------------------------------------------------
# Declared tables (tget, tspread): an application's own table, made by SQL
# like bids are seeded, declared in the stack's tables dir and prepared,
# served by the same pool in the same run as the bid rows.

TABLE_SCENARIOS = ("tget", "tspread")
TABLE_NAME = "bench_items"


def table_bench_setup(bench, pool_env):
    """Before the pool starts: the table, NBIDS rows of the tenant, its
    declaration (OPTIMIST_TABLES_DIR in pool_env) and `table prepare`."""
    bench.table_lo = bench.table_hi = None
    if not set(TABLE_SCENARIOS) & set(SCENARIOS) or \
            "optimist" not in TARGETS:
        return
    st = bench.stack
    st.tables_dir = os.path.join(st.dir, "tables.d")
    os.makedirs(st.tables_dir, exist_ok=True)
    pool_env["OPTIMIST_TABLES_DIR"] = st.tables_dir
    st.sql("CREATE TABLE %s (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT "
           "PRIMARY KEY, tenant_id BIGINT UNSIGNED NOT NULL, version INT "
           "UNSIGNED NOT NULL DEFAULT 1, title VARCHAR(100) NOT NULL, "
           "customer VARCHAR(100) NOT NULL, price DECIMAL(10,2) NOT NULL, "
           "qty INT NOT NULL DEFAULT 0, updated_at DATETIME(3) NOT NULL "
           "DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), "
           "KEY (tenant_id)) ENGINE=InnoDB" % TABLE_NAME)
    st.sql("INSERT INTO %s (tenant_id, title, customer, price, qty) "
           "SELECT %d, CONCAT('Item ', seq), CONCAT('Customer ', seq %% 97), "
           "seq * 10 + 0.5, seq %% 50 FROM seq_1_to_%d ORDER BY seq"
           % (TABLE_NAME, bench.tenant_id, NBIDS))
    st.declare(TABLE_NAME, {"table": TABLE_NAME,
                            "tenant_column": "tenant_id",
                            "read_only": "updated_at"})
    r = st.ctl("table", "prepare", TABLE_NAME)
    if r.returncode != 0:
        raise harness.HarnessError("table prepare failed:\n" + r.stdout +
                                   r.stderr)
    lo, hi = st.sql("SELECT MIN(id), MAX(id) FROM %s" % TABLE_NAME)[0]
    bench.table_lo, bench.table_hi = int(lo), int(hi)
    log("seeded %s %d..%d (declared, prepared)" % (TABLE_NAME, bench.table_lo,
                                                   bench.table_hi))


def table_bench_args(bench, scenario):
    if scenario == "tget":
        return [TABLE_NAME, str(bench.table_lo), str(bench.table_hi)]
    rows = bench.stack.sql("SELECT id, version FROM %s" % TABLE_NAME)
    path = os.path.join(bench.stack.dir, "table-versions.txt")
    with open(path, "w") as f:
        for row in rows:
            f.write("%s %s\n" % (row[0], row[1]))
    return [TABLE_NAME, path]


def table_bench_bars(get, check):
    """The declared-table rows against the bid rows of the same run."""
    out = []
    for t, b in (("tget", "get"), ("tspread", "spread")):
        a, base = get(t, "optimist"), get(b, "optimist")
        if a and base and base["rps"]:
            check("%s >= 0.9 x %s (declared table / bids)" % (t, b),
                  a["rps"] >= 0.9 * base["rps"],
                  "%.2f" % (a["rps"] / base["rps"]))
    return out


# --------------------------------------------------------------------------
# The table

def aggregate(results):
    """Runs of the same (scenario, conns, target) added up: req/s over the
    summed time, p50/p99 the mean over rounds, counts summed, CPU per
    request weighted by requests."""
    agg = {}
    for r in results:
        key = (r["scenario"], r["conns"], r["target"])
        a = agg.setdefault(key, {"requests": 0, "duration_us": 0, "p50": [],
                                 "p99": [], "c200": 0, "c409": 0,
                                 "cother": 0, "errors": 0, "cpu": {},
                                 "first_other": ""})
        a["requests"] += r["requests"]
        a["duration_us"] += r["duration_us"]
        a["p50"].append(r["p50_us"])
        a["p99"].append(r["p99_us"])
        for k in ("c200", "c409", "cother", "errors"):
            a[k] += r[k]
        if not a["first_other"]:
            a["first_other"] = r.get("first_other", "")
        for g, us in r["cpu_us"].items():
            a["cpu"][g] = a["cpu"].get(g, 0.0) + us * r["requests"]
    for a in agg.values():
        n = max(a["requests"], 1)
        a["rps"] = a["requests"] / (a["duration_us"] / 1e6)
        a["p50"] = sum(a["p50"]) / len(a["p50"]) / 1000
        a["p99"] = sum(a["p99"]) / len(a["p99"]) / 1000
        a["cpu"] = {g: v / n for g, v in a["cpu"].items()}
    return agg


def server_cpu(a):
    """CPU µs per answer of the server side: nginx, app and MariaDB."""
    return sum(a["cpu"].get(g, 0.0) for g in ("nginx", "app", "db"))


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        mem = 0
    return "%d cores (nproc), %s, %d MiB memory, %s %s" % (
        os.cpu_count(), model, mem, platform.system(), platform.release())


def switch_cost():
    """tests/bench/switchcost.c's figures: a system call and a round trip
    between two processes, in µs (None when it is not built)."""
    if not os.access(SWITCHCOST, os.X_OK):
        return None
    out = subprocess.run([SWITCHCOST], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        return None
    vals = dict(kv.split("=") for kv in out.stdout.split())
    return {k: float(v) for k, v in vals.items()}


def floor_lines(agg, sw):
    """What one database round trip costs the process that makes it
    (rawdb's client, which does nothing else), and what the machine
    charges for a system call and a process round trip: the part of the
    pool's CPU per answer that no code in the pool can remove."""
    out = []
    if sw:
        out.append("this machine (tests/bench/switchcost.c, measured before "
                   "the stack started): a system call %.2f µs, a round trip "
                   "between two processes over a unix socket %.1f µs of wall "
                   "time (both processes wake and sleep once)." % (
                       sw["syscall_us"], sw["roundtrip_us"]))
    for sc in ("get", "spread", "hot"):
        r = agg.get((sc, 64 if 64 in CONNS else max(CONNS), "raw"))
        if r and r["cpu"].get("client"):
            out.append("%s: rawdb's client, which only sends the same "
                       "statements and reads the answers, spends %.0f µs of "
                       "CPU an answer: the floor of any process making those "
                       "round trips on this machine, before HTTP." % (
                           sc, r["cpu"]["client"]))
    return out


def fmt_ratio(a, b):
    if a is None or b is None or b["rps"] == 0:
        return "-"
    return "%.2f" % (a["rps"] / b["rps"])


BUSY_OTHER = 0.10  # share of the machine other processes took: "busy"


def load_line(bench):
    """The load average before, during (sampled as each run starts) and
    after the run, the share of the machine's CPU that processes other
    than the run's own (servers, client) took during each run, and whether
    the machine was busy: other work over BUSY_OTHER of the machine before
    the start or in a run. (The load average says little of other work:
    at 64 connections the database's threads alone keep it over the
    cores, and it takes minutes to forget a run that just ended.)"""
    before = bench.load["before"]
    after = bench.load["after"] or os.getloadavg()
    during = [r["load"] for r in bench.results if "load" in r]
    other = [r["other"] for r in bench.results if "other" in r]
    busy_share = bench.load["other_before"]
    busy_before = busy_share > BUSY_OTHER
    busy_during = bool(other) and max(other) > BUSY_OTHER
    text = ("load average (1, 5, 15 min): before %.2f %.2f %.2f, after "
            "%.2f %.2f %.2f; 1-min during the runs %s, on %d cores" % (
                before + after + (
                    "%.1f to %.1f" % (min(during), max(during))
                    if during else "-", CORES)))
    text += ("\n\nother work before the start (2 s of /proc/stat): "
             "%.1f %% of the machine" % (100 * busy_share))
    if other:
        text += ("\n\nother work during the runs (the machine's CPU less "
                 "that of the run's own servers and client, /proc/stat): "
                 "%.1f %% of the machine on average, %.1f %% at most" % (
                     100 * sum(other) / len(other), 100 * max(other)))
    if busy_before or busy_during:
        text += ("\n\n**busy machine**: other work was running (%s); "
                 "req/s are what was left of the machine and the bars on "
                 "req/s are not a fair test. CPU per answer (the columns "
                 "on the right) is what to read." % (
                     "%.0f %% of the machine before the start"
                     % (100 * busy_share) if busy_before
                     else "%.0f %% of the machine in one run"
                     % (100 * max(other))))
    return text, busy_before or busy_during


def ceiling(agg, sc, c):
    """The ceiling of one row: nginx answering from memory (its CPU per
    answer) plus the database alone (rawdb's MariaDB CPU per answer). The
    rate it allows is cores / that CPU; None when either half is missing."""
    n, r = agg.get((sc, c, "nginx")), agg.get((sc, c, "raw"))
    if not n or not r or not n["cpu"].get("nginx") or not r["cpu"].get("db"):
        return None
    us = n["cpu"]["nginx"] + r["cpu"]["db"]
    return {"nginx_us": n["cpu"]["nginx"], "db_us": r["cpu"]["db"],
            "us": us, "rps": CORES * 1e6 / us}


def ceiling_lines(agg):
    out = ["The ceiling: nginx answering optimist's answer from memory "
           "(`return`, same client) and the database alone (rawdb, the same "
           "statements) cost, together, the least CPU an answer of an "
           "nginx-fronted service on this box can cost; %d cores over that "
           "is the most answers a second it can give. optimist's fraction: "
           "its req/s over that rate (the client's CPU, which the ceiling "
           "leaves out, is in optimist's), and by CPU: the ceiling's CPU "
           "per answer over optimist's server total (nginx + pool + "
           "MariaDB; load does not move it)." % CORES, "",
           "| scenario | conns | nginx alone µs | MariaDB alone µs | ceiling "
           "µs | ceiling req/s | optimist req/s | ÷ceiling | optimist server "
           "µs | ÷ceiling by CPU |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for sc in SCENARIOS:
        for c in CONNS:
            ce, o = ceiling(agg, sc, c), agg.get((sc, c, "optimist"))
            if ce is None or o is None:
                continue
            out.append("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f "
                       "| %.0f | %.2f |" % (
                           sc, c, ce["nginx_us"], ce["db_us"], ce["us"],
                           ce["rps"], o["rps"], o["rps"] / ce["rps"],
                           server_cpu(o), ce["us"] / server_cpu(o)))
    return out if len(out) > 4 else []


def table(bench, agg, rss):
    lines = []
    lines.append("machine: %s" % machine())
    lines.append("settings: %ds a run after %ds of warm-up, %d rounds A B C D, optimist workers "
                 "%d, php-fpm children %d, node workers %d x pool %d, "
                 "go pool %d, innodb_flush_log_at_trx_commit=%d" % (
                     SECONDS, WARMUP, ROUNDS, WORKERS, PHP_CHILDREN, NODE_WORKERS,
                     NODE_POOL, GO_POOL, 1 if DURABLE else 2))
    load_text, _ = load_line(bench)
    lines.append("")
    lines.append(load_text)
    lines.append("")
    lines.append("| scenario | conns | target | req/s | p50 ms | p99 ms | 200 "
                 "| 409 | other | ÷PHP | ÷Node | ÷Go | ÷raw | CPU µs/req: "
                 "nginx | app | MariaDB | client | server total | PHP÷ | "
                 "Node÷ | Go÷ |")
    lines.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
                 "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = ["optimist", "php", "node", "go", "nginx", "raw"]
    for sc in SCENARIOS:
        for c in CONNS:
            o = agg.get((sc, c, "optimist"))
            for t in order:
                a = agg.get((sc, c, t))
                if a is None:
                    continue
                ratios = ["", "", "", ""]
                if t == "optimist":
                    ratios = [fmt_ratio(o, agg.get((sc, c, peer)))
                              for peer in ("php", "node", "go", "raw")]
                cpu = a["cpu"]

                def us(g):
                    return "%.0f" % cpu[g] if cpu.get(g) else "-"
                total = server_cpu(a)
                cpu_ratios = ["", "", ""]
                if t == "optimist" and total:
                    for i, peer in enumerate(("php", "node", "go")):
                        b = agg.get((sc, c, peer))
                        if b and server_cpu(b):
                            cpu_ratios[i] = "%.2f" % (server_cpu(b) / total)
                lines.append(
                    "| %s | %d | %s | %.0f | %.2f | %.2f | %d | %d | %d%s "
                    "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s "
                    "| %s |" % (
                        sc, c, t, a["rps"], a["p50"], a["p99"], a["c200"],
                        a["c409"], a["cother"] + a["errors"],
                        "" if not a["first_other"] else " (%s)"
                        % a["first_other"][:40].replace("|", "/"),
                        ratios[0], ratios[1], ratios[2], ratios[3],
                        us("nginx"), us("app"), us("db"), us("client"), total,
                        cpu_ratios[0], cpu_ratios[1], cpu_ratios[2]))
    lines.append("")
    lines.append("÷PHP, ÷Node, ÷Go, ÷raw: optimist's req/s over theirs. app = "
                 "the optimist pool, php-fpm, the Node cluster or the Go "
                 "server; nginx = nginx alone, answering from memory; raw has "
                 "no HTTP, its client is rawdb. CPU from /proc/<pid>/stat "
                 "(utime+stime, reaped children included) over the run, "
                 "divided by the answers; server total = nginx + app + "
                 "MariaDB, and PHP÷, Node÷, Go÷ = their server total over "
                 "optimist's: how many times the CPU optimist spends on one "
                 "answer.")
    lines.append("")
    ce = ceiling_lines(agg)
    if ce:
        lines.extend(ce)
        lines.append("")
    fl = floor_lines(agg, getattr(bench, "switch", None))
    if fl:
        lines.append("The floor under the pool's CPU per answer:")
        lines.append("")
        lines.extend("- " + x for x in fl)
        lines.append("")
    lines.append("memory after the run: " + rss)
    lines.append("")
    lines.extend(bars(agg, bench))
    return "\n".join(lines) + "\n"


# The pool's CPU per answer, µs, at 64 connections (issue 25).
POOL_CPU_TARGETS = (("get", 35), ("spread", 75), ("chat", 120))


def bars(agg, bench):
    _, busy = load_line(bench)
    out = ["The bars (64 connections, same run%s):" % (
        "; a busy machine: the bars on req/s are not a fair test"
        if busy else "")]
    c = 64 if 64 in CONNS else max(CONNS)
    if c != 64:
        out[0] = out[0].replace("64 connections", "%d connections" % c)

    def get(sc, t):
        return agg.get((sc, c, t))

    def check(name, ok, detail):
        out.append("- %s: %s (%s)" % (name, "MET" if ok else "NOT MET",
                                      detail))

    def ratio(sc, t):
        a, b = get(sc, "optimist"), get(sc, t)
        return a["rps"] / b["rps"] if a and b and b["rps"] else None

    for sc, t, need in (("get", "php", 4), ("get", "node", 3),
                        ("get", "go", 1.5),
                        ("spread", "php", 3), ("spread", "node", 2.5),
                        ("spread", "go", 1.3),
                        ("spread", "raw", 0.5), ("hot", "php", 3)):
        r = ratio(sc, t)
        if r is None:
            out.append("- %s optimist/%s >= %g: not measured" % (sc, t, need))
        else:
            check("%s optimist/%s >= %g" % (sc, t, need), r >= need,
                  "%.2f" % r)
    # Chat appends whose cost does not grow with the history.
    chat, long_ = get("chat", "optimist"), get("chat100k", "optimist")
    if chat:
        check("chat >= 3000 appends/s", chat["rps"] >= 3000,
              "%.0f" % chat["rps"])
        sp = get("spread", "optimist")
        if sp:
            check("chat >= 0.5 x spread PATCH", chat["rps"] >= 0.5 * sp["rps"],
                  "%.2f" % (chat["rps"] / sp["rps"]))
    if chat and long_:
        check("chat100k >= 0.8 x chat", long_["rps"] >= 0.8 * chat["rps"],
              "%.2f" % (long_["rps"] / chat["rps"]))
    rd, g = get("chatread", "optimist"), get("get", "optimist")
    if rd and g:
        check("chatread within 2x of a bid GET", rd["rps"] >= 0.5 * g["rps"],
              "%.2f" % (rd["rps"] / g["rps"]))
    o, p = get("hot", "optimist"), get("hot", "php")
    if o and p:
        check("hot p99 optimist < p50 PHP", o["p99"] < p["p50"],
              "%.2f ms vs %.2f ms" % (o["p99"], p["p50"]))
    out += table_bench_bars(get, check)
    for sc, need in POOL_CPU_TARGETS:
        a = get(sc, "optimist")
        if a and a["cpu"].get("app"):
            raw = get(sc, "raw")
            floor = (raw["cpu"].get("client") if raw and sc != "chat"
                     else None)
            check("%s: pool CPU per answer <= %d µs" % (sc, need),
                  a["cpu"]["app"] <= need, "%.0f µs%s" % (
                      a["cpu"]["app"],
                      "; rawdb's client alone: %.0f µs" % floor
                      if floor else ""))
    ce, o = ceiling(agg, "get", c), get("get", "optimist")
    if ce and o:
        check("get optimist >= 0.6 x the ceiling", o["rps"] >= 0.6 * ce["rps"],
              "%.2f by req/s; %.2f by CPU" % (o["rps"] / ce["rps"],
                                              ce["us"] / server_cpu(o)))
    rss = bench.worker_rss
    if rss:
        check("pool worker RSS <= 8 MiB", max(rss) <= 8192,
              "max %.1f MiB" % (max(rss) / 1024))
    bad = sum(a["cother"] + a["errors"] for (sc, cc, t), a in agg.items()
              if t == "optimist")
    check("no optimist answers but 200 and 409", bad == 0,
          "%d other" % bad)
    return out


def main():
    # Explicitly: a shell that starts us in the background leaves SIGINT
    # ignored, and Python then installs no handler of its own.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    bench = Bench()
    bench.worker_rss = []
    bench.switch = switch_cost()
    rc = 0
    try:
        bench.start()
        bench.run_all()
        bench.load["after"] = os.getloadavg()
        workers = bench.fe.worker_pids()
        bench.worker_rss = [vm(p, "VmRSS") or 0 for p in workers]
        hwm = [vm(p, "VmHWM") or 0 for p in workers]
        php_rss = [vm(p, "VmRSS") or 0 for p in
                   (harness.children(bench.php.pid) if bench.php else [])]
        node_rss = [vm(p, "VmRSS") or 0 for p in
                    (harness.children(bench.node.pid) if bench.node else [])]
        go_rss = vm(bench.go.pid, "VmRSS") if bench.go else 0
        rss = ("optimist pool workers VmRSS %s KiB (peak VmHWM %s KiB); "
               "php-fpm children VmRSS max %d KiB; node workers VmRSS max "
               "%d KiB; Go server VmRSS %d KiB" % (
                   "/".join(map(str, bench.worker_rss)),
                   "/".join(map(str, hwm)), max(php_rss or [0]),
                   max(node_rss or [0]), go_rss or 0))
        text = table(bench, aggregate(bench.results), rss)
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w") as f:
            f.write(text)
        with open(OUT[:-3] + ".json" if OUT.endswith(".md") else OUT + ".json",
                  "w") as f:
            json.dump(bench.results, f, indent=1)
        sys.stdout.write("\n" + text)
        log("table written to %s" % OUT)
    except (KeyboardInterrupt, Interrupted):
        log("interrupted: stopping everything")
        rc = 130
    except harness.HarnessError as e:
        log("failed: %s" % e)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
