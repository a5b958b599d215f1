/*
 * test_each.c -- rec_each (lib/stmt.c): rows handed over one at a time as
 * they arrive, never held whole. Rows of very different sizes (the buffer
 * grows on MYSQL_DATA_TRUNCATED and is bound again), NULLs, a stop after
 * some rows (the rest is discarded and the connection stays usable), and
 * a statement that returns no rows. rec_exec_row: a row by its key, or
 * REC_NOT_FOUND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rec.h"
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

/* Sizes of the `blob` column, in id order; 0 is NULL. */
static const size_t SIZES[] = {10, 100000, 3, 0, 2500000, 7, 70000, 1};
#define NROWS (sizeof SIZES / sizeof SIZES[0])

static const char SQL_INS[] =
    "INSERT INTO itest_each (blob_text) VALUES (IF(? = 0, NULL, "
    "REPEAT(CHAR(97 + ? % 26), ?)))";
static const char SQL_ALL[] =
    "SELECT id, blob_text, LENGTH(blob_text) FROM itest_each ORDER BY id";
static const char SQL_NONE[] =
    "SELECT id, blob_text FROM itest_each WHERE id = 0";
static const char SQL_COUNT[] = "SELECT COUNT(*) FROM itest_each";
static const char SQL_ONE[] =
    "SELECT id, blob_text, LENGTH(blob_text) FROM itest_each WHERE id = ?";

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    must(rec_db_connect(db, &err), &err, "connect");
    static const char drop[] = "DROP TABLE IF EXISTS itest_each";
    static const char ddl[] =
        "CREATE TABLE itest_each (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " blob_text LONGTEXT NULL) ENGINE=InnoDB";
    must(rec_exec_text(db, drop, sizeof drop - 1, &err), &err, "drop");
    must(rec_exec_text(db, ddl, sizeof ddl - 1, &err), &err, "create");
    for (size_t i = 0; i < NROWS; i++) {
        rec_param p[3] = {REC_U(SIZES[i]), REC_U(i), REC_U(SIZES[i])};
        must(rec_exec(db, SQL_INS, p, 3, NULL, NULL, NULL, &err), &err,
             "insert");
    }
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

struct seen {
    size_t n, stop_after;
    int bad;
};

static int on_row(void *ctx, const rec_rows *row)
{
    struct seen *s = ctx;
    size_t i = s->n++;
    if (rec_rows_count(row) != 1 || rec_rows_u64(row, 0, 0) != i + 1)
        s->bad = 1;
    const char *v = rec_rows_get(row, 0, 1);
    if (SIZES[i] == 0) {
        if (v != NULL || rec_rows_len(row, 0, 1) != 0)
            s->bad = 1;
    } else {
        size_t len = rec_rows_len(row, 0, 1);
        if (v == NULL || len != SIZES[i] || v[len] != '\0' ||
            rec_rows_u64(row, 0, 2) != SIZES[i])
            s->bad = 1;
        char want = (char)('a' + i % 26);
        for (size_t k = 0; v != NULL && k < len; k++)
            if (v[k] != want) {
                s->bad = 1;
                break;
            }
    }
    return s->stop_after > 0 && s->n >= s->stop_after;
}

static void test_every_row_whatever_its_size(void **state)
{
    rec_err err = {0};
    struct seen s = {0};
    must(rec_each(*state, SQL_ALL, NULL, 0, on_row, &s, &err), &err, "each");
    assert_int_equal(s.n, NROWS);
    assert_false(s.bad);
    /* Twice: the cached statement is bound again from scratch. */
    memset(&s, 0, sizeof s);
    must(rec_each(*state, SQL_ALL, NULL, 0, on_row, &s, &err), &err, "each");
    assert_int_equal(s.n, NROWS);
    assert_false(s.bad);
}

static void test_stop_discards_the_rest_and_the_connection_goes_on(void **state)
{
    rec_err err = {0};
    struct seen s = {.stop_after = 2};
    must(rec_each(*state, SQL_ALL, NULL, 0, on_row, &s, &err), &err, "each");
    assert_int_equal(s.n, 2); /* the 2.5 MB row never reached us */
    assert_false(s.bad);
    rec_rows *rows = NULL;
    must(rec_exec(*state, SQL_COUNT, NULL, 0, &rows, NULL, NULL, &err), &err,
         "count");
    assert_int_equal(rec_rows_u64(rows, 0, 0), NROWS);
    rec_rows_free(rows);
}

static void test_no_rows(void **state)
{
    rec_err err = {0};
    struct seen s = {0};
    must(rec_each(*state, SQL_NONE, NULL, 0, on_row, &s, &err), &err, "each");
    assert_int_equal(s.n, 0);
}

static void test_exec_row_finds_a_row_or_says_not_found(void **state)
{
    rec_err err = {0};
    for (size_t i = 0; i < NROWS; i++) {
        rec_param p[1] = {REC_U(i + 1)};
        rec_rows *rows = NULL;
        must(rec_exec_row(*state, SQL_ONE, p, 1, &rows, &err), &err, "row");
        assert_non_null(rows);
        assert_int_equal(rec_rows_count(rows), 1);
        assert_int_equal(rec_rows_u64(rows, 0, 0), i + 1);
        const char *v = rec_rows_get(rows, 0, 1);
        if (SIZES[i] == 0) {
            assert_null(v);
        } else {
            assert_non_null(v);
            assert_int_equal(rec_rows_len(rows, 0, 1), SIZES[i]);
            assert_int_equal(v[SIZES[i] - 1], 'a' + (int)(i % 26));
        }
        rec_rows_free(rows);
    }
    rec_param none[1] = {REC_U(NROWS + 1)};
    rec_rows *rows = (rec_rows *)&err; /* must come back NULL */
    assert_int_equal(rec_exec_row(*state, SQL_ONE, none, 1, &rows, &err),
                     REC_NOT_FOUND);
    assert_null(rows);
}

/* Statements are cached by their text's address: a text built at run
 * time and freed, then another one at the same address (a reload's poll,
 * a declared table's statements) must run as written, not as the old
 * one was prepared. */
static void test_a_new_text_at_an_old_address_is_prepared_again(void **state)
{
    char sql[64];
    const char *const texts[] = {"SELECT 41", "SELECT 42 + 0", "SELECT 43"};
    const uint64_t want[] = {41, 42, 43};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        snprintf(sql, sizeof sql, "%s", texts[i]);
        rec_err err = {0};
        rec_rows *rows = NULL;
        must(rec_exec(*state, sql, NULL, 0, &rows, NULL, NULL, &err), &err,
             "select");
        assert_int_equal(rec_rows_u64(rows, 0, 0), want[i]);
        rec_rows_free(rows);
    }
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_whatever_its_size),
        cmocka_unit_test(
            test_stop_discards_the_rest_and_the_connection_goes_on),
        cmocka_unit_test(test_no_rows),
        cmocka_unit_test(test_exec_row_finds_a_row_or_says_not_found),
        cmocka_unit_test(test_a_new_text_at_an_old_address_is_prepared_again),
    };
    return cmocka_run_group_tests_name("integration_each", tests, setup,
                                       teardown);
}
