"""test_nginx_reload.py -- `nginx -s reload` while
keep-alive clients write loses no answer.

8 clients, each on one kept-alive connection, append to a session of
their own with a version and an Idempotency-Key per logical write, while
nginx is reloaded 10 times. A client whose connection fails retries the
same write (same key, same body) on a new connection, as RFC 9112 9.3.1
allows for a request made safe to repeat. What must hold:

- no cut answer: every answer read is whole (Content-Length, nothing
  short), never a 200 with a truncated body;
- nothing lost, nothing twice: each session holds exactly the messages
  its client had acknowledged, in order, and its version is 1 + that
  count;
- no answer cut short at all, and no "open socket ... left" alert from
  nginx (the fix: nginx/optimist.conf's buffers);
- the connection-level errors are counted and printed (they are nginx's:
  an idle kept-alive connection closed by an old worker while the client
  sends on it, before the request was read; see docs/operations.md, "nginx
  reloads").
"""

import http.client
import json
import os
import signal
import threading
import time

import harness

STACK_OPTIONS = {"workers": 4}

CLIENTS = 8
RELOADS = int(os.environ.get("RELOADS", "20"))


class Writer(threading.Thread):
    def __init__(self, stack, tok, sid, stop):
        super().__init__()
        self.stack, self.tok, self.sid, self.stop = stack, tok, sid, stop
        self.version = 1
        self.acked = []          # contents acknowledged, in order
        self.conn_errors = 0     # failed before any answer byte
        self.cut = []            # short answers taken as whole (must
                                 # stay empty)
        self.cut_seen = []       # answers cut short, seen as such
        self.replayed = 0        # retries answered by the stored answer
        self.failures = []
        self.conn = None

    def connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.stack.port,
                                               timeout=30)

    def send(self, body, key):
        """One attempt: (status, headers, body) or raises."""
        self.conn.request("POST", "/v1/sessions/%d/messages" % self.sid,
                          body=body, headers={
                              "Content-Type": "application/json",
                              "Authorization": "Bearer " + self.tok,
                              "Idempotency-Key": key})
        resp = self.conn.getresponse()
        status = resp.status
        length = resp.getheader("Content-Length")
        try:
            data = resp.read()
        except http.client.IncompleteRead as e:
            # Cut short, and seen to be: fewer bytes than Content-Length.
            self.cut_seen.append((status, length, len(e.partial)))
            raise
        if length is None or int(length) != len(data):
            self.cut.append((status, length, len(data)))
        return status, resp, data

    def run(self):
        self.connect()
        n = 0
        while not self.stop.is_set() and not self.failures:
            content = "c%d-%d" % (self.sid, n)
            key = "w-%d-%d" % (self.sid, n)
            body = json.dumps({"version": self.version, "message": {
                "role": "user", "content": content}})
            for attempt in range(20):
                try:
                    status, resp, data = self.send(body, key)
                except (ConnectionError, http.client.HTTPException,
                        OSError):
                    self.conn_errors += 1
                    self.connect()
                    continue
                if status == 200:
                    if resp.getheader("Idempotent-Replayed") == "true":
                        self.replayed += 1
                    got = json.loads(data)
                    if got["version"] != self.version + 1:
                        self.failures.append(("version", got["version"]))
                    self.version += 1
                    self.acked.append(content)
                elif status == 409 and json.loads(data)["error"] == \
                        "idempotency_key_in_use":
                    time.sleep(0.05)
                    continue
                else:
                    self.failures.append((status, data[:300]))
                break
            else:
                self.failures.append(("gave up", content))
            n += 1
        self.conn.close()


def test_reloads_under_keep_alive_writers_lose_no_answer(stack):
    tid, tok = stack.tenant()
    sids = [stack.post("/v1/sessions", {}, token=tok).json()["id"]
            for _ in range(CLIENTS)]
    stop = threading.Event()
    writers = [Writer(stack, tok, sid, stop) for sid in sids]
    for w in writers:
        w.start()
    nginx = stack.nginx_pid()
    try:
        harness.wait_until(lambda: all(len(w.acked) >= 5 for w in writers),
                           30, "every writer to get going")
        for i in range(RELOADS):
            before = sum(len(w.acked) for w in writers)
            os.kill(nginx, signal.SIGHUP)
            # the next reload once every writer got answers since this one
            harness.wait_until(
                lambda: sum(len(w.acked) for w in writers) >= before + 40,
                30, "writes after reload %d" % (i + 1))
    finally:
        stop.set()
        for w in writers:
            w.join(60)
    failures = [f for w in writers for f in w.failures]
    assert not failures, failures
    cut = [c for w in writers for c in w.cut]
    assert not cut, ("short answers taken as whole", cut)
    seen = sum(len(w.cut_seen) for w in writers)
    acked = sum(len(w.acked) for w in writers)
    errors = sum(w.conn_errors for w in writers)
    replayed = sum(w.replayed for w in writers)
    for w in writers:
        row = stack.sql("SELECT version, JSON_LENGTH(messages) FROM sessions "
                        "WHERE id = %d" % w.sid)[0]
        assert int(row[0]) == 1 + len(w.acked), (w.sid, row, len(w.acked))
        assert int(row[1]) == len(w.acked), (w.sid, row)
        got = json.loads(stack.sql(
            "SELECT JSON_EXTRACT(messages, '$[*].content') FROM sessions "
            "WHERE id = %d" % w.sid)[0][0] or "[]")
        assert got == w.acked, (w.sid, got[-3:], w.acked[-3:])
    alerts = stack.nginx_log().count("open socket")
    print("      %d reloads, %d writes acknowledged, %d connection errors "
          "retried (%d of them answers cut short and seen as such; %d "
          "retries answered by the stored answer), 0 short answers taken "
          "as whole, %d nginx 'open socket ... left' alerts"
          % (RELOADS, acked, errors, seen, replayed, alerts))
    # With the shipped buffers (nginx/optimist.conf) these answers stay in
    # memory, and nginx 1.22 no longer lets an old worker leave with one
    # half passed on; with its defaults, 3 to 6 of 40 reloads cut one.
    assert seen == 0 and alerts == 0, (seen, stack.nginx_log()[-3000:])
