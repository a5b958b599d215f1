/*
 * routes_tables.c -- the application's own tables ("Your own tables" in
 * the contract): /v1/tables/{name}[/{id}[/events]] and /v1/tables/{name}/
 * events, for every table declared in OPTIMIST_TABLES_DIR (tableset.h).
 *
 * Nothing here is a second write path. A table's request is checked and
 * turned into a statement by the library (tbl_plan_*: strict values, 400
 * naming the column), then runs through the write loop of every built-in
 * resource (vwrite.h: preconditions 428/409/412, the version check in the
 * UPDATE's WHERE, the row read back in the transaction, refusals with the
 * current row), with the table's descriptor (tableset.c). Idempotency-Key,
 * Prefer: return=minimal, HEAD, 304 and the hub's notification are the
 * worker's, as for any route; the router row names no resource, so each
 * route sets r->res to the table's once it knows the name.
 *
 * The change log: a prepared table's triggers write it, for optimist's
 * writes and everyone else's; for a table that is not prepared, the
 * routes write it in the write's transaction (tbl_log_change is a no-op
 * for a prepared one).
 */
#include "routes.h"

#include "body.h"
#include "hublink.h"
#include "paging.h"
#include "reply.h"
#include "router.h"
#include "tableset.h"
#include "vwrite.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX     "/v1/tables/"
#define MAX_FILTER 16

/* The declared table the path names (404 answered when none): t, and its
 * rows' descriptor in r->res (what the hub is told about). */
static tbl_table *table_or_reply(http_req *r)
{
    const char *name = r->path + strlen(PREFIX);
    size_t n = strcspn(name, "/");
    tbl_table *t = tset_find(name, n);
    if (t == NULL) {
        reply_error(r, 404, "not_found", "no such table", NULL);
        return NULL;
    }
    r->res = tset_rows(name, n);
    return t;
}

/* A plan refused: 400 naming the column, or 404 (a tenant that does not
 * own a table with a fixed tenant). */
static void plan_refused(http_req *r, rec_status st, const tbl_err *e)
{
    if (st == REC_INVALID) {
        jbuf extra;
        jb_init(&extra);
        jb_lit(&extra, "\"column\":");
        jb_cstr(&extra, e->column);
        reply_error(r, 400, "bad_request",
                    e->why[0] ? e->why : "a value this table refuses", extra.p);
        jb_free(&extra);
    } else if (st == REC_NOT_FOUND) {
        reply_error(r, 404, "not_found", "no such table", NULL);
    } else {
        reply_rec(r, st, &e->db);
    }
}

static tbl_plan *plan_new(void)
{
    return xcalloc(1, sizeof(tbl_plan));
}

static void plan_done(http_req *r, tbl_plan *p)
{
    tbl_plan_free(r->db, p);
    free(p);
}

/* ---- the change log of a table that is not prepared ------------------ */

struct logctx {
    tbl_table *t;
    uint32_t before; /* a DELETE with If-Match *: the version it removed */
};

static rec_status log_created(http_req *r, uint64_t id, rec_expect e,
                              void *vctx, char *why, rec_err *err)
{
    struct logctx *c = vctx;
    (void)why;
    return tbl_log_change(r->db, c->t, r->tenant_id, id, e.version, 0, err);
}

/* The row's version now, inside the write's transaction. */
static rec_status version_now(http_req *r, tbl_table *t, uint64_t id,
                              uint32_t *v, rec_err *err)
{
    rec_param p[2] = {REC_U(id), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_status st =
        rec_exec(r->db, t->sql_version, p, 2, &rows, NULL, NULL, err);
    if (st == REC_OK && rec_rows_count(rows) == 0)
        st = REC_NOT_FOUND;
    if (st == REC_OK)
        *v = (uint32_t)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return st;
}

static rec_status log_updated(http_req *r, uint64_t id, rec_expect e,
                              void *vctx, char *why, rec_err *err)
{
    struct logctx *c = vctx;
    uint32_t v = e.version + 1;
    rec_status st = REC_OK;
    (void)why;
    if (e.any)
        st = version_now(r, c->t, id, &v, err);
    if (st != REC_OK)
        return st;
    return tbl_log_change(r->db, c->t, r->tenant_id, id, v, 0, err);
}

static rec_status read_before_delete(http_req *r, uint64_t id, rec_expect e,
                                     void *vctx, char *why, rec_err *err)
{
    struct logctx *c = vctx;
    (void)why;
    c->before = e.version;
    if (!e.any)
        return REC_OK;
    rec_status st = version_now(r, c->t, id, &c->before, err);
    return st == REC_NOT_FOUND ? REC_OK : st; /* the DELETE says 404 */
}

static rec_status log_deleted(http_req *r, uint64_t id, rec_expect e,
                              void *vctx, char *why, rec_err *err)
{
    struct logctx *c = vctx;
    (void)e;
    (void)why;
    /* A deletion counts as one more change: the last version plus one. */
    return tbl_log_change(r->db, c->t, r->tenant_id, id, c->before + 1, 1, err);
}

/* ---- the routes -------------------------------------------------------- */

static void route_table_create(http_req *r)
{
    tbl_table *t = table_or_reply(r);
    json_object *body = t ? body_object_or_reply(r) : NULL;
    if (body == NULL)
        return;
    tbl_plan *plan = plan_new();
    tbl_err e;
    memset(&e, 0, sizeof e);
    rec_status st = tbl_plan_insert(t, r->tenant_id, body, plan, &e);
    if (st != REC_OK) {
        plan_refused(r, st, &e);
    } else {
        struct logctx c = {.t = t};
        vw_create_with(r, r->res, plan->sql, plan->params, plan->nparams,
                       t->prepared ? NULL : log_created, &c);
    }
    plan_done(r, plan);
}

static void route_table_get(http_req *r)
{
    if (table_or_reply(r) != NULL)
        vw_get(r, r->res, r->ids[0]);
}

static void route_table_patch(http_req *r)
{
    tbl_table *t = table_or_reply(r);
    json_object *body = t ? body_object_or_reply(r) : NULL;
    if (body == NULL)
        return;
    tbl_plan *plan = plan_new();
    tbl_err e;
    memset(&e, 0, sizeof e);
    rec_status st = tbl_plan_update(t, body, plan, &e);
    if (st != REC_OK) {
        plan_refused(r, st, &e);
    } else {
        struct logctx c = {.t = t};
        vw_write w = {.sql = plan->sql,
                      .params = plan->params,
                      .nparams = plan->nparams,
                      .after = t->prepared ? NULL : log_updated,
                      .ctx = &c};
        vw_run(r, r->res, r->ids[0], body, &w);
    }
    plan_done(r, plan);
}

static void route_table_delete(http_req *r)
{
    tbl_table *t = table_or_reply(r);
    json_object *body = t ? body_object_or_reply(r) : NULL;
    if (body == NULL)
        return;
    struct logctx c = {.t = t};
    vw_write w = {.sql = t->sql_delete,
                  .is_delete = 1,
                  .before = t->prepared ? NULL : read_before_delete,
                  .after = t->prepared ? NULL : log_deleted,
                  .ctx = &c};
    vw_run(r, r->res, r->ids[0], body, &w);
}

/* Percent-decodes src[0..n) into out (at most cap - 1 bytes, '+' is a
 * space). -1 for a bad escape, a NUL, or too long. */
static int decode(const char *src, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = src[i + 1];
            lo = src[i + 2];
#define HEXV(c)                                                                \
    ((c) >= '0' && (c) <= '9'   ? (c) - '0'                                    \
     : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10                               \
     : (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10                               \
                                : -1)
            if (HEXV(hi) < 0 || HEXV(lo) < 0)
                return -1;
            ch = HEXV(hi) * 16 + HEXV(lo);
#undef HEXV
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (ch == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    *len = o;
    return 0;
}

static void route_table_list(http_req *r)
{
    tbl_table *t = table_or_reply(r);
    if (t == NULL)
        return;
    uint64_t after;
    unsigned limit;
    if (paging_or_reply(r, &after, &limit) != 0)
        return;
    /* Every other ?column=value is an equality filter. On the stack, not
     * static: with OPTIMIST_INFLIGHT another request of this worker runs
     * while this one waits for its rows. */
    char names[MAX_FILTER][DECL_NAME_MAX + 8];
    char values[MAX_FILTER][1024];
    tbl_filter f[MAX_FILTER];
    size_t nf = 0;
    for (const char *q = r->query; *q;) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t kn = eq ? (size_t)(eq - q) : n;
        int reserved = (kn == 5 && strncmp(q, "limit", 5) == 0) ||
                       (kn == 5 && strncmp(q, "after", 5) == 0);
        if (n > 0 && !reserved) {
            size_t klen = 0, vlen = 0;
            if (nf == MAX_FILTER ||
                decode(q, kn, names[nf], sizeof names[nf], &klen) != 0 ||
                decode(eq ? eq + 1 : q + n, eq ? n - kn - 1 : 0, values[nf],
                       sizeof values[nf], &vlen) != 0) {
                reply_error(r, 400, "bad_request",
                            "a filter that cannot be read (at most 16, "
                            "percent-encoded, 1023 bytes a value)",
                            NULL);
                return;
            }
            f[nf] = (tbl_filter){.column = names[nf],
                                 .column_len = klen,
                                 .value = values[nf],
                                 .value_len = vlen};
            nf++;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    tbl_err e;
    memset(&e, 0, sizeof e);
    jbuf *out = reply_body(r);
    rec_status st =
        tbl_list(r->db, t, r->tenant_id, f, nf, after, limit, out, &e);
    if (st != REC_OK) {
        jb_reset(out);
        plan_refused(r, st, &e);
        return;
    }
    reply_json(r, 200);
}

/* ---- feeds -------------------------------------------------------------- */

/* Both feeds honour r->check_only (POST /v1/stream-tickets asks whether
 * the tenant could open one): the record feed does in route_feed_record;
 * the change feed needs only its table declared. */
static void route_table_feed_record(http_req *r)
{
    if (table_or_reply(r) != NULL)
        route_feed_record(r);
}

static void route_table_feed_changes(http_req *r)
{
    if (table_or_reply(r) == NULL || r->check_only)
        return;
    const char *name = r->path + strlen(PREFIX);
    const struct resource *res = tset_changes(name, strcspn(name, "/"));
    r->res = NULL; /* a stream writes nothing */
    uint64_t cursor;
    int given;
    if ((given = route_stream_cursor(r, &cursor)) < 0)
        return;
    uint64_t oldest = 0, last = 0;
    rec_err err = {0};
    rec_status st = tbl_changes_bounds(r->db, &oldest, &last, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    /* Without Last-Event-ID: from now. With one the log no longer holds
     * what followed it (purged, or from a log that was emptied): reset,
     * then from now. */
    int reset = 0;
    if (!given) {
        cursor = last;
    } else if (cursor > last || (oldest > 0 && cursor + 1 < oldest) ||
               (oldest == 0 && cursor < last)) {
        reset = 1;
        cursor = last;
    }
    route_stream_handoff(r, res, r->tenant_id, cursor, reset);
}

/* This file's rows of the route table (router.c): {name} is a declared
 * name; each route finds its table's descriptor and sets r->res itself. */
static const struct route rows[] = {
    {"POST", "/v1/tables/{name}", route_table_create, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}", route_table_list, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}/events", route_table_feed_changes,
     ROUTE_AUTH | ROUTE_STREAM, NULL},
    {"GET", "/v1/tables/{name}/{id}", route_table_get, ROUTE_AUTH, NULL},
    {"PATCH", "/v1/tables/{name}/{id}", route_table_patch, ROUTE_AUTH, NULL},
    {"DELETE", "/v1/tables/{name}/{id}", route_table_delete, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}/{id}/events", route_table_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, NULL},
};

const struct route_set table_routes = ROUTE_SET(rows);
