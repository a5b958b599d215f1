/*
 * test_versioned.c -- lib/ against a real MariaDB (tests/run.sh starts one
 * on a temporary socket and sets OPTIMIST_DB_SOCKET): versioned writes,
 * conflicts, tenants, deadlock retry, reconnect, and the rule that a write
 * whose fate is unknown is never sent twice.
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
#include <time.h>
#include <unistd.h>

static rec_config cfg;

static const char SQL_SET[] =
    "UPDATE itest_rows SET val = ?, version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_VER[] =
    "SELECT version FROM itest_rows WHERE id = ? AND tenant_id = ?";
static const char SQL_GET[] =
    "SELECT val, version FROM itest_rows WHERE id = ?";
static const char SQL_INS[] =
    "INSERT INTO itest_rows (tenant_id, val) VALUES (?, ?)";
static const char SQL_INC[] =
    "UPDATE itest_rows SET val = val + 1, version = version + 1 WHERE id = ?";

static rec_db *open_db(void)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    rec_status st = rec_db_connect(db, &err);
    if (st != REC_OK)
        fail_msg("connect: %s", err.msg);
    return db;
}

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static uint64_t insert_row(rec_db *db, uint64_t tenant, int64_t val)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[2] = {REC_U(tenant), REC_I(val)};
    must(rec_exec(db, SQL_INS, p, 2, NULL, NULL, &id, &err), &err, "insert");
    return id;
}

static void get_row(rec_db *db, uint64_t id, int64_t *val, uint32_t *version)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_GET, p, 1, &rows, NULL, NULL, &err), &err, "get");
    assert_int_equal(rec_rows_count(rows), 1);
    *val = strtoll(rec_rows_get(rows, 0, 0), NULL, 10);
    *version = (uint32_t)rec_rows_u64(rows, 0, 1);
    rec_rows_free(rows);
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = open_db();
    static const char ddl[] =
        "CREATE TABLE IF NOT EXISTS itest_rows ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id BIGINT UNSIGNED NOT NULL,"
        " version INT UNSIGNED NOT NULL DEFAULT 1,"
        " val BIGINT NOT NULL) ENGINE=InnoDB";
    must(rec_exec_text(db, ddl, sizeof ddl - 1, &err), &err, "create");
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

static rec_status vwrite(rec_db *db, uint64_t id, uint64_t tenant, int64_t val,
                         rec_expect ex, uint32_t *cur, rec_err *err)
{
    rec_param p[1] = {REC_I(val)};
    return rec_versioned_write(db, SQL_SET, p, 1, SQL_VER, id, tenant, ex, cur,
                               err);
}

static void test_write_success_bumps_version(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 10);
    rec_status st = vwrite(db, id, 1, 11, (rec_expect){0, 1}, &cur, &err);
    assert_int_equal(st, REC_OK);
    assert_int_equal(cur, 2);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 11);
    assert_int_equal(v, 2);
}

static void test_stale_version_is_conflict_with_current(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 10);
    assert_int_equal(vwrite(db, id, 1, 11, (rec_expect){0, 1}, &cur, &err),
                     REC_OK);
    assert_int_equal(vwrite(db, id, 1, 12, (rec_expect){0, 2}, &cur, &err),
                     REC_OK);
    /* A second tab that still holds version 1. */
    assert_int_equal(vwrite(db, id, 1, 99, (rec_expect){0, 1}, &cur, &err),
                     REC_CONFLICT);
    assert_int_equal(cur, 3);
    /* A version ahead of the row is a conflict too. */
    assert_int_equal(vwrite(db, id, 1, 99, (rec_expect){0, 7}, &cur, &err),
                     REC_CONFLICT);
    assert_int_equal(cur, 3);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 12);
    assert_int_equal(v, 3);
}

static void test_missing_row_is_not_found(void **state)
{
    rec_err err = {0};
    uint32_t cur = 0;
    assert_int_equal(
        vwrite(*state, 987654321, 1, 1, (rec_expect){0, 1}, &cur, &err),
        REC_NOT_FOUND);
    assert_int_equal(
        vwrite(*state, 987654321, 1, 1, (rec_expect){1, 0}, &cur, &err),
        REC_NOT_FOUND);
}

static void test_other_tenants_row_is_not_found_and_unchanged(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 5);
    assert_int_equal(vwrite(db, id, 2, 6, (rec_expect){0, 1}, &cur, &err),
                     REC_NOT_FOUND);
    assert_int_equal(vwrite(db, id, 2, 6, (rec_expect){1, 0}, &cur, &err),
                     REC_NOT_FOUND);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 5);
    assert_int_equal(v, 1);
}

static void test_write_of_equal_values_still_counts(void **state)
{
    /* Without CLIENT_FOUND_ROWS the server counts changed rows only; the
     * version bump makes every accepted write a change. */
    rec_db *db = *state;
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 42);
    assert_int_equal(vwrite(db, id, 1, 42, (rec_expect){0, 1}, &cur, &err),
                     REC_OK);
    assert_int_equal(cur, 2);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 42);
    assert_int_equal(v, 2);
}

static void test_any_version_overwrites(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 1);
    assert_int_equal(vwrite(db, id, 1, 2, (rec_expect){0, 1}, &cur, &err),
                     REC_OK);
    assert_int_equal(vwrite(db, id, 1, 3, (rec_expect){1, 0}, &cur, &err),
                     REC_OK);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 3);
    assert_int_equal(v, 3);
}

/* ---- deadlock: two transactions lock two rows in opposite orders ---- */

struct dl_arg {
    uint64_t first, second;
    pthread_barrier_t *barrier;
    int attempts;
    rec_status st;
    rec_stats stats;
};

static rec_status dl_body(rec_db *db, void *vctx, rec_err *err)
{
    struct dl_arg *a = vctx;
    rec_param p1[1] = {REC_U(a->first)}, p2[1] = {REC_U(a->second)};
    rec_status st = rec_exec(db, SQL_INC, p1, 1, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    /* Only the first attempt waits: both hold one lock when they go on. */
    if (a->attempts++ == 0)
        pthread_barrier_wait(a->barrier);
    return rec_exec(db, SQL_INC, p2, 1, NULL, NULL, NULL, err);
}

static void *dl_thread(void *varg)
{
    struct dl_arg *a = varg;
    rec_db *db = rec_db_new(&cfg);
    rec_err err = {0};
    a->st = rec_txn(db, dl_body, a, &err);
    rec_db_stats(db, &a->stats);
    rec_db_close(db);
    return NULL;
}

static void test_deadlock_is_retried(void **state)
{
    rec_db *db = *state;
    uint64_t a = insert_row(db, 1, 0), b = insert_row(db, 1, 0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct dl_arg x = {a, b, &barrier, 0, REC_ERROR, {0}};
    struct dl_arg y = {b, a, &barrier, 0, REC_ERROR, {0}};
    pthread_t tx, ty;
    pthread_create(&tx, NULL, dl_thread, &x);
    pthread_create(&ty, NULL, dl_thread, &y);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    pthread_barrier_destroy(&barrier);
    assert_int_equal(x.st, REC_OK);
    assert_int_equal(y.st, REC_OK);
    /* One of them was chosen as the deadlock victim and ran again. */
    assert_true(x.stats.retries + y.stats.retries >= 1);
    int64_t va, vb;
    uint32_t v;
    get_row(db, a, &va, &v);
    get_row(db, b, &vb, &v);
    assert_int_equal(va, 2); /* both transactions, each exactly once */
    assert_int_equal(vb, 2);
}

/* ---- the connection goes away ---- */

static uint64_t connection_id(rec_db *db)
{
    static const char sql[] = "SELECT CONNECTION_ID()";
    rec_err err = {0};
    rec_rows *rows = NULL;
    must(rec_exec(db, sql, NULL, 0, &rows, NULL, NULL, &err), &err, "conn id");
    uint64_t id = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return id;
}

static void kill_connection(rec_db *killer, uint64_t id)
{
    static const char sql[] = "KILL CONNECTION ?";
    rec_err err = {0};
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(killer, sql, p, 1, NULL, NULL, NULL, &err), &err, "kill");
}

static void test_idle_connection_killed_is_reconnected(void **state)
{
    rec_db *killer = *state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint32_t cur = 0, v;
    int64_t val;
    uint64_t id = insert_row(db, 1, 0);
    uint64_t before = connection_id(db);
    kill_connection(killer, before);
    /* Wait until the server has really closed it (the kill is async). */
    static const char alive[] =
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?";
    for (int i = 0; i < 500; i++) {
        rec_rows *rows = NULL;
        rec_param p[1] = {REC_U(before)};
        must(rec_exec(killer, alive, p, 1, &rows, NULL, NULL, &err), &err,
             "processlist");
        uint64_t n = rec_rows_u64(rows, 0, 0);
        rec_rows_free(rows);
        if (n == 0)
            break;
        usleep(10000);
    }
    /* A write: the dead socket is noticed before anything is sent. */
    assert_int_equal(vwrite(db, id, 1, 7, (rec_expect){0, 1}, &cur, &err),
                     REC_OK);
    rec_stats s;
    rec_db_stats(db, &s);
    assert_int_equal(s.reconnects, 1);
    assert_int_not_equal(connection_id(db), before);
    get_row(db, id, &val, &v);
    assert_int_equal(val, 7);
    rec_db_close(db);
}

struct killer_arg {
    uint64_t victim;
    int killed;
};

static void *killer_thread(void *varg)
{
    struct killer_arg *k = varg;
    rec_db *db = open_db();
    rec_err err = {0};
    static const char busy[] =
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE ID = ? AND INFO LIKE 'UPDATE itest_rows%'";
    /* Wait until the victim's UPDATE is running, then kill it. */
    for (int i = 0; i < 1000 && !k->killed; i++) {
        rec_rows *rows = NULL;
        rec_param p[1] = {REC_U(k->victim)};
        if (rec_exec(db, busy, p, 1, &rows, NULL, NULL, &err) == REC_OK &&
            rec_rows_u64(rows, 0, 0) == 1) {
            kill_connection(db, k->victim);
            k->killed = 1;
        }
        rec_rows_free(rows);
        if (!k->killed)
            usleep(5000);
    }
    rec_db_close(db);
    return NULL;
}

static void test_write_lost_in_flight_is_not_sent_again(void **state)
{
    rec_db *db = open_db();
    rec_err err = {0};
    uint32_t v;
    int64_t val;
    uint64_t id = insert_row(*state, 1, 0);
    static const char slow[] =
        "UPDATE itest_rows SET val = val + 1 + SLEEP(3) * 0, "
        "version = version + 1 WHERE id = ?";
    struct killer_arg k = {connection_id(db), 0};
    pthread_t t;
    pthread_create(&t, NULL, killer_thread, &k);
    rec_param p[1] = {REC_U(id)};
    rec_status st = rec_exec(db, slow, p, 1, NULL, NULL, NULL, &err);
    pthread_join(t, NULL);
    assert_true(k.killed);
    assert_int_equal(st, REC_UNAVAILABLE);
    /* Had it been sent again on a new connection, val would be 1. */
    get_row(*state, id, &val, &v);
    assert_int_equal(val, 0);
    assert_int_equal(v, 1);
    rec_db_close(db);
}

static void test_read_lost_in_flight_is_sent_again(void **state)
{
    (void)state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint64_t id = connection_id(db);
    rec_db *killer = open_db();
    kill_connection(killer, id);
    rec_db_close(killer);
    /* Whether the loss is noticed before sending or on the read itself,
     * a SELECT is safe to send again and succeeds. */
    assert_int_not_equal(connection_id(db), id);
    (void)err;
    rec_db_close(db);
}

static void test_unreachable_server_is_unavailable(void **state)
{
    (void)state;
    rec_config bad = cfg;
    bad.socket = "/nonexistent/optimist-test.sock";
    rec_db *db = rec_db_new(&bad);
    rec_err err = {0};
    rec_rows *rows = NULL;
    static const char sql[] = "SELECT 1";
    assert_int_equal(rec_exec(db, sql, NULL, 0, &rows, NULL, NULL, &err),
                     REC_UNAVAILABLE);
    assert_null(rows);
    rec_db_close(db);
}

/* ---- tenants and tokens ---- */

static void test_token_round_trip(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint64_t tenant = 0, found = 0;
    char token[REC_TOKEN_MAX];
    must(rec_tenant_create(db, "itest", &tenant, token, &err), &err,
         "tenant create");
    assert_true(tenant > 0);
    assert_int_equal(strlen(token), 64);
    assert_int_equal(rec_token_tenant(db, token, strlen(token), &found, &err),
                     REC_OK);
    assert_int_equal(found, tenant);
    /* Same key, different secret: found by key, refused by hash. */
    char forged[REC_TOKEN_MAX];
    memcpy(forged, token, sizeof forged);
    forged[40] = forged[40] == 'A' ? 'B' : 'A';
    assert_int_equal(rec_token_tenant(db, forged, strlen(forged), &found, &err),
                     REC_NOT_FOUND);
    assert_int_equal(rec_token_tenant(db, "opt_x", 5, &found, &err),
                     REC_NOT_FOUND);
    assert_int_equal(rec_token_tenant(db, "' OR 1=1 --", 11, &found, &err),
                     REC_NOT_FOUND);
    /* Two tenants never share a token. */
    uint64_t t2;
    char token2[REC_TOKEN_MAX];
    must(rec_tenant_create(db, "itest2", &t2, token2, &err), &err, "tenant 2");
    assert_int_not_equal(t2, tenant);
    assert_string_not_equal(token, token2);
}

/* ---- rec_autocommit -------------------------------------------------------
 */

struct ac_ctx {
    uint64_t id;
    int calls;
    int retries_wanted;    /* answer REC_RETRY this many times first */
    int in_txn;            /* @@in_transaction seen by the body */
    int64_t seen_by_other; /* val read by another connection inside fn */
    rec_db *other;
};

static rec_status ac_body(rec_db *db, void *vctx, rec_err *err)
{
    struct ac_ctx *c = vctx;
    c->calls++;
    if (c->retries_wanted-- > 0)
        return REC_RETRY;
    rec_rows *rows = NULL;
    rec_status st = rec_exec(db, "SELECT @@in_transaction", NULL, 0, &rows,
                             NULL, NULL, err);
    if (st != REC_OK)
        return st;
    c->in_txn = (int)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    rec_param p[4] = {REC_I(42), REC_U(c->id), REC_U(1), REC_NULLP};
    uint64_t affected = 0;
    st = rec_exec(db, SQL_SET, p, 4, NULL, &affected, NULL, err);
    if (st != REC_OK)
        return st;
    uint32_t v;
    get_row(c->other, c->id, &c->seen_by_other, &v);
    return affected == 1 ? REC_OK : REC_CONFLICT;
}

static void test_autocommit_runs_without_a_transaction(void **state)
{
    (void)state;
    rec_db *db = open_db(), *other = open_db();
    rec_err err = {0};
    struct ac_ctx c = {.id = insert_row(db, 1, 7),
                       .other = other,
                       .retries_wanted = 2,
                       .in_txn = -1};
    rec_stats before, after;
    rec_db_stats(db, &before);
    must(rec_autocommit(db, ac_body, &c, &err), &err, "autocommit");
    /* Each statement committed on its own: another connection saw the
     * write before the body even returned. REC_RETRY ran it again. */
    assert_int_equal(c.in_txn, 0);
    assert_int_equal(c.seen_by_other, 42);
    assert_int_equal(c.calls, 3);
    rec_db_stats(db, &after);
    assert_int_equal(after.retries, before.retries + 2);
    assert_int_equal(rec_txn_held(db), REC_HOLD_NONE);
    rec_db_close(other);
    rec_db_close(db);
}

static void test_autocommit_joins_a_held_transaction(void **state)
{
    (void)state;
    rec_db *db = open_db(), *other = open_db();
    rec_err err = {0};
    struct ac_ctx c = {
        .id = insert_row(db, 1, 7), .other = other, .in_txn = -1};
    rec_txn_hold(db, 1);
    must(rec_autocommit(db, ac_body, &c, &err), &err, "autocommit");
    /* Held for the request's answer: nobody else sees the write yet. */
    assert_int_equal(c.in_txn, 1);
    assert_int_equal(c.seen_by_other, 7);
    assert_int_equal(rec_txn_held(db), REC_HOLD_OPEN);
    must(rec_txn_commit_held(db, NULL, NULL, &err), &err, "commit held");
    rec_txn_hold(db, 0);
    int64_t val;
    uint32_t v;
    get_row(other, c.id, &val, &v);
    assert_int_equal(val, 42);
    assert_int_equal(v, 2);
    rec_db_close(other);
    rec_db_close(db);
}

static void test_migrate_twice_changes_nothing(void **state)
{
    rec_err err = {0};
    int applied = -1;
    const char *dir = getenv("OPTIMIST_SQL_DIR");
    must(rec_migrate(*state, dir ? dir : "sql", &applied, NULL, &err), &err,
         "migrate");
    assert_int_equal(applied, 0);
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_success_bumps_version),
        cmocka_unit_test(test_stale_version_is_conflict_with_current),
        cmocka_unit_test(test_missing_row_is_not_found),
        cmocka_unit_test(test_other_tenants_row_is_not_found_and_unchanged),
        cmocka_unit_test(test_write_of_equal_values_still_counts),
        cmocka_unit_test(test_any_version_overwrites),
        cmocka_unit_test(test_deadlock_is_retried),
        cmocka_unit_test(test_idle_connection_killed_is_reconnected),
        cmocka_unit_test(test_write_lost_in_flight_is_not_sent_again),
        cmocka_unit_test(test_read_lost_in_flight_is_sent_again),
        cmocka_unit_test(test_unreachable_server_is_unavailable),
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_autocommit_runs_without_a_transaction),
        cmocka_unit_test(test_autocommit_joins_a_held_transaction),
        cmocka_unit_test(test_migrate_twice_changes_nothing),
    };
    return cmocka_run_group_tests_name("integration_versioned", tests, setup,
                                       teardown);
}
