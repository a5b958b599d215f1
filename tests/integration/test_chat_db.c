/*
 * test_chat_db.c -- lib/chat.c against a real MariaDB (tests/run.sh starts
 * one and applies sql/): appends that dedup by id as strings, all or
 * nothing at the 10,000-message limit (the history seeded in SQL, the id
 * table with it), concurrent appenders on their own connections, and reads
 * of slices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/chat.h"

#include <json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

static const char SQL_NEW_REPORT[] =
    "INSERT INTO reports (tenant_id, chat, created_at, updated_at) "
    "VALUES (?, '[]', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
static const char SQL_STATE[] =
    "SELECT version, chat_length, JSON_LENGTH(chat), "
    "(SELECT COUNT(*) FROM report_chat_ids WHERE report_id = r.id) "
    "FROM reports r WHERE id = ?";
/* The type of each stored element, and of its id, counted. */
static const char SQL_TYPES[] =
    "SELECT JSON_TYPE(jt.m), JSON_TYPE(jt.i), COUNT(*) FROM reports r "
    "CROSS JOIN JSON_TABLE(r.chat, '$[*]' COLUMNS (m JSON PATH '$', "
    "i JSON PATH '$.id')) jt WHERE r.id = ? GROUP BY 1, 2";
/* Seeds a history of n messages "s1".."sn" and their ids, behind the
 * library's back, the way an import would. */
static const char SQL_SEED_CHAT[] =
    "UPDATE reports SET chat = (SELECT JSON_ARRAYAGG(JSON_OBJECT('id', "
    "CONCAT('s', seq), 'role', 'user', 'content', 'x', 'at', "
    "'2026-01-01T00:00:00.000Z') ORDER BY seq) FROM seq_1_to_9999), "
    "chat_length = 9999 WHERE id = ?";
static const char SQL_SEED_IDS[] =
    "INSERT INTO report_chat_ids (report_id, msg_id) "
    "SELECT ?, CONCAT('s', seq) FROM seq_1_to_9999";

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static rec_db *open_db(void)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    must(rec_db_connect(db, &err), &err, "connect");
    return db;
}

static uint64_t new_report(rec_db *db, uint64_t tenant)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[1] = {REC_U(tenant)};
    must(rec_exec(db, SQL_NEW_REPORT, p, 1, NULL, NULL, &id, &err), &err,
         "new report");
    return id;
}

/* version, chat_length, JSON_LENGTH(chat), ids in report_chat_ids */
static void state_of(rec_db *db, uint64_t id, uint64_t out[4])
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_STATE, p, 1, &rows, NULL, NULL, &err), &err,
         "state");
    assert_int_equal(rec_rows_count(rows), 1);
    for (size_t c = 0; c < 4; c++)
        out[c] = rec_rows_u64(rows, 0, c);
    rec_rows_free(rows);
}

static void assert_state(rec_db *db, uint64_t id, uint64_t length)
{
    uint64_t s[4];
    state_of(db, id, s);
    assert_int_equal(s[0], 1); /* appends never change the version */
    assert_int_equal(s[1], length);
    assert_int_equal(s[2], length);
    assert_int_equal(s[3], length);
}

/* Every stored element is an object whose id is a string. */
static void assert_all_objects(rec_db *db, uint64_t id, uint64_t n)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_TYPES, p, 1, &rows, NULL, NULL, &err), &err,
         "types");
    assert_int_equal(rec_rows_count(rows), 1);
    assert_string_equal(rec_rows_get(rows, 0, 0), "OBJECT");
    assert_string_equal(rec_rows_get(rows, 0, 1), "STRING");
    assert_int_equal(rec_rows_u64(rows, 0, 2), n);
    rec_rows_free(rows);
}

static chat_msg m_(const char *id, const char *content)
{
    chat_msg m = {.id = id, .id_len = strlen(id), .role = "user",
                  .role_len = 4, .content = content,
                  .content_len = strlen(content)};
    return m;
}

/* The ids of a read, as one comma-separated string. */
static void read_ids(rec_db *db, uint64_t id, uint64_t after, unsigned limit,
                     char *out, size_t outlen, uint32_t *length)
{
    jbuf b;
    rec_err err = {0};
    jb_init(&b);
    must(chat_read(db, id, 1, after, limit, &b, length, &err), &err, "read");
    json_object *arr = json_tokener_parse(b.p);
    assert_non_null(arr);
    assert_true(json_object_is_type(arr, json_type_array));
    out[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *m = json_object_array_get_idx(arr, i), *v;
        assert_true(json_object_object_get_ex(m, "id", &v));
        if (i > 0)
            strncat(out, ",", outlen - strlen(out) - 1);
        strncat(out, json_object_get_string(v), outlen - strlen(out) - 1);
    }
    json_object_put(arr);
    jb_free(&b);
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

static void test_missing_or_other_tenants_report(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    chat_msg m[1] = {m_("a", "x")};
    assert_int_equal(chat_append(db, id, 2, m, 1, &res, &err), REC_NOT_FOUND);
    assert_int_equal(chat_append(db, 987654321, 1, m, 1, &res, &err),
                     REC_NOT_FOUND);
    assert_state(db, id, 0); /* not even the id was kept */
    jbuf b;
    uint32_t length;
    jb_init(&b);
    assert_int_equal(chat_read(db, id, 2, 0, 10, &b, &length, &err),
                     REC_NOT_FOUND);
    jb_free(&b);
}

static void test_batch_sizes_out_of_range(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    chat_msg m[CHAT_MAX_BATCH + 1];
    uint64_t id = new_report(db, 1);
    for (size_t i = 0; i <= CHAT_MAX_BATCH; i++)
        m[i] = m_("same", "x");
    assert_int_equal(chat_append(db, id, 1, m, 0, &res, &err), REC_INVALID);
    assert_int_equal(chat_append(db, id, 1, m, CHAT_MAX_BATCH + 1, &res, &err),
                     REC_INVALID);
    must(chat_append(db, id, 1, m, CHAT_MAX_BATCH, &res, &err), &err, "100");
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.duplicates, CHAT_MAX_BATCH - 1);
    assert_state(db, id, 1);
}

static void test_dedup_compares_strings(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    chat_msg m[] = {m_("1", "a"), m_("01", "b"), m_("1.0", "c"),
                    m_("1e3", "d"), m_("a", "e"), m_("A", "f"),
                    m_("1", "again")};
    must(chat_append(db, id, 1, m, 7, &res, &err), &err, "append");
    assert_int_equal(res.appended, 6);
    assert_int_equal(res.duplicates, 1);
    assert_int_equal(res.length, 6);
    /* One at a time: the single-message statement dedups the same way. */
    for (size_t i = 0; i < 6; i++) {
        must(chat_append(db, id, 1, &m[i], 1, &res, &err), &err, "retry");
        assert_int_equal(res.appended, 0);
        assert_int_equal(res.duplicates, 1);
    }
    chat_msg one[1] = {m_("1000", "g")};
    must(chat_append(db, id, 1, one, 1, &res, &err), &err, "one");
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.length, 7);
    assert_state(db, id, 7);
    assert_all_objects(db, id, 7);
    char ids[256];
    uint32_t length;
    read_ids(db, id, 0, 100, ids, sizeof ids, &length);
    assert_string_equal(ids, "1,01,1.0,1e3,a,A,1000");
    assert_int_equal(length, 7);
}

static void test_limit_is_all_or_nothing_on_a_seeded_history(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_SEED_CHAT, p, 1, NULL, NULL, NULL, &err), &err,
         "seed chat");
    must(rec_exec(db, SQL_SEED_IDS, p, 1, NULL, NULL, NULL, &err), &err,
         "seed ids");
    assert_state(db, id, 9999);

    chat_msg two[2] = {m_("n1", "x"), m_("n2", "y")};
    assert_int_equal(chat_append(db, id, 1, two, 2, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 9999);
    assert_state(db, id, 9999); /* n1 was not kept either */

    chat_msg fits[3] = {m_("s5", "dup"), m_("n1", "x"), m_("s9999", "dup")};
    must(chat_append(db, id, 1, fits, 3, &res, &err), &err, "to 10000");
    assert_int_equal(res.appended, 1);
    assert_int_equal(res.duplicates, 2);
    assert_int_equal(res.length, 10000);

    assert_int_equal(chat_append(db, id, 1, &two[1], 1, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 10000);
    must(chat_append(db, id, 1, fits, 3, &res, &err), &err, "retry at full");
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicates, 3);
    assert_state(db, id, 10000);
    assert_all_objects(db, id, 10000);

    char ids[256];
    uint32_t length;
    read_ids(db, id, 9997, 1000, ids, sizeof ids, &length);
    assert_string_equal(ids, "s9998,s9999,n1");
    assert_int_equal(length, 10000);
}

static void test_read_slices(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    chat_msg m[5] = {m_("a", "1"), m_("b", "2"), m_("c", "3"), m_("d", "4"),
                     m_("e", "5")};
    must(chat_append(db, id, 1, m, 5, &res, &err), &err, "append");
    char ids[256];
    uint32_t length;
    read_ids(db, id, 0, 2, ids, sizeof ids, &length);
    assert_string_equal(ids, "a,b");
    assert_int_equal(length, 5);
    read_ids(db, id, 4, 1, ids, sizeof ids, &length);
    assert_string_equal(ids, "e"); /* one element is still an array */
    read_ids(db, id, 5, 10, ids, sizeof ids, &length);
    assert_string_equal(ids, "");
    /* Far past the end, where a 32-bit index would wrap around. */
    read_ids(db, id, 4294967295u, 1000, ids, sizeof ids, &length);
    assert_string_equal(ids, "");
    read_ids(db, id, UINT64_MAX, 1000, ids, sizeof ids, &length);
    assert_string_equal(ids, "");
    assert_int_equal(length, 5);
    jbuf b;
    jb_init(&b);
    assert_int_equal(chat_read(db, id, 1, 0, 0, &b, &length, &err),
                     REC_INVALID);
    assert_int_equal(
        chat_read(db, id, 1, 0, CHAT_READ_MAX + 1, &b, &length, &err),
        REC_INVALID);
    jb_free(&b);
}

/* ---- appenders on their own connections -------------------------------- */

#define THREADS 8
#define ROUNDS 20

struct worker {
    uint64_t report;
    int n;                   /* which thread */
    unsigned appended;       /* OUT */
    unsigned duplicates;     /* OUT */
    rec_status failed;       /* OUT: REC_OK unless a call failed */
};

/* Each round every thread sends "r<round>" (shared by all threads) and
 * "t<thread>-<round>" (its own), in that order. */
static void *appender(void *arg)
{
    struct worker *w = arg;
    rec_db *db = rec_db_new(&cfg);
    w->failed = REC_OK;
    for (int r = 0; r < ROUNDS && w->failed == REC_OK; r++) {
        char shared[16], own[16];
        snprintf(shared, sizeof shared, "r%d", r);
        snprintf(own, sizeof own, "t%d-%d", w->n, r);
        chat_msg m[2] = {m_(shared, "shared"), m_(own, "own")};
        chat_result res;
        rec_err err = {0};
        w->failed = chat_append(db, w->report, 1, m, 2, &res, &err);
        w->appended += res.appended;
        w->duplicates += res.duplicates;
    }
    rec_db_close(db);
    return NULL;
}

static void test_concurrent_appenders_append_each_id_once(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_report(db, 1);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.report = id, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, appender, &w[i]), 0);
    }
    unsigned appended = 0, duplicates = 0;
    /* Every thread joined before any assertion: a failed one leaves the
     * test at once, and the others would write into its gone frame. */
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failed, REC_OK);
        appended += w[i].appended;
        duplicates += w[i].duplicates;
    }
    /* Each shared id once, each own id once; the rest were duplicates. */
    assert_int_equal(appended, ROUNDS + THREADS * ROUNDS);
    assert_int_equal(duplicates, (THREADS - 1) * ROUNDS);
    assert_state(db, id, ROUNDS + THREADS * ROUNDS);
    assert_all_objects(db, id, ROUNDS + THREADS * ROUNDS);
}

int main(void)
{
    rec_config_from_env(&cfg);
    if (cfg.socket == NULL && getenv("OPTIMIST_DB_HOST") == NULL) {
        fprintf(stderr, "OPTIMIST_DB_SOCKET is not set: run via tests/run.sh\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_or_other_tenants_report),
        cmocka_unit_test(test_batch_sizes_out_of_range),
        cmocka_unit_test(test_dedup_compares_strings),
        cmocka_unit_test(test_limit_is_all_or_nothing_on_a_seeded_history),
        cmocka_unit_test(test_read_slices),
        cmocka_unit_test(test_concurrent_appenders_append_each_id_once),
    };
    return cmocka_run_group_tests_name("integration_chat_db", tests, setup,
                                       teardown);
}
