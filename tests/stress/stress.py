#!/usr/bin/env python3
"""stress.py -- the lost-update checker: many clients write through nginx
while the stack is being broken, then the database is read back and every
acknowledged write must be there exactly once.

    python3 tests/stress/stress.py [--seconds S] [--clients N]
                                   [--fault-interval S] [--workers N]
                                   [--mode all|builtin|tables]

(`make stress` runs it for STRESS_SECONDS, default 300; `make test` runs a
short one through tests/e2e/test_stress.py.) Python 3 stdlib only; the
stack (MariaDB, the pool, nginx) comes from tests/e2e/harness.py, in a
temporary folder on a free port.

The writes. Every write carries an id of its own (w<client>.<n>), so that
the database says which writes were applied:
  bids        PATCH {"version", "data": {"<id>": 1}}: one new key a write
  sessions    POST .../messages {"version", "message": {"content": "<id>"}}
  storefront  PUT {"version", "config": {"log": <the log seen> + [<id>]}}
              and PATCH {"version", "ops": [append <id> to $.log]}
  chat        POST /v1/reports/R/chat, messages with id <id> (no version;
              a write whose answer was lost is sent again, same ids)
  approvals   POST /v1/approvals with an Idempotency-Key (sent again with
              the same key until an answer comes), then two clients race
              to approve and to reject it, each with its own key; the
              winner sends its request once more and must get the stored
              answer back (Idempotent-Replayed: true), not a second effect.
  tables      (--mode tables or all) a declared table, `ledger`, made with
              plain SQL and prepared (its triggers): HTTP clients PATCH
              {"version", "log": <the log seen> + [<id>]} on its rows, and
              a plain-SQL writer beside them runs the application's own
              UPDATE ledger SET log = JSON_ARRAY_APPEND(log, '$', '<id>')
              WHERE id = ? (the mariadb client, autocommit, no version):
              the trigger raises the version, so no HTTP write overwrites
              it. Acknowledged: a 200, or the client's exit status 0.
A versioned write that gets 409 version_conflict reads the current version
and tries again with the same id. Odd clients keep their connection alive
(as browsers do), even ones open one a request.

The fate of a write. 200 (201) with a whole JSON body: acknowledged, it
must be in the database. A lost answer (connection error, a 5xx, a cut
body): unknown, it may or may not be there. Any other answer (409 and the
like): not applied.

The faults, one every --fault-interval seconds, in rounds that hold each
kind once: SIGKILL of a random pool worker, SIGKILL of MariaDB and a
restart, KILL CONNECTION of the pool's database connections (from the
server side), SIGHUP to the pool, nginx reload (SIGHUP to its master).

The checks, from the database once the clients have stopped:
  lost        an acknowledged write that is not there
  duplicate   a write that is there twice
  phantom     a write there that was never sent
  version     version != its start + the writes applied (a write applied
              twice, or one applied without its version)
  chat        chat_length, the id table and the array disagree
  approvals   an approval created twice under one key, a decision without
              exactly one outbox event, two acknowledged winners, a
              winner whose decision is not the stored one, a replay that
              executed again or answered something else
Cut answers (a 200 or 409 whose body is not whole JSON although nothing
said it was cut: no Content-Length) are counted apart: they are an
answer cut short (no Content-Length), not a lost write. STRESS_STRICT=1 counts them as
violations too.

The last line: "stress: requests=... acked=... unknown=... conflicts=...
faults=kind:n,... cut_answers=... violations=N"; exit status 1 if N > 0.
"""

import argparse
import collections
import http.client
import json
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402

# Commits must survive a SIGKILL of mariadbd: write the log at every commit
# (=2: to the OS, which outlives the process; no fsync, the machine does not
# crash here).
DURABLE_DB_OPTS = ("--innodb-flush-log-at-trx-commit=2 "
                   "--innodb-doublewrite=0 --innodb-flush-method=nosync")

FAULT_KINDS = ("worker_kill", "db_kill", "kill_connection", "pool_hup",
               "nginx_reload")


class Checker:
    """The clients, the faults and the final check on one Stack."""

    def __init__(self, stack, clients=8, seconds=30, fault_interval=1.5,
                 seed=None, log=print, mode="builtin"):
        self.stack = stack
        self.mode = mode   # builtin, tables (declared tables only) or all
        self.nclients = clients
        self.seconds = seconds
        self.fault_interval = fault_interval
        self.rand = random.Random(seed)
        self.log = log
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counts = collections.Counter()
        self.faults = collections.Counter()
        self.statuses = collections.Counter()
        self.violations = []
        # (kind, resource) -> set of write ids
        self.acked = collections.defaultdict(set)
        self.unknown = collections.defaultdict(set)
        self.sent = collections.defaultdict(set)
        # approvals: uid -> aid (acked creates); aid -> [(key, choice)]
        self.approval_uids = {}
        self.approval_unknown_uids = set()
        self.winners = collections.defaultdict(list)
        self.db_down = threading.Event()
        self.t0 = time.monotonic()
        self.ack_time = {}          # write id -> when it was acknowledged
        self.fault_times = []       # (when, kind), for the reports
        self.errors_after = collections.Counter()  # kind -> conn errors
        self.local = threading.local()   # a client's keep-alive connection

    # -- HTTP ---------------------------------------------------------------

    def send(self, method, path, body, token, headers):
        """One request: on the client thread's keep-alive connection for
        the odd clients (what a browser does: answers cut by an nginx
        reload showed on those), else on a new connection."""
        conn = getattr(self.local, "conn", None)
        if not getattr(self.local, "keepalive", False):
            return self.stack.http(method, path, body, token=token,
                                   headers=headers, timeout=20)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                self.stack.main.host, self.stack.port, timeout=20)
        data, hdrs = harness._prepare(body, headers, token, None)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            if resp.will_close:
                conn.close()
                self.local.conn = None
            return harness.Response(resp.status, resp.reason, resp.headers,
                                    payload)
        except BaseException:
            conn.close()
            self.local.conn = None
            raise

    def call(self, method, path, body, token, headers=None):
        """One request. Returns (fate, response): fate is "ok" for a whole
        2xx answer, "unknown" for a lost one, "no" for any other answer."""
        with self.lock:
            self.counts["requests"] += 1
        try:
            r = self.send(method, path, body, token, headers)
        except (OSError, http.client.HTTPException) as e:
            with self.lock:
                self.counts["conn_errors"] += 1
                self.statuses[type(e).__name__] += 1
                self.blame("error")
            return "unknown", None
        with self.lock:
            self.statuses[r.status] += 1
        if r.status >= 500:
            return "unknown", r
        if r.status != 204:
            try:
                json.loads(r.body)
            except ValueError:
                # A well-formed HTTP answer whose body is cut: the client
                # cannot tell, unless Content-Length says so.
                with self.lock:
                    self.counts["cut_answers"] += 1
                    self.blame("cut")
                    if r.headers.get("Content-Length") is None:
                        self.counts["cut_without_length"] += 1
                    else:
                        self.counts["cut_with_length"] += 1
                return "unknown", None
        return ("ok" if r.status < 300 else "no"), r

    def blame(self, what):
        """Counts a lost answer against the fault just before it (within
        2 s), under self.lock: a reload that cuts answers (nginx's
        buffers) shows as errors after nginx_reload."""
        if self.fault_times:
            t, kind = self.fault_times[-1]
            if time.monotonic() - self.t0 - t < 2:
                self.errors_after["%s_after_%s" % (what, kind)] += 1
                return
        self.errors_after[what + "_after_none"] += 1

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        self.log("VIOLATION " + text)

    def unexpected(self, what, r):
        # A refusal that no fault explains is a wrong answer.
        self.violation("unexpected answer to %s: %d %s"
                       % (what, r.status, r.body[:300]))

    def record(self, key, wid, fate):
        with self.lock:
            if fate == "ok":
                self.acked[key].add(wid)
                self.ack_time[wid] = time.monotonic() - self.t0
                self.counts["acked"] += 1
            else:
                self.unknown[key].add(wid)
                self.counts["unknown"] += 1

    # -- setup ----------------------------------------------------------------

    def setup(self):
        s = self.stack
        self.tenants = [s.tenant("stress-a"), s.tenant("stress-b")]
        self.ledgers = []
        if self.mode in ("tables", "all"):
            self.setup_tables()
        self.bids, self.sessions, self.reports = [], [], []
        for tid, tok in self.tenants:
            for _ in range(2):
                r = s.post("/v1/bids", {"data": {}}, token=tok)
                assert r.status == 201, r
                self.bids.append((tok, r.json()["id"]))
                r = s.post("/v1/sessions", {"title": "stress"}, token=tok)
                assert r.status == 201, r
                self.sessions.append((tok, r.json()["id"]))
            r = s.post("/v1/reports", {"title": "stress"}, token=tok)
            assert r.status == 201, r
            self.reports.append((tok, r.json()["id"]))
            r = s.put("/v1/storefront/draft",
                      {"version": 1, "config": {"log": []}}, token=tok)
            assert r.status == 200, r

    def setup_tables(self):
        """The declared table `ledger`: made with plain SQL, declared,
        prepared, served after a reload; two rows a tenant."""
        s = self.stack
        s.sql("CREATE TABLE ledger (id INT UNSIGNED NOT NULL AUTO_INCREMENT "
              "PRIMARY KEY, tenant_id BIGINT UNSIGNED NOT NULL, version INT "
              "UNSIGNED NOT NULL DEFAULT 1, log JSON NOT NULL DEFAULT '[]', "
              "note VARCHAR(40) NULL) ENGINE=InnoDB")
        s.declare("ledger", {"table": "ledger",
                             "tenant_column": "tenant_id"})
        s.prepare_table("ledger")
        s.reload_tables()
        for tid, tok in self.tenants:
            harness.wait_until(lambda: s.get("/v1/tables/ledger",
                                             token=tok).status == 200, 20,
                               "the declared table ledger")
            for _ in range(2):
                r = s.post("/v1/tables/ledger", {"note": "stress"},
                           token=tok)
                assert r.status == 201, r
                self.ledgers.append((tok, r.json()["id"]))

    # -- the clients ------------------------------------------------------------

    def versioned(self, key, wid, token, get_path, attempt, shows):
        """A versioned write with retries on 409: attempt(current) returns
        (fate, response); current is the resource as GET gives it."""
        self.sent[key].add(wid)
        current = None
        for _ in range(100):
            if self.stop.is_set() and current is None:
                return
            if current is None:
                fate, r = self.call("GET", get_path, None, token)
                if fate != "ok":
                    time.sleep(0.05)
                    continue
                current = r.json()
            fate, r = attempt(current)
            if fate == "ok":
                self.record(key, wid, "ok")
                # The answer is the resource after the write: the write
                # must be in it, at the version after the one sent.
                got = r.json()
                if not shows(got) or got.get("version") != \
                        current["version"] + 1:
                    self.violation("%s %s: 200 for %s at version %s, but "
                                   "the answer (version %s) does not show "
                                   "it" % (key[0], key[1], wid,
                                           current["version"],
                                           got.get("version")))
                return
            if fate == "unknown":
                self.record(key, wid, "unknown")
                time.sleep(0.02)
                return
            body = r.json()
            if r.status == 409 and body.get("error") == "version_conflict":
                with self.lock:
                    self.counts["conflicts"] += 1
                current = None
                continue
            self.unexpected("%s %s" % (key[0], wid), r)
            return
        with self.lock:
            self.counts["gave_up"] += 1

    def bid_write(self, wid):
        tok, bid = self.rand.choice(self.bids)
        path = "/v1/bids/%d" % bid
        self.versioned(("bid", bid), wid, tok, path, lambda cur: self.call(
            "PATCH", path, {"version": cur["version"], "data": {wid: 1}},
            tok), lambda got: wid in got.get("data", {}))

    def session_write(self, wid):
        tok, sid = self.rand.choice(self.sessions)
        path = "/v1/sessions/%d" % sid
        self.versioned(("session", sid), wid, tok, path, lambda cur: self.call(
            "POST", path + "/messages",
            {"version": cur["version"],
             "message": {"role": "user", "content": wid}}, tok),
            lambda got: any(m.get("content") == wid
                            for m in got.get("messages", [])))

    def storefront_write(self, wid):
        i = self.rand.randrange(len(self.tenants))
        tid, tok = self.tenants[i]
        path = "/v1/storefront/draft"
        if self.rand.random() < 0.5:
            def attempt(cur):
                log = list(cur["config"].get("log", []))
                return self.call("PUT", path, {
                    "version": cur["version"],
                    "config": {"log": log + [wid]}}, tok)
        else:
            def attempt(cur):
                return self.call("PATCH", path, {
                    "version": cur["version"],
                    "ops": [{"op": "append", "path": "$.log",
                             "value": wid}]}, tok)
        self.versioned(("storefront", tid), wid, tok, path, attempt,
                       lambda got: wid in got.get("config", {}).get("log",
                                                                    []))

    def chat_write(self, wid):
        tok, rid = self.rand.choice(self.reports)
        ids = [wid] if self.rand.random() < 0.7 else [wid + "a", wid + "b"]
        msgs = [{"id": m, "role": "user", "content": m} for m in ids]
        key = ("chat", rid)
        with self.lock:
            self.sent[key].update(ids)
        # The same ids again after a lost answer: the server drops what it
        # already has, so the retry is harmless.
        for _ in range(5):
            fate, r = self.call("POST", "/v1/reports/%d/chat" % rid,
                                {"messages": msgs}, tok)
            if fate == "ok":
                for m in ids:
                    self.record(key, m, "ok")
                return
            if fate == "no":
                self.unexpected("chat %s" % wid, r)
                return
            time.sleep(0.1)
        for m in ids:
            self.record(key, m, "unknown")

    def keyed(self, path, body, tok, idem_key):
        """A keyed POST sent again (same key, same body) after each lost
        answer, and after idempotency_key_in_use; returns the first
        definite answer, or None."""
        for _ in range(40):
            if self.stop.is_set():
                break
            fate, r = self.call("POST", path, body, tok,
                                {"Idempotency-Key": idem_key})
            if fate == "unknown":
                time.sleep(0.1)
                continue
            if r.status == 409 and \
                    r.json().get("error") == "idempotency_key_in_use":
                time.sleep(0.1)
                continue
            return r
        return None

    def approval_flow(self, wid):
        i = self.rand.randrange(len(self.tenants))
        tid, tok = self.tenants[i]
        r = self.keyed("/v1/approvals",
                       {"action": {"type": "stress",
                                   "payload": {"uid": wid}}},
                       tok, "c-" + wid)
        if r is None:
            with self.lock:
                self.approval_unknown_uids.add(wid)
                self.counts["unknown"] += 1
            return
        if r.status != 201:
            self.unexpected("approval create %s" % wid, r)
            return
        aid = r.json()["id"]
        with self.lock:
            self.approval_uids[wid] = aid
            self.counts["acked"] += 1
        # Two deciders at once, each with its own key.
        racers = [threading.Thread(target=self.decide,
                                   args=(tok, aid, choice,
                                         "d-%s-%s" % (wid, choice)))
                  for choice in ("approve", "reject")]
        for t in racers:
            t.start()
        for t in racers:
            t.join()

    def decide(self, tok, aid, choice, idem_key):
        path = "/v1/approvals/%d/%s" % (aid, choice)
        body = {"version": 1, "note": idem_key}
        r = self.keyed(path, body, tok, idem_key)
        if r is None:
            return
        if r.status == 409 and r.json().get("error") in (
                "invalid_state", "version_conflict"):
            return                                   # the other one won
        if r.status != 200:
            self.unexpected("%s %d" % (choice, aid), r)
            return
        with self.lock:
            self.winners[aid].append((idem_key, choice))
            self.counts["acked"] += 1
        first = r.json()
        # The same request again: the stored answer, no second effect.
        r2 = self.keyed(path, body, tok, idem_key)
        if r2 is None:
            return
        with self.lock:
            self.counts["replays"] += 1
        if r2.status != 200 or \
                r2.headers.get("Idempotent-Replayed") != "true" or \
                r2.json().get("version") != first.get("version") or \
                r2.json().get("status") != first.get("status"):
            self.violation("replay of %s on approval %d: %d %s %s"
                           % (idem_key, aid, r2.status,
                              r2.headers.get("Idempotent-Replayed"),
                              r2.body[:200]))

    def table_write(self, wid):
        tok, lid = self.rand.choice(self.ledgers)
        path = "/v1/tables/ledger/%d" % lid
        self.versioned(("ledger", lid), wid, tok, path, lambda cur: self.call(
            "PATCH", path, {"version": cur["version"],
                            "log": list(cur["log"]) + [wid]}, tok),
            lambda got: wid in got.get("log", []))

    def sql_writer(self):
        """The application's own writes, beside the HTTP clients: one
        UPDATE a time through the mariadb client (autocommit). Exit status
        0: acknowledged; a failure (the server killed meanwhile): unknown,
        like a lost HTTP answer."""
        seq = 0
        while not self.stop.is_set():
            seq += 1
            wid = "s%d" % seq
            _, lid = self.rand.choice(self.ledgers)
            key = ("ledger", lid)
            with self.lock:
                self.sent[key].add(wid)
                self.counts["sql_writes"] += 1
            try:
                self.stack.sql("UPDATE ledger SET log = JSON_ARRAY_APPEND("
                               "log, '$', '%s') WHERE id = %d" % (wid, lid))
                self.record(key, wid, "ok")
                with self.lock:
                    self.counts["sql_acked"] += 1
            except (harness.HarnessError, OSError, Exception):
                self.record(key, wid, "unknown")
                time.sleep(0.1)
            time.sleep(self.rand.uniform(0, 0.02))

    def client(self, n):
        ops = []
        if self.mode in ("builtin", "all"):
            ops += ([self.bid_write] * 3 + [self.session_write] * 3 +
                    [self.storefront_write] * 2 + [self.chat_write] * 2 +
                    [self.approval_flow])
        if self.mode in ("tables", "all"):
            ops += [self.table_write] * (3 if self.mode == "all" else 1)
        self.local.keepalive = n % 2 == 1
        seq = 0
        while not self.stop.is_set():
            seq += 1
            wid = "w%d.%d" % (n, seq)
            try:
                self.rand.choice(ops)(wid)
            except Exception as e:   # a bug in the checker: say it, go on
                self.violation("client %d: %s: %r" % (n, wid, e))

    # -- the faults ---------------------------------------------------------

    def inject(self, kind):
        s = self.stack
        if kind == "worker_kill":
            pids = s.worker_pids()
            if not pids:
                return False
            harness._kill(self.rand.choice(pids), signal.SIGKILL)
        elif kind == "db_kill":
            pid = s.db.pid()
            if pid is None:
                return False
            self.db_down.set()
            harness._kill(pid, signal.SIGKILL)
            harness.wait_until(lambda: not harness.alive(pid), 10,
                               "mariadbd to die")
            time.sleep(self.rand.uniform(0.2, 1.0))
            s.db_start()
            self.db_down.clear()
        elif kind == "kill_connection":
            rows = s.sql("SELECT ID FROM information_schema.PROCESSLIST "
                         "WHERE DB = '%s' AND ID <> CONNECTION_ID()"
                         % s.db.name)
            ids = [r[0] for r in rows]
            if not ids:
                return False
            for cid in self.rand.sample(ids, max(1, len(ids) // 2)):
                try:
                    s.sql("KILL CONNECTION %d" % int(cid))
                except harness.HarnessError:
                    pass   # it ended meanwhile
        elif kind == "pool_hup":
            s.signal_pool(signal.SIGHUP)
        elif kind == "nginx_reload":
            pid = s.nginx_pid()
            if pid is None:
                return False
            os.kill(pid, signal.SIGHUP)
        return True

    def fault_loop(self):
        kinds = []
        while not self.stop.wait(self.fault_interval):
            if not kinds:
                kinds = list(FAULT_KINDS)
                self.rand.shuffle(kinds)
            kind = kinds.pop()
            try:
                t = time.monotonic() - self.t0
                if self.inject(kind):
                    with self.lock:
                        self.faults[kind] += 1
                        self.fault_times.append((t, kind))
            except Exception as e:
                with self.lock:
                    self.counts["fault_errors"] += 1
                self.log("fault %s failed: %s" % (kind, e))

    # -- the run ----------------------------------------------------------------

    def run(self):
        t0 = self.t0 = time.monotonic()
        self.setup()
        threads = [threading.Thread(target=self.client, args=(n,))
                   for n in range(self.nclients)]
        if self.ledgers:
            threads.append(threading.Thread(target=self.sql_writer))
        faults = threading.Thread(target=self.fault_loop)
        for t in threads:
            t.start()
        faults.start()
        time.sleep(self.seconds)
        self.stop.set()
        faults.join()
        for t in threads:
            t.join()
        # Everything back up before the database is read.
        if not self.stack.db.running():
            self.stack.db_start()
        harness.wait_until(lambda: self.stack.pool_alive(), 5, "the pool")
        self.stack.wait_healthy(60)
        self.check()
        self.elapsed = time.monotonic() - t0
        return self

    # -- the check ---------------------------------------------------------------

    def compare(self, key, present, version, base):
        """present: the write ids in the database, in order."""
        acked, unknown = self.acked[key], self.unknown[key]
        seen = collections.Counter(present)
        for wid, n in seen.items():
            if n > 1:
                self.violation("%s %s: %s applied %d times"
                               % (key[0], key[1], wid, n))
        for wid in sorted(acked - set(seen)):
            t = self.ack_time.get(wid, 0)
            near = ["%s at %.1fs" % (k, ft) for ft, k in self.fault_times
                    if abs(ft - t) < 3]
            self.violation("%s %s: acknowledged write %s lost (acked at "
                           "%.1fs; faults near: %s)"
                           % (key[0], key[1], wid, t,
                              ", ".join(near) or "none"))
        for wid in sorted(set(seen) - acked - unknown):
            self.violation("%s %s: write %s there but never sent or refused"
                           % (key[0], key[1], wid))
        if version is not None and version != base + len(present):
            self.violation("%s %s: version %d but %d writes applied "
                           "(expected %d)" % (key[0], key[1], version,
                                              len(present),
                                              base + len(present)))
        with self.lock:
            self.counts["applied"] += len(present)
            self.counts["unknown_applied"] += len(set(seen) & unknown)

    def rows(self, query):
        return self.stack.sql(query)

    def check(self):
        for tok, lid in self.ledgers:
            (v, log), = self.rows(
                "SELECT version, log FROM ledger WHERE id = %d" % lid)
            # Every applied write, HTTP or SQL, raised the version by one.
            self.compare(("ledger", lid), json.loads(log), int(v), 1)
        for tok, bid in self.bids:
            (v, data), = self.rows(
                "SELECT version, data FROM bids WHERE id = %d" % bid)
            self.compare(("bid", bid), list(json.loads(data)), int(v), 1)
        for tok, sid in self.sessions:
            (v, msgs), = self.rows(
                "SELECT version, messages FROM sessions WHERE id = %d" % sid)
            self.compare(("session", sid),
                         [m["content"] for m in json.loads(msgs)], int(v), 1)
        for tid, tok in self.tenants:
            (v, cfg), = self.rows(
                "SELECT version, config FROM storefront_drafts "
                "WHERE tenant_id = %d" % tid)
            self.compare(("storefront", tid), json.loads(cfg).get("log", []),
                         int(v), 2)
        for tok, rid in self.reports:
            (v, length), = self.rows(
                "SELECT version, chat_length FROM reports "
                "WHERE id = %d" % rid)
            # The history is in segments (sql/0008): read them in order,
            # and check that they tile it (each starts where the last
            # ended, and holds what its n says).
            ids = []
            for first, n, msgs in self.rows(
                    "SELECT first, n, msgs FROM report_chat_segments "
                    "WHERE report_id = %d ORDER BY first" % rid):
                got = json.loads(msgs)
                if int(first) != len(ids) or int(n) != len(got):
                    self.violation("chat %d: segment at %s holds %d of %s "
                                   "after %d messages"
                                   % (rid, first, len(got), n, len(ids)))
                ids += [m["id"] for m in got]
            # Chat appends leave the report's version alone.
            self.compare(("chat", rid), ids, None, 0)
            if int(v) != 1:
                self.violation("chat %d: report version %s after appends"
                               % (rid, v))
            (n,), = self.rows("SELECT COUNT(*) FROM report_chat_ids "
                              "WHERE report_id = %d" % rid)
            if int(length) != len(ids) or int(n) != len(ids):
                self.violation("chat %d: chat_length %s, %s ids, %d messages"
                               % (rid, length, n, len(ids)))
        self.check_approvals()

    def check_approvals(self):
        rows = self.rows(
            "SELECT a.id, a.version, a.status, "
            "JSON_VALUE(a.action_payload, '$.uid'), "
            "(SELECT COUNT(*) FROM approval_events e "
            " WHERE e.approval_id = a.id), "
            "(SELECT MIN(e.type) FROM approval_events e "
            " WHERE e.approval_id = a.id) "
            "FROM approvals a WHERE a.action_type = 'stress'")
        by_uid = collections.defaultdict(list)
        for aid, v, status, uid, events, etype in rows:
            aid, v, events = int(aid), int(v), int(events)
            by_uid[uid].append(aid)
            decided = status != "pending"
            want_type = {"executed": "approval.executed",
                         "rejected": "approval.rejected"}.get(status)
            if (v, events) != ((2, 1) if decided else (1, 0)) or \
                    (decided and etype != want_type):
                self.violation("approval %d: status %s, version %d, %d "
                               "outbox events (%s)" % (aid, status, v,
                                                       events, etype))
            won = self.winners.get(aid, [])
            if len({k for k, _ in won}) > 1:
                self.violation("approval %d: two acknowledged decisions %s"
                               % (aid, won))
            elif won:
                want = "executed" if won[0][1] == "approve" else "rejected"
                if status != want:
                    self.violation("approval %d: %s acknowledged, stored %s"
                                   % (aid, won[0][1], status))
            with self.lock:
                self.counts["decisions"] += 1 if decided else 0
        for uid, aids in by_uid.items():
            if len(aids) > 1:
                self.violation("approval key c-%s created %d approvals %s"
                               % (uid, len(aids), aids))
            if uid not in self.approval_uids and \
                    uid not in self.approval_unknown_uids:
                self.violation("approval %s there but never sent" % uid)
        for uid, aid in self.approval_uids.items():
            if aid not in by_uid.get(uid, []):
                self.violation("acknowledged approval %s (%d) lost"
                               % (uid, aid))

    # -- the figures -------------------------------------------------------------

    def strict_violations(self):
        n = len(self.violations)
        if os.environ.get("STRESS_STRICT") == "1":
            n += self.counts["cut_without_length"]
        return n

    def summary(self):
        c = self.counts
        faults = ",".join("%s:%d" % (k, self.faults[k]) for k in FAULT_KINDS)
        return ("stress: %.0fs clients=%d requests=%d acked=%d unknown=%d "
                "unknown_applied=%d conflicts=%d replays=%d decisions=%d "
                "sql_writes=%d sql_acked=%d "
                "conn_errors=%d http_5xx=%d faults=%s cut_answers=%d "
                "(no Content-Length: %d) violations=%d"
                % (self.seconds, self.nclients, c["requests"], c["acked"],
                   c["unknown"], c["unknown_applied"], c["conflicts"],
                   c["replays"], c["decisions"], c["sql_writes"],
                   c["sql_acked"], c["conn_errors"],
                   sum(n for s, n in self.statuses.items()
                       if isinstance(s, int) and s >= 500),
                   faults, c["cut_answers"], c["cut_without_length"],
                   self.strict_violations()))

    def statuses_line(self):
        return "answers: " + " ".join(
            "%s:%d" % (k, v) for k, v in sorted(self.statuses.items(),
                                                key=lambda kv: str(kv[0]))) \
            + "; lost answers by the fault within 2 s before: " + (" ".join(
                "%s:%d" % kv for kv in sorted(self.errors_after.items()))
                or "none")


def start_stack(workers, tables=False):
    return harness.Stack("stress").start(workers=workers,
                                         db_opts=DURABLE_DB_OPTS,
                                         tables=tables)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("STRESS_SECONDS", "300")))
    ap.add_argument("--clients", type=int,
                    default=int(os.environ.get("STRESS_CLIENTS", "16")))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--fault-interval", type=float,
                    default=float(os.environ.get("STRESS_FAULT_INTERVAL",
                                                 "1.0")))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--mode", choices=("all", "builtin", "tables"),
                    default=os.environ.get("STRESS_MODE", "all"),
                    help="the built-in resources, a declared table with a "
                    "plain-SQL writer beside the HTTP clients, or both")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = start_stack(args.workers, tables=args.mode != "builtin")
    try:
        print("stress: stack on %s, %d clients, %.0fs, a fault every %.1fs"
              % (stack.url, args.clients, args.seconds, args.fault_interval),
              flush=True)
        c = Checker(stack, clients=args.clients, seconds=args.seconds,
                    fault_interval=args.fault_interval, seed=args.seed,
                    log=lambda s: print(s, flush=True),
                    mode=args.mode).run()
    finally:
        stack.stop()
    print(c.statuses_line())
    print(c.summary(), flush=True)
    sys.exit(1 if c.strict_violations() else 0)


if __name__ == "__main__":
    main()
