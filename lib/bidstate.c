/*
 * bidstate.c -- the bid and evaluation state machines, as guarded UPDATEs.
 *
 * A bid (table bids):
 *
 *   open ------- claim ------> evaluating ---- finish, data unchanged --->
 * decided decided ---- claim ------> evaluating ---- finish, data edited ----->
 * open evaluating - take-over --> evaluating      finish, evaluator failed ->
 * open (lease passed)            (new owner)     finish, lease passed ----->
 * open open, decided -- archive --> archived      (no take-over happened)
 *   archived: final.
 *
 *   PATCH changes data (and data_version) in open, evaluating and decided,
 *   never the status; it is refused in archived. Every change adds 1 to
 *   version, a return to open included. Lease renewals change only
 *   lease_until: they are not a change of the bid the client sees.
 *
 *   Each arrow is one UPDATE whose WHERE names its start statuses; the
 *   finish arrows also require "lease_owner = this run" and a lease that
 *   has not passed, so a run can only finish while it still owns the bid.
 *
 * A run (table evaluations):
 *
 *   running -> applied | superseded | failed   (its own finish, owner)
 *   running -> expired                         (taken over, or its finish
 *                                               found the lease passed)
 *   expired -> expired                         (its late finish stores the
 *                                               result it got, if any)
 *   applied, superseded, failed: final.
 *
 *   A running run whose lease has passed is answered as expired on read
 *   (routes_bids.c), before anything marks it: a dead worker marks nothing.
 */
#include "bidstate.h"

#include <stdio.h>
#include <string.h>

const char BID_STATE_SQL[] =
    "SELECT version, IF(status = 'evaluating' AND "
    "lease_until < UTC_TIMESTAMP(3), 'lapsed', status) FROM bids "
    "WHERE id = ? AND tenant_id = ?";

/* claim: open | decided | lapsed -> evaluating. */
static const char *const CLAIM_FROM[] = {"open", "decided", "lapsed", NULL};
static const char SQL_RUN_INSERT[] =
    "INSERT INTO evaluations (bid_id, tenant_id, kind, outcome, started_at) "
    "VALUES (?, ?, ?, 'running', UTC_TIMESTAMP(3))";
static const char SQL_CLAIM[] =
    "UPDATE bids SET status = 'evaluating', version = version + 1, "
    "lease_owner = ?, lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND (status IN ('open', 'decided') OR "
    "(status = 'evaluating' AND lease_until < UTC_TIMESTAMP(3)))";
/* Under the bid's row lock, taken by SQL_CLAIM: any other run still
 * 'running' on this bid lost its claim just now. */
static const char SQL_EXPIRE_OTHERS[] =
    "UPDATE evaluations SET outcome = 'expired', "
    "detail = 'the lease passed; another run took the bid over', "
    "finished_at = UTC_TIMESTAMP(3) "
    "WHERE bid_id = ? AND outcome = 'running' AND id <> ?";
static const char SQL_CLAIMED[] =
    "SELECT version, data_version FROM bids WHERE id = ?";

static const char SQL_RENEW[] =
    "UPDATE bids SET lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND "
    "WHERE id = ? AND status = 'evaluating' AND lease_owner = ? "
    "AND lease_until >= UTC_TIMESTAMP(3)";
static const char SQL_OWNED[] =
    "SELECT 1 FROM bids WHERE id = ? AND status = 'evaluating' "
    "AND lease_owner = ? AND lease_until >= UTC_TIMESTAMP(3)";

/* finish: evaluating (owned, lease live) -> decided, if data unchanged */
static const char SQL_APPLY[] =
    "UPDATE bids SET status = 'decided', evaluation = ?, "
    "version = version + 1, lease_owner = NULL, lease_until = NULL, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND status = 'evaluating' AND lease_owner = ? "
    "AND lease_until >= UTC_TIMESTAMP(3) AND data_version = ?";
/* finish: evaluating (owned, lease live) -> open: edited, or failed */
static const char SQL_REOPEN[] =
    "UPDATE bids SET status = 'open', version = version + 1, "
    "lease_owner = NULL, lease_until = NULL, updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND status = 'evaluating' AND lease_owner = ? "
    "AND lease_until >= UTC_TIMESTAMP(3)";
/* finish: evaluating (owned, lease passed, nobody took it) -> open */
static const char SQL_RELEASE[] =
    "UPDATE bids SET status = 'open', version = version + 1, "
    "lease_owner = NULL, lease_until = NULL, updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND status = 'evaluating' AND lease_owner = ?";
static const char SQL_VERSION[] = "SELECT version FROM bids WHERE id = ?";

/* run: running -> applied | superseded | failed */
static const char SQL_RUN_END[] =
    "UPDATE evaluations SET outcome = ?, result = ?, detail = ?, "
    "finished_at = UTC_TIMESTAMP(3) WHERE id = ? AND outcome = 'running'";
/* run: running | expired -> expired, keeping what it got */
static const char SQL_RUN_EXPIRE[] =
    "UPDATE evaluations SET outcome = 'expired', "
    "result = COALESCE(result, ?), detail = COALESCE(detail, ?), "
    "finished_at = COALESCE(finished_at, UTC_TIMESTAMP(3)) "
    "WHERE id = ? AND outcome IN ('running', 'expired')";

const char *bid_outcome_name(bid_outcome o)
{
    switch (o) {
    case BID_APPLIED:
        return "applied";
    case BID_SUPERSEDED:
        return "superseded";
    case BID_FAILED:
        return "failed";
    case BID_EXPIRED:
        return "expired";
    }
    return "unknown";
}

rec_status bid_claim_run(rec_db *db, uint64_t tenant_id, uint64_t id,
                         rec_expect expect, const char *kind,
                         unsigned lease_seconds, bid_claim *out, rec_err *err)
{
    uint64_t eval_id = 0;
    rec_param ins[3] = {REC_U(id), REC_U(tenant_id), REC_CSTR(kind)};
    rec_status st =
        rec_exec(db, SQL_RUN_INSERT, ins, 3, NULL, NULL, &eval_id, err);
    if (st != REC_OK)
        return st;

    rec_param set[2] = {REC_U(eval_id), REC_U(lease_seconds)};
    rec_guard g = {.update_sql = SQL_CLAIM,
                   .params = set,
                   .nparams = 2,
                   .state_sql = BID_STATE_SQL,
                   .from = CLAIM_FROM};
    rec_guard_out found;
    st = rec_guarded_write(db, &g, id, tenant_id, expect, &found, err);
    if (st != REC_OK)
        return st; /* the caller rolls back, the run row with it */

    rec_param others[2] = {REC_U(id), REC_U(eval_id)};
    st = rec_exec(db, SQL_EXPIRE_OTHERS, others, 2, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;

    rec_param key[1] = {REC_U(id)};
    rec_rows *rows = NULL;
    st = rec_exec(db, SQL_CLAIMED, key, 1, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(rows) != 1) {
        rec_rows_free(rows);
        snprintf(err->msg, sizeof err->msg, "claimed bid %llu vanished",
                 (unsigned long long)id);
        return REC_ERROR;
    }
    memset(out, 0, sizeof *out);
    out->bid_id = id;
    out->tenant_id = tenant_id;
    out->eval_id = eval_id;
    out->version = (uint32_t)rec_rows_u64(rows, 0, 0);
    out->data_version = (uint32_t)rec_rows_u64(rows, 0, 1);
    rec_rows_free(rows);
    return REC_OK;
}

rec_status bid_renew(rec_db *db, const bid_claim *c, unsigned lease_seconds,
                     rec_err *err)
{
    rec_param p[3] = {REC_U(lease_seconds), REC_U(c->bid_id),
                      REC_U(c->eval_id)};
    uint64_t affected = 0;
    rec_status st = rec_exec(db, SQL_RENEW, p, 3, NULL, &affected, NULL, err);
    if (st != REC_OK || affected > 0)
        return st;
    /* Nothing changed: lost, or renewed twice in the same millisecond
     * (affected rows count changed rows only). */
    rec_param q[2] = {REC_U(c->bid_id), REC_U(c->eval_id)};
    rec_rows *rows = NULL;
    st = rec_exec(db, SQL_OWNED, q, 2, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    size_t n = rec_rows_count(rows);
    rec_rows_free(rows);
    return n == 1 ? REC_OK : REC_INVALID_STATE;
}

struct finish_ctx {
    const bid_claim *c;
    rec_param result;    /* JSON text or NULL */
    rec_param detail;    /* text or NULL */
    bid_outcome outcome; /* OUT */
    uint32_t version;    /* OUT */
};

static rec_status read_version(rec_db *db, uint64_t id, uint32_t *version,
                               rec_err *err)
{
    rec_param key[1] = {REC_U(id)};
    rec_rows *rows = NULL;
    rec_status st = rec_exec(db, SQL_VERSION, key, 1, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    *version = (uint32_t)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return REC_OK;
}

static rec_status end_run(rec_db *db, struct finish_ctx *f, const char *name,
                          rec_err *err)
{
    rec_param p[4] = {REC_CSTR(name), f->result, f->detail,
                      REC_U(f->c->eval_id)};
    return rec_exec(db, SQL_RUN_END, p, 4, NULL, NULL, NULL, err);
}

static rec_status finish_body(rec_db *db, void *vctx, rec_err *err)
{
    struct finish_ctx *f = vctx;
    const bid_claim *c = f->c;
    uint64_t affected = 0;
    rec_status st;

    /* The arrows are tried in order; each is guarded on its own, so the
     * order only decides which applies, never whether one may. */
    if (f->result.type != REC_T_NULL) {
        rec_param p[4] = {f->result, REC_U(c->bid_id), REC_U(c->eval_id),
                          REC_U(c->data_version)};
        st = rec_exec(db, SQL_APPLY, p, 4, NULL, &affected, NULL, err);
        if (st != REC_OK)
            return st;
        if (affected == 1) {
            f->outcome = BID_APPLIED;
            st = end_run(db, f, "applied", err);
            return st != REC_OK ? st
                                : read_version(db, c->bid_id, &f->version, err);
        }
    }
    rec_param own[2] = {REC_U(c->bid_id), REC_U(c->eval_id)};
    st = rec_exec(db, SQL_REOPEN, own, 2, NULL, &affected, NULL, err);
    if (st != REC_OK)
        return st;
    if (affected == 1) {
        f->outcome = f->result.type != REC_T_NULL ? BID_SUPERSEDED : BID_FAILED;
        st = end_run(db, f, bid_outcome_name(f->outcome), err);
        return st != REC_OK ? st
                            : read_version(db, c->bid_id, &f->version, err);
    }

    /* The claim is lost. If the lease merely passed and nobody took the
     * bid, give it back: nothing stays evaluating. */
    f->outcome = BID_EXPIRED;
    st = rec_exec(db, SQL_RELEASE, own, 2, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    rec_param ex[3] = {f->result,
                       f->detail.type != REC_T_NULL
                           ? f->detail
                           : REC_CSTR("the lease passed before the run "
                                      "finished"),
                       REC_U(c->eval_id)};
    st = rec_exec(db, SQL_RUN_EXPIRE, ex, 3, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    return read_version(db, c->bid_id, &f->version, err);
}

rec_status bid_finish(rec_db *db, const bid_claim *c, const char *result,
                      size_t result_len, const char *detail,
                      bid_outcome *outcome, uint32_t *version, rec_err *err)
{
    struct finish_ctx f = {.c = c};
    f.result = result ? REC_S(result, result_len) : REC_NULLP;
    f.detail = REC_CSTR(detail);
    rec_status st = rec_txn(db, finish_body, &f, err);
    *outcome = f.outcome;
    *version = f.version;
    return st;
}
