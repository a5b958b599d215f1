/*
 * routes_evaluate.c -- POST /v1/bids/{id}/evaluate: claim the bid with a
 * lease, run the evaluator, finish only while the claim still holds.
 *
 *   1. claim (one transaction, lib/bidstate.c): version and status checked
 *      by the UPDATE that takes the lease; a run row 'running';
 *   2. the evaluator runs (evaluator.c); each progress line renews the
 *      lease and, on an event stream, goes to the client at once;
 *   3. finish (one transaction): applied if the data was not edited
 *      meanwhile, else superseded (the edit wins); failed if the evaluator
 *      failed; expired if the claim was lost.
 *
 * The run holds this worker until it ends, so it first takes one of the
 * pool's evaluation slots (streams.c): beyond the cap the answer is 503,
 * and the rest of the workers stay free for short requests.
 *
 * A client that goes away changes nothing: the writes to it fail and are
 * ignored, the run finishes and is stored.
 */
#include "bids.h"

#include "body.h"
#include "evaluator.h"
#include "sandbox.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "routes.h"
#include "sse.h"
#include "streams.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RENEW_EVERY_MS 250  /* at most one lease renewal per this */
#define BUSY_RETRY_AFTER "5" /* seconds, on 503 when every slot is taken */

/* Everything one run needs, shared with the evaluator's hooks. */
struct run {
    http_req *r;
    int sse;             /* answering with an event stream */
    bid_claim claim;
    long long renewed;   /* monotonic ms of the last renewal */
    int lost;            /* a renewal found the claim gone */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "text/event-stream" anywhere in Accept (a client that lists it asks for
 * the stream; q-values are not worth parsing here). */
static int wants_sse(const char *accept)
{
    if (accept == NULL)
        return 0;
    for (const char *p = accept; *p; p++)
        if (strncasecmp(p, "text/event-stream", 17) == 0)
            return 1;
    return 0;
}

/* ---- the evaluator's hooks ---------------------------------------------- */

static int on_progress(void *vctx, const char *line, size_t len)
{
    struct run *run = vctx;
    long long now = now_ms();
    if (now - run->renewed >= RENEW_EVERY_MS) {
        rec_err err = {0};
        rec_status st = bid_renew(run->r->db, &run->claim,
                                  (unsigned)run->r->conf->lease_seconds, &err);
        if (st == REC_INVALID_STATE) {
            LOG(LOG_WARN, "evaluation %llu: the claim on bid %llu is lost; "
                "stopping the evaluator",
                (unsigned long long)run->claim.eval_id,
                (unsigned long long)run->claim.bid_id);
            run->lost = 1;
            return -1;
        }
        if (st != REC_OK) /* the database is away: the lease may lapse */
            LOG(LOG_WARN, "evaluation %llu: lease renewal failed: %s",
                (unsigned long long)run->claim.eval_id, err.msg);
        else
            run->renewed = now;
    }
    if (run->sse)
        (void)sse_event(run->r, "progress", line, len); /* gone: go on */
    return 0;
}

static int on_tick(void *vctx)
{
    struct run *run = vctx;
    (void)sse_ping(run->r);
    return 0;
}

/* ---- claim --------------------------------------------------------------- */

struct claim_ctx {
    http_req *r;
    uint64_t id;
    rec_expect expect;
    const char *kind;
    bid_claim *claim; /* OUT */
    jbuf *input;      /* OUT: the bid for the evaluator's stdin */
};

static rec_status claim_body(rec_db *db, void *vctx, rec_err *err)
{
    struct claim_ctx *c = vctx;
    uint32_t v = 0;
    rec_status st = bid_claim_run(db, c->r->tenant_id, c->id, c->expect,
                                  c->kind,
                                  (unsigned)c->r->conf->lease_seconds,
                                  c->claim, err);
    if (st != REC_OK)
        return st;
    /* The bid as the claim left it, read under the claim's lock. */
    jb_reset(c->input);
    return bids_load(c->r, c->id, c->input, &v, err);
}

/* ---- answers -------------------------------------------------------------- */

/* {"error", "message", "evaluation_id", "current_version"?} for the
 * stream's error event. */
static void stream_error(struct run *run, const char *code, const char *msg,
                         uint32_t version)
{
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "{\"error\":");
    jb_cstr(&b, code);
    jb_lit(&b, ",\"message\":");
    jb_cstr(&b, msg);
    jb_lit(&b, ",\"evaluation_id\":");
    jb_u64(&b, run->claim.eval_id);
    if (version > 0) {
        jb_lit(&b, ",\"current_version\":");
        jb_u64(&b, version);
    }
    jb_lit(&b, "}");
    (void)sse_event(run->r, "error", b.p, b.len);
    jb_free(&b);
}

/* The event that ends the stream. */
static void answer_stream(struct run *run, bid_outcome outcome,
                          uint32_t version, const jbuf *result,
                          const char *why)
{
    jbuf b;
    jb_init(&b);
    switch (outcome) {
    case BID_APPLIED:
        jb_lit(&b, "{\"version\":");
        jb_u64(&b, version);
        jb_lit(&b, ",\"evaluation\":");
        jb_raw(&b, result->p, result->len);
        jb_lit(&b, "}");
        (void)sse_event(run->r, "result", b.p, b.len);
        break;
    case BID_SUPERSEDED:
        metrics_conflict("bids");
        jb_lit(&b, "{\"current_version\":");
        jb_u64(&b, version);
        jb_lit(&b, ",\"evaluation_id\":");
        jb_u64(&b, run->claim.eval_id);
        jb_lit(&b, "}");
        (void)sse_event(run->r, "conflict", b.p, b.len);
        break;
    case BID_FAILED:
        stream_error(run, "evaluation_failed", why, version);
        break;
    case BID_EXPIRED:
        stream_error(run, "lease_expired",
                     "the evaluation lost its lease before it finished; "
                     "its result was kept but not applied", version);
        break;
    }
    jb_free(&b);
}

/* The JSON answer of a waiting (non-stream) client. */
static void answer_json(struct run *run, bid_outcome outcome, const char *why)
{
    http_req *r = run->r;
    jbuf cur;
    uint32_t v = 0;
    rec_err err = {0};
    jb_init(&cur);
    rec_status st = bids_load(r, run->claim.bid_id, &cur, &v, &err);
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
        jb_u64(b, run->claim.eval_id);
        if (outcome == BID_FAILED) {
            jb_lit(b, ",\"error\":");
            jb_cstr(b, why);
        }
        jb_lit(b, ",\"bid\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 200);
    } else {
        /* Superseded or expired: the bid moved on without this result. */
        metrics_conflict("bids");
        jb_lit(b, "{\"error\":\"version_conflict\",\"message\":");
        jb_cstr(b, outcome == BID_SUPERSEDED
                       ? "the bid was edited during the evaluation; the "
                         "result was kept but not applied"
                       : "the evaluation lost its lease before it "
                         "finished; the result was kept but not applied");
        jb_lit(b, ",\"request_id\":");
        jb_cstr(b, r->request_id);
        jb_lit(b, ",\"outcome\":");
        jb_cstr(b, bid_outcome_name(outcome));
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, run->claim.eval_id);
        jb_lit(b, ",\"current_version\":");
        jb_u64(b, v);
        jb_lit(b, ",\"current\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 409);
    }
    jb_free(&cur);
}

/* ---- the route ---------------------------------------------------------------- */

/* Runs a claimed evaluation to its end and answers. */
static void run_claimed(struct run *run, const char *kind, const jbuf *input)
{
    http_req *r = run->r;
    const conf *c = r->conf;
    char why[256] = "";
    jbuf result;
    jb_init(&result);

    if (run->sse) {
        char claimed[96];
        int n = snprintf(claimed, sizeof claimed,
                         "{\"version\":%u,\"evaluation_id\":%llu}",
                         run->claim.version,
                         (unsigned long long)run->claim.eval_id);
        sse_begin(r);
        (void)sse_event(r, "claimed", claimed, (size_t)n);
    }
    ev_spec spec = {.program = c->evaluator,
                    .timeout_ms = c->evaluator_timeout * 1000,
                    .demo_steps = c->demo_eval_steps,
                    .demo_delay_ms = c->demo_eval_delay_ms,
                    .kind = kind,
                    .evaluation_id = run->claim.eval_id,
                    .bid_id = run->claim.bid_id};
    struct sandbox_conf sandbox;
    sandbox_conf_from(c, &sandbox);
    spec.sandbox = &sandbox;
    ev_hooks hooks = {.ctx = run, .progress = on_progress,
                      .tick = run->sse ? on_tick : NULL,
                      .tick_ms = run->sse ? c->sse_ping_seconds * 1000 : 0};
    run->renewed = now_ms();
    ev_status es = ev_run(&spec, input->p, input->len, &hooks, &result, why,
                          sizeof why);

    bid_outcome outcome = BID_FAILED;
    uint32_t version = 0;
    rec_err err = {0};
    rec_status st = bid_finish(r->db, &run->claim,
                               es == EV_OK ? result.p : NULL, result.len,
                               es == EV_OK ? NULL : why, &outcome, &version,
                               &err);
    LOG(LOG_INFO, "evaluation %llu of bid %llu: %s%s%s%s",
        (unsigned long long)run->claim.eval_id,
        (unsigned long long)run->claim.bid_id,
        st == REC_OK ? bid_outcome_name(outcome) : "not stored",
        es == EV_OK ? "" : " (", es == EV_OK ? "" : why,
        es == EV_OK ? "" : ")");
    if (st != REC_OK) {
        /* The run stays 'running' until its lease passes: then it shows
         * expired and the bid can be claimed again. */
        LOG(LOG_ERROR, "evaluation %llu: finish failed (%s): %u %s",
            (unsigned long long)run->claim.eval_id, rec_status_name(st),
            err.code, err.msg);
        if (run->sse)
            stream_error(run, "unavailable",
                         "the result could not be stored; the claim will "
                         "expire with its lease", 0);
        else
            reply_rec(r, st, &err);
    } else if (run->sse) {
        answer_stream(run, outcome, version, &result, why);
    } else {
        answer_json(run, outcome, why);
    }
    jb_free(&result);
}

void route_bid_evaluate(http_req *r)
{
    json_object *body = body_object_or_reply(r), *k = NULL;
    if (body == NULL)
        return;
    const char *kind = "full";
    if (json_object_object_get_ex(body, "kind", &k) && k != NULL) {
        const char *s = json_object_is_type(k, json_type_string)
                            ? json_object_get_string(k)
                            : "";
        if (strcmp(s, "full") != 0 && strcmp(s, "quick_scan") != 0) {
            reply_error(r, 400, "bad_request",
                        "\"kind\" must be \"quick_scan\" or \"full\"", NULL);
            return;
        }
        kind = strcmp(s, "full") == 0 ? "full" : "quick_scan";
    }
    uint64_t id = r->ids[0];
    rec_expect expect;
    int use_412 = 0;
    if (bids_expect_or_reply(r, body, id, &expect, &use_412) != 0)
        return;

    /* Before the claim: a claim must never wait for a free worker. */
    int cap = streams_cap(r->conf->workers, r->conf->max_evaluations);
    int slot = streams_acquire(cap);
    if (slot < 0) {
        http_header(r, "Retry-After", BUSY_RETRY_AFTER);
        reply_errorf(r, 503, "unavailable",
                     "%d evaluations are running, as many as this service "
                     "runs at once; retry shortly", cap);
        return;
    }

    struct run run = {.r = r, .sse = wants_sse(r->accept)};
    jbuf input;
    jb_init(&input);
    struct claim_ctx cc = {.r = r, .id = id, .expect = expect, .kind = kind,
                           .claim = &run.claim, .input = &input};
    rec_err err = {0};
    rec_status st = rec_txn(r->db, claim_body, &cc, &err);
    if (st != REC_OK)
        bids_refused_reply(r, id, st, &err, use_412);
    else
        run_claimed(&run, kind, &input);
    jb_free(&input);
    streams_release(slot);
}
