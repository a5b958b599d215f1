/*
 * test_transition.c -- the guarded transitions of lib/versioned.c, the held
 * transaction of db.c and lib/idempotency.c against a real MariaDB
 * (tests/run.sh starts one and sets OPTIMIST_DB_SOCKET; the migrations are
 * applied).
 *
 * Guarded writes: success, not found, invalid_state whatever the version,
 * conflict, and of 8 concurrent transitions exactly one wins. Held
 * transactions: nothing is visible before rec_txn_commit_held, and then
 * the route's write and the last statement together; a failing last
 * statement or a lost connection leaves neither. Key records: claim,
 * in use, reused, replay, takeover of a dead claim, the claim token
 * guarding the store, release, expiry and purge.
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

static const char SQL_DECIDE[] =
    "UPDATE itest_states SET status = ?, version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND status = 'pending'";
static const char SQL_STATE[] =
    "SELECT version, status FROM itest_states WHERE id = ? AND tenant_id = ?";
static const char SQL_INS[] =
    "INSERT INTO itest_states (tenant_id, status) VALUES (?, 'pending')";
static const char SQL_GET[] =
    "SELECT version, status FROM itest_states WHERE id = ?";
static const char SQL_LOG[] = "INSERT INTO itest_log (state_id) VALUES (?)";
static const char SQL_LOGS[] =
    "SELECT COUNT(*) FROM itest_log WHERE state_id = ?";
static const char *const FROM_PENDING[] = {"pending", NULL};

static rec_db *open_db(void)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    if (rec_db_connect(db, &err) != REC_OK)
        fail_msg("connect: %s", err.msg);
    return db;
}

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = open_db();
    static const char t1[] =
        "CREATE TABLE IF NOT EXISTS itest_states ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id BIGINT UNSIGNED NOT NULL,"
        " version INT UNSIGNED NOT NULL DEFAULT 1,"
        " status VARCHAR(16) NOT NULL) ENGINE=InnoDB";
    static const char t2[] =
        "CREATE TABLE IF NOT EXISTS itest_log ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " state_id BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB";
    must(rec_exec_text(db, t1, sizeof t1 - 1, &err), &err, "create");
    must(rec_exec_text(db, t2, sizeof t2 - 1, &err), &err, "create");
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

static uint64_t insert_row(rec_db *db, uint64_t tenant)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[1] = {REC_U(tenant)};
    must(rec_exec(db, SQL_INS, p, 1, NULL, NULL, &id, &err), &err, "insert");
    return id;
}

static void get_row(rec_db *db, uint64_t id, uint32_t *version, char *status)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_GET, p, 1, &rows, NULL, NULL, &err), &err, "get");
    assert_int_equal(rec_rows_count(rows), 1);
    *version = (uint32_t)rec_rows_u64(rows, 0, 0);
    strcpy(status, rec_rows_get(rows, 0, 1));
    rec_rows_free(rows);
}

static uint64_t logs(rec_db *db, uint64_t id)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_LOGS, p, 1, &rows, NULL, NULL, &err), &err, "logs");
    uint64_t n = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return n;
}

static rec_status decide(rec_db *db, uint64_t id, uint64_t tenant,
                         rec_expect ex, rec_guard_out *out, rec_err *err)
{
    rec_param p[1] = {REC_CSTR("done")};
    rec_guard g = {.update_sql = SQL_DECIDE,
                   .params = p,
                   .nparams = 1,
                   .state_sql = SQL_STATE,
                   .from = FROM_PENDING};
    return rec_guarded_write(db, &g, id, tenant, ex, out, err);
}

/* ---- guarded writes ---------------------------------------------------- */

static void test_guarded_write_outcomes(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    rec_guard_out out;
    uint32_t v;
    char status[32];
    uint64_t id = insert_row(db, 1);

    assert_int_equal(decide(db, id, 1, (rec_expect){0, 2}, &out, &err),
                     REC_CONFLICT);
    assert_int_equal(out.version, 1);
    assert_string_equal(out.status, "pending");
    assert_int_equal(decide(db, id, 2, (rec_expect){0, 1}, &out, &err),
                     REC_NOT_FOUND); /* another tenant's row */
    assert_int_equal(decide(db, 999999999, 1, (rec_expect){0, 1}, &out, &err),
                     REC_NOT_FOUND);
    assert_int_equal(decide(db, id, 1, (rec_expect){0, 1}, &out, &err), REC_OK);
    assert_int_equal(out.version, 2);
    get_row(db, id, &v, status);
    assert_int_equal(v, 2);
    assert_string_equal(status, "done");
    /* Decided: invalid_state, whatever the version. */
    uint32_t versions[] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            decide(db, id, 1, (rec_expect){0, versions[i]}, &out, &err),
            REC_INVALID_STATE);
        assert_int_equal(out.version, 2);
        assert_string_equal(out.status, "done");
    }
    assert_int_equal(decide(db, id, 1, (rec_expect){1, 0}, &out, &err),
                     REC_INVALID_STATE);
    uint64_t any = insert_row(db, 1);
    assert_int_equal(decide(db, any, 1, (rec_expect){1, 0}, &out, &err),
                     REC_OK);
}

struct race_arg {
    uint64_t id;
    pthread_barrier_t *barrier;
    rec_status st;
};

static rec_status race_body(rec_db *db, void *vctx, rec_err *err)
{
    struct race_arg *a = vctx;
    rec_guard_out out;
    rec_status st = decide(db, a->id, 1, (rec_expect){0, 1}, &out, err);
    if (st != REC_OK)
        return st;
    rec_param p[1] = {REC_U(a->id)};
    return rec_exec(db, SQL_LOG, p, 1, NULL, NULL, NULL, err);
}

static void *race_thread(void *vp)
{
    struct race_arg *a = vp;
    rec_db *db = open_db();
    rec_err err = {0};
    pthread_barrier_wait(a->barrier);
    a->st = rec_txn(db, race_body, a, &err);
    rec_db_close(db);
    return NULL;
}

static void test_of_8_concurrent_transitions_one_wins(void **state)
{
    rec_db *db = *state;
    uint64_t id = insert_row(db, 1);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 8);
    struct race_arg args[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct race_arg){id, &barrier, REC_ERROR};
        pthread_create(&t[i], NULL, race_thread, &args[i]);
    }
    int ok = 0, invalid = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += args[i].st == REC_OK;
        invalid += args[i].st == REC_INVALID_STATE;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(ok, 1);
    assert_int_equal(invalid, 7);
    assert_int_equal(logs(db, id), 1);
}

/* ---- held transactions --------------------------------------------------- */

static rec_status log_body(rec_db *db, void *vctx, rec_err *err)
{
    rec_param p[1] = {REC_U(*(uint64_t *)vctx)};
    return rec_exec(db, SQL_LOG, p, 1, NULL, NULL, NULL, err);
}

static rec_status failing_body(rec_db *db, void *vctx, rec_err *err)
{
    (void)db;
    (void)vctx;
    snprintf(err->msg, sizeof err->msg, "refused");
    return REC_INVALID;
}

static void test_held_commit_makes_both_visible_together(void **state)
{
    rec_db *other = *state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint64_t id = insert_row(other, 1);
    rec_txn_hold(db, 1);
    must(rec_txn(db, log_body, &id, &err), &err, "txn");
    assert_int_equal(rec_txn_held(db), REC_HOLD_OPEN);
    assert_int_equal(logs(other, id), 0); /* not committed yet */
    assert_int_equal(logs(db, id), 1);    /* but our own transaction sees it */
    must(rec_txn(db, log_body, &id, &err), &err, "joined txn");
    must(rec_txn_commit_held(db, log_body, &id, &err), &err, "commit");
    rec_txn_hold(db, 0);
    assert_int_equal(rec_txn_held(db), REC_HOLD_NONE);
    assert_int_equal(logs(other, id), 3);
    rec_db_close(db);
}

static void test_held_last_failing_leaves_neither(void **state)
{
    rec_db *other = *state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint64_t id = insert_row(other, 1);
    rec_txn_hold(db, 1);
    must(rec_txn(db, log_body, &id, &err), &err, "txn");
    assert_int_equal(rec_txn_commit_held(db, failing_body, NULL, &err),
                     REC_INVALID);
    assert_int_equal(logs(other, id), 0);
    /* A second commit has nothing to commit. */
    assert_int_equal(rec_txn_commit_held(db, NULL, NULL, &err), REC_ERROR);
    /* Rolling back by hand works the same. */
    must(rec_txn(db, log_body, &id, &err), &err, "txn");
    rec_txn_rollback_held(db);
    rec_txn_hold(db, 0);
    assert_int_equal(logs(other, id), 0);
    assert_int_equal(logs(db, id), 0);
    rec_db_close(db);
}

static void test_joined_failure_breaks_the_hold(void **state)
{
    rec_db *other = *state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint64_t id = insert_row(other, 1);
    rec_txn_hold(db, 1);
    must(rec_txn(db, log_body, &id, &err), &err, "txn");
    assert_int_equal(rec_txn(db, failing_body, NULL, &err), REC_INVALID);
    assert_int_equal(rec_txn_held(db), REC_HOLD_BROKEN);
    rec_txn_hold(db, 0);
    assert_int_equal(logs(other, id), 0);
    /* Without hold a failing body is an ordinary rollback. */
    rec_txn_hold(db, 1);
    assert_int_equal(rec_txn(db, failing_body, NULL, &err), REC_INVALID);
    assert_int_equal(rec_txn_held(db), REC_HOLD_NONE);
    rec_txn_hold(db, 0);
    rec_db_close(db);
}

static void test_connection_lost_while_held_commits_nothing(void **state)
{
    rec_db *other = *state;
    rec_db *db = open_db();
    rec_err err = {0};
    uint64_t id = insert_row(other, 1);
    static const char cid[] = "SELECT CONNECTION_ID()";
    rec_rows *rows = NULL;
    must(rec_exec(db, cid, NULL, 0, &rows, NULL, NULL, &err), &err, "id");
    uint64_t conn = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    rec_txn_hold(db, 1);
    must(rec_txn(db, log_body, &id, &err), &err, "txn");
    static const char kill[] = "KILL CONNECTION ?";
    rec_param p[1] = {REC_U(conn)};
    must(rec_exec(other, kill, p, 1, NULL, NULL, NULL, &err), &err, "kill");
    assert_int_equal(rec_txn_commit_held(db, log_body, &id, &err),
                     REC_UNAVAILABLE);
    assert_int_equal(rec_txn_held(db), REC_HOLD_BROKEN);
    rec_txn_hold(db, 0);
    assert_int_equal(logs(other, id), 0);
    /* The handle reconnects for the next request. */
    assert_int_equal(logs(db, id), 0);
    rec_db_close(db);
}

/* ---- idempotency keys
 * --------------------------------------------------------- */

static rec_idem_key make_key(const char *k, char fill)
{
    rec_idem_key key;
    memset(&key, 0, sizeof key);
    key.tenant_id = 77;
    key.key = k;
    key.key_len = strlen(k);
    memset(key.hash, fill, sizeof key.hash);
    return key;
}

static rec_idem_outcome claim(rec_db *db, rec_idem_key *k, rec_idem_answer *ans)
{
    rec_err err = {0};
    rec_idem_outcome out = REC_IDEM_IN_USE;
    must(rec_idem_claim(db, k, 30, 86400, &out, ans, &err), &err, "claim");
    return out;
}

static void age(rec_db *db, const char *column, const char *k)
{
    /* Moves a deadline an hour into the past instead of waiting for it. */
    static const char claim_sql[] =
        "UPDATE idempotency_keys SET claim_until = claim_until - INTERVAL 1 "
        "HOUR WHERE tenant_id = 77 AND idem_key = ?";
    static const char expiry_sql[] =
        "UPDATE idempotency_keys SET expires_at = expires_at - INTERVAL 2 "
        "DAY WHERE tenant_id = 77 AND idem_key = ?";
    rec_err err = {0};
    rec_param p[1] = {REC_CSTR(k)};
    must(rec_exec(db, strcmp(column, "claim") == 0 ? claim_sql : expiry_sql, p,
                  1, NULL, NULL, NULL, &err),
         &err, "age");
}

static void test_key_claim_store_replay(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    rec_idem_answer ans;
    rec_idem_key a = make_key("itest-1", 'a');
    rec_idem_key same = make_key("itest-1", 'a');
    rec_idem_key other = make_key("itest-1", 'b');
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_CLAIMED);
    assert_int_equal(claim(db, &same, &ans), REC_IDEM_IN_USE);
    assert_int_equal(claim(db, &other, &ans), REC_IDEM_REUSED);
    /* Only the owner of the claim may store. */
    assert_int_equal(rec_idem_store(db, &same, 201, "", 0, "x", 1, &err),
                     REC_CONFLICT);
    static const char hdr[] = "ETag: \"1\"\r\n";
    static const char body[] = "{\"id\":1}\0tail"; /* bytes, NUL included */
    must(rec_idem_store(db, &a, 201, hdr, sizeof hdr - 1, body, sizeof body - 1,
                        &err),
         &err, "store");
    assert_int_equal(claim(db, &same, &ans), REC_IDEM_REPLAY);
    assert_int_equal(ans.status, 201);
    assert_int_equal(ans.headers_len, sizeof hdr - 1);
    assert_memory_equal(ans.headers, hdr, sizeof hdr - 1);
    assert_int_equal(ans.body_len, sizeof body - 1);
    assert_memory_equal(ans.body, body, sizeof body - 1);
    rec_idem_answer_free(&ans);
    assert_int_equal(claim(db, &other, &ans), REC_IDEM_REUSED);
    /* Done is done: a second store by the owner finds nothing to fill. */
    assert_int_equal(rec_idem_store(db, &a, 200, "", 0, "", 0, &err),
                     REC_CONFLICT);
    /* Release leaves a done key alone. */
    must(rec_idem_release(db, &a, &err), &err, "release");
    assert_int_equal(claim(db, &same, &ans), REC_IDEM_REPLAY);
    rec_idem_answer_free(&ans);
}

/* An answer kept without its resource comes back with
 * its path and place; a takeover of the expired key clears both. */
static void test_key_store_render(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    rec_idem_answer ans;
    rec_idem_key a = make_key("itest-render", 'r');
    rec_idem_key same = make_key("itest-render", 'r');
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_CLAIMED);
    static const char hdr[] = "ETag: \"9\"\r\n";
    static const char shell[] = "{\"error\":\"version_conflict\","
                                "\"current\":null}";
    static const char path[] = "/v1/sessions/5";
    size_t at = sizeof shell - 1 - 5; /* where "null" starts */
    assert_int_equal(rec_idem_store_render(db, &same, 409, hdr, sizeof hdr - 1,
                                           shell, sizeof shell - 1, path,
                                           sizeof path - 1, at, &err),
                     REC_CONFLICT); /* not the claim's owner */
    must(rec_idem_store_render(db, &a, 409, hdr, sizeof hdr - 1, shell,
                               sizeof shell - 1, path, sizeof path - 1, at,
                               &err),
         &err, "store_render");
    assert_int_equal(claim(db, &same, &ans), REC_IDEM_REPLAY);
    assert_int_equal(ans.status, 409);
    assert_int_equal(ans.body_len, sizeof shell - 1);
    assert_memory_equal(ans.body, shell, sizeof shell - 1);
    assert_non_null(ans.render_path);
    assert_int_equal(ans.render_path_len, sizeof path - 1);
    assert_memory_equal(ans.render_path, path, sizeof path - 1);
    assert_int_equal(ans.render_at, at);
    assert_memory_equal(ans.body + ans.render_at, "null", 4);
    rec_idem_answer_free(&ans);
    /* Expired and taken over: the new claim's answer is an ordinary one. */
    age(db, "expiry", "itest-render");
    assert_int_equal(claim(db, &same, &ans), REC_IDEM_CLAIMED);
    must(rec_idem_store(db, &same, 200, "", 0, "{}", 2, &err), &err, "store");
    rec_idem_key again = make_key("itest-render", 'r');
    assert_int_equal(claim(db, &again, &ans), REC_IDEM_REPLAY);
    assert_null(ans.render_path);
    assert_int_equal(ans.body_len, 2);
    rec_idem_answer_free(&ans);
}

static void test_key_release_and_dead_claims(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    rec_idem_answer ans;
    rec_idem_key a = make_key("itest-2", 'a');
    rec_idem_key b = make_key("itest-2", 'a');
    rec_idem_key c = make_key("itest-2", 'c');
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_CLAIMED);
    must(rec_idem_release(db, &a, &err), &err, "release");
    assert_int_equal(claim(db, &b, &ans), REC_IDEM_CLAIMED); /* free again */
    /* b's request dies; once its claim runs out, the same request may
     * claim it, a different one may not. */
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_IN_USE);
    age(db, "claim", "itest-2");
    assert_int_equal(claim(db, &c, &ans), REC_IDEM_REUSED);
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_CLAIMED);
    /* b is still running after all: it can no longer store, so its
     * transaction must not commit. */
    assert_int_equal(rec_idem_store(db, &b, 200, "", 0, "", 0, &err),
                     REC_CONFLICT);
    must(rec_idem_store(db, &a, 200, "", 0, "ok", 2, &err), &err, "store");
    /* Expired: any request takes the key. */
    age(db, "expiry", "itest-2");
    assert_int_equal(claim(db, &c, &ans), REC_IDEM_CLAIMED);
    must(rec_idem_store(db, &c, 204, NULL, 0, NULL, 0, &err), &err, "store");
    assert_int_equal(claim(db, &c, &ans), REC_IDEM_REPLAY);
    assert_int_equal(ans.status, 204);
    assert_int_equal(ans.body_len, 0);
    rec_idem_answer_free(&ans);
}

static void test_key_purge(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    rec_idem_answer ans;
    rec_idem_key a = make_key("itest-3", 'a');
    rec_idem_key b = make_key("itest-4", 'a');
    assert_int_equal(claim(db, &a, &ans), REC_IDEM_CLAIMED);
    assert_int_equal(claim(db, &b, &ans), REC_IDEM_CLAIMED);
    age(db, "expiry", "itest-3");
    uint64_t n = 0;
    must(rec_idem_purge(db, 1000, &n, &err), &err, "purge");
    assert_true(n >= 1);
    static const char left[] =
        "SELECT idem_key FROM idempotency_keys WHERE tenant_id = 77 "
        "AND idem_key IN ('itest-3', 'itest-4')";
    rec_rows *rows = NULL;
    must(rec_exec(db, left, NULL, 0, &rows, NULL, NULL, &err), &err, "left");
    assert_int_equal(rec_rows_count(rows), 1);
    assert_string_equal(rec_rows_get(rows, 0, 0), "itest-4");
    rec_rows_free(rows);
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guarded_write_outcomes),
        cmocka_unit_test(test_of_8_concurrent_transitions_one_wins),
        cmocka_unit_test(test_held_commit_makes_both_visible_together),
        cmocka_unit_test(test_held_last_failing_leaves_neither),
        cmocka_unit_test(test_joined_failure_breaks_the_hold),
        cmocka_unit_test(test_connection_lost_while_held_commits_nothing),
        cmocka_unit_test(test_key_claim_store_replay),
        cmocka_unit_test(test_key_store_render),
        cmocka_unit_test(test_key_release_and_dead_claims),
        cmocka_unit_test(test_key_purge),
    };
    return cmocka_run_group_tests_name("integration_transition", tests, setup,
                                       teardown);
}
