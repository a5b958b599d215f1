/*
 * hubjobs.c -- a run's statements that take row locks, run on the hub's
 * database threads (hubjobs.h, hubdb.h). Nothing here reads or writes
 * the hub's loop state: each job has its record, nothing else.
 */
#include "hubjobs.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_EVENT_INSERT[] =
    "INSERT IGNORE INTO evaluation_events (evaluation_id, seq, event, data) "
    "VALUES (?, ?, ?, ?)";
static const char SQL_FINAL_INSERT[] =
    "INSERT IGNORE INTO evaluation_events (evaluation_id, seq, event, data, "
    "final) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, 1 "
    "FROM evaluation_events WHERE evaluation_id = ?";
static const char SQL_FINAL_SEQ[] =
    "SELECT seq FROM evaluation_events WHERE evaluation_id = ? AND final = 1";

struct final_ctx {
    uint64_t eval_id;
    const char *event;
    const jbuf *data;
};

static rec_status insert_final(rec_db *db, void *vctx, rec_err *err)
{
    struct final_ctx *f = vctx;
    rec_param p[4] = {REC_U(f->eval_id), REC_CSTR(f->event),
                      REC_S(f->data->p, f->data->len), REC_U(f->eval_id)};
    return rec_exec(db, SQL_FINAL_INSERT, p, 4, NULL, NULL, NULL, err);
}

/* The seq the final event got (0 if none is stored). */
static uint32_t final_seq(rec_db *db, uint64_t eval_id)
{
    rec_param p[1] = {REC_U(eval_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    uint32_t seq = 0;
    if (rec_exec(db, SQL_FINAL_SEQ, p, 1, &rows, NULL, NULL, &err) == REC_OK &&
        rec_rows_count(rows) > 0)
        seq = (uint32_t)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return seq;
}

static void final_data(jbuf *b, const char **event, bid_outcome outcome,
                       uint64_t eval_id, uint32_t version, const char *result,
                       size_t rlen, const char *why, int expired_by_sweep)
{
    jb_reset(b);
    if (outcome == BID_APPLIED) {
        *event = "result";
        jb_lit(b, "{\"version\":");
        jb_u64(b, version);
        jb_lit(b, ",\"evaluation\":");
        if (result != NULL)
            jb_raw(b, result, rlen);
        else
            jb_lit(b, "null"); /* applied always has a result */
        jb_lit(b, "}");
        return;
    }
    if (outcome == BID_SUPERSEDED) {
        *event = "conflict";
        jb_lit(b, "{\"current_version\":");
        jb_u64(b, version);
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, eval_id);
        jb_lit(b, "}");
        return;
    }
    *event = "error";
    const char *code = outcome == BID_FAILED ? "evaluation_failed"
                       : expired_by_sweep    ? "expired"
                                             : "lease_expired";
    const char *msg =
        outcome == BID_FAILED ? why
        : expired_by_sweep
            ? "the run's runner stopped before it finished and its lease "
              "passed; the bid can be evaluated again"
            : "the evaluation lost its lease before it finished; its "
              "result was kept but not applied";
    jb_lit(b, "{\"error\":");
    jb_cstr(b, code);
    jb_lit(b, ",\"message\":");
    jb_cstr(b, msg);
    jb_lit(b, ",\"evaluation_id\":");
    jb_u64(b, eval_id);
    if (version > 0) {
        jb_lit(b, ",\"current_version\":");
        jb_u64(b, version);
    }
    jb_lit(b, "}");
}

/* bid_finish and the final event in one transaction (the idempotency
 * hold: bid_finish's transaction stays open for one more statement). */
static rec_status finish_with_event(rec_db *db, const bid_claim *claim,
                                    const char *result, size_t rlen,
                                    const char *why, bid_outcome *outcome,
                                    uint32_t *version, jbuf *data,
                                    const char **event, rec_err *err)
{
    rec_txn_hold(db, 1);
    rec_status st =
        bid_finish(db, claim, result, rlen, why, outcome, version, err);
    if (st == REC_OK && rec_txn_held(db) == REC_HOLD_OPEN) {
        final_data(data, event, *outcome, claim->eval_id, *version, result,
                   rlen, why,
                   why != NULL && result == NULL &&
                       strncmp(why, "the runner", 10) == 0);
        struct final_ctx f = {
            .eval_id = claim->eval_id, .event = *event, .data = data};
        st = rec_txn_commit_held(db, insert_final, &f, err);
    } else if (st == REC_OK) {
        st = REC_ERROR; /* not held: cannot happen */
        snprintf(err->msg, sizeof err->msg, "the finish was not held");
    }
    if (rec_txn_held(db) != REC_HOLD_NONE)
        rec_txn_rollback_held(db);
    rec_txn_hold(db, 0);
    return st;
}

void hubjob_progress(rec_db *db, void *arg)
{
    struct hubjob_progress *j = arg;
    j->renewed = REC_OK;
    if (j->renew) {
        j->renewed = bid_renew(db, &j->claim, j->lease_seconds, &j->err);
        if (j->renewed == REC_INVALID_STATE) {
            j->stored = REC_OK; /* nothing more is stored for a lost run */
            return;
        }
    }
    rec_param p[4] = {REC_U(j->claim.eval_id), REC_U(j->seq),
                      REC_CSTR("progress"), REC_S(j->line, j->len)};
    j->stored = rec_exec(db, SQL_EVENT_INSERT, p, 4, NULL, NULL, NULL, &j->err);
}

struct hubjob_finish *hubjob_finish_new(const bid_claim *claim,
                                        const char *result, size_t rlen,
                                        const char *why)
{
    struct hubjob_finish *f = xcalloc(1, sizeof *f);
    f->claim = *claim;
    if (result != NULL) {
        f->result = xmalloc(rlen + 1);
        memcpy(f->result, result, rlen);
        f->result[rlen] = '\0';
        f->rlen = rlen;
    }
    snprintf(f->why, sizeof f->why, "%s", why ? why : "");
    jb_init(&f->data);
    f->event = "error";
    f->outcome = BID_FAILED;
    return f;
}

void hubjob_finish(rec_db *db, void *arg)
{
    struct hubjob_finish *f = arg;
    f->st = finish_with_event(db, &f->claim, f->result, f->rlen,
                              f->result ? NULL : f->why, &f->outcome,
                              &f->version, &f->data, &f->event, &f->err);
    f->seq = f->st == REC_OK ? final_seq(db, f->claim.eval_id) : 0;
}

void hubjob_finish_free(struct hubjob_finish *f)
{
    if (f == NULL)
        return;
    free(f->result);
    jb_free(&f->data);
    free(f);
}

static const char SQL_ORPHAN_RUN[] =
    "SELECT e.bid_id, e.tenant_id FROM evaluations e "
    "WHERE e.id = ? AND e.outcome = 'running'";
/* Its runner is known dead: the lease ends now rather than later, so the
 * finish below takes the same path as the sweep's at the lease's end
 * (the run `expired`, the bid open, the final event error "expired"). */
static const char SQL_LEASE_END[] =
    "UPDATE bids SET lease_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND "
    "WHERE id = ? AND status = 'evaluating' AND lease_owner = ?";

void hubjob_orphan(rec_db *db, void *arg)
{
    struct hubjob_orphan *o = arg;
    rec_param p[1] = {REC_U(o->f.claim.eval_id)};
    rec_rows *rows = NULL;
    o->f.st = rec_exec(db, SQL_ORPHAN_RUN, p, 1, &rows, NULL, NULL, &o->f.err);
    o->found = o->f.st == REC_OK && rec_rows_count(rows) > 0;
    if (o->found) {
        o->f.claim.bid_id = rec_rows_u64(rows, 0, 0);
        o->f.claim.tenant_id = rec_rows_u64(rows, 0, 1);
    }
    rec_rows_free(rows);
    if (!o->found)
        return;
    rec_param q[2] = {REC_U(o->f.claim.bid_id), REC_U(o->f.claim.eval_id)};
    o->f.st = rec_exec(db, SQL_LEASE_END, q, 2, NULL, NULL, NULL, &o->f.err);
    if (o->f.st == REC_OK)
        hubjob_finish(db, &o->f);
}

void hubjob_final(rec_db *db, void *arg)
{
    struct hubjob_final *j = arg;
    jbuf data;
    jb_init(&data);
    const char *event = "error";
    final_data(&data, &event, BID_EXPIRED, j->eval_id, 0, "", 0, NULL, 1);
    struct final_ctx f = {.eval_id = j->eval_id, .event = event, .data = &data};
    j->st = insert_final(db, &f, &j->err);
    jb_free(&data);
}

struct hubjob_poll *hubjob_poll_new(int feed, const char *sql, size_t n)
{
    struct hubjob_poll *j = xcalloc(1, sizeof *j);
    j->feed = feed;
    j->sql = xstrdup(sql);
    j->n = n;
    j->ids = xcalloc(n ? n : 1, sizeof *j->ids);
    j->version = xcalloc(n ? n : 1, sizeof *j->version);
    j->found = xcalloc(n ? n : 1, 1);
    j->final = xcalloc(n ? n : 1, 1);
    return j;
}

void hubjob_poll_free(struct hubjob_poll *j)
{
    if (j == NULL)
        return;
    free(j->sql);
    free(j->ids);
    free(j->version);
    free(j->found);
    free(j->final);
    free(j);
}

void hubjob_poll(rec_db *db, void *arg)
{
    struct hubjob_poll *j = arg;
    j->st = REC_OK;
    for (size_t at = 0; at < j->n; at += HUBJOB_POLL_BATCH) {
        size_t k = j->n - at;
        if (k > HUBJOB_POLL_BATCH)
            k = HUBJOB_POLL_BATCH;
        rec_param p[HUBJOB_POLL_BATCH];
        for (size_t i = 0; i < HUBJOB_POLL_BATCH; i++)
            p[i] = REC_U(j->ids[at + (i < k ? i : 0)]);
        rec_rows *rows = NULL;
        rec_status st = rec_exec(db, j->sql, p, HUBJOB_POLL_BATCH, &rows, NULL,
                                 NULL, &j->err);
        if (st != REC_OK) {
            j->st = st;
            return;
        }
        for (size_t r = 0; r < rec_rows_count(rows); r++) {
            uint64_t key = rec_rows_u64(rows, r, 0);
            size_t lo = at, hi = at + k; /* the first id >= key */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (j->ids[mid] < key)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == at + k || j->ids[lo] != key)
                continue;
            j->found[lo] = 1;
            j->version[lo] = rec_rows_u64(rows, r, 1);
            j->final[lo] = j->has_final && rec_rows_get(rows, r, 2) != NULL;
        }
        rec_rows_free(rows);
    }
}
