/*
 * test_bidstate.c -- lib/bidstate.c against a real MariaDB: every arrow of
 * the bid and run state machines, the refusals, a take-over after the
 * lease passed, and claims racing from two connections. Leases are made
 * to pass by moving lease_until into the past, not by waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bidstate.h"
#include "itest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT 77
#define LEASE  30

static rec_config cfg;

static const char SQL_INS[] =
    "INSERT INTO bids (tenant_id, data, created_at, updated_at) "
    "VALUES (?, '{\"a\":1}', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
static const char SQL_ROW[] =
    "SELECT version, status, lease_owner, evaluation FROM bids WHERE id = ?";
static const char SQL_RUN[] =
    "SELECT outcome, result, detail, finished_at IS NOT NULL "
    "FROM evaluations WHERE id = ?";
static const char SQL_EDIT[] =
    "UPDATE bids SET data_version = data_version + 1, version = version + 1 "
    "WHERE id = ?";
static const char SQL_LAPSE[] =
    "UPDATE bids SET lease_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND "
    "WHERE id = ?";
static const char SQL_ARCHIVE[] =
    "UPDATE bids SET status = 'archived', version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND status IN ('open', 'decided')";

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static void exec1(rec_db *db, const char *sql, uint64_t id)
{
    rec_err err = {0};
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, sql, p, 1, NULL, NULL, NULL, &err), &err, sql);
}

static uint64_t new_bid(rec_db *db)
{
    rec_err err = {0};
    uint64_t id = 0;
    rec_param p[1] = {REC_U(TENANT)};
    must(rec_exec(db, SQL_INS, p, 1, NULL, NULL, &id, &err), &err, "insert");
    return id;
}

struct row {
    uint32_t version;
    char status[16];
    uint64_t owner;
    char evaluation[128];
};

static struct row row_of(rec_db *db, uint64_t id)
{
    struct row r;
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(db, SQL_ROW, p, 1, &rows, NULL, NULL, &err), &err, "row");
    assert_int_equal(rec_rows_count(rows), 1);
    memset(&r, 0, sizeof r);
    r.version = (uint32_t)rec_rows_u64(rows, 0, 0);
    snprintf(r.status, sizeof r.status, "%s", rec_rows_get(rows, 0, 1));
    r.owner = rec_rows_u64(rows, 0, 2);
    const char *ev = rec_rows_get(rows, 0, 3);
    snprintf(r.evaluation, sizeof r.evaluation, "%s", ev ? ev : "NULL");
    rec_rows_free(rows);
    return r;
}

struct run {
    char outcome[16];
    char result[128];
    char detail[128];
    int finished;
};

static struct run run_of(rec_db *db, uint64_t eval_id)
{
    struct run r;
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(eval_id)};
    must(rec_exec(db, SQL_RUN, p, 1, &rows, NULL, NULL, &err), &err, "run");
    assert_int_equal(rec_rows_count(rows), 1);
    const char *res = rec_rows_get(rows, 0, 1), *det = rec_rows_get(rows, 0, 2);
    snprintf(r.outcome, sizeof r.outcome, "%s", rec_rows_get(rows, 0, 0));
    snprintf(r.result, sizeof r.result, "%s", res ? res : "NULL");
    snprintf(r.detail, sizeof r.detail, "%s", det ? det : "NULL");
    r.finished = (int)rec_rows_u64(rows, 0, 3);
    rec_rows_free(rows);
    return r;
}

struct claim_ctx {
    uint64_t tenant, id;
    rec_expect expect;
    bid_claim claim;
};

static rec_status claim_body(rec_db *db, void *vctx, rec_err *err)
{
    struct claim_ctx *c = vctx;
    return bid_claim_run(db, c->tenant, c->id, c->expect, "full", LEASE,
                         &c->claim, err);
}

static rec_status claim(rec_db *db, uint64_t tenant, uint64_t id,
                        uint32_t version, struct claim_ctx *c)
{
    rec_err err = {0};
    memset(c, 0, sizeof *c);
    c->tenant = tenant;
    c->id = id;
    c->expect.version = version;
    c->expect.any = version == 0;
    return rec_txn(db, claim_body, c, &err);
}

static bid_outcome finish(rec_db *db, const bid_claim *c, const char *result,
                          const char *detail, uint32_t *version)
{
    rec_err err = {0};
    bid_outcome o;
    must(bid_finish(db, c, result, result ? strlen(result) : 0, detail, &o,
                    version, &err),
         &err, "finish");
    return o;
}

/* ---- the arrows -------------------------------------------------------- */

static void test_claim_then_apply(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_bid(db);
    struct claim_ctx c;
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    assert_int_equal(c.claim.version, 2);
    assert_int_equal(c.claim.data_version, 1);
    struct row r = row_of(db, id);
    assert_string_equal(r.status, "evaluating");
    assert_true(r.owner == c.claim.eval_id);
    assert_string_equal(run_of(db, c.claim.eval_id).outcome, "running");

    uint32_t v = 0;
    assert_int_equal(finish(db, &c.claim, "{\"score\": 5}", NULL, &v),
                     BID_APPLIED);
    assert_int_equal(v, 3);
    r = row_of(db, id);
    assert_string_equal(r.status, "decided");
    assert_int_equal(r.version, 3);
    assert_true(r.owner == 0);
    assert_string_equal(r.evaluation, "{\"score\": 5}");
    struct run run = run_of(db, c.claim.eval_id);
    assert_string_equal(run.outcome, "applied");
    assert_string_equal(run.result, "{\"score\": 5}");
    assert_true(run.finished);

    /* decided -> evaluating again, with If-Match: * */
    assert_int_equal(claim(db, TENANT, id, 0, &c), REC_OK);
    assert_int_equal(c.claim.version, 4);
}

static void test_claim_refusals(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_bid(db);
    struct claim_ctx c, c2;
    assert_int_equal(claim(db, TENANT, id, 5, &c), REC_CONFLICT);
    assert_int_equal(claim(db, TENANT + 1, id, 1, &c), REC_NOT_FOUND);
    assert_int_equal(claim(db, TENANT, id + 100000, 1, &c), REC_NOT_FOUND);
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    /* held by a live lease: the state refuses it, whatever the version */
    assert_int_equal(claim(db, TENANT, id, 2, &c2), REC_INVALID_STATE);
    assert_int_equal(claim(db, TENANT, id, 1, &c2), REC_INVALID_STATE);
    /* a refused claim leaves no run behind */
    struct row r = row_of(db, id);
    assert_true(r.owner == c.claim.eval_id);
    assert_int_equal(r.version, 2);
}

static void test_an_edit_supersedes_the_result(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_bid(db);
    struct claim_ctx c;
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    exec1(db, SQL_EDIT, id); /* what PATCH does: version 3 */
    uint32_t v = 0;
    assert_int_equal(finish(db, &c.claim, "{\"score\": 1}", NULL, &v),
                     BID_SUPERSEDED);
    assert_int_equal(v, 4);
    struct row r = row_of(db, id);
    assert_string_equal(r.status, "open");
    assert_string_equal(r.evaluation, "NULL");
    struct run run = run_of(db, c.claim.eval_id);
    assert_string_equal(run.outcome, "superseded");
    assert_string_equal(run.result, "{\"score\": 1}");
}

static void test_a_failure_reopens(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_bid(db);
    struct claim_ctx c;
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    uint32_t v = 0;
    assert_int_equal(finish(db, &c.claim, NULL, "exited with status 1", &v),
                     BID_FAILED);
    assert_int_equal(v, 3);
    assert_string_equal(row_of(db, id).status, "open");
    struct run run = run_of(db, c.claim.eval_id);
    assert_string_equal(run.outcome, "failed");
    assert_string_equal(run.result, "NULL");
    assert_string_equal(run.detail, "exited with status 1");
}

static void test_take_over_after_the_lease(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    uint64_t id = new_bid(db);
    struct claim_ctx a, b;
    assert_int_equal(claim(db, TENANT, id, 1, &a), REC_OK);
    must(bid_renew(db, &a.claim, LEASE, &err), &err, "renew");
    exec1(db, SQL_LAPSE, id);
    assert_int_equal(bid_renew(db, &a.claim, LEASE, &err), REC_INVALID_STATE);
    assert_int_equal(claim(db, TENANT, id, 2, &b), REC_OK);
    assert_int_equal(b.claim.version, 3);
    struct run ra = run_of(db, a.claim.eval_id);
    assert_string_equal(ra.outcome, "expired");
    assert_true(ra.finished);

    /* The first run's late finish changes nothing but its own record. */
    uint32_t v = 0;
    assert_int_equal(finish(db, &a.claim, "{\"late\": true}", NULL, &v),
                     BID_EXPIRED);
    assert_int_equal(v, 3);
    struct row r = row_of(db, id);
    assert_string_equal(r.status, "evaluating");
    assert_true(r.owner == b.claim.eval_id);
    ra = run_of(db, a.claim.eval_id);
    assert_string_equal(ra.outcome, "expired");
    assert_string_equal(ra.result, "{\"late\": true}");

    assert_int_equal(finish(db, &b.claim, "{\"s\": 2}", NULL, &v), BID_APPLIED);
    assert_int_equal(v, 4);
}

static void test_a_lapsed_claim_gives_the_bid_back(void **state)
{
    rec_db *db = *state;
    uint64_t id = new_bid(db);
    struct claim_ctx c;
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    exec1(db, SQL_LAPSE, id);
    uint32_t v = 0;
    assert_int_equal(finish(db, &c.claim, "{\"s\": 1}", NULL, &v), BID_EXPIRED);
    assert_int_equal(v, 3);
    struct row r = row_of(db, id);
    assert_string_equal(r.status, "open");
    assert_true(r.owner == 0);
    assert_string_equal(run_of(db, c.claim.eval_id).outcome, "expired");
}

/* Archive through rec_guarded_write with BID_STATE_SQL: a lapsed bid is
 * still evaluating to everyone but a new claim. */
static void test_archive_guard_and_lapsed_state(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    static const char *const from[] = {"open", "decided", NULL};
    rec_guard g = {
        .update_sql = SQL_ARCHIVE, .state_sql = BID_STATE_SQL, .from = from};
    rec_guard_out out;
    uint64_t id = new_bid(db);
    struct claim_ctx c;
    assert_int_equal(claim(db, TENANT, id, 1, &c), REC_OK);
    assert_int_equal(
        rec_guarded_write(db, &g, id, TENANT, (rec_expect){0, 2}, &out, &err),
        REC_INVALID_STATE);
    assert_string_equal(out.status, "evaluating");
    exec1(db, SQL_LAPSE, id);
    assert_int_equal(
        rec_guarded_write(db, &g, id, TENANT, (rec_expect){0, 2}, &out, &err),
        REC_INVALID_STATE);
    assert_string_equal(out.status, "lapsed");
    uint32_t v = 0;
    assert_int_equal(finish(db, &c.claim, NULL, "gone", &v), BID_EXPIRED);
    assert_int_equal(
        rec_guarded_write(db, &g, id, TENANT, (rec_expect){0, 2}, &out, &err),
        REC_CONFLICT);
    assert_int_equal(
        rec_guarded_write(db, &g, id, TENANT, (rec_expect){0, 3}, &out, &err),
        REC_OK);
    assert_string_equal(row_of(db, id).status, "archived");
    assert_int_equal(claim(db, TENANT, id, 4, &c), REC_INVALID_STATE);
}

/* ---- races -----------------------------------------------------------------
 */

struct racer {
    uint64_t id;
    pthread_barrier_t *barrier;
    rec_status st;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    if (rec_db_connect(db, &err) != REC_OK) {
        r->st = REC_ERROR;
        rec_db_close(db);
        return NULL;
    }
    struct claim_ctx c;
    pthread_barrier_wait(r->barrier);
    r->st = claim(db, TENANT, r->id, 1, &c);
    rec_db_close(db);
    return NULL;
}

static void test_two_claims_at_once_one_wins(void **state)
{
    rec_db *db = *state;
    for (int round = 0; round < 20; round++) {
        uint64_t id = new_bid(db);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, 2);
        struct racer a = {id, &barrier, REC_ERROR}, b = a;
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        /* The loser finds the bid evaluating under a live lease: the
         * state refuses it (it wins over the version, now stale too). */
        int wins = (a.st == REC_OK) + (b.st == REC_OK);
        int losses = (a.st == REC_INVALID_STATE) + (b.st == REC_INVALID_STATE);
        if (wins != 1 || losses != 1)
            fail_msg("round %d: %s and %s", round, rec_status_name(a.st),
                     rec_status_name(b.st));
        assert_int_equal(row_of(db, id).version, 2);
    }
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    if (rec_db_connect(db, &err) != REC_OK) {
        fprintf(stderr, "connect: %s\n", err.msg);
        rec_db_close(db);
        return -1;
    }
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_then_apply),
        cmocka_unit_test(test_claim_refusals),
        cmocka_unit_test(test_an_edit_supersedes_the_result),
        cmocka_unit_test(test_a_failure_reopens),
        cmocka_unit_test(test_take_over_after_the_lease),
        cmocka_unit_test(test_a_lapsed_claim_gives_the_bid_back),
        cmocka_unit_test(test_archive_guard_and_lapsed_state),
        cmocka_unit_test(test_two_claims_at_once_one_wins),
    };
    return cmocka_run_group_tests_name("integration_bidstate", tests, setup,
                                       teardown);
}
