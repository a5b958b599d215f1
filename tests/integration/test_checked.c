/*
 * test_checked.c -- rec_checked_write (lib/versioned.c) against a real
 * MariaDB: a write computed from the row it read, checked by the version
 * that read saw, with no lock and no transaction. Refusals from the read
 * (status before version), a write that lost a race between its read and
 * its UPDATE, and many clients incrementing one row, none lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rec.h"
#include "itest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

static const char SQL_READ[] = "SELECT val, version, status FROM itest_checked "
                               "WHERE id = ? AND tenant_id = ?";
static const char SQL_UPDATE[] =
    "UPDATE itest_checked SET val = ?, version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = ? "
    "AND status IN ('open', 'busy')";
static const char *const FROM[] = {"open", "busy", NULL};
static const char SQL_INS[] =
    "INSERT INTO itest_checked (tenant_id, val, status) VALUES (?, ?, ?)";
static const char SQL_GET[] =
    "SELECT val, version FROM itest_checked WHERE id = ?";
static const char SQL_BUMP[] =
    "UPDATE itest_checked SET val = val + 100, version = version + 1 "
    "WHERE id = ?";

/* compute: val := the value read + delta; a negative delta refuses. */
struct add {
    int64_t delta;
    char text[32];
    int calls;
    rec_db *other; /* when set: the first call lets `other` write first */
    uint64_t id;
};

static rec_status add_compute(const rec_rows *read, void *vctx,
                              rec_param *params, size_t *n, rec_err *err)
{
    struct add *a = vctx;
    a->calls++;
    if (a->delta < 0) {
        snprintf(err->msg, sizeof err->msg, "refused by compute");
        return REC_INVALID;
    }
    if (a->other != NULL && a->calls == 1) {
        rec_param p[1] = {REC_U(a->id)};
        rec_status st =
            rec_exec(a->other, SQL_BUMP, p, 1, NULL, NULL, NULL, err);
        if (st != REC_OK)
            return st;
    }
    int64_t v = strtoll(rec_rows_get(read, 0, 0), NULL, 10) + a->delta;
    snprintf(a->text, sizeof a->text, "%lld", (long long)v);
    params[0] = REC_S(a->text, strlen(a->text));
    *n = 1;
    return REC_OK;
}

/* One checked write of row id with `a`; *read as rec_checked_write's. */
static rec_status add_write(rec_db *db, struct add *a, uint64_t id,
                            uint64_t tenant, uint32_t expect, rec_rows **read)
{
    rec_checked c = {.read_sql = SQL_READ,
                     .version_col = 1,
                     .status_col = 2,
                     .update_sql = SQL_UPDATE,
                     .nparams = 1,
                     .from = FROM,
                     .compute = add_compute,
                     .ctx = a};
    rec_err err = {0};
    return rec_checked_write(db, &c, id, tenant, expect, read, &err);
}

static uint64_t insert_row(rec_db *db, uint64_t tenant, int64_t val,
                           const char *status)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[3] = {REC_U(tenant), REC_I(val), REC_CSTR(status)};
    itest_must(rec_exec(db, SQL_INS, p, 3, NULL, NULL, &id, &err), &err,
               "insert");
    return id;
}

/* The row as stored: value and version. */
static void assert_row(rec_db *db, uint64_t id, int64_t val, uint32_t version)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    itest_must(rec_exec(db, SQL_GET, p, 1, &rows, NULL, NULL, &err), &err,
               "get");
    assert_int_equal(rec_rows_count(rows), 1);
    assert_int_equal(strtoll(rec_rows_get(rows, 0, 0), NULL, 10), val);
    assert_int_equal(rec_rows_u64(rows, 0, 1), version);
    rec_rows_free(rows);
}

/* A read handed back: value and version (and frees it). */
static void assert_read(rec_rows *read, const char *val, uint32_t version)
{
    assert_non_null(read);
    assert_string_equal(rec_rows_get(read, 0, 0), val);
    assert_int_equal(rec_rows_u64(read, 0, 1), version);
    rec_rows_free(read);
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = itest_open(&cfg);
    static const char ddl[] =
        "CREATE TABLE IF NOT EXISTS itest_checked ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id BIGINT UNSIGNED NOT NULL,"
        " version INT UNSIGNED NOT NULL DEFAULT 1,"
        " status VARCHAR(16) NOT NULL,"
        " val BIGINT NOT NULL) ENGINE=InnoDB";
    itest_must(rec_exec_text(db, ddl, sizeof ddl - 1, &err), &err, "create");
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

static void test_write_from_the_row_read(void **state)
{
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = 5};
    uint64_t id = insert_row(db, 1, 10, "open");
    assert_int_equal(add_write(db, &a, id, 1, 1, &read), REC_OK);
    /* The row the write was computed from, at the version expected. */
    assert_read(read, "10", 1);
    assert_int_equal(a.calls, 1);
    assert_row(db, id, 15, 2);
}

static void test_stale_version_is_refused_from_the_read(void **state)
{
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = 5};
    uint64_t id = insert_row(db, 1, 10, "busy");
    assert_int_equal(add_write(db, &a, id, 1, 1, &read), REC_OK);
    rec_rows_free(read);
    /* Behind and ahead of the row: a conflict, nothing computed, and the
     * current row handed back. */
    for (uint32_t expect = 1; expect <= 3; expect += 2) {
        a.calls = 0;
        assert_int_equal(add_write(db, &a, id, 1, expect, &read), REC_CONFLICT);
        assert_read(read, "15", 2);
        assert_int_equal(a.calls, 0);
    }
    assert_row(db, id, 15, 2);
}

static void test_status_wins_over_the_version(void **state)
{
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = 5};
    uint64_t id = insert_row(db, 1, 10, "closed");
    assert_int_equal(add_write(db, &a, id, 1, 7, &read), REC_INVALID_STATE);
    assert_non_null(read);
    assert_string_equal(rec_rows_get(read, 0, 2), "closed");
    rec_rows_free(read);
    assert_int_equal(add_write(db, &a, id, 1, 1, &read), REC_INVALID_STATE);
    assert_read(read, "10", 1);
    assert_int_equal(a.calls, 0);
    assert_row(db, id, 10, 1);
}

static void test_missing_or_other_tenants_row_is_not_found(void **state)
{
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = 5};
    uint64_t id = insert_row(db, 1, 10, "open");
    assert_int_equal(add_write(db, &a, id, 2, 1, &read), REC_NOT_FOUND);
    assert_null(read);
    assert_int_equal(add_write(db, &a, 987654321, 1, 1, &read), REC_NOT_FOUND);
    assert_null(read);
    assert_row(db, id, 10, 1);
}

static void test_compute_refusing_writes_nothing(void **state)
{
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = -1};
    uint64_t id = insert_row(db, 1, 10, "open");
    assert_int_equal(add_write(db, &a, id, 1, 1, &read), REC_INVALID);
    rec_rows_free(read);
    assert_row(db, id, 10, 1);
}

static void test_write_between_read_and_update_is_a_conflict(void **state)
{
    /* Another connection writes after our read: our UPDATE matches
     * nothing, the row is read again, and the answer is a conflict with
     * the other write's row; its value is not overwritten. */
    rec_db *db = *state;
    rec_rows *read = NULL;
    struct add a = {.delta = 5, .other = itest_open(&cfg)};
    uint64_t id = insert_row(db, 1, 10, "open");
    a.id = id;
    assert_int_equal(add_write(db, &a, id, 1, 1, &read), REC_CONFLICT);
    assert_read(read, "110", 2);
    assert_int_equal(a.calls, 1);
    assert_row(db, id, 110, 2);
    rec_db_close(a.other);
}

#define CLIENTS 8
#define ADDS    25

struct client {
    uint64_t id;
    int done;      /* OUT: increments that succeeded */
    int conflicts; /* OUT */
    int failed;    /* OUT: anything else */
};

static void *client_run(void *arg)
{
    struct client *cl = arg;
    rec_db *db = rec_db_new(&cfg);
    struct add a = {.delta = 1};
    while (cl->done < ADDS && cl->failed == 0) {
        rec_err err = {0};
        rec_rows *rows = NULL;
        /* What a client does: read the version, then write with it. */
        rec_param p[1] = {REC_U(cl->id)};
        if (rec_exec(db, SQL_GET, p, 1, &rows, NULL, NULL, &err) != REC_OK) {
            cl->failed++;
            break;
        }
        uint32_t v = (uint32_t)rec_rows_u64(rows, 0, 1);
        rec_rows_free(rows);
        rows = NULL;
        rec_status st = add_write(db, &a, cl->id, 1, v, &rows);
        rec_rows_free(rows);
        if (st == REC_OK)
            cl->done++;
        else if (st == REC_CONFLICT)
            cl->conflicts++;
        else if (st != REC_RETRY)
            cl->failed++;
    }
    rec_db_close(db);
    return NULL;
}

static void test_concurrent_increments_lose_nothing(void **state)
{
    rec_db *db = *state;
    pthread_t t[CLIENTS];
    struct client cl[CLIENTS];
    uint64_t id = insert_row(db, 1, 0, "open");
    int conflicts = 0;
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct client){.id = id};
        assert_int_equal(pthread_create(&t[i], NULL, client_run, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(cl[i].failed, 0);
        assert_int_equal(cl[i].done, ADDS);
        conflicts += cl[i].conflicts;
    }
    /* Every success added exactly once, and every success was a version. */
    assert_row(db, id, CLIENTS * ADDS, 1 + CLIENTS * ADDS);
    printf("# %d conflicts answered for %d writes\n", conflicts,
           CLIENTS * ADDS);
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_from_the_row_read),
        cmocka_unit_test(test_stale_version_is_refused_from_the_read),
        cmocka_unit_test(test_status_wins_over_the_version),
        cmocka_unit_test(test_missing_or_other_tenants_row_is_not_found),
        cmocka_unit_test(test_compute_refusing_writes_nothing),
        cmocka_unit_test(test_write_between_read_and_update_is_a_conflict),
        cmocka_unit_test(test_concurrent_increments_lose_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
