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
#include "hubdb.h"
#include "hubjobs.h"
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
    int finishing; /* its finish is queued (hubdb): over, not yet freed */
    int fds[4];    /* in the loop: stdin, stdout, exit, stderr (-1: not) */
    struct watch *w;
    struct run *next;
};

static struct run *runs;

/* ---- evaluation events
 * ---------------------------------------------------------- */

/* The statements that take row locks (a progress line, the finish, an
 * expiry) are jobs on the hub's database threads (hubjobs.c, hubdb.c): a
 * lock wait on one bid holds that run only, never the loop. */

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

/* A progress line stored (on a database thread): its clients get it now,
 * in order (one job key per run). */
static void progress_done(void *arg)
{
    struct hubjob_progress *j = arg;
    struct run *rn = j->owner;
    if (j->renewed == REC_INVALID_STATE) {
        LOG(LOG_WARN,
            "evaluation %llu: the claim on bid %llu is lost; "
            "stopping the evaluator",
            (unsigned long long)j->claim.eval_id,
            (unsigned long long)j->claim.bid_id);
        if (rn->p != NULL && !rn->finishing)
            ev_stop(rn->p);
    } else {
        if (j->renewed != REC_OK)
            LOG(LOG_WARN, "evaluation %llu: lease renewal failed: %s",
                (unsigned long long)j->claim.eval_id, j->err.msg);
        else if (j->stored != REC_OK)
            LOG(LOG_WARN, "evaluation %llu: storing a progress event: %s",
                (unsigned long long)j->claim.eval_id, j->err.msg);
        feed_event(rn->w, j->seq, "progress", j->line, j->len, 0);
    }
    free(j->line);
    free(j);
}

/* A progress line: stored (with a lease renewal at most every
 * RENEW_EVERY_MS) on a database thread, since both take row locks that
 * another session may hold; sent to the clients once stored. */
static int on_progress(void *vctx, const char *line, size_t len)
{
    struct run *rn = vctx;
    long long now = hub_now_ms();
    struct hubjob_progress *j = xcalloc(1, sizeof *j);
    j->owner = rn;
    j->claim = rn->claim;
    j->lease_seconds = (unsigned)hub.c->lease_seconds;
    if (now - rn->renewed >= RENEW_EVERY_MS) {
        j->renew = 1;
        rn->renewed = now;
    }
    /* Bounded: a run that floods its stream would fill the database and
     * slow every other stream of the hub. */
    if (rn->seq > (uint32_t)hub.c->evaluation_max_events || /* 1: claimed */
        rn->ev_bytes + len > (uint64_t)hub.c->evaluation_max_event_bytes) {
        rn->over_cap = 1;
        free(j);
        return -1;
    }
    rn->ev_bytes += len;
    j->seq = ++rn->seq;
    j->line = xmalloc(len + 1);
    memcpy(j->line, line, len);
    j->line[len] = '\0';
    j->len = len;
    hubdb_submit(rn->claim.eval_id, hubjob_progress, progress_done, j);
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

/* The run's end, stored: tell every client, free it. */
static void finish_done(void *arg)
{
    struct hubjob_finish *f = arg;
    struct run *rn = f->owner;
    rec_status st = f->st;
    bid_outcome outcome = f->outcome;
    const char *why = f->why;
    log_set_request(NULL);
    LOG(LOG_INFO, "evaluation %llu of bid %llu: %s%s%s%s",
        (unsigned long long)rn->claim.eval_id,
        (unsigned long long)rn->claim.bid_id,
        st == REC_OK ? bid_outcome_name(outcome) : "not stored",
        f->result ? "" : " (", f->result ? "" : why, f->result ? "" : ")");
    if (st == REC_OK && (outcome == BID_SUPERSEDED || outcome == BID_EXPIRED))
        metrics_conflict("bids");
    struct watch *w = rn->w;
    /* The bid changed here: its followers hear of it at once. */
    watch_mark_dirty(hub.rid_bids, rn->claim.tenant_id, rn->claim.bid_id);
    hub_poll_at(hub_now_ms());
    if (st == REC_OK) {
        uint32_t seq = f->seq ? f->seq : rn->seq + 1;
        feed_event(w, seq, f->event, f->data.p, f->data.len, 1);
    } else {
        LOG(LOG_ERROR, "evaluation %llu: finish failed (%s): %u %s",
            (unsigned long long)rn->claim.eval_id, rec_status_name(st),
            f->err.code, f->err.msg);
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
    hubjob_finish_free(f);
    run_free(rn);
}

/* The run's end: its outcome stored on a database thread (the bid's
 * finish waits on the bid's row lock), after its progress events. */
static void run_finish(struct run *rn)
{
    if (rn->finishing)
        return;
    rn->finishing = 1;
    char why[256] = "";
    jbuf result;
    jb_init(&result);
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
    /* Over: its descriptors leave the loop while the finish is stored. */
    for (int i = 0; i < (int)(sizeof rn->fds / sizeof rn->fds[0]); i++)
        if (rn->fds[i] >= 0) {
            loop_del(&hub.loop, rn->fds[i]);
            rn->fds[i] = -1;
        }
    struct hubjob_finish *f = hubjob_finish_new(
        &rn->claim, es == EV_OK ? (result.p ? result.p : "") : NULL, result.len,
        why);
    f->owner = rn;
    jb_free(&result);
    hubdb_submit(rn->claim.eval_id, hubjob_finish, finish_done, f);
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
    streams_adopt(rn->slot, m->claim.eval_id);
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

/* An expiry or an orphan's end, stored: the followers hear of it. */
static void expire_done(void *arg)
{
    struct hubjob_finish *f = arg;
    const bid_claim *c = &f->claim;
    watch_mark_dirty(hub.rid_bids, c->tenant_id, c->bid_id);
    watch_mark_dirty(hub.rid_evals, c->tenant_id, c->eval_id);
    hub_poll_at(hub_now_ms());
    if (f->st == REC_OK)
        LOG(LOG_INFO, "evaluation %llu of bid %llu: %s (%s)",
            (unsigned long long)c->eval_id, (unsigned long long)c->bid_id,
            bid_outcome_name(f->outcome), f->why);
    else
        LOG(LOG_WARN, "evaluation %llu: ending it failed: %s",
            (unsigned long long)c->eval_id, f->err.msg);
    hubjob_finish_free(f);
}

static void expire_run(uint64_t eval_id, uint64_t bid_id, uint64_t tenant)
{
    if (hubdb_key_pending(eval_id))
        return; /* queued already (a lock wait): not twice */
    bid_claim claim = {
        .bid_id = bid_id, .tenant_id = tenant, .eval_id = eval_id};
    struct hubjob_finish *f = hubjob_finish_new(
        &claim, NULL, 0, "the runner stopped; the lease passed");
    hubdb_submit(eval_id, hubjob_finish, expire_done, f);
}

/* Runs whose hub was killed (the master kept them as orphans, streams.c):
 * ended now, not at their lease's end -- the bid is open again at once
 * and the run's streams get their final event (an `error`) when they
 * resume. */
static void orphan_done(void *arg)
{
    struct hubjob_orphan *o = arg;
    if (o->found) {
        struct hubjob_finish *f = xmalloc(sizeof *f);
        *f = o->f; /* expire_done frees it (and its data) */
        free(o);
        expire_done(f);
        return;
    }
    if (o->f.st != REC_OK)
        LOG(LOG_WARN,
            "evaluation %llu: its hub died; reading it: %s (it "
            "expires with its lease)",
            (unsigned long long)o->f.claim.eval_id, o->f.err.msg);
    jb_free(&o->f.data);
    free(o);
}

static void end_orphans(void)
{
    uint64_t ids[64];
    int n = streams_take_orphans(ids, 64);
    for (int i = 0; i < n; i++) {
        struct hubjob_orphan *o = xcalloc(1, sizeof *o);
        o->f.claim.eval_id = ids[i];
        snprintf(o->f.why, sizeof o->f.why,
                 "the runner stopped: the hub running it was killed");
        jb_init(&o->f.data);
        o->f.event = "error";
        LOG(LOG_INFO, "evaluation %llu: its hub died; ending it now",
            (unsigned long long)ids[i]);
        hubdb_submit(ids[i], hubjob_orphan, orphan_done, o);
    }
}

static void final_done(void *arg)
{
    struct hubjob_final *j = arg;
    if (j->st != REC_OK)
        LOG(LOG_WARN, "evaluation %llu: storing its final event: %s",
            (unsigned long long)j->eval_id, j->err.msg);
    watch_mark_dirty(hub.rid_evals, j->tenant, j->eval_id);
    hub_poll_at(hub_now_ms());
    free(j);
}

void run_sweep(void)
{
    end_orphans();
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
            strcmp(rec_rows_get(rows, 0, 0), "expired") == 0 &&
            !hubdb_key_pending(w->id)) {
            struct hubjob_final *j = xcalloc(1, sizeof *j);
            j->eval_id = w->id;
            j->tenant = w->tenant;
            hubdb_submit(w->id, hubjob_final, final_done, j);
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
        if (rn->finishing)
            continue; /* its finish is on a database thread */
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
        if (rn->finishing) {
            rn = next;
            continue;
        }
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
