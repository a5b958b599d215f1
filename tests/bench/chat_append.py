#!/usr/bin/env python3
"""chat_append.py -- how long one chat append takes as the history grows.

    python3 tests/bench/chat_append.py [--samples 50] [--batches 5]
                                       [--content 100]

A benchmark, not a test (not part of `make test`). It starts its own stack
(tests/e2e/harness.py: a private MariaDB, the pool, nginx), fills one report
per level through the API in batches of 100, then times, one request at a
time from one client, through nginx:

  - appending one new message to a history of about 10, 1,000 and 10,000
    messages (`samples` appends each; the 10,000 level starts at 10,000 -
    samples, from when 10,000 was the limit);
  - appending a batch of 100 new messages at the same levels (9,900 for
    the last), once on each of `batches` reports;
  - a duplicate (a retry of a stored id), which writes nothing;
  - reading the last 100 messages with GET .../chat?after=&limit=100.

The figures are wall-clock times of the HTTP round trip (median and 90th
percentile, milliseconds), so they include nginx and the client. It
measures the release build (bin/, `make`) unless BIN names another
(BIN=build/asan/bin: but do not trust those figures).
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
os.environ.setdefault("BIN", "bin")  # the release build, not the test one

import harness  # noqa: E402


def ms(values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return "%7.1f %7.1f" % (statistics.median(values) * 1000, p90 * 1000)


class Bench:
    def __init__(self, stack, token, content_bytes):
        self.stack = stack
        self.token = token
        self.content = "x" * content_bytes
        self.seq = 0

    def messages(self, n):
        out = []
        for _ in range(n):
            self.seq += 1
            out.append({"id": "b%d" % self.seq, "role": "user",
                        "content": self.content})
        return out

    def append(self, rid, messages):
        t0 = time.perf_counter()
        r = self.stack.post("/v1/reports/%d/chat" % rid,
                            {"messages": messages}, token=self.token)
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise SystemExit("append failed: %r" % r)
        return elapsed, r.json()

    def report(self, fill):
        r = self.stack.post("/v1/reports", {"title": "bench"},
                            token=self.token)
        rid = r.json()["id"]
        while fill > 0:
            n = min(100, fill)
            self.append(rid, self.messages(n))
            fill -= n
        return rid

    def read_tail(self, rid, length, samples):
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            r = self.stack.get("/v1/reports/%d/chat?after=%d&limit=100"
                               % (rid, max(0, length - 100)),
                               token=self.token)
            times.append(time.perf_counter() - t0)
            if r.status != 200:
                raise SystemExit("read failed: %r" % r)
        return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--batches", type=int, default=5,
                    help="reports filled per level to time a batch of 100")
    ap.add_argument("--content", type=int, default=100,
                    help="bytes of content per message (default 100)")
    args = ap.parse_args()
    samples = max(1, min(args.samples, 100))

    stack = harness.Stack("bench").start(workers=2)
    try:
        _, token = stack.tenant()
        b = Bench(stack, token, args.content)
        print("content %d bytes a message, %d samples a level; "
              "milliseconds, median and p90" % (args.content, samples))
        print("%-8s %-17s %-17s %-17s %-17s" % (
            "history", "append 1", "append 100", "duplicate 1",
            "read last 100"))
        for level in (10, 1000, 10000):
            start = level - samples if level == 10000 else level
            rid = b.report(start)
            one, dup = [], []
            for _ in range(samples):
                t, _ = b.append(rid, b.messages(1))
                one.append(t)
            stored = {"id": "b%d" % b.seq, "role": "user", "content": "x"}
            for _ in range(samples):
                t, got = b.append(rid, [stored])
                assert got["appended"] == 0
                dup.append(t)
            length = start + samples
            reads = b.read_tail(rid, length, samples)
            # A batch of 100 on fresh reports at the level (at most
            # 9,900: the batch must fit under the limit).
            batch = []
            for _ in range(args.batches):
                rid2 = b.report(min(level, 10000 - 100))
                t, _ = b.append(rid2, b.messages(100))
                batch.append(t)
            print("%-8s %-17s %-17s %-17s %-17s" % (
                "%d" % level, ms(one), ms(batch), ms(dup), ms(reads)))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
