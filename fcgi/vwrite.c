/*
 * vwrite.c -- the versioned-write flow. The order of checks follows the
 * contract: malformed preconditions 400; no version 428 (after checking
 * the resource exists, so a missing one is 404); the write; then the
 * affected rows decide between 200, 409/412 and 404.
 *
 * A route's before/after steps run in the write's transaction, so what
 * they read or add (a locked row, a history row) commits or rolls back
 * with the write; they never replace its version check.
 */
#include "vwrite.h"

#include "precond.h"
#include "reply.h"

#include <stdio.h>
#include <string.h>

struct txn_ctx {
    http_req *r;
    const vw_resource *res;
    const vw_write *w;
    uint64_t id;
    rec_expect expect;
    uint32_t version; /* OUT: the version after the write */
    jbuf *out;        /* OUT: the resource after the write */
    char status[REC_STATUS_MAX]; /* OUT: the status that refused a guarded
                                    write */
    char why[VW_WHY_MAX]; /* OUT: a step's message for a 400 */
};

static rec_status txn_body(rec_db *db, void *vctx, rec_err *err)
{
    struct txn_ctx *c = vctx;
    const vw_write *w = c->w;
    uint32_t current = 0;
    rec_status st;

    c->why[0] = '\0';
    c->status[0] = '\0';
    if (w->before != NULL &&
        (st = w->before(c->r, c->id, c->expect, w->ctx, c->why, err)) != REC_OK)
        return st;
    if (w->from != NULL) {
        rec_guard g = {.update_sql = w->sql, .params = w->params,
                       .nparams = w->nparams,
                       .state_sql = c->res->state_sql, .from = w->from};
        rec_guard_out go;
        st = rec_guarded_write(db, &g, c->id, c->r->tenant_id, c->expect,
                               &go, err);
        current = go.version;
        memcpy(c->status, go.status, sizeof c->status);
    } else if (c->res->per_tenant) {
        st = rec_versioned_write_by_tenant(db, w->sql, w->params, w->nparams,
                                           c->res->version_sql,
                                           c->r->tenant_id, c->expect,
                                           &current, err);
    } else {
        st = rec_versioned_write(db, w->sql, w->params, w->nparams,
                                 c->res->version_sql, c->id, c->r->tenant_id,
                                 c->expect, &current, err);
    }
    c->version = current;
    if (st != REC_OK)
        return st;
    if (w->after != NULL &&
        (st = w->after(c->r, c->id, c->expect, w->ctx, c->why, err)) != REC_OK)
        return st;
    if (w->is_delete)
        return REC_OK;
    /* Read back inside the transaction: our write holds the row's lock,
     * so this is exactly the version we made, not a later one. */
    jb_reset(c->out);
    return (w->answer ? w->answer : c->res->load)(c->r, c->id, c->out,
                                                  &c->version, err);
}

/* Answers a conflict with the resource as it is now. */
static void answer_conflict(http_req *r, const vw_resource *res, uint64_t id,
                            int use_412)
{
    jbuf cur;
    uint32_t v = 0;
    rec_err err = {0};
    jb_init(&cur);
    rec_status st = res->load(r, id, &cur, &v, &err);
    if (st == REC_OK)
        reply_conflict(r, use_412, res->name, v, &cur);
    else
        reply_rec(r, st, &err);
    jb_free(&cur);
}

/* Answers 409 invalid_state with the resource as it is now. */
static void answer_invalid_state(http_req *r, const vw_resource *res,
                                 uint64_t id, const char *status)
{
    jbuf cur;
    uint32_t v = 0;
    rec_err err = {0};
    jb_init(&cur);
    rec_status st = res->load(r, id, &cur, &v, &err);
    if (st == REC_OK)
        reply_invalid_state(r, res->name, status, v, &cur);
    else
        reply_rec(r, st, &err);
    jb_free(&cur);
}

void vw_run(http_req *r, const vw_resource *res, uint64_t id,
            json_object *body, const vw_write *w)
{
    precond pc;
    if (precond_parse_or_reply(r, body, &pc) != 0)
        return;

    if (pc.im == IM_WEAK) {
        /* A weak tag never matches a strong comparison (RFC 9110). */
        answer_conflict(r, res, id, 1);
        return;
    }
    if (!pc.has_body && pc.im == IM_NONE) {
        jbuf cur;
        uint32_t v = 0;
        rec_err err = {0};
        jb_init(&cur);
        rec_status st = res->load(r, id, &cur, &v, &err);
        jb_free(&cur);
        if (st != REC_OK) {
            reply_rec(r, st, &err);
            return;
        }
        char extra[48];
        snprintf(extra, sizeof extra, "\"current_version\":%u", v);
        reply_error(r, 428, "precondition_required",
                    "send the version you last saw, in the body's \"version\" "
                    "or in If-Match",
                    extra);
        return;
    }

    struct txn_ctx c = {.r = r, .res = res, .w = w, .id = id};
    if (pc.has_body) {
        c.expect.version = pc.body_version; /* with If-Match: *, it decides */
    } else if (pc.im == IM_TAG) {
        c.expect.version = pc.im_version;
    } else {
        c.expect.any = 1; /* If-Match: * alone: a deliberate overwrite */
    }
    c.out = reply_body(r);

    rec_err err = {0};
    rec_status st = rec_txn(r->db, txn_body, &c, &err);
    switch (st) {
    case REC_OK:
        if (w->is_delete) {
            jb_reset(&r->out);
            reply_json(r, 204);
        } else {
            reply_etag(r, c.version);
            reply_json(r, 200);
        }
        return;
    case REC_CONFLICT:
        answer_conflict(r, res, id, pc.im == IM_TAG);
        return;
    case REC_INVALID_STATE:
        answer_invalid_state(r, res, id, c.status);
        return;
    case REC_INVALID:
        if (c.why[0] != '\0') {
            reply_error(r, 400, "bad_request", c.why, NULL);
            return;
        }
        reply_rec(r, st, &err);
        return;
    default:
        reply_rec(r, st, &err);
        return;
    }
}

void vw_get(http_req *r, const vw_resource *res, uint64_t id)
{
    uint32_t v = 0;
    rec_err err = {0};
    jbuf *out = reply_body(r);
    rec_status st = res->load(r, id, out, &v, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    reply_etag(r, v);
    if (precond_none_match(r->if_none_match, v)) {
        jb_reset(&r->out);
        reply_json(r, 304);
        return;
    }
    reply_json(r, 200);
}
