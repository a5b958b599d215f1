/*
 * run.c -- the evaluations this hub runs (see run.h).
 *
 * A run: ev_start, then the loop pumps the evaluator's pipes, stores each
 * progress line as an event (renewing the lease at most every
 * RENEW_EVERY_MS), enforces the time limit, and finishes the run: the
 * bid's finish and the final event are one transaction. Every second the
 * sweep expires runs whose lease passed with nobody running them (their
 * hub died): the bid goes back to open, the run's final event is
 * `error` {"error": "expired"}.
 */
#include "run.h"

#include "evaluator.h"
#include "feed.h"
#include "hubctx.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "sandbox.h"
#include "streams.h"
#include "watch.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define RENEW_EVERY_MS 250 /* at most one lease renewal per this */

/* One evaluation this hub runs. */
struct run {
    ev_proc *p;
    bid_claim claim;
    int slot;
    int quick;
    uint32_t seq;      /* the last event stored */
    uint64_t ev_bytes; /* of the progress events stored */
    int over_cap;      /* too many progress events: the run fails */
    char failed[256];  /* p == NULL: why the evaluator did not start */
    long long renewed;
    int fds[4]; /* in the loop: stdin, stdout, exit, stderr (-1: not) */
    struct watch *w;
    struct run *next;
};

static struct run *runs;

/* ---- evaluation events
 * ---------------------------------------------------------- */

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
static uint32_t final_seq(uint64_t eval_id)
{
    rec_param p[1] = {REC_U(eval_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    uint32_t seq = 0;
    if (rec_exec(hub.db, SQL_FINAL_SEQ, p, 1, &rows, NULL, NULL, &err) ==
            REC_OK &&
        rec_rows_count(rows) > 0)
        seq = (uint32_t)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return seq;
}

/* bid_finish and the final event in one transaction (the idempotency
 * hold: bid_finish's transaction stays open for one more statement). */
static rec_status finish_with_event(const bid_claim *claim, const char *result,
                                    size_t rlen, const char *why,
                                    bid_outcome *outcome, uint32_t *version,
                                    jbuf *data, const char **event,
                                    rec_err *err);

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

static rec_status finish_with_event(const bid_claim *claim, const char *result,
                                    size_t rlen, const char *why,
                                    bid_outcome *outcome, uint32_t *version,
                                    jbuf *data, const char **event,
                                    rec_err *err)
{
    rec_txn_hold(hub.db, 1);
    rec_status st =
        bid_finish(hub.db, claim, result, rlen, why, outcome, version, err);
    if (st == REC_OK && rec_txn_held(hub.db) == REC_HOLD_OPEN) {
        final_data(data, event, *outcome, claim->eval_id, *version, result,
                   rlen, why,
                   why != NULL && result == NULL &&
                       strncmp(why, "the runner", 10) == 0);
        struct final_ctx f = {
            .eval_id = claim->eval_id, .event = *event, .data = data};
        st = rec_txn_commit_held(hub.db, insert_final, &f, err);
    } else if (st == REC_OK) {
        st = REC_ERROR; /* not held: cannot happen */
        snprintf(err->msg, sizeof err->msg, "the finish was not held");
    }
    if (rec_txn_held(hub.db) != REC_HOLD_NONE)
        rec_txn_rollback_held(hub.db);
    rec_txn_hold(hub.db, 0);
    return st;
}

/* ---- runs
 * -------------------------------------------------------------------------- */

static const ev_hooks *run_hooks(struct run *rn);

/* The evaluator closes its descriptors itself (stdin once written, stdout
 * at EOF, all at its end): after each of its calls, the ones it closed
 * leave the loop, before their numbers can be taken again. */
static void run_sync_fds(struct run *rn)
{
    int now[4] = {-1, -1, -1, -1};
    if (rn->p != NULL) {
        now[0] = ev_in_fd(rn->p);
        now[1] = ev_out_fd(rn->p);
        now[2] = ev_exit_fd(rn->p);
        now[3] = ev_err_fd(rn->p);
    }
    for (int i = 0; i < 4; i++)
        if (rn->fds[i] >= 0 && rn->fds[i] != now[i]) {
            loop_del(&hub.loop, rn->fds[i]);
            rn->fds[i] = -1;
        }
}

/* The loop's callbacks for a run's four descriptors. */
static void on_stdin(void *ctx, int fd, uint32_t events)
{
    struct run *rn = ctx;
    (void)fd;
    (void)events;
    ev_pump_in(rn->p);
    run_sync_fds(rn);
}

static void on_stdout(void *ctx, int fd, uint32_t events)
{
    struct run *rn = ctx;
    (void)fd;
    (void)events;
    ev_pump_out(rn->p, run_hooks(rn));
    run_sync_fds(rn);
}

/* Its stderr: logged with the run's id, bounded (evaluator.c). */
static void on_stderr(void *ctx, int fd, uint32_t events)
{
    struct run *rn = ctx;
    (void)fd;
    (void)events;
    ev_pump_err(rn->p);
    run_sync_fds(rn);
}

static void on_exit_fd(void *ctx, int fd, uint32_t events)
{
    struct run *rn = ctx;
    (void)events;
    /* Deregistered here: the pidfd stays readable. */
    loop_del(&hub.loop, fd);
    rn->fds[2] = -1;
    ev_on_exit(rn->p, run_hooks(rn));
    run_sync_fds(rn);
}

static void run_register(struct run *rn)
{
    int in = ev_in_fd(rn->p), out = ev_out_fd(rn->p), ex = ev_exit_fd(rn->p);
    if (ex >= 0 && loop_add(&hub.loop, ex, EPOLLIN, on_exit_fd, rn) == 0)
        rn->fds[2] = ex;
    if (in >= 0 && loop_add(&hub.loop, in, EPOLLOUT, on_stdin, rn) == 0)
        rn->fds[0] = in;
    if (out >= 0 && loop_add(&hub.loop, out, EPOLLIN, on_stdout, rn) == 0)
        rn->fds[1] = out;
    int er = ev_err_fd(rn->p);
    if (er >= 0 && loop_add(&hub.loop, er, EPOLLIN, on_stderr, rn) == 0)
        rn->fds[3] = er;
}

static int on_progress(void *vctx, const char *line, size_t len)
{
    struct run *rn = vctx;
    long long now = hub_now_ms();
    if (now - rn->renewed >= RENEW_EVERY_MS) {
        rec_err err = {0};
        rec_status st =
            bid_renew(hub.db, &rn->claim, (unsigned)hub.c->lease_seconds, &err);
        if (st == REC_INVALID_STATE) {
            LOG(LOG_WARN,
                "evaluation %llu: the claim on bid %llu is lost; "
                "stopping the evaluator",
                (unsigned long long)rn->claim.eval_id,
                (unsigned long long)rn->claim.bid_id);
            return -1;
        }
        if (st != REC_OK)
            LOG(LOG_WARN, "evaluation %llu: lease renewal failed: %s",
                (unsigned long long)rn->claim.eval_id, err.msg);
        else
            rn->renewed = now;
    }
    /* Bounded: a run that floods its stream would fill the database and
     * slow every other stream of the hub. */
    if (rn->seq > (uint32_t)hub.c->evaluation_max_events || /* 1: claimed */
        rn->ev_bytes + len > (uint64_t)hub.c->evaluation_max_event_bytes) {
        rn->over_cap = 1;
        return -1;
    }
    rn->ev_bytes += len;
    uint32_t seq = rn->seq + 1;
    rec_param p[4] = {REC_U(rn->claim.eval_id), REC_U(seq),
                      REC_CSTR("progress"), REC_S(line, len)};
    rec_err err = {0};
    if (rec_exec(hub.db, SQL_EVENT_INSERT, p, 4, NULL, NULL, NULL, &err) !=
        REC_OK)
        LOG(LOG_WARN, "evaluation %llu: storing a progress event: %s",
            (unsigned long long)rn->claim.eval_id, err.msg);
    rn->seq = seq;
    feed_event(rn->w, seq, "progress", line, len, 0);
    return 0;
}

/* The JSON answer of a client that waits (routes_evaluate.c's contract:
 * 200 with the outcome and the bid, or 409 when superseded/expired). */
static void wait_answer(http_req *r, const bid_claim *claim,
                        bid_outcome outcome, const char *why, int stored)
{
    if (!stored) {
        http_header(r, "Retry-After", "5");
        reply_error(r, 503, "unavailable",
                    "the result could not be stored; the claim will expire "
                    "with its lease",
                    NULL);
        return;
    }
    jbuf cur;
    uint32_t v = 0;
    rec_err err = {0};
    jb_init(&cur);
    rec_status st = REC_ERROR;
    const struct resource *bids = resource_by_id(hub.rid_bids);
    if (bids != NULL)
        st = resource_load(hub.db, bids, claim->tenant_id, claim->bid_id, &cur,
                           &v, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        jb_free(&cur);
        return;
    }
    reply_etag(r, v);
    jbuf *b = reply_body(r);
    if (outcome == BID_APPLIED || outcome == BID_FAILED) {
        jb_lit(b, "{\"outcome\":");
        jb_cstr(b, bid_outcome_name(outcome));
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, claim->eval_id);
        if (outcome == BID_FAILED) {
            jb_lit(b, ",\"error\":");
            jb_cstr(b, why);
        }
        jb_lit(b, ",\"bid\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 200);
    } else {
        jb_lit(b, "{\"error\":\"version_conflict\",\"message\":");
        jb_cstr(b, outcome == BID_SUPERSEDED
                       ? "the bid was edited during the evaluation; the "
                         "result was kept but not applied"
                       : "the evaluation lost its lease before it "
                         "finished; the result was kept but not applied");
        jb_lit(b, ",\"outcome\":");
        jb_cstr(b, bid_outcome_name(outcome));
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, claim->eval_id);
        jb_lit(b, ",\"current_version\":");
        jb_u64(b, v);
        jb_lit(b, ",\"current\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 409);
    }
    jb_free(&cur);
}

void run_free(struct run *rn)
{
    struct run **pp = &runs;
    while (*pp && *pp != rn)
        pp = &(*pp)->next;
    if (*pp)
        *pp = rn->next;
    /* The evaluator's descriptors leave the loop before they close. */
    for (int i = 0; i < 4; i++)
        if (rn->fds[i] >= 0)
            loop_del(&hub.loop, rn->fds[i]);
    ev_free(rn->p);
    streams_release(rn->slot);
    if (rn->w)
        rn->w->run = NULL;
    free(rn);
}

/* The run's end: store it, tell every client, free it. */
static void run_finish(struct run *rn)
{
    char why[256] = "";
    jbuf result, data;
    jb_init(&result);
    jb_init(&data);
    ev_status es = EV_FAILED;
    if (rn->p != NULL)
        es = ev_outcome(rn->p, &result, why, sizeof why);
    if (rn->p != NULL && rn->over_cap) {
        es = EV_FAILED;
        snprintf(why, sizeof why,
                 "the evaluator printed more progress than a run may store "
                 "(%d events, %d bytes); killed",
                 hub.c->evaluation_max_events,
                 hub.c->evaluation_max_event_bytes);
    } else if (rn->p == NULL) {
        snprintf(why, sizeof why, "%s", rn->failed);
    }
    bid_outcome outcome = BID_FAILED;
    uint32_t version = 0;
    const char *event = "error";
    rec_err err = {0};
    rec_status st = finish_with_event(&rn->claim, es == EV_OK ? result.p : NULL,
                                      result.len, es == EV_OK ? NULL : why,
                                      &outcome, &version, &data, &event, &err);
    log_set_request(NULL);
    LOG(LOG_INFO, "evaluation %llu of bid %llu: %s%s%s%s",
        (unsigned long long)rn->claim.eval_id,
        (unsigned long long)rn->claim.bid_id,
        st == REC_OK ? bid_outcome_name(outcome) : "not stored",
        es == EV_OK ? "" : " (", es == EV_OK ? "" : why,
        es == EV_OK ? "" : ")");
    if (st == REC_OK && (outcome == BID_SUPERSEDED || outcome == BID_EXPIRED))
        metrics_conflict("bids");
    struct watch *w = rn->w;
    /* The bid changed here: its followers hear of it at once. */
    watch_mark_dirty(hub.rid_bids, rn->claim.tenant_id, rn->claim.bid_id);
    hub_poll_at(hub_now_ms());
    if (st == REC_OK) {
        uint32_t seq = final_seq(rn->claim.eval_id);
        if (seq == 0)
            seq = rn->seq + 1;
        feed_event(w, seq, event, data.p, data.len, 1);
    } else {
        LOG(LOG_ERROR, "evaluation %llu: finish failed (%s): %u %s",
            (unsigned long long)rn->claim.eval_id, rec_status_name(st),
            err.code, err.msg);
        /* Not stored: the sweep expires the run at its lease's end and
         * stores its final event; the streams here end with an error. */
        const char *msg = "{\"error\":\"unavailable\",\"message\":\"the "
                          "result could not be stored; the claim will "
                          "expire with its lease\"}";
        for (struct conn *c = w->conns; c; c = c->next)
            if (c->sse && !c->ending) {
                conn_event(c, "error", 0, msg, strlen(msg));
                conn_end(c);
            }
    }
    /* The clients that wait. */
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        if (!c->sse && !c->ending) {
            http_req r;
            conn_reply_begin(&r);
            wait_answer(&r, &rn->claim, outcome, why, st == REC_OK);
            conn_answer(c, &r);
            jb_free(&r.out);
        }
        (void)conn_flush(c);
        c = next;
    }
    jb_free(&result);
    jb_free(&data);
    run_free(rn);
}

static const ev_hooks *run_hooks(struct run *rn)
{
    static ev_hooks h;
    h.ctx = rn;
    h.progress = on_progress;
    h.tick = NULL;
    h.tick_ms = 0;
    return &h;
}

/* A worker claimed a bid and handed the run over (with its client). */
void run_start(const hub_msg *m, struct conn *c)
{
    struct run *rn = xcalloc(1, sizeof *rn);
    rn->fds[0] = rn->fds[1] = rn->fds[2] = rn->fds[3] = -1;
    rn->claim = m->claim;
    rn->slot = m->slot;
    rn->quick = m->quick;
    rn->seq = 1; /* `claimed`, stored by the worker with the claim */
    rn->renewed = hub_now_ms();
    streams_adopt(rn->slot);
    struct watch *w = watch_get(hub.rid_evals, m->tenant_id, m->claim.eval_id);
    rn->w = w;
    w->run = rn;
    feed_attach(w, c);
    rn->next = runs;
    runs = rn;

    char claimed[96];
    int n = snprintf(claimed, sizeof claimed,
                     "{\"version\":%u,\"evaluation_id\":%llu}",
                     m->claim.version, (unsigned long long)m->claim.eval_id);
    if (c->sse)
        conn_sse_headers(c);
    feed_event(w, 1, "claimed", claimed, (size_t)n, 0);

    /* The bid as the claim left it, for the evaluator's stdin. */
    jbuf input;
    jb_init(&input);
    uint32_t v = 0;
    rec_err err = {0};
    char why[256] = "";
    rec_status st = REC_ERROR;
    const struct resource *bids = resource_by_id(hub.rid_bids);
    if (bids != NULL)
        st = resource_load(hub.db, bids, m->tenant_id, m->claim.bid_id, &input,
                           &v, &err);
    else
        snprintf(err.msg, sizeof err.msg, "no bids resource");
    ev_spec spec = {.program = hub.c->evaluator,
                    .timeout_ms = hub.c->evaluator_timeout * 1000,
                    .demo_steps = hub.c->demo_eval_steps,
                    .demo_delay_ms = hub.c->demo_eval_delay_ms,
                    .kind = m->quick ? "quick_scan" : "full",
                    .evaluation_id = m->claim.eval_id,
                    .bid_id = m->claim.bid_id};
    struct sandbox_conf sandbox; /* ev_start keeps its own copy */
    sandbox_conf_from(hub.c, &sandbox);
    spec.sandbox = &sandbox;
    if (st == REC_OK)
        rn->p = ev_start(&spec, input.p, input.len, why, sizeof why);
    else
        snprintf(why, sizeof why, "the bid could not be read: %s", err.msg);
    jb_free(&input);
    if (rn->p == NULL) {
        /* Nothing runs: the run fails now, as an evaluator that failed. */
        LOG(LOG_ERROR, "evaluation %llu: %s",
            (unsigned long long)m->claim.eval_id, why);
        snprintf(rn->failed, sizeof rn->failed, "%s", why);
        run_finish(rn);
        return;
    }
    run_register(rn);
}

/* Every second: runs whose lease passed while nobody runs them. */
static const char SQL_ORPHANS[] =
    "SELECT e.id, e.bid_id, e.tenant_id FROM evaluations e "
    "JOIN bids b ON b.id = e.bid_id AND b.lease_owner = e.id "
    "WHERE e.outcome = 'running' AND b.status = 'evaluating' "
    "AND b.lease_until < UTC_TIMESTAMP(3) ORDER BY e.id LIMIT 50";
static const char SQL_RUN_OUTCOME[] =
    "SELECT outcome, bid_id FROM evaluations WHERE id = ?";

static int is_local(uint64_t eval_id)
{
    for (struct run *rn = runs; rn; rn = rn->next)
        if (rn->claim.eval_id == eval_id)
            return 1;
    return 0;
}

static void expire_run(uint64_t eval_id, uint64_t bid_id, uint64_t tenant)
{
    bid_claim claim = {
        .bid_id = bid_id, .tenant_id = tenant, .eval_id = eval_id};
    bid_outcome outcome = BID_EXPIRED;
    uint32_t version = 0;
    jbuf data;
    jb_init(&data);
    const char *event = "error";
    rec_err err = {0};
    rec_status st = finish_with_event(&claim, NULL, 0,
                                      "the runner stopped; the lease passed",
                                      &outcome, &version, &data, &event, &err);
    watch_mark_dirty(hub.rid_bids, tenant, bid_id);
    watch_mark_dirty(hub.rid_evals, tenant, eval_id);
    hub_poll_at(hub_now_ms());
    if (st == REC_OK)
        LOG(LOG_INFO,
            "evaluation %llu of bid %llu: expired (its runner "
            "stopped and its lease passed)",
            (unsigned long long)eval_id, (unsigned long long)bid_id);
    else
        LOG(LOG_WARN, "evaluation %llu: expiring failed: %s",
            (unsigned long long)eval_id, err.msg);
    jb_free(&data);
}

void run_sweep(void)
{
    rec_rows *rows = NULL;
    rec_err err = {0};
    if (rec_exec(hub.db, SQL_ORPHANS, NULL, 0, &rows, NULL, NULL, &err) ==
        REC_OK) {
        for (size_t i = 0; i < rec_rows_count(rows); i++) {
            uint64_t id = rec_rows_u64(rows, i, 0);
            if (!is_local(id))
                expire_run(id, rec_rows_u64(rows, i, 1),
                           rec_rows_u64(rows, i, 2));
        }
    }
    rec_rows_free(rows);
    /* A followed run taken over by another claim was marked expired
     * without a final event: store one, so its streams can end. */
    for (struct watch *w = watch_list(); w; w = w->next) {
        if (w->rid != hub.rid_evals || w->final || w->run != NULL ||
            w->conns == NULL)
            continue;
        rec_param p[1] = {REC_U(w->id)};
        rows = NULL;
        if (rec_exec(hub.db, SQL_RUN_OUTCOME, p, 1, &rows, NULL, NULL, &err) !=
            REC_OK)
            continue;
        if (rec_rows_count(rows) > 0 &&
            strcmp(rec_rows_get(rows, 0, 0), "expired") == 0) {
            jbuf data;
            jb_init(&data);
            const char *event = "error";
            final_data(&data, &event, BID_EXPIRED, w->id, 0, "", 0, NULL, 1);
            struct final_ctx f = {
                .eval_id = w->id, .event = event, .data = &data};
            (void)insert_final(hub.db, &f, &err);
            jb_free(&data);
            w->dirty = 1;
            hub_poll_at(hub_now_ms());
        }
        rec_rows_free(rows);
    }
}

int run_any(void)
{
    return runs != NULL;
}

long long run_next_deadline(long long next, long long now)
{
    for (struct run *rn = runs; rn; rn = rn->next) {
        long long d = ev_deadline(rn->p);
        if (ev_out_fd(rn->p) < 0)
            d = now + 10; /* waiting for its exit */
        if (d < next)
            next = d;
    }
    return next;
}

void run_tick(long long now)
{
    struct run *rn = runs;
    while (rn) {
        struct run *next = rn->next;
        int ended = ev_poll_end(rn->p, now);
        run_sync_fds(rn);
        if (ended)
            run_finish(rn);
        rn = next;
    }
}

void run_free_all(void)
{
    while (runs)
        run_free(runs);
}
