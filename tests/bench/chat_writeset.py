#!/usr/bin/env python3
"""chat_writeset.py -- the bytes one chat append writes to the binary log
(the write set a replica or a Galera node receives), old layout against
segments, at several lengths of history.

    python3 tests/bench/chat_writeset.py [--appends 200]

A measurement, not a test. It starts a private MariaDB with the binary log
on (binlog_format=ROW, binlog_row_image=FULL: the defaults of a Galera
node), migrates it (optimistctl), and for each history length seeds a
report by SQL, then runs `appends` appends of one 100-byte message with the
statements lib/chat.c runs (the lock, the id, the tail UPDATE or a new
segment, the counters), each in its own transaction, and divides the
growth of the binary log by the appends. The old layout is measured with
the statement lib/chat.c ran before sql/0008 (JSON_ARRAY_APPEND on the
whole history in reports.chat), on a table of that shape.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402

CONTENT = "x" * 100
AT = "CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')"


def binlog_bytes(db):
    rows = db.sql("SHOW BINARY LOGS")
    return sum(int(r[1]) for r in rows)


def seed_new(db, length):
    rid = int(db.sql(
        "INSERT INTO reports (tenant_id, created_at, updated_at) VALUES "
        "(1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)); SELECT LAST_INSERT_ID()")[0][0])
    if length:
        db.sql("SET SESSION group_concat_max_len = 1073741824; "
               "INSERT INTO report_chat_segments SELECT %d, s.seq * 25, 25, "
               "2500, JSON_ARRAYAGG(JSON_OBJECT('id', CONCAT('s', s.seq * 25 "
               "+ m.seq), 'role', 'user', 'content', REPEAT('x', 100), 'at', "
               "'2026-01-01T00:00:00.000Z') ORDER BY m.seq) FROM seq_0_to_%d s"
               " JOIN seq_0_to_24 m GROUP BY s.seq; "
               "INSERT INTO report_chat_ids SELECT %d, CONCAT('s', seq) "
               "FROM seq_0_to_%d; UPDATE reports SET chat_length = %d, "
               "chat_bytes = %d, chat_tail = %d WHERE id = %d"
               % (rid, length // 25 - 1, rid, length - 1, length, 100 * length,
                  length - 25, rid))
    return rid


def appends_new(rid, start, count):
    """The statements of lib/chat.c for `count` appends of one message."""
    out = []
    for i in range(count):
        n = start + i
        out.append("START TRANSACTION;")
        out.append("SELECT r.chat_length, r.chat_bytes, r.chat_tail, s.n, "
                   "s.bytes FROM reports r LEFT JOIN report_chat_segments s ON "
                   "s.report_id = r.id AND s.first = r.chat_tail WHERE r.id = "
                   "%d AND r.tenant_id = 1 FOR UPDATE;" % rid)
        out.append("INSERT INTO report_chat_ids VALUES (%d, 'w%d') ON DUPLICATE"
                   " KEY UPDATE msg_id = msg_id;" % (rid, n))
        if n % 25:
            out.append("UPDATE report_chat_segments SET msgs = "
                       "JSON_ARRAY_APPEND(msgs, '$', JSON_OBJECT('id', 'w%d', "
                       "'role', 'user', 'content', '%s', 'at', %s)), n = n + 1,"
                       " bytes = bytes + 100 WHERE report_id = %d AND first = "
                       "%d;" % (n, CONTENT, AT, rid, n - n % 25))
        else:
            out.append("INSERT INTO report_chat_segments VALUES (%d, %d, 1, 100,"
                       " JSON_ARRAY(JSON_OBJECT('id', 'w%d', 'role', 'user', "
                       "'content', '%s', 'at', %s)));"
                       % (rid, n, n, CONTENT, AT))
        out.append("UPDATE reports SET chat_length = chat_length + 1, "
                   "chat_bytes = chat_bytes + 100, chat_tail = %d WHERE id = %d;"
                   % (n - n % 25, rid))
        out.append("COMMIT;")
    return "\n".join(out)


OLD_TABLE = """
CREATE TABLE IF NOT EXISTS old_reports (id BIGINT UNSIGNED NOT NULL
  AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1, title VARCHAR(1000) NULL,
  chat JSON NOT NULL, chat_length INT UNSIGNED NOT NULL DEFAULT 0,
  created_at DATETIME(3) NOT NULL, updated_at DATETIME(3) NOT NULL)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


def seed_old(db, length):
    rid = int(db.sql(
        "SET SESSION group_concat_max_len = 1073741824; "
        "INSERT INTO old_reports (tenant_id, chat, created_at, updated_at) "
        "SELECT 1, COALESCE((SELECT JSON_ARRAYAGG(JSON_OBJECT('id', "
        "CONCAT('s', seq), 'role', 'user', 'content', REPEAT('x', 100), 'at',"
        " '2026-01-01T00:00:00.000Z') ORDER BY seq) FROM seq_1_to_%d "
        "WHERE seq <= %d), '[]'), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3); "
        "SELECT LAST_INSERT_ID()" % (max(length, 1), length))[0][0])
    db.sql("UPDATE old_reports SET chat_length = %d WHERE id = %d"
           % (length, rid))
    return rid


def appends_old(rid, start, count):
    out = []
    for i in range(count):
        out.append("START TRANSACTION;")
        out.append("SELECT chat_length FROM old_reports WHERE id = %d FOR "
                   "UPDATE;" % rid)
        out.append("UPDATE old_reports SET chat = JSON_ARRAY_APPEND(chat, '$',"
                   " JSON_OBJECT('id', 'w%d', 'role', 'user', 'content', '%s',"
                   " 'at', %s)), chat_length = chat_length + 1 WHERE id = %d;"
                   % (start + i, CONTENT, AT, rid))
        out.append("COMMIT;")
    return "\n".join(out)


def run_script(db, text):
    r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + db.socket,
                        "--user=" + harness._os_user(), db.name],
                       input=text, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit("mariadb: " + r.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--lengths", default="0,1000,10000,100000")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="optimist-writeset-")
    db = harness.Database(os.path.join(d, "db"), extra_opts=(
        harness.FAST_DB_OPTS + " --log-bin=%s/binlog --binlog-format=ROW "
        "--binlog-row-image=FULL --server-id=1" % d))
    db.start()
    try:
        env = dict(os.environ, OPTIMIST_DB_SOCKET=db.socket,
                   OPTIMIST_DB_NAME=db.name)
        bindir = os.environ.get("BIN", "bin")
        r = subprocess.run([os.path.join(REPO, bindir, "optimistctl"),
                            "migrate", os.path.join(REPO, "sql")], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("migrate: " + r.stdout + r.stderr)
        db.sql(OLD_TABLE)
        print("binary log bytes per append of one 100-byte message "
              "(ROW, FULL image), %d appends" % args.appends)
        print("%10s %14s %14s" % ("history", "segments", "old layout"))
        for length in [int(x) for x in args.lengths.split(",")]:
            rid = seed_new(db, length)
            before = binlog_bytes(db)
            run_script(db, appends_new(rid, length, args.appends))
            new = (binlog_bytes(db) - before) / args.appends
            old = "-"
            if length <= 10000:
                oid = seed_old(db, length)
                before = binlog_bytes(db)
                run_script(db, appends_old(oid, length, args.appends))
                old = "%.0f" % ((binlog_bytes(db) - before) / args.appends)
            print("%10d %14.0f %14s" % (length, new, old))
            sys.stdout.flush()
    finally:
        db.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
