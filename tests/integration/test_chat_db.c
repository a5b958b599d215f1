/*
 * test_chat_db.c -- lib/chat.c against a real MariaDB (tests/run.sh starts
 * one and applies sql/): appends that dedup by id as strings, all or
 * nothing at the 1,000,000-message and 256 MiB limits (the counters and the
 * tail seeded in SQL), segments that fill and open in order (one message
 * at a time, in batches, and with many appenders crossing a boundary at
 * once), concurrent appenders on their own connections, and reads of
 * slices across segments.
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
/* version, chat_length, messages stored in the segments, ids. */
static const char SQL_STATE[] =
    "SELECT version, chat_length, "
    "(SELECT COALESCE(SUM(JSON_LENGTH(msgs)), 0) FROM report_chat_segments "
    "WHERE report_id = r.id), "
    "(SELECT COUNT(*) FROM report_chat_ids WHERE report_id = r.id) "
    "FROM reports r WHERE id = ?";
/* What must hold of every report's segments, as counts of violations:
 * n and bytes mirror the array; each segment starts where the previous
 * one ends (the first at 0), none is empty or over 25 (CHAT_SEG_MAX); the
 * tail is the
 * last; chat_bytes is the sum. */
static const char SQL_SEGMENTS_BAD[] =
    "SELECT "
    "(SELECT COUNT(*) FROM report_chat_segments s WHERE s.report_id = r.id "
    " AND (s.n <> JSON_LENGTH(s.msgs) OR s.n = 0 OR s.n > 25 OR s.bytes <> "
    " (SELECT COALESCE(SUM(LENGTH(jt.c)), 0) FROM JSON_TABLE(s.msgs, '$[*]' "
    " COLUMNS (c LONGTEXT CHARACTER SET utf8mb4 PATH '$.content')) jt))), "
    "(SELECT COUNT(*) FROM report_chat_segments s WHERE s.report_id = r.id "
    " AND s.first > 0 AND NOT EXISTS (SELECT 1 FROM report_chat_segments p "
    " WHERE p.report_id = r.id AND p.first + p.n = s.first)), "
    "(SELECT COUNT(*) FROM report_chat_segments s WHERE s.report_id = r.id "
    " AND s.first + s.n <> r.chat_length AND NOT EXISTS (SELECT 1 FROM "
    " report_chat_segments x WHERE x.report_id = r.id "
    " AND x.first = s.first + s.n)), "
    "(SELECT COUNT(*) FROM report_chat_segments s WHERE s.report_id = r.id "
    " AND s.first > r.chat_tail), "
    "r.chat_bytes <> (SELECT COALESCE(SUM(s.bytes), 0) FROM "
    " report_chat_segments s WHERE s.report_id = r.id) "
    "FROM reports r WHERE r.id = ?";
/* The type of each stored element, and of its id, counted. */
static const char SQL_TYPES[] =
    "SELECT JSON_TYPE(jt.m), JSON_TYPE(jt.i), COUNT(*) "
    "FROM report_chat_segments s "
    "CROSS JOIN JSON_TABLE(s.msgs, '$[*]' COLUMNS (m JSON PATH '$', "
    "i JSON PATH '$.id')) jt WHERE s.report_id = ? GROUP BY 1, 2";
/* The sizes of a report's segments in order, "100,100,50". */
static const char SQL_SEG_SIZES[] =
    "SELECT GROUP_CONCAT(n ORDER BY first) FROM report_chat_segments "
    "WHERE report_id = ?";
/* Seeds a history behind the library's back: the counters say 999,990
 * messages and some bytes of content, of which the last segment (from
 * 999,980) holds the 10 messages "s999981".."s999990" and their ids
 * (the earlier ones are not there: the limits are what is tested). */
static const char SQL_SEED_TAIL[] =
    "INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs) "
    "SELECT ?, 999980, 10, 10, JSON_ARRAYAGG(JSON_OBJECT('id', "
    "CONCAT('s', 999980 + seq), 'role', 'user', 'content', 'x', 'at', "
    "'2026-01-01T00:00:00.000Z') ORDER BY seq) FROM seq_1_to_10";
static const char SQL_SEED_IDS[] =
    "INSERT INTO report_chat_ids (report_id, msg_id) "
    "SELECT ?, CONCAT('s', 999980 + seq) FROM seq_1_to_10";
static const char SQL_SEED_COUNTERS[] =
    "UPDATE reports SET chat_length = 999990, chat_bytes = ?, "
    "chat_tail = 999980 WHERE id = ?";

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
    must(rec_exec(db, SQL_STATE, p, 1, &rows, NULL, NULL, &err), &err, "state");
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
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_SEGMENTS_BAD, p, 1, &rows, NULL, NULL, &err), &err,
         "segments");
    for (size_t c = 0; c < 5; c++)
        if (rec_rows_u64(rows, 0, c) != 0)
            fail_msg("report %llu: segment check %zu fails",
                     (unsigned long long)id, c);
    rec_rows_free(rows);
}

/* The sizes of the report's segments, in order. */
static void assert_segments(rec_db *db, uint64_t id, const char *sizes)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_SEG_SIZES, p, 1, &rows, NULL, NULL, &err), &err,
         "sizes");
    const char *got = rec_rows_get(rows, 0, 0);
    assert_string_equal(got ? got : "", sizes);
    rec_rows_free(rows);
}

/* Every stored element is an object whose id is a string. */
static void assert_all_objects(rec_db *db, uint64_t id, uint64_t n)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_TYPES, p, 1, &rows, NULL, NULL, &err), &err, "types");
    assert_int_equal(rec_rows_count(rows), 1);
    assert_string_equal(rec_rows_get(rows, 0, 0), "OBJECT");
    assert_string_equal(rec_rows_get(rows, 0, 1), "STRING");
    assert_int_equal(rec_rows_u64(rows, 0, 2), n);
    rec_rows_free(rows);
}

static chat_msg m_(const char *id, const char *content)
{
    chat_msg m = {.id = id,
                  .id_len = strlen(id),
                  .role = "user",
                  .role_len = 4,
                  .content = content,
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
    chat_msg m[] = {m_("1", "a"),    m_("01", "b"), m_("1.0", "c"),
                    m_("1e3", "d"),  m_("a", "e"),  m_("A", "f"),
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

/* The report's counters and tail seeded near the limits. */
static void seed_near_limits(rec_db *db, uint64_t id, uint64_t bytes)
{
    rec_err err = {0};
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_SEED_TAIL, p, 1, NULL, NULL, NULL, &err), &err,
         "seed tail");
    must(rec_exec(db, SQL_SEED_IDS, p, 1, NULL, NULL, NULL, &err), &err,
         "seed ids");
    rec_param q[2] = {REC_U(bytes), REC_U(id)};
    must(rec_exec(db, SQL_SEED_COUNTERS, q, 2, NULL, NULL, NULL, &err), &err,
         "seed counters");
}

static void test_message_limit_is_all_or_nothing(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    seed_near_limits(db, id, 1000);

    chat_msg eleven[11];
    char names[11][8];
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i);
        eleven[i] = m_(names[i], "x");
    }
    assert_int_equal(chat_append(db, id, 1, eleven, 11, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 999990);
    assert_int_equal(res.bytes, 1000);
    assert_segments(db, id, "10"); /* n0 was not kept either */

    /* Ten new ones and two stored ids end exactly at 1,000,000, in the
     * tail (which then holds 20). */
    chat_msg fits[12];
    fits[0] = m_("s999985", "dup");
    for (int i = 0; i < 10; i++)
        fits[i + 1] = eleven[i];
    fits[11] = m_("s999990", "dup");
    must(chat_append(db, id, 1, fits, 12, &res, &err), &err, "to 1000000");
    assert_int_equal(res.appended, 10);
    assert_int_equal(res.duplicates, 2);
    assert_int_equal(res.length, 1000000);
    assert_int_equal(res.bytes, 1010);
    assert_segments(db, id, "20");

    assert_int_equal(chat_append(db, id, 1, &eleven[10], 1, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 1000000);
    must(chat_append(db, id, 1, fits, 12, &res, &err), &err, "retry at full");
    assert_int_equal(res.appended, 0);
    assert_int_equal(res.duplicates, 12);
    assert_segments(db, id, "20");

    char ids[256];
    uint32_t length;
    read_ids(db, id, 999987, 1000, ids, sizeof ids, &length);
    assert_string_equal(ids, "s999988,s999989,s999990,n0,n1,n2,n3,n4,n5,n6,"
                             "n7,n8,n9");
    assert_int_equal(length, 1000000);
}

static void test_content_limit_is_all_or_nothing(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    uint64_t id = new_report(db, 1);
    seed_near_limits(db, id, CHAT_MAX_BYTES - 10);

    chat_msg m[2] = {m_("b1", "12345"), m_("b2", "123456")}; /* 11 bytes */
    assert_int_equal(chat_append(db, id, 1, m, 2, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.bytes, CHAT_MAX_BYTES - 10);
    assert_int_equal(res.length, 999990);
    m[1] = m_("b2", "12345"); /* 10 bytes: exactly at the limit */
    must(chat_append(db, id, 1, m, 2, &res, &err), &err, "to 256 MiB");
    assert_int_equal(res.appended, 2);
    assert_int_equal(res.bytes, CHAT_MAX_BYTES);
    chat_msg empty[1] = {m_("b3", "")}; /* no content: still fits */
    must(chat_append(db, id, 1, empty, 1, &res, &err), &err, "empty");
    assert_int_equal(res.appended, 1);
    chat_msg one[1] = {m_("b4", "1")};
    assert_int_equal(chat_append(db, id, 1, one, 1, &res, &err),
                     REC_INVALID_STATE);
    assert_int_equal(res.length, 999993);
    assert_segments(db, id, "13");
}

/* Appends "<prefix><from>".."<prefix><to - 1>", one call each. */
static void append_singles(rec_db *db, uint64_t id, const char *prefix,
                           int from, int to)
{
    for (int i = from; i < to; i++) {
        char mid[32];
        chat_result res;
        rec_err err = {0};
        snprintf(mid, sizeof mid, "%s%d", prefix, i);
        chat_msg m[1] = {m_(mid, "single")};
        must(chat_append(db, id, 1, m, 1, &res, &err), &err, "single");
        assert_int_equal(res.appended, 1);
        assert_int_equal(res.length, (uint32_t)i + 1);
    }
}

/* Appends "<prefix><from>".."<prefix><to - 1>" in one call. */
static void append_batch(rec_db *db, uint64_t id, const char *prefix, int from,
                         int to)
{
    chat_msg m[CHAT_MAX_BATCH];
    char names[CHAT_MAX_BATCH][32];
    chat_result res;
    rec_err err = {0};
    for (int i = from; i < to; i++) {
        snprintf(names[i - from], sizeof names[0], "%s%d", prefix, i);
        m[i - from] = m_(names[i - from], "batch");
    }
    must(chat_append(db, id, 1, m, (size_t)(to - from), &res, &err), &err,
         "batch");
    assert_int_equal(res.appended, to - from);
    assert_int_equal(res.length, (uint32_t)to);
}

/* "a<from>,a<from+1>,...,a<to-1>" */
static void expected_ids(int from, int to, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int i = from; i < to; i++) {
        char one[16];
        snprintf(one, sizeof one, "%sa%d", i > from ? "," : "", i);
        strncat(out, one, outlen - strlen(out) - 1);
    }
}

static void test_segments_fill_and_open_in_order(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    chat_result res;
    assert_int_equal(CHAT_SEG_MAX, 25); /* the sizes below */
    assert_int_equal(CHAT_SEG_BYTES, 6144);
    uint64_t id = new_report(db, 1);
    assert_segments(db, id, "");
    append_singles(db, id, "a", 0, 60);
    assert_segments(db, id, "25,25,10");
    append_batch(db, id, "a", 60, 75); /* exactly fills the tail */
    assert_segments(db, id, "25,25,25");
    append_batch(db, id, "a", 75, 85);
    assert_segments(db, id, "25,25,25,10");
    append_batch(db, id, "a", 85, 105); /* 10 + 20 > 25: a new one */
    assert_segments(db, id, "25,25,25,10,20");
    append_batch(db, id, "a", 105, 165); /* cut into 25, 25, 10 */
    assert_segments(db, id, "25,25,25,10,20,25,25,10");
    append_singles(db, id, "a", 165, 166);
    assert_segments(db, id, "25,25,25,10,20,25,25,11");
    assert_state(db, id, 166);
    assert_all_objects(db, id, 166);
    char got[2048], want[2048];
    uint32_t length;
    read_ids(db, id, 0, 1000, got, sizeof got, &length);
    expected_ids(0, 166, want, sizeof want);
    assert_string_equal(got, want);

    /* By content: 6 KiB a segment, a bigger message alone. */
    static char big[CHAT_MAX_CONTENT + 1], mid[3001];
    memset(big, 'b', CHAT_MAX_CONTENT);
    memset(mid, 'm', 3000);
    uint64_t id2 = new_report(db, 1);
    const char *names[] = {"g1", "g2", "g3", "g4", "g5", "g6"};
    const char *texts[] = {mid, mid, mid, "small", big, "small"};
    for (size_t i = 0; i < 6; i++) {
        chat_msg m[1] = {m_(names[i], texts[i])};
        must(chat_append(db, id2, 1, m, 1, &res, &err), &err, "by size");
        assert_int_equal(res.appended, 1);
    }
    assert_segments(db, id2, "2,2,1,1"); /* 6000 | 3005 | 64 KiB | 5 */
    chat_msg three[3] = {m_("h1", "small"), m_("h2", big), m_("h3", mid)};
    must(chat_append(db, id2, 1, three, 3, &res, &err), &err, "cut");
    assert_int_equal(res.appended, 3);
    /* The tail (5 bytes) cannot take 64 KiB more: new segments, cut
     * before and after the big one. */
    assert_segments(db, id2, "2,2,1,1,1,1,1");
    assert_state(db, id2, 9);
}

static void test_reads_across_segments(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_report(db, 1);
    append_singles(db, id, "a", 0, 150);
    append_batch(db, id, "a", 150, 160);
    append_batch(db, id, "a", 160, 260);
    append_singles(db, id, "a", 260, 265);
    assert_segments(db, id, "25,25,25,25,25,25,10,25,25,25,25,5");
    static char got[8192], want[8192];
    uint32_t length;
    static const int cases[][2] = {
        {0, 1000}, {0, 1},     {99, 1},   {99, 2},  {95, 10}, {100, 60},
        {159, 2},  {150, 111}, {10, 250}, {259, 6}, {264, 5}, {0, 100},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int after = cases[c][0], limit = cases[c][1];
        int to = after + limit < 265 ? after + limit : 265;
        read_ids(db, id, (uint64_t)after, (unsigned)limit, got, sizeof got,
                 &length);
        expected_ids(after, to, want, sizeof want);
        if (strcmp(got, want) != 0)
            fail_msg("after=%d limit=%d: got %s", after, limit, got);
        assert_int_equal(length, 265);
    }
    read_ids(db, id, 265, 10, got, sizeof got, &length);
    assert_string_equal(got, "");
    read_ids(db, id, 1000000, 1000, got, sizeof got, &length);
    assert_string_equal(got, "");
    assert_int_equal(length, 265);
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
#define ROUNDS  20

struct worker {
    uint64_t report;
    int n;               /* which thread */
    unsigned appended;   /* OUT */
    unsigned duplicates; /* OUT */
    rec_status failed;   /* OUT: REC_OK unless a call failed */
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

/* ---- many appenders crossing segment boundaries at once ----------------- */

#define CROSSERS    16
#define CROSS_CALLS 12

struct crosser {
    uint64_t report;
    int n;
    pthread_barrier_t *start;
    unsigned appended, duplicates; /* OUT */
    rec_status failed;             /* OUT */
};

/* Call k of thread n sends its own "x<n>-<k>", alone on even calls, and
 * with "shared-<k>" (sent by every thread) after it on odd ones. */
static void *crosser_run(void *arg)
{
    struct crosser *w = arg;
    rec_db *db = rec_db_new(&cfg);
    rec_err err = {0};
    w->failed = rec_db_connect(db, &err);
    pthread_barrier_wait(w->start);
    for (int k = 0; k < CROSS_CALLS && w->failed == REC_OK; k++) {
        char own[32], shared[32];
        snprintf(own, sizeof own, "x%d-%d", w->n, k);
        snprintf(shared, sizeof shared, "shared-%d", k);
        chat_msg m[2] = {m_(own, "own"), m_(shared, "shared")};
        chat_result res;
        w->failed = chat_append(db, w->report, 1, m, k % 2 ? 2 : 1, &res, &err);
        w->appended += res.appended;
        w->duplicates += res.duplicates;
    }
    rec_db_close(db);
    return NULL;
}

static void test_many_appenders_cross_boundaries_at_once(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_report(db, 1);
    append_batch(db, id, "a", 0, 97); /* 25,25,25,22: 3 places left */
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, CROSSERS), 0);
    pthread_t t[CROSSERS];
    struct crosser w[CROSSERS];
    for (int i = 0; i < CROSSERS; i++) {
        w[i] = (struct crosser){.report = id, .n = i, .start = &start};
        assert_int_equal(pthread_create(&t[i], NULL, crosser_run, &w[i]), 0);
    }
    unsigned appended = 0, duplicates = 0;
    for (int i = 0; i < CROSSERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failed, REC_OK);
        appended += w[i].appended;
        duplicates += w[i].duplicates;
    }
    pthread_barrier_destroy(&start);
    /* Every own id once, each of the 6 shared ids once. */
    unsigned shared = CROSS_CALLS / 2;
    assert_int_equal(appended, CROSSERS * CROSS_CALLS + shared);
    assert_int_equal(duplicates, (CROSSERS - 1) * shared);
    unsigned total = 97 + CROSSERS * CROSS_CALLS + shared;
    assert_state(db, id, total); /* segments tile the history, none > 100 */
    assert_all_objects(db, id, total);

    /* Read back whole: each id once, each thread's own in its order. */
    jbuf b;
    uint32_t length;
    rec_err err = {0};
    jb_init(&b);
    must(chat_read(db, id, 1, 0, CHAT_READ_MAX, &b, &length, &err), &err,
         "read");
    assert_int_equal(length, total);
    json_object *arr = json_tokener_parse(b.p);
    assert_non_null(arr);
    assert_int_equal(json_object_array_length(arr), total);
    int next[CROSSERS] = {0}, seen_shared[CROSS_CALLS] = {0};
    for (size_t i = 97; i < total; i++) {
        json_object *v;
        assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, i),
                                              "id", &v));
        const char *s = json_object_get_string(v);
        int n, k;
        if (sscanf(s, "x%d-%d", &n, &k) == 2) {
            assert_true(n >= 0 && n < CROSSERS);
            assert_int_equal(k, next[n]);
            next[n]++;
        } else {
            assert_int_equal(sscanf(s, "shared-%d", &k), 1);
            assert_true(k >= 0 && k < CROSS_CALLS && k % 2 == 1);
            assert_int_equal(seen_shared[k], 0);
            seen_shared[k] = 1;
        }
    }
    for (int i = 0; i < CROSSERS; i++)
        assert_int_equal(next[i], CROSS_CALLS);
    json_object_put(arr);
    jb_free(&b);
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_or_other_tenants_report),
        cmocka_unit_test(test_batch_sizes_out_of_range),
        cmocka_unit_test(test_dedup_compares_strings),
        cmocka_unit_test(test_message_limit_is_all_or_nothing),
        cmocka_unit_test(test_content_limit_is_all_or_nothing),
        cmocka_unit_test(test_segments_fill_and_open_in_order),
        cmocka_unit_test(test_reads_across_segments),
        cmocka_unit_test(test_read_slices),
        cmocka_unit_test(test_concurrent_appenders_append_each_id_once),
        cmocka_unit_test(test_many_appenders_cross_boundaries_at_once),
    };
    return cmocka_run_group_tests_name("integration_chat_db", tests, setup,
                                       teardown);
}
