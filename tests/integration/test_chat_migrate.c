/*
 * test_chat_migrate.c -- sql/0008_chat_segments.sql moves histories written
 * in the old layout (one JSON array in reports.chat) into segments without
 * losing, changing or reordering a message.
 *
 * In a database of its own: migrations 0001..0005 (the last ones that know
 * the old layout; 0006 and 0007 do not touch reports), then a history of
 * 10,000 messages written by the statements lib/chat.c used before 0008
 * (copied below: JSON_ARRAY_APPEND for one message, JSON_MERGE_PRESERVE for
 * a batch), with contents that make escaping matter (quotes, backslashes,
 * control characters, NUL, non-ASCII, 20 KB messages), next to a short
 * history, an empty one and another tenant's. Then 0008, and a comparison
 * element by element with a copy of the old arrays, a read through
 * lib/chat.c of every message, and appends after the move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chat.h"
#include "itest.h"

#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DBNAME  "optimist_chat_0008"
#define HISTORY 10000

static rec_config cfg;     /* the suite's database */
static rec_config mig_cfg; /* DBNAME */
static char dir[PATH_MAX]; /* the migrations applied so far (symlinks) */

/* The statements of lib/chat.c before 0008, as they were. */
static const char OLD_NEW_REPORT[] =
    "INSERT INTO reports (tenant_id, chat, created_at, updated_at) "
    "VALUES (?, '[]', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
static const char OLD_CLAIM_ID[] =
    "INSERT INTO report_chat_ids (report_id, msg_id) VALUES (?, ?) "
    "ON DUPLICATE KEY UPDATE msg_id = msg_id";
static const char OLD_APPEND_ONE[] =
    "UPDATE reports SET chat = JSON_ARRAY_APPEND(chat, '$', "
    "JSON_OBJECT('id', ?, 'role', ?, 'content', ?, 'at', ?)), "
    "chat_length = chat_length + 1 WHERE id = ?";
static const char OLD_APPEND_MANY[] =
    "UPDATE reports SET chat = JSON_MERGE_PRESERVE(chat, ?), "
    "chat_length = chat_length + ? WHERE id = ?";

/* The old arrays exploded, one row per element at its index, kept aside
 * before 0008 runs. */
static const char SQL_KEEP_OLD[] =
    "CREATE TABLE old_elements (PRIMARY KEY (report_id, idx)) "
    "SELECT o.id AS report_id, jo.k - 1 AS idx, jo.m AS m "
    "FROM reports o CROSS JOIN JSON_TABLE(o.chat, '$[*]' COLUMNS "
    "(k FOR ORDINALITY, m JSON PATH '$')) jo";
/* The same of the segments, after 0008. */
static const char SQL_EXPLODE_NEW[] =
    "CREATE TABLE new_elements (PRIMARY KEY (report_id, idx)) "
    "SELECT s.report_id, s.first + js.k - 1 AS idx, js.m AS m "
    "FROM report_chat_segments s CROSS JOIN JSON_TABLE(s.msgs, '$[*]' "
    "COLUMNS (k FOR ORDINALITY, m JSON PATH '$')) js";
/* Old elements with no equal element at the same index of the segments,
 * and the segments' elements, of one report. */
static const char SQL_MISSING[] =
    "SELECT COUNT(*) FROM old_elements o LEFT JOIN new_elements n "
    "ON n.report_id = o.report_id AND n.idx = o.idx "
    "WHERE o.report_id = ? AND (n.m IS NULL OR NOT JSON_EQUALS(n.m, o.m))";
static const char SQL_STORED[] =
    "SELECT COUNT(*) FROM new_elements WHERE report_id = ?";
static const char SQL_COUNTERS[] =
    "SELECT chat_length, chat_bytes, chat_tail, (SELECT MAX(first) FROM "
    "report_chat_segments WHERE report_id = r.id), (SELECT MAX(n) FROM "
    "report_chat_segments WHERE report_id = r.id), (SELECT SUM(n) FROM "
    "report_chat_segments WHERE report_id = r.id) FROM reports r WHERE id = ?";
static const char SQL_OLD_COLUMN[] =
    "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
    "DATABASE() AND TABLE_NAME = 'reports' AND COLUMN_NAME = 'chat' AND ? > 0";

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static uint64_t one_u64(rec_db *db, const char *sql, uint64_t id)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, sql, p, 1, &rows, NULL, NULL, &err), &err, sql);
    assert_int_equal(rec_rows_count(rows), 1);
    uint64_t v = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return v;
}

/* Message i's content (its length returned): escapes of every kind, and
 * every 1000th one 20 KB long. */
static size_t content_of(int i, char *buf, size_t cap)
{
    if (i % 1000 == 7) {
        size_t n = 20000;
        assert_true(n < cap);
        memset(buf, 'z', n);
        buf[n] = '\0';
        return n;
    }
    int n = snprintf(buf, cap, "m%d \"q\" \\ / \t\n\x01 é ✓ 🎉 $[0] ' %s", i,
                     i % 3 ? "user" : "");
    assert_true(n > 0 && (size_t)n < cap);
    if (i % 97 == 0)
        buf[2] = '\0'; /* a NUL inside (the length says where it ends) */
    return (size_t)n;
}

static const char *role_of(int i)
{
    static const char *const roles[] = {"user", "assistant", "system"};
    return roles[i % 3];
}

static void link_migration(const char *name)
{
    char target[PATH_MAX], from[PATH_MAX], link[PATH_MAX + 64];
    snprintf(from, sizeof from, "sql/%s", name);
    assert_non_null(realpath(from, target));
    snprintf(link, sizeof link, "%s/%s", dir, name);
    assert_int_equal(symlink(target, link), 0);
}

static int migrate(rec_db *db)
{
    rec_err err = {0};
    int applied = -1;
    must(rec_migrate(db, dir, &applied, NULL, &err), &err, "migrate");
    return applied;
}

static uint64_t old_report(rec_db *db, uint64_t tenant)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[1] = {REC_U(tenant)};
    must(rec_exec(db, OLD_NEW_REPORT, p, 1, NULL, NULL, &id, &err), &err,
         "old report");
    return id;
}

/* Appends messages [from, to) of report `id` the old way: one message by
 * JSON_ARRAY_APPEND, several by a merge of the JSON array the old
 * write_batch() built. Adds their content bytes to *bytes. */
static void old_append(rec_db *db, uint64_t id, int from, int to,
                       const char *prefix, uint64_t *bytes)
{
    static char content[32768];
    static const char at[] = "2026-01-01T00:00:00.000Z";
    rec_err err = {0};
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "[");
    for (int i = from; i < to; i++) {
        char mid[32];
        snprintf(mid, sizeof mid, "%s%d", prefix, i);
        size_t len = content_of(i, content, sizeof content);
        *bytes += len;
        rec_param c[2] = {REC_U(id), REC_CSTR(mid)};
        must(rec_exec(db, OLD_CLAIM_ID, c, 2, NULL, NULL, NULL, &err), &err,
             "old claim");
        if (to - from == 1) {
            rec_param p[5] = {REC_CSTR(mid), REC_CSTR(role_of(i)),
                              REC_S(content, len), REC_CSTR(at), REC_U(id)};
            must(rec_exec(db, OLD_APPEND_ONE, p, 5, NULL, NULL, NULL, &err),
                 &err, "old append one");
            jb_free(&b);
            return;
        }
        jb_lit(&b, i > from ? ",{\"id\":" : "{\"id\":");
        jb_cstr(&b, mid);
        jb_lit(&b, ",\"role\":");
        jb_cstr(&b, role_of(i));
        jb_lit(&b, ",\"content\":");
        jb_str(&b, content, len);
        jb_lit(&b, ",\"at\":");
        jb_cstr(&b, at);
        jb_lit(&b, "}");
    }
    jb_lit(&b, "]");
    rec_param p[3] = {REC_S(b.p, b.len), REC_U(to - from), REC_U(id)};
    must(rec_exec(db, OLD_APPEND_MANY, p, 3, NULL, NULL, NULL, &err), &err,
         "old append many");
    jb_free(&b);
}

/* Reads the whole history through lib/chat.c and checks each message. */
static void assert_reads_back(rec_db *db, uint64_t id, uint64_t tenant,
                              int total, const char *prefix)
{
    static char content[32768];
    for (int after = 0; after < total; after += CHAT_READ_MAX) {
        jbuf b;
        uint32_t length = 0;
        rec_err err = {0};
        jb_init(&b);
        must(chat_read(db, id, tenant, (uint64_t)after, CHAT_READ_MAX, &b,
                       &length, &err),
             &err, "read");
        assert_int_equal(length, total);
        json_object *arr = json_tokener_parse(b.p);
        assert_non_null(arr);
        int want =
            total - after < CHAT_READ_MAX ? total - after : CHAT_READ_MAX;
        assert_int_equal(json_object_array_length(arr), want);
        for (int k = 0; k < want; k++) {
            int i = after + k;
            json_object *m = json_object_array_get_idx(arr, (size_t)k), *v;
            char mid[32];
            snprintf(mid, sizeof mid, "%s%d", prefix, i);
            assert_true(json_object_object_get_ex(m, "id", &v));
            if (strcmp(json_object_get_string(v), mid) != 0)
                fail_msg("message %d is %s", i, json_object_get_string(v));
            assert_true(json_object_object_get_ex(m, "role", &v));
            assert_string_equal(json_object_get_string(v), role_of(i));
            assert_true(json_object_object_get_ex(m, "content", &v));
            size_t len = content_of(i, content, sizeof content);
            assert_int_equal((size_t)json_object_get_string_len(v), len);
            assert_memory_equal(json_object_get_string(v), content, len);
        }
        json_object_put(arr);
        jb_free(&b);
    }
}

static void test_0008_moves_10000_messages_in_order(void **state)
{
    (void)state;
    rec_err err = {0};
    rec_db *db = rec_db_new(&mig_cfg);
    for (int v = 1; v <= 5; v++) {
        static const char *const names[] = {
            "0001_platform.sql", "0002_storefront.sql", "0003_reports.sql",
            "0004_approvals.sql", "0005_bids.sql"};
        link_migration(names[v - 1]);
    }
    assert_int_equal(migrate(db), 5);

    uint64_t bytes = 0, short_bytes = 0, other_bytes = 0;
    uint64_t big = old_report(db, 1), little = old_report(db, 1);
    uint64_t empty = old_report(db, 1), other = old_report(db, 2);
    /* 10,000: singles, batches of 100, odd batches, up to the old limit. */
    int at = 0;
    while (at < HISTORY) {
        int step = at < 150 ? 1 : at < 9000 ? 100 : at < 9950 ? 37 : 1;
        if (at + step > HISTORY)
            step = HISTORY - at;
        old_append(db, big, at, at + step, "m", &bytes);
        at += step;
    }
    old_append(db, little, 0, 1, "m", &short_bytes);
    old_append(db, other, 0, 250, "o", &other_bytes);
    assert_int_equal(one_u64(db,
                             "SELECT JSON_LENGTH(chat) FROM reports "
                             "WHERE id = ?",
                             big),
                     HISTORY);
    must(rec_exec_text(db, SQL_KEEP_OLD, sizeof SQL_KEEP_OLD - 1, &err), &err,
         "keep old");

    link_migration("0008_chat_segments.sql");
    assert_int_equal(migrate(db), 1);
    assert_int_equal(one_u64(db, SQL_OLD_COLUMN, 1), 0); /* dropped */
    must(rec_exec_text(db, SQL_EXPLODE_NEW, sizeof SQL_EXPLODE_NEW - 1, &err),
         &err, "explode new");

    const uint64_t ids[] = {big, little, empty, other};
    const uint64_t lengths[] = {HISTORY, 1, 0, 250};
    const uint64_t sizes[] = {bytes, short_bytes, 0, other_bytes};
    for (size_t r = 0; r < 4; r++) {
        rec_rows *rows = NULL;
        rec_param p[1] = {REC_U(ids[r])};
        /* Each old element is at its index, equal, and nothing else is. */
        assert_int_equal(one_u64(db, SQL_MISSING, ids[r]), 0);
        assert_int_equal(one_u64(db, SQL_STORED, ids[r]), lengths[r]);
        must(rec_exec(db, SQL_COUNTERS, p, 1, &rows, NULL, NULL, &err), &err,
             "counters");
        assert_int_equal(rec_rows_u64(rows, 0, 0), lengths[r]);
        assert_int_equal(rec_rows_u64(rows, 0, 1), sizes[r]);
        assert_int_equal(rec_rows_u64(rows, 0, 2), rec_rows_u64(rows, 0, 3));
        assert_true(rec_rows_u64(rows, 0, 4) <= CHAT_SEG_MAX);
        assert_int_equal(rec_rows_u64(rows, 0, 5), lengths[r]);
        rec_rows_free(rows);
    }
    assert_reads_back(db, big, 1, HISTORY, "m");
    assert_reads_back(db, other, 2, 250, "o");
    assert_reads_back(db, little, 1, 1, "m");

    /* Appends carry on where the old history ended, and dedup against
     * the ids it had (one message goes through the procedure of 0014). */
    link_migration("0013_chat_append_proc.sql");
    link_migration("0014_chat_append_nocheck.sql");
    assert_int_equal(migrate(db), 2);
    chat_result res;
    chat_msg m[2] = {{.id = "m5",
                      .id_len = 2,
                      .role = "user",
                      .role_len = 4,
                      .content = "again",
                      .content_len = 5},
                     {.id = "after",
                      .id_len = 5,
                      .role = "user",
                      .role_len = 4,
                      .content = "new",
                      .content_len = 3}};
    must(chat_append(db, big, 1, m, 2, &res, &err), &err, "append after");
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.duplicates, 1);
    assert_int_equal(res.length, HISTORY + 1);
    assert_int_equal(res.bytes, bytes + 3);
    must(chat_append(db, empty, 1, &m[1], 1, &res, &err), &err, "empty");
    assert_int_equal(res.length, 1);

    assert_int_equal(migrate(db), 0); /* applied once */
    rec_db_close(db);
}

static int setup(void **state)
{
    (void)state;
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    static const char drop[] = "DROP DATABASE IF EXISTS " DBNAME;
    static const char create[] = "CREATE DATABASE " DBNAME;
    if (rec_exec_text(db, drop, sizeof drop - 1, &err) != REC_OK ||
        rec_exec_text(db, create, sizeof create - 1, &err) != REC_OK) {
        fprintf(stderr, "create %s: %s\n", DBNAME, err.msg);
        rec_db_close(db);
        return -1;
    }
    rec_db_close(db);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/optimist-0008.XXXXXX", tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    static const char drop[] = "DROP DATABASE IF EXISTS " DBNAME;
    rec_status st = rec_exec_text(db, drop, sizeof drop - 1, &err);
    rec_db_close(db);
    static const char *const names[] = {
        "0001_platform.sql",  "0002_storefront.sql", "0003_reports.sql",
        "0004_approvals.sql", "0005_bids.sql",       "0008_chat_segments.sql"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char link[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", dir, names[i]);
        (void)unlink(link);
    }
    (void)rmdir(dir);
    return st == REC_OK ? 0 : -1;
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    mig_cfg = cfg;
    mig_cfg.database = DBNAME;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_0008_moves_10000_messages_in_order),
    };
    return cmocka_run_group_tests_name("integration_chat_migrate", tests, setup,
                                       teardown);
}
