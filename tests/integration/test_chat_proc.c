/*
 * test_chat_proc.c -- the append of one message through the stored
 * procedure chat_append_one (sql/0013_chat_append_proc.sql, redefined by
 * 0014 without the per-append JSON check), against a real MariaDB: the
 * segments it writes valid with the column's CHECK still in force for
 * plain SQL, the procedure applied again by a migration re-run (and a
 * connection that had prepared the CALL before carrying on), the segment
 * roll-over at exactly CHAT_SEG_MAX messages and CHAT_SEG_BYTES of content,
 * dedup, a refusal at the limits leaving nothing written, the procedure
 * joining a transaction the caller holds (an Idempotency-Key request), and
 * appenders on their own connections: every id once, `at` never going
 * backwards along the history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chat.h"
#include "itest.h"

#include <json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

static const char SQL_NEW_REPORT[] =
    "INSERT INTO reports (tenant_id, created_at, updated_at) "
    "VALUES (?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
/* The report's segments in order: "first:n:bytes,..." */
static const char SQL_SEGS[] =
    "SELECT GROUP_CONCAT(CONCAT(first, ':', n, ':', bytes) ORDER BY first) "
    "FROM report_chat_segments WHERE report_id = ?";
/* chat_length, chat_bytes, chat_tail, the ids kept, and the stored
 * elements that are not objects with a string id. */
static const char SQL_COUNTERS[] =
    "SELECT chat_length, chat_bytes, chat_tail, "
    "(SELECT COUNT(*) FROM report_chat_ids WHERE report_id = r.id), "
    "(SELECT COUNT(*) FROM report_chat_segments s CROSS JOIN JSON_TABLE("
    "s.msgs, '$[*]' COLUMNS (m JSON PATH '$', i JSON PATH '$.id')) jt "
    "WHERE s.report_id = r.id AND (JSON_TYPE(jt.m) <> 'OBJECT' "
    "OR JSON_TYPE(jt.i) <> 'STRING')) FROM reports r WHERE id = ?";
static const char SQL_ROUTINES[] =
    "SELECT COUNT(*) FROM information_schema.ROUTINES "
    "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'chat_append_one'";
/* The newest migration that defines the procedure. */
static const char SQL_FORGET_PROC[] =
    "DELETE FROM schema_migrations WHERE version = 14";
static const char SQL_INVALID_SEGS[] =
    "SELECT COUNT(*) FROM report_chat_segments WHERE NOT JSON_VALID(msgs)";
static const char SQL_CHECKS_ON[] = "SELECT @@SESSION.check_constraint_checks";
static const char SQL_BREAK_SEG[] =
    "UPDATE report_chat_segments SET msgs = '[{\"id\": ' "
    "WHERE report_id = ? AND first = 0";
static const char SQL_SET_BYTES[] =
    "UPDATE reports SET chat_bytes = ? WHERE id = ?";
static const char SQL_CONTENT_OF[] =
    "SELECT JSON_UNQUOTE(JSON_EXTRACT(msgs, '$[0].content')) "
    "FROM report_chat_segments WHERE report_id = ? AND first = ?";

static rec_db *open_db(void)
{
    return itest_open(&cfg);
}

static uint64_t new_report(rec_db *db, uint64_t tenant)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[1] = {REC_U(tenant)};
    itest_must(rec_exec(db, SQL_NEW_REPORT, p, 1, NULL, NULL, &id, &err), &err,
               "new report");
    return id;
}

static chat_msg msg(const char *id, const char *content, size_t len)
{
    chat_msg m = {.id = id,
                  .id_len = strlen(id),
                  .role = "assistant",
                  .role_len = 9,
                  .content = content,
                  .content_len = len};
    return m;
}

/* One message appended, which must succeed; its result. */
static chat_result one(rec_db *db, uint64_t report, const char *id,
                       const char *content, size_t len)
{
    rec_err err = {0};
    chat_result res;
    chat_msg m = msg(id, content, len);
    itest_must(chat_append(db, report, 1, &m, 1, &res, &err), &err, id);
    return res;
}

static void assert_segs(rec_db *db, uint64_t report, const char *want)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(report)};
    itest_must(rec_exec(db, SQL_SEGS, p, 1, &rows, NULL, NULL, &err), &err,
               "segments");
    const char *got = rec_rows_get(rows, 0, 0);
    assert_string_equal(got ? got : "", want);
    rec_rows_free(rows);
}

/* length, bytes, tail, ids, elements that are not objects */
static void counters(rec_db *db, uint64_t report, uint64_t out[5])
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(report)};
    itest_must(rec_exec(db, SQL_COUNTERS, p, 1, &rows, NULL, NULL, &err), &err,
               "counters");
    assert_int_equal(rec_rows_count(rows), 1);
    for (size_t c = 0; c < 5; c++)
        out[c] = rec_rows_u64(rows, 0, c);
    rec_rows_free(rows);
}

static void assert_counters(rec_db *db, uint64_t report, uint64_t length,
                            uint64_t bytes, uint64_t tail, uint64_t ids)
{
    uint64_t c[5];
    counters(db, report, c);
    assert_int_equal(c[0], length);
    assert_int_equal(c[1], bytes);
    assert_int_equal(c[2], tail);
    assert_int_equal(c[3], ids);
    assert_int_equal(c[4], 0);
}

static uint64_t one_u64(rec_db *db, const char *sql)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    itest_must(rec_exec(db, sql, NULL, 0, &rows, NULL, NULL, &err), &err, sql);
    uint64_t v = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return v;
}

static int setup(void **state)
{
    *state = open_db();
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

static void test_procedure_survives_a_migration_rerun(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    int applied = 0;
    uint64_t report = new_report(db, 1);
    one(db, report, "before", "x", 1); /* db has the CALL prepared */

    rec_db *mig = open_db();
    itest_must(rec_exec(mig, SQL_FORGET_PROC, NULL, 0, NULL, NULL, NULL, &err),
               &err, "forget 0014");
    itest_must(rec_migrate(mig, "sql", &applied, NULL, &err), &err, "rerun");
    assert_int_equal(applied, 1); /* DROP + CREATE again */
    itest_must(rec_migrate(mig, "sql", &applied, NULL, &err), &err, "again");
    assert_int_equal(applied, 0);
    assert_int_equal(one_u64(mig, SQL_ROUTINES), 1);

    /* The connection that prepared the CALL before the re-creation, and a
     * new one, append after it; statements after a CALL still run on the
     * connection (its status result was read). */
    chat_result res = one(db, report, "after", "yz", 2);
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.length, 2);
    res = one(mig, report, "other", "w", 1);
    assert_int_equal(res.length, 3);
    assert_counters(db, report, 3, 4, 0, 3);
    assert_segs(db, report, "0:3:4");
    rec_db_close(mig);
}

static void test_rolls_over_at_exactly_seg_max(void **state)
{
    rec_db *db = *state;
    uint64_t report = new_report(db, 1);
    char id[16];
    for (int i = 0; i < CHAT_SEG_MAX; i++) {
        snprintf(id, sizeof id, "m%d", i);
        chat_result res = one(db, report, id, "ab", 2);
        assert_int_equal(res.appended, 1);
        assert_int_equal(res.duplicates, 0);
        assert_int_equal(res.length, (uint32_t)i + 1);
        assert_int_equal(res.bytes, 2 * ((uint64_t)i + 1));
    }
    char want[64];
    snprintf(want, sizeof want, "0:%d:%d", CHAT_SEG_MAX, 2 * CHAT_SEG_MAX);
    assert_segs(db, report, want); /* full, not over */
    assert_counters(db, report, CHAT_SEG_MAX, 2 * CHAT_SEG_MAX, 0,
                    CHAT_SEG_MAX);

    one(db, report, "next", "c", 1);
    snprintf(want, sizeof want, "0:%d:%d,%d:1:1", CHAT_SEG_MAX,
             2 * CHAT_SEG_MAX, CHAT_SEG_MAX);
    assert_segs(db, report, want);
    assert_counters(db, report, CHAT_SEG_MAX + 1, 2 * CHAT_SEG_MAX + 1,
                    CHAT_SEG_MAX, CHAT_SEG_MAX + 1);
}

static void test_rolls_over_at_exactly_seg_bytes(void **state)
{
    rec_db *db = *state;
    uint64_t report = new_report(db, 1);
    static char big[CHAT_SEG_BYTES + 1000];
    memset(big, 'q', sizeof big);
    const size_t half = CHAT_SEG_BYTES / 2;

    one(db, report, "h1", big, half);
    one(db, report, "h2", big, CHAT_SEG_BYTES - half); /* exactly full */
    char want[128];
    snprintf(want, sizeof want, "0:2:%d", CHAT_SEG_BYTES);
    assert_segs(db, report, want);

    one(db, report, "b1", "z", 1); /* one byte over: the next segment */
    snprintf(want, sizeof want, "0:2:%d,2:1:1", CHAT_SEG_BYTES);
    assert_segs(db, report, want);

    /* A message bigger than a segment opens one of its own, and the next
     * message cannot join it. */
    one(db, report, "huge", big, sizeof big);
    one(db, report, "b2", "z", 1);
    snprintf(want, sizeof want, "0:2:%d,2:1:1,3:1:%zu,4:1:1", CHAT_SEG_BYTES,
             sizeof big);
    assert_segs(db, report, want);
    assert_counters(db, report, 5, CHAT_SEG_BYTES + 2 + sizeof big, 4, 5);

    /* The content went in whole, as a string. */
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[2] = {REC_U(report), REC_U(3)};
    itest_must(rec_exec(db, SQL_CONTENT_OF, p, 2, &rows, NULL, NULL, &err),
               &err, "content");
    assert_int_equal(rec_rows_len(rows, 0, 0), sizeof big);
    assert_memory_equal(rec_rows_get(rows, 0, 0), big, sizeof big);
    rec_rows_free(rows);
}

static void test_dedup_through_the_procedure(void **state)
{
    rec_db *db = *state;
    uint64_t report = new_report(db, 1);
    const char *quoted = "say \"hi\"\\ \n\xc3\xa9";
    chat_result res = one(db, report, "dup", quoted, strlen(quoted));
    assert_int_equal(res.appended, 1);
    res = one(db, report, "dup", "other", 5);
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicates, 1);
    assert_int_equal(res.length, 1);
    assert_int_equal(res.bytes, strlen(quoted));
    res = one(db, report, "DUP", "case", 4); /* ids compare as bytes */
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.length, 2);
    assert_counters(db, report, 2, strlen(quoted) + 4, 0, 2);

    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[2] = {REC_U(report), REC_U(0)};
    itest_must(rec_exec(db, SQL_CONTENT_OF, p, 2, &rows, NULL, NULL, &err),
               &err, "content");
    assert_string_equal(rec_rows_get(rows, 0, 0), quoted); /* the first */
    rec_rows_free(rows);
}

/* sql/0014: the procedure's writes of a segment skip the column's
 * json_valid CHECK (the server's JSON functions made what they write),
 * for that statement only. What they wrote is valid JSON all the same,
 * with contents that need escaping, across a roll-over to an INSERTed
 * segment; the session's checks are on after the CALL; and a write of
 * the column by plain SQL is still refused by the CHECK, changing
 * nothing. */
static void test_segments_valid_and_the_check_kept(void **state)
{
    rec_db *db = *state;
    uint64_t report = new_report(db, 1);
    static const char *const nasty[] = {"\"]}",
                                        "back\\slash",
                                        "tab\tnew\nline\x01\x1f",
                                        "\xe2\x80\xa8 u+2028",
                                        "{\"id\": 1}",
                                        "'; DROP TABLE reports; --",
                                        "\xf0\x9f\x98\x80"};
    char id[16];
    uint64_t bytes = 0;
    for (int i = 0; i < CHAT_SEG_MAX + 3; i++) {
        const char *c = nasty[i % (int)(sizeof nasty / sizeof nasty[0])];
        bytes += strlen(c);
        snprintf(id, sizeof id, "v%d", i);
        chat_result res = one(db, report, id, c, strlen(c));
        assert_int_equal(res.appended, 1);
    }
    assert_int_equal(one_u64(db, SQL_INVALID_SEGS), 0);
    assert_counters(db, report, CHAT_SEG_MAX + 3, bytes, CHAT_SEG_MAX,
                    CHAT_SEG_MAX + 3);
    assert_int_equal(one_u64(db, SQL_CHECKS_ON), 1);

    rec_err err = {0};
    rec_param p[1] = {REC_U(report)};
    uint64_t affected = 99;
    rec_status st =
        rec_exec(db, SQL_BREAK_SEG, p, 1, NULL, &affected, NULL, &err);
    assert_int_not_equal(st, REC_OK);
    assert_int_equal(err.code, 4025); /* ER_CONSTRAINT_FAILED */
    assert_int_equal(one_u64(db, SQL_INVALID_SEGS), 0);
    chat_result res = one(db, report, "after", "ok", 2);
    assert_int_equal(res.length, CHAT_SEG_MAX + 4);
}

static void test_refusal_writes_nothing(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t report = new_report(db, 1);
    one(db, report, "first", "abc", 3);
    /* 2 bytes left before CHAT_MAX_BYTES (the counter seeded). */
    uint64_t nearly = (uint64_t)CHAT_MAX_BYTES - 2;
    rec_param p[2] = {REC_U(nearly), REC_U(report)};
    itest_must(rec_exec(db, SQL_SET_BYTES, p, 2, NULL, NULL, NULL, &err), &err,
               "seed bytes");

    chat_msg m = msg("over", "xyz", 3);
    assert_int_equal(chat_append(db, report, 1, &m, 1, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 1);
    assert_int_equal(res.bytes, nearly);
    assert_counters(db, report, 1, nearly, 0, 1); /* not even the id */
    assert_segs(db, report, "0:1:3");

    /* The connection is clean after it: the same id fits when smaller,
     * then the history is exactly full and a duplicate still answers. */
    res = one(db, report, "over", "xy", 2);
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.bytes, CHAT_MAX_BYTES);
    res = one(db, report, "over", "xyz", 3);
    assert_int_equal(res.duplicates, 1);
    m = msg("one-more", "x", 1);
    assert_int_equal(chat_append(db, report, 1, &m, 1, &res, &err),
                     REC_INVALID_STATE);
    assert_counters(db, report, 2, CHAT_MAX_BYTES, 0, 2);

    /* Not the tenant's: 404 and nothing written. */
    m = msg("stranger", "x", 1);
    assert_int_equal(chat_append(db, report, 2, &m, 1, &res, &err),
                     REC_NOT_FOUND);
    assert_counters(db, report, 2, CHAT_MAX_BYTES, 0, 2);
}

static void test_joins_a_held_transaction(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    rec_db *other = open_db();
    uint64_t report = new_report(db, 1);

    rec_txn_hold(db, 1);
    chat_msg m = msg("held", "abc", 3);
    itest_must(chat_append(db, report, 1, &m, 1, &res, &err), &err, "held");
    assert_int_equal(res.appended, 1);
    assert_int_equal(rec_txn_held(db), REC_HOLD_OPEN); /* not committed */
    assert_counters(other, report, 0, 0, 0, 0);
    itest_must(rec_txn_commit_held(db, NULL, NULL, &err), &err, "commit");
    rec_txn_hold(db, 0);
    assert_counters(other, report, 1, 3, 0, 1);

    /* A refusal where the request holds a transaction: the procedure
     * wrote the id in it, and the refusal rolls all of it back. */
    uint64_t nearly = (uint64_t)CHAT_MAX_BYTES - 1;
    rec_param p[2] = {REC_U(nearly), REC_U(report)};
    itest_must(rec_exec(db, SQL_SET_BYTES, p, 2, NULL, NULL, NULL, &err), &err,
               "seed bytes");
    rec_txn_hold(db, 1);
    m = msg("too-big", "ab", 2);
    assert_int_equal(chat_append(db, report, 1, &m, 1, &res, &err),
                     REC_INVALID_STATE);
    assert_int_not_equal(rec_txn_held(db), REC_HOLD_OPEN); /* rolled back */
    rec_txn_hold(db, 0);
    assert_counters(other, report, 1, nearly, 0, 1);
    rec_db_close(other);
}

#define APPENDERS 4
#define CALLS     60

struct appender {
    uint64_t report;
    int who;
    int failed;
};

static void *appender_run(void *arg)
{
    struct appender *a = arg;
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    if (rec_db_connect(db, &err) != REC_OK) {
        a->failed = 1;
        rec_db_close(db);
        return NULL;
    }
    for (int i = 0; i < CALLS && !a->failed; i++) {
        char id[32];
        chat_result res;
        snprintf(id, sizeof id, "w%d-%d", a->who, i);
        chat_msg m = msg(id, "content", 7);
        /* Each one twice: the second is a duplicate. */
        for (int k = 0; k < 2 && !a->failed; k++)
            if (chat_append(db, a->report, 1, &m, 1, &res, &err) != REC_OK ||
                res.appended != (k == 0 ? 1u : 0u))
                a->failed = 1;
    }
    rec_db_close(db);
    return NULL;
}

static void test_appenders_each_once_at_in_order(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint64_t report = new_report(db, 1);
    pthread_t t[APPENDERS];
    struct appender a[APPENDERS];
    for (int i = 0; i < APPENDERS; i++) {
        a[i] = (struct appender){.report = report, .who = i};
        assert_int_equal(pthread_create(&t[i], NULL, appender_run, &a[i]), 0);
    }
    for (int i = 0; i < APPENDERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_false(a[i].failed);
    }
    const int total = APPENDERS * CALLS;
    assert_counters(db, report, (uint64_t)total, 7 * (uint64_t)total,
                    (uint64_t)((total - 1) / CHAT_SEG_MAX * CHAT_SEG_MAX),
                    (uint64_t)total);

    jbuf b;
    uint32_t length = 0;
    jb_init(&b);
    itest_must(chat_read(db, report, 1, 0, CHAT_READ_MAX, &b, &length, &err),
               &err, "read");
    assert_int_equal(length, total);
    json_object *arr = json_tokener_parse(b.p);
    assert_non_null(arr);
    assert_int_equal(json_object_array_length(arr), total);
    int next[APPENDERS] = {0};
    char last_at[32] = "";
    for (int i = 0; i < total; i++) {
        json_object *m = json_object_array_get_idx(arr, (size_t)i), *v;
        assert_true(json_object_object_get_ex(m, "id", &v));
        int who = -1, k = -1;
        assert_int_equal(sscanf(json_object_get_string(v), "w%d-%d", &who, &k),
                         2);
        assert_true(who >= 0 && who < APPENDERS);
        assert_int_equal(k, next[who]++); /* each writer's in its order */
        assert_true(json_object_object_get_ex(m, "at", &v));
        const char *at = json_object_get_string(v);
        assert_int_equal(strlen(at), 24);
        assert_true(strcmp(at, last_at) >= 0); /* never goes back */
        snprintf(last_at, sizeof last_at, "%s", at);
    }
    for (int i = 0; i < APPENDERS; i++)
        assert_int_equal(next[i], CALLS);
    json_object_put(arr);
    jb_free(&b);
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procedure_survives_a_migration_rerun),
        cmocka_unit_test(test_rolls_over_at_exactly_seg_max),
        cmocka_unit_test(test_rolls_over_at_exactly_seg_bytes),
        cmocka_unit_test(test_dedup_through_the_procedure),
        cmocka_unit_test(test_segments_valid_and_the_check_kept),
        cmocka_unit_test(test_refusal_writes_nothing),
        cmocka_unit_test(test_joins_a_held_transaction),
        cmocka_unit_test(test_appenders_each_once_at_in_order),
    };
    return cmocka_run_group_tests_name("integration_chat_proc", tests, setup,
                                       teardown);
}
