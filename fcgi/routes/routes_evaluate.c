/*
 * routes_evaluate.c -- POST /v1/bids/{id}/evaluate: take an evaluation
 * slot, claim the bid with a lease, hand the run and the client to the
 * hub, all in the time of a GET:
 *
 *   1. a slot (streams.c): at most OPTIMIST_MAX_EVALUATIONS evaluator
 *      processes, and one tenant at most its share of them; beyond either,
 *      503 with Retry-After and the bid untouched;
 *   2. claim (one transaction, lib/bidstate.c): version and status checked
 *      by the UPDATE that takes the lease; a run row 'running' and its
 *      first event (`claimed`, id 1);
 *   3. the hub (hub.c) gets the connection, the claim and the slot: it runs
 *      the evaluator, stores and sends each event, renews the lease,
 *      finishes the run and answers -- an event stream, or the JSON answer
 *      of a client that waits. No worker is held by a run.
 */

#include "body.h"
#include "hublink.h"
#include "log.h"
#include "reply.h"
#include "vwrite.h"
#include "router.h"
#include "routes.h"
#include "streams.h"

#include <stdio.h>
#include <string.h>

#define BUSY_RETRY_AFTER "5" /* seconds, on 503 when every slot is taken */

static const char SQL_CLAIMED_EVENT[] =
    "INSERT INTO evaluation_events (evaluation_id, seq, event, data) "
    "VALUES (?, 1, 'claimed', ?)";

/* ---- claim --------------------------------------------------------------- */

struct claim_ctx {
    http_req *r;
    uint64_t id;
    rec_expect expect;
    const char *kind;
    bid_claim *claim; /* OUT */
};

static rec_status claim_body(rec_db *db, void *vctx, rec_err *err)
{
    struct claim_ctx *c = vctx;
    uint32_t v = 0;
    rec_status st =
        bid_claim_run(db, c->r->tenant_id, c->id, c->expect, c->kind,
                      (unsigned)c->r->conf->lease_seconds, c->claim, err);
    if (st != REC_OK)
        return st;
    (void)v;
    /* The stream's first event, in the claim's transaction. */
    char data[96];
    int n =
        snprintf(data, sizeof data, "{\"version\":%u,\"evaluation_id\":%llu}",
                 c->claim->version, (unsigned long long)c->claim->eval_id);
    rec_param p[2] = {REC_U(c->claim->eval_id), REC_S(data, (size_t)n)};
    return rec_exec(db, SQL_CLAIMED_EVENT, p, 2, NULL, NULL, NULL, err);
}

static void route_bid_evaluate(http_req *r)
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
    vw_expect e;
    if (vw_expect_or_reply(r, &res_bids, id, body, &e) != 0)
        return;

    /* Before the claim: a refused run leaves the bid untouched. */
    int cap = streams_cap(r->conf->workers, r->conf->max_evaluations);
    int share = streams_tenant_cap(cap, r->conf->max_evaluations_per_tenant);
    int slot = streams_acquire_tenant(cap, r->tenant_id, share);
    if (slot < 0) {
        http_header(r, "Retry-After", BUSY_RETRY_AFTER);
        if (slot == -2)
            reply_errorf(r, 503, "unavailable",
                         "this tenant runs %d evaluations, its share of the "
                         "service; retry shortly",
                         share);
        else
            reply_errorf(r, 503, "unavailable",
                         "%d evaluations are running, as many as this "
                         "service runs at once; retry shortly",
                         cap);
        return;
    }

    bid_claim claim;
    memset(&claim, 0, sizeof claim);
    struct claim_ctx cc = {
        .r = r, .id = id, .expect = e.expect, .kind = kind, .claim = &claim};
    rec_err err = {0};
    rec_status st = rec_txn(r->db, claim_body, &cc, &err);
    if (st != REC_OK) {
        vw_refused_reply(r, &res_bids, id, st, &err, e.use_412, "");
        streams_release(slot);
        return;
    }
    hub_msg m;
    memset(&m, 0, sizeof m);
    m.type = HUB_EVAL_RUN;
    hub_msg_resource(&m, &res_evaluations);
    m.sse = (uint8_t)routes_wants_sse(r);
    m.quick = strcmp(kind, "quick_scan") == 0;
    m.slot = slot;
    m.tenant_id = r->tenant_id;
    m.id = claim.eval_id;
    m.claim = claim;
    if (hublink_handoff(r, &m) == 0)
        return; /* the slot is the hub's now */
    /* No hub took it: the run fails at once and frees the bid. */
    bid_outcome outcome;
    uint32_t version;
    st = bid_finish(r->db, &claim, NULL, 0,
                    "the service could not start the run", &outcome, &version,
                    &err);
    if (st != REC_OK)
        LOG(LOG_ERROR, "evaluation %llu: finish failed: %s",
            (unsigned long long)claim.eval_id, err.msg);
    streams_release(slot);
    http_header(r, "Retry-After", BUSY_RETRY_AFTER);
    reply_error(r, 503, "unavailable",
                "the evaluation could not be started; retry shortly", NULL);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"POST", "/v1/bids/{id}/evaluate", route_bid_evaluate, ROUTE_AUTH,
     &res_bids},
};

const struct route_set evaluate_routes = ROUTE_SET(rows);
