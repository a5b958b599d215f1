#!/usr/bin/env python3
"""chat_seg_k.py -- what one chat append and one read cost in MariaDB as a
function of the segment size K (lib/chat.c's CHAT_SEG_MAX).

    python3 tests/bench/chat_seg_k.py [--sizes 1,10,...] [--content 100]

A benchmark, not a test. It starts a private MariaDB (tests/e2e/harness.py)
and times, inside the server (loops in one compound statement, so no client
round trips are counted), with messages of `content` bytes:

  append  the UPDATE lib/chat.c runs to append one message to a tail
          segment already holding K messages (JSON_ARRAY_APPEND on a row of
          K messages, autocommitted): each iteration appends to a different
          row, so every one finds exactly K messages there;
  read    lib/chat.c's read of the last 100 messages of a 2,000-message
          history stored in segments of K (the statement as it is, with the
          segment lookup and the slices), repeated.

Per-call microseconds of server time (wall clock of the loop / iterations),
the least of `repeat` runs (the machine is shared: the least is the one
least disturbed).
The rest of an append (the lock, the id insert, BEGIN/COMMIT) does not
depend on K: make bench measures it.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402

SCHEMA = """
CREATE TABLE seg (report_id BIGINT UNSIGNED NOT NULL, first INT UNSIGNED
  NOT NULL, n INT UNSIGNED NOT NULL, bytes INT UNSIGNED NOT NULL, msgs JSON
  NOT NULL, PRIMARY KEY (report_id, first)) ENGINE=InnoDB
  DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE rep (id BIGINT UNSIGNED PRIMARY KEY, chat_length INT UNSIGNED
  NOT NULL, tenant_id BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB;
"""


def fill(db, report, count, k, content):
    """Report `report`: `count` messages in segments of k."""
    db.sql("SET SESSION group_concat_max_len = 1073741824;"
           "INSERT INTO seg SELECT %d, s.seq * %d, %d, %d, JSON_ARRAYAGG("
           "JSON_OBJECT('id', CONCAT('m', s.seq * %d + m.seq), 'role', 'user',"
           " 'content', REPEAT('x', %d), 'at', '2026-01-01T00:00:00.000Z') "
           "ORDER BY m.seq) FROM seq_0_to_%d s JOIN seq_0_to_%d m "
           "GROUP BY s.seq;"
           "INSERT INTO rep VALUES (%d, %d, 1)"
           % (report, k, k, k * content, k, content, count // k - 1, k - 1,
              report, count))


def timed(db, sql):
    """Runs one compound statement (the client splits at ';' otherwise)."""
    t0 = time.perf_counter()
    db.sql("DELIMITER $$\n" + sql + " $$\nDELIMITER ;\n")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,25,50,100,200,500,1000,2000")
    ap.add_argument("--content", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="optimist-segk-")
    db = harness.Database(os.path.join(d, "db"))
    db.start()
    try:
        db.sql(SCHEMA)
        print("content %d bytes; server microseconds a call" % args.content)
        print("%6s %12s %12s" % ("K", "append 1", "read last 100"))
        for k in [int(s) for s in args.sizes.split(",")]:
            append_us, read_us = measure(db, k, args.content, args.repeat)
            print("%6d %12.0f %12.0f" % (k, append_us, read_us))
            sys.stdout.flush()
    finally:
        db.stop()
        shutil.rmtree(d, ignore_errors=True)


def measure(db, k, content, repeat):
    appends, reads_us = [], []
    for _ in range(repeat):
        a, r = measure_once(db, k, content)
        appends.append(a)
        reads_us.append(r)
    return min(appends), min(reads_us)


def measure_once(db, k, content):
    """One append loop and one read loop at segment size k."""
    db.sql("TRUNCATE seg; TRUNCATE rep")
    rows = 1000 if k <= 100 else 200 if k <= 500 else 50
    # rows reports of k messages each: one append to each.
    fill(db, 1, k * rows, k, content)
    db.sql("UPDATE seg SET report_id = 1000 + first DIV %d" % k)
    loop = ("BEGIN NOT ATOMIC FOR i IN 0 .. %d DO UPDATE seg SET "
            "msgs = JSON_ARRAY_APPEND(msgs, '$', JSON_OBJECT('id', "
            "CONCAT('new', i), 'role', 'user', 'content', REPEAT('y', "
            "%d), 'at', '2026-01-01T00:00:00.000Z')), n = n + 1, "
            "bytes = bytes + %d WHERE report_id = 1000 + i AND "
            "first = i * %d; END FOR; END"
            % (rows - 1, content, content, k))
    append_us = timed(db, loop) / rows * 1e6
    db.sql("TRUNCATE seg; TRUNCATE rep")
    total = max(2000, 2 * k)
    fill(db, 7, total - total % k, k, content)
    length = total - total % k
    reads = 1000
    after, end = length - 100, length
    loop = ("BEGIN NOT ATOMIC DECLARE x LONGTEXT; FOR i IN 1 .. %d DO "
            "SELECT GROUP_CONCAT(j) INTO x FROM (SELECT "
            "JSON_EXTRACT(s.msgs, CONCAT('$[', GREATEST(%d, s.first) "
            "- s.first, ' to ', LEAST(%d, s.first + s.n) - s.first - "
            "1, ']')) AS j FROM rep r LEFT JOIN seg s ON s.report_id "
            "= r.id AND s.first < %d AND s.first + s.n > %d AND "
            "s.first >= (SELECT COALESCE(MAX(x.first), 0) FROM seg x "
            "WHERE x.report_id = 7 AND x.first <= %d) WHERE r.id = 7 "
            "AND r.tenant_id = 1) t; END FOR; END"
            % (reads, after, end, end, after, after))
    read_us = timed(db, loop) / reads * 1e6
    return append_us, read_us


if __name__ == "__main__":
    main()
