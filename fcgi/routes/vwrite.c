/*
 * vwrite.c -- the versioned-write flow. The order of checks follows the
 * contract: malformed preconditions 400; no version 428 (after checking
 * the resource exists, so a missing one is 404); the write; then the
 * affected rows decide between 200, 409/412 and 404.
 *
 * A route's before/after steps run in the write's transaction, so what
 * they read or add (a locked row, a history row) commits or rolls back
 * with the write; they never replace its version check. A checked write
 * (a merge into a bid's data) runs without a transaction: its UPDATE
 * checks the version of the row it was computed from.
 */
#include "vwrite.h"

#include "log.h"
#include "paging.h"
#include "precond.h"
#include "reply.h"

#include <stdio.h>
#include <string.h>

/* Resource `id` of r's tenant as GET returns it (resource_load). */
static rec_status vw_load(http_req *r, const vw_resource *res, uint64_t id,
                          jbuf *out, uint32_t *version, rec_err *err)
{
    return resource_load(r->db, res, r->tenant_id, id, out, version, err);
}

struct txn_ctx {
    http_req *r;
    const vw_resource *res;
    const vw_write *w;
    uint64_t id;
    rec_expect expect;
    uint32_t version;            /* OUT: the version after the write */
    jbuf *out;                   /* OUT: the resource after the write */
    char status[REC_STATUS_MAX]; /* OUT: the status that refused a guarded
                                    write */
    char why[VW_WHY_MAX];        /* OUT: a step's message for a 400 */
};

/* A failed write: the resource's refusal reader first (a declared table:
 * 400 naming the column, 409 constraint_violation naming the
 * constraint), then as any database failure. */
static void answer_rec(http_req *r, const vw_resource *res, rec_status st,
                       const rec_err *err)
{
    resource_refusal why;
    memset(&why, 0, sizeof why);
    rec_status t = res->refusal != NULL && err != NULL
                       ? res->refusal(res, err, &why)
                       : REC_OK;
    if (t == REC_INVALID || t == REC_CONSTRAINT) {
        jbuf extra;
        jb_init(&extra);
        if (t == REC_INVALID) {
            jb_lit(&extra, "\"column\":");
            jb_cstr(&extra, why.column);
        } else {
            jb_lit(&extra, "\"constraint\":");
            jb_cstr(&extra, why.constraint);
        }
        LOG(LOG_INFO, "%s: the database refused the data: %u %s", res->name,
            err->code, err->msg);
        reply_error(r, t == REC_INVALID ? 400 : 409,
                    t == REC_INVALID ? "bad_request" : "constraint_violation",
                    why.why, extra.p);
        jb_free(&extra);
        return;
    }
    reply_rec(r, st, err);
}

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
        rec_guard g = {.update_sql = w->sql,
                       .params = w->params,
                       .nparams = w->nparams,
                       .state_sql = c->res->state_sql,
                       .from = w->from};
        rec_guard_out go;
        st = rec_guarded_write(db, &g, c->id, c->r->tenant_id, c->expect, &go,
                               err);
        current = go.version;
        memcpy(c->status, go.status, sizeof c->status);
    } else if (c->res->per_tenant) {
        st = rec_versioned_write_by_tenant(db, w->sql, w->params, w->nparams,
                                           c->res->version_sql, c->r->tenant_id,
                                           c->expect, &current, err);
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
    return vw_load(c->r, w->answer ? w->answer : c->res, c->id, c->out,
                   &c->version, err);
}

/* Answers a refusal from row 0 of `rows`, a load_sql (or checked) read. */
static void answer_view(http_req *r, const vw_resource *res,
                        const rec_rows *rows, rec_status st, int use_412)
{
    jbuf cur, extra;
    uint32_t v = 0;
    char status[REC_STATUS_MAX] = "";
    jb_init(&cur);
    jb_init(&extra);
    res->view(rows, &cur, &v, status, &extra);
    if (st == REC_CONFLICT)
        reply_conflict(r, use_412, res->name, v, &cur);
    else
        reply_invalid_state_extra(r, res->name, status, v, &cur,
                                  extra.len > 0 ? extra.p : NULL);
    jb_free(&cur);
    jb_free(&extra);
}

void vw_refused_reply(http_req *r, const vw_resource *res, uint64_t id,
                      rec_status st, const rec_err *err, int use_412,
                      const char *status)
{
    if (st != REC_CONFLICT && st != REC_INVALID_STATE) {
        answer_rec(r, res, st, err);
        return;
    }
    rec_err lerr = {0};
    rec_status ls;
    if (res->view != NULL) {
        rec_param key[2] = {REC_U(id), REC_U(r->tenant_id)};
        rec_rows *rows = NULL;
        ls = rec_exec(r->db, res->load_sql, key, 2, &rows, NULL, NULL, &lerr);
        if (ls == REC_OK && rec_rows_count(rows) == 0)
            ls = REC_NOT_FOUND;
        if (ls == REC_OK)
            answer_view(r, res, rows, st, use_412);
        else
            reply_rec(r, ls, &lerr);
        rec_rows_free(rows);
        return;
    }
    jbuf cur;
    uint32_t v = 0;
    jb_init(&cur);
    ls = vw_load(r, res, id, &cur, &v, &lerr);
    if (ls != REC_OK)
        reply_rec(r, ls, &lerr);
    else if (st == REC_CONFLICT)
        reply_conflict(r, use_412, res->name, v, &cur);
    else
        reply_invalid_state(r, res->name, status, v, &cur);
    jb_free(&cur);
}

int vw_expect_or_reply(http_req *r, const vw_resource *res, uint64_t id,
                       json_object *body, vw_expect *e)
{
    precond pc;
    if (precond_parse_or_reply(r, body, &pc) != 0)
        return -1;
    memset(e, 0, sizeof *e);
    e->use_412 = pc.im == IM_TAG;
    if (pc.im == IM_WEAK) {
        /* A weak tag never matches a strong comparison (RFC 9110). */
        vw_refused_reply(r, res, id, REC_CONFLICT, NULL, 1, "");
        return -1;
    }
    if (!pc.has_body && pc.im == IM_NONE) {
        jbuf cur;
        uint32_t v = 0;
        rec_err err = {0};
        jb_init(&cur);
        rec_status st = vw_load(r, res, id, &cur, &v, &err);
        jb_free(&cur);
        if (st != REC_OK) {
            reply_rec(r, st, &err);
            return -1;
        }
        char extra[48];
        snprintf(extra, sizeof extra, "\"current_version\":%u", v);
        reply_error(r, 428, "precondition_required",
                    "send the version you last saw, in the body's \"version\" "
                    "or in If-Match",
                    extra);
        return -1;
    }
    if (pc.has_body)
        e->expect.version = pc.body_version; /* with If-Match: *, it decides */
    else if (pc.im == IM_TAG)
        e->expect.version = pc.im_version;
    else
        e->expect.any = 1; /* If-Match: * alone: a deliberate overwrite */
    return 0;
}

/* Answers a write that ended with `st`. `refused`: the row a checked
 * write read when it was refused (no second read), or NULL. */
static void answer_write(http_req *r, const vw_resource *res, uint64_t id,
                         rec_status st, const rec_err *err, int use_412,
                         const rec_rows *refused, const char *status,
                         const char *why, uint32_t version, int is_delete)
{
    switch (st) {
    case REC_OK:
        if (is_delete) {
            jb_reset(&r->out);
            reply_json(r, 204);
        } else {
            reply_etag(r, version);
            reply_json(r, 200);
        }
        break;
    case REC_CONFLICT:
    case REC_INVALID_STATE:
        if (refused != NULL)
            answer_view(r, res, refused, st, use_412);
        else
            vw_refused_reply(r, res, id, st, err, use_412, status);
        break;
    case REC_INVALID:
        if (why != NULL && why[0] != '\0')
            reply_error(r, 400, "bad_request", why, NULL);
        else
            answer_rec(r, res, st, err);
        break;
    default:
        answer_rec(r, res, st, err);
        break;
    }
}

void vw_write_txn(http_req *r, const vw_resource *res, uint64_t id,
                  const vw_expect *e, const vw_write *w)
{
    struct txn_ctx c = {
        .r = r, .res = res, .w = w, .id = id, .expect = e->expect};
    c.out = reply_body(r);
    rec_err err = {0};
    rec_status st = rec_txn(r->db, txn_body, &c, &err);
    answer_write(r, res, id, st, &err, e->use_412, NULL, c.status, c.why,
                 c.version, w->is_delete);
}

/* A checked write's run, under rec_autocommit (it may run more than once:
 * each run frees the read of the one before). */
struct checked_run {
    const vw_checked *w;
    uint64_t id, tenant;
    uint32_t expect;
    jbuf *out;
    rec_rows *read; /* OUT: the last read */
};

static rec_status checked_body(rec_db *db, void *vctx, rec_err *err)
{
    struct checked_run *c = vctx;
    rec_rows_free(c->read);
    c->read = NULL;
    rec_status st = rec_checked_write(db, &c->w->check, c->id, c->tenant,
                                      c->expect, &c->read, err);
    if (st == REC_OK) {
        jb_reset(c->out);
        c->w->written(c->read, c->expect + 1, c->w->check.ctx, c->out);
    }
    return st;
}

void vw_write_checked(http_req *r, const vw_resource *res, uint64_t id,
                      const vw_expect *e, const vw_checked *w)
{
    struct checked_run c = {.w = w,
                            .id = id,
                            .tenant = r->tenant_id,
                            .expect = e->expect.version,
                            .out = reply_body(r)};
    rec_err err = {0};
    rec_status st = rec_autocommit(r->db, checked_body, &c, &err);
    answer_write(r, res, id, st, &err, e->use_412, c.read, "", w->why,
                 e->expect.version + 1, 0);
    rec_rows_free(c.read);
}

void vw_run(http_req *r, const vw_resource *res, uint64_t id, json_object *body,
            const vw_write *w)
{
    vw_expect e;
    if (vw_expect_or_reply(r, res, id, body, &e) == 0)
        vw_write_txn(r, res, id, &e, w);
}

void vw_get(http_req *r, const vw_resource *res, uint64_t id)
{
    uint32_t v = 0;
    rec_err err = {0};
    jbuf *out = reply_body(r);
    rec_status st = vw_load(r, res, id, out, &v, &err);
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

static int is_status(const char *const *statuses, const char *s)
{
    for (; *statuses != NULL; statuses++)
        if (strcmp(*statuses, s) == 0)
            return 1;
    return 0;
}

void vw_list(http_req *r, const vw_resource *res, const vw_list_sql *l)
{
    uint64_t after;
    unsigned limit;
    char status[16];
    if (paging_or_reply(r, &after, &limit) != 0)
        return;
    int has_status = http_query_param(r, "status", status, sizeof status);
    if (has_status < 0 || (has_status > 0 && !is_status(l->statuses, status))) {
        reply_error(r, 400, "bad_request", l->bad_status, NULL);
        return;
    }
    rec_param p[5];
    size_t n = 0;
    p[n++] = REC_U(r->tenant_id);
    if (has_status)
        p[n++] = REC_CSTR(status);
    p[n++] = REC_U(after);
    p[n++] = REC_U(limit);
    if (l->byte_cut)
        p[n++] = REC_U(r->conf->page_max_bytes);
    paging_stream(r, has_status ? l->by_status : l->all, p, n, limit, 0,
                  res->render);
}

#define VW_MAX_INSERT 63 /* rec_exec takes 64; the tenant comes first */

struct create_ctx {
    http_req *r;
    const vw_resource *res;
    const char *sql;
    rec_param p[VW_MAX_INSERT + 1];
    size_t np;
    vw_step_fn after; /* optional, in the INSERT's transaction */
    void *ctx;
    uint64_t id;      /* OUT */
    uint32_t version; /* OUT */
};

static rec_status create_body(rec_db *db, void *vctx, rec_err *err)
{
    struct create_ctx *c = vctx;
    rec_status st = rec_exec(db, c->sql, c->p, c->np, NULL, NULL, &c->id, err);
    if (st != REC_OK)
        return st;
    jb_reset(reply_body(c->r)); /* a retry starts over */
    st = vw_load(c->r, c->res, c->id, reply_body(c->r), &c->version, err);
    if (st == REC_OK && c->after != NULL) {
        char why[VW_WHY_MAX] = "";
        rec_expect e = {.version = c->version};
        st = c->after(c->r, c->id, e, c->ctx, why, err);
    }
    return st;
}

/* The INSERT takes params[0..np) as they are. */
static void create(http_req *r, const vw_resource *res, struct create_ctx *c)
{
    rec_err err = {0};
    rec_status st = rec_txn(r->db, create_body, c, &err);
    if (st != REC_OK) {
        answer_rec(r, res, st, &err);
        return;
    }
    reply_created(r, res->collection, c->id, c->version);
}

void vw_create(http_req *r, const vw_resource *res, const char *insert_sql,
               const rec_param *params, size_t nparams)
{
    struct create_ctx c = {
        .r = r, .res = res, .sql = insert_sql, .np = nparams + 1};
    if (nparams > VW_MAX_INSERT) {
        rec_err err = {0};
        snprintf(err.msg, sizeof err.msg, "too many parameters");
        reply_rec(r, REC_ERROR, &err);
        return;
    }
    c.p[0] = REC_U(r->tenant_id);
    if (nparams > 0)
        memcpy(c.p + 1, params, nparams * sizeof *params);
    create(r, res, &c);
}

void vw_create_with(http_req *r, const vw_resource *res, const char *insert_sql,
                    const rec_param *params, size_t nparams, vw_step_fn after,
                    void *ctx)
{
    struct create_ctx c = {.r = r,
                           .res = res,
                           .sql = insert_sql,
                           .np = nparams,
                           .after = after,
                           .ctx = ctx};
    if (nparams > VW_MAX_INSERT + 1) {
        rec_err err = {0};
        snprintf(err.msg, sizeof err.msg, "too many parameters");
        reply_rec(r, REC_ERROR, &err);
        return;
    }
    if (nparams > 0)
        memcpy(c.p, params, nparams * sizeof *params);
    create(r, res, &c);
}
