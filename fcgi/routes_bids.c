/*
 * routes_bids.c -- bids: create, read, list, edit (JSON merge patch on
 * `data`), archive, and the record of their evaluation runs. The evaluate
 * route itself is in routes_evaluate.c; the state machine every write here
 * goes through is in lib/bidstate.c.
 *
 * An edit is allowed while an evaluation runs: it is exactly what makes
 * that run's result "superseded" instead of applied over the edit.
 */
#include "bids.h"

#include "body.h"
#include "jpath.h"
#include "metrics.h"
#include "paging.h"
#include "precond.h"
#include "reply.h"
#include "routes.h"

#include <stdio.h>
#include <string.h>

#define DATA_MAX HTTP_MAX_BODY /* bytes of a bid's data, after a merge */

/* The columns every bid view is rendered from (render_row). */
#define BID_COLUMNS                                                            \
    "id, version, status, data, evaluation, lease_until, "                     \
    "lease_until < UTC_TIMESTAMP(3), created_at, updated_at"
enum { C_ID, C_VERSION, C_STATUS, C_DATA, C_EVAL, C_LEASE_UNTIL,
       C_LEASE_EXPIRED, C_CREATED, C_UPDATED };

static const char SQL_LOAD[] =
    "SELECT " BID_COLUMNS " FROM bids WHERE id = ? AND tenant_id = ?";
/* A page ends on OPTIMIST_PAGE_MAX_BYTES too: rows whose predecessors on
 * the page already hold that many bytes (row_bytes, sql/0010) are not
 * sent by the server at all; paging_stream cuts the rest exactly. */
#define BID_PAGE(where)                                                        \
    "SELECT " BID_COLUMNS " FROM (SELECT id AS w_id, SUM(row_bytes) OVER "     \
    "(ORDER BY id) - row_bytes AS w_before FROM bids WHERE " where " "         \
    "ORDER BY id LIMIT ?) w JOIN bids ON bids.id = w.w_id "                    \
    "WHERE w.w_before <= ? ORDER BY id"
static const char SQL_LIST[] = BID_PAGE("tenant_id = ? AND id > ?");
static const char SQL_LIST_STATUS[] =
    BID_PAGE("tenant_id = ? AND status = ? AND id > ?");
static const char SQL_INSERT[] =
    "INSERT INTO bids (tenant_id, data, created_at, updated_at) "
    "VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
static const char SQL_EXISTS[] =
    "SELECT 1 FROM bids WHERE id = ? AND tenant_id = ?";

/* The data a PATCH merges into, locked until the transaction ends: the
 * merge is computed from exactly the row the guarded UPDATE then checks. */
static const char SQL_DATA_FOR_UPDATE[] =
    "SELECT data FROM bids WHERE id = ? AND tenant_id = ? FOR UPDATE";
/* open | evaluating | decided -> the same status, data replaced by the
 * merge. data_version tells a running evaluation that it was edited. The
 * start statuses: every one but archived ("lapsed" is BID_STATE_SQL's
 * name for evaluating with a passed lease). */
static const char SQL_PATCH[] =
    "UPDATE bids SET data = ?, "
    "data_version = data_version + 1, version = version + 1, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND status IN ('open', 'evaluating', 'decided')";
static const char *const PATCH_FROM[] = {"open", "evaluating", "lapsed",
                                         "decided", NULL};
/* open | decided -> archived. */
static const char SQL_ARCHIVE[] =
    "UPDATE bids SET status = 'archived', version = version + 1, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND status IN ('open', 'decided')";
static const char *const ARCHIVE_FROM[] = {"open", "decided", NULL};

/* Runs newest first. `live`: this run holds a lease that has not passed;
 * a 'running' run without one is dead and is answered as expired. */
static const char SQL_RUNS[] =
    "SELECT e.id, e.kind, e.outcome, e.result, e.started_at, e.finished_at, "
    "e.detail, COALESCE(b.status = 'evaluating' AND b.lease_owner = e.id "
    "AND b.lease_until >= UTC_TIMESTAMP(3), 0), "
    "IF(b.lease_owner = e.id, b.lease_until, NULL) "
    "FROM evaluations e JOIN bids b ON b.id = e.bid_id "
    "WHERE e.bid_id = ? AND e.tenant_id = ? ORDER BY e.id DESC";

/* The lease of row i as JSON ("null" unless evaluating). */
static void render_lease(jbuf *b, const rec_rows *rows, size_t i)
{
    const char *status = rec_rows_get(rows, i, C_STATUS);
    const char *until = rec_rows_get(rows, i, C_LEASE_UNTIL);
    if (status == NULL || strcmp(status, "evaluating") != 0 || until == NULL) {
        jb_lit(b, "null");
        return;
    }
    jb_lit(b, "{\"until\":");
    jb_time(b, until);
    jb_lit(b, ",\"expired\":");
    jb_lit(b, rec_rows_u64(rows, i, C_LEASE_EXPIRED) ? "true" : "false");
    jb_lit(b, "}");
}

/* What a PATCH changed in a row it read before writing: the view of the
 * new version is rendered from that read, without reading it back. */
struct bid_edit {
    uint32_t version;
    const char *data;
    size_t data_len;
    const char *updated_at;
};

/* Row i of a BID_COLUMNS result, with the edit `e` (may be NULL). */
static void render_edited(jbuf *b, const rec_rows *rows, size_t i,
                          const struct bid_edit *e)
{
    const char *ev = rec_rows_get(rows, i, C_EVAL);
    jb_lit(b, "{\"id\":");
    jb_u64(b, rec_rows_u64(rows, i, C_ID));
    jb_lit(b, ",\"version\":");
    jb_u64(b, e ? e->version : rec_rows_u64(rows, i, C_VERSION));
    jb_lit(b, ",\"status\":");
    jb_cstr(b, rec_rows_get(rows, i, C_STATUS));
    /* JSON columns hold checked JSON text: embedded as it is. */
    jb_lit(b, ",\"data\":");
    if (e != NULL)
        jb_raw(b, e->data, e->data_len);
    else
        jb_raw(b, rec_rows_get(rows, i, C_DATA), rec_rows_len(rows, i, C_DATA));
    jb_lit(b, ",\"evaluation\":");
    if (ev != NULL)
        jb_raw(b, ev, rec_rows_len(rows, i, C_EVAL));
    else
        jb_lit(b, "null");
    jb_lit(b, ",\"lease\":");
    render_lease(b, rows, i);
    jb_lit(b, ",\"created_at\":");
    jb_time(b, rec_rows_get(rows, i, C_CREATED));
    jb_lit(b, ",\"updated_at\":");
    jb_time(b, e ? e->updated_at : rec_rows_get(rows, i, C_UPDATED));
    jb_lit(b, "}");
}

static void render_row(jbuf *b, const rec_rows *rows, size_t i)
{
    render_edited(b, rows, i, NULL);
}

/* Loads bid `id`: its view to `out`, and optionally its status (16 bytes)
 * and lease (JSON text) for an invalid_state answer. */
static rec_status load_view(http_req *r, uint64_t id, jbuf *out,
                            uint32_t *version, char *status, jbuf *lease,
                            rec_err *err)
{
    rec_param p[2] = {REC_U(id), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_status st = rec_exec(r->db, SQL_LOAD, p, 2, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        return REC_NOT_FOUND;
    }
    *version = (uint32_t)rec_rows_u64(rows, 0, C_VERSION);
    render_row(out, rows, 0);
    if (status != NULL)
        snprintf(status, 16, "%s", rec_rows_get(rows, 0, C_STATUS));
    if (lease != NULL)
        render_lease(lease, rows, 0);
    rec_rows_free(rows);
    return REC_OK;
}

rec_status bids_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                     rec_err *err)
{
    return load_view(r, id, out, version, NULL, NULL, err);
}

int bids_expect_or_reply(http_req *r, json_object *body, uint64_t id,
                         rec_expect *expect, int *use_412)
{
    precond pc;
    if (precond_parse_or_reply(r, body, &pc) != 0)
        return -1;
    memset(expect, 0, sizeof *expect);
    *use_412 = pc.im == IM_TAG || pc.im == IM_WEAK;
    if (pc.im == IM_WEAK || (!pc.has_body && pc.im == IM_NONE)) {
        jbuf cur;
        uint32_t v = 0;
        rec_err err = {0};
        jb_init(&cur);
        rec_status st = bids_load(r, id, &cur, &v, &err);
        if (st != REC_OK) {
            reply_rec(r, st, &err);
        } else if (pc.im == IM_WEAK) {
            /* A weak tag never matches a strong comparison (RFC 9110). */
            reply_conflict(r, 1, "bids", v, &cur);
        } else {
            char extra[48];
            snprintf(extra, sizeof extra, "\"current_version\":%u", v);
            reply_error(r, 428, "precondition_required",
                        "send the version you last saw, in the body's "
                        "\"version\" or in If-Match",
                        extra);
        }
        jb_free(&cur);
        return -1;
    }
    if (pc.has_body)
        expect->version = pc.body_version; /* with If-Match: *, it decides */
    else if (pc.im == IM_TAG)
        expect->version = pc.im_version;
    else
        expect->any = 1; /* If-Match: * alone */
    return 0;
}

/* Answers a refused write (REC_CONFLICT or REC_INVALID_STATE) from the
 * bid as it is: its view, version, status and lease. */
static void refusal_reply(http_req *r, rec_status st, int use_412,
                          uint32_t version, const char *status,
                          const jbuf *cur, const jbuf *lease)
{
    if (st == REC_CONFLICT) {
        reply_conflict(r, use_412, "bids", version, cur);
        return;
    }
    /* While evaluating, the lease says until when (and whether a new
     * evaluation could already take it over). */
    jbuf extra;
    jb_init(&extra);
    if (strcmp(status, "evaluating") == 0) {
        jb_lit(&extra, "\"lease\":");
        jb_raw(&extra, lease->p, lease->len);
    }
    reply_invalid_state_extra(r, "bids", status, version, cur, extra.p);
    jb_free(&extra);
}

void bids_refused_reply(http_req *r, uint64_t id, rec_status st,
                        const rec_err *err, int use_412)
{
    if (st != REC_CONFLICT && st != REC_INVALID_STATE) {
        reply_rec(r, st, err);
        return;
    }
    jbuf cur, lease;
    uint32_t v = 0;
    char status[16] = "";
    rec_err lerr = {0};
    jb_init(&cur);
    jb_init(&lease);
    rec_status ls = load_view(r, id, &cur, &v, status, &lease, &lerr);
    if (ls != REC_OK)
        reply_rec(r, ls, &lerr);
    else
        refusal_reply(r, st, use_412, v, status, &cur, &lease);
    jb_free(&cur);
    jb_free(&lease);
}

/* The "data" member: a JSON object, as compact text in *text (the
 * request's json-c owns it). Answers 400 and returns -1 otherwise. */
static int data_or_reply(http_req *r, json_object *body, const char **text,
                         size_t *len)
{
    json_object *d = NULL;
    if (!json_object_object_get_ex(body, "data", &d) || d == NULL ||
        !json_object_is_type(d, json_type_object)) {
        reply_error(r, 400, "bad_request", "\"data\" must be a JSON object",
                    NULL);
        return -1;
    }
    if (jp_depth(d) > JP_MAX_DEPTH) {
        reply_errorf(r, 400, "bad_request",
                     "\"data\" is nested deeper than %d levels, the most "
                     "the database stores", JP_MAX_DEPTH);
        return -1;
    }
    *text = json_object_to_json_string_ext(
        d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    *len = strlen(*text);
    return 0;
}

/* ---- create, get, list ------------------------------------------------ */

struct create_ctx {
    http_req *r;
    const char *data;
    size_t len;
    uint64_t id;      /* OUT */
    uint32_t version; /* OUT */
};

static rec_status create_body(rec_db *db, void *vctx, rec_err *err)
{
    struct create_ctx *c = vctx;
    rec_param p[2] = {REC_U(c->r->tenant_id), REC_S(c->data, c->len)};
    rec_status st = rec_exec(db, SQL_INSERT, p, 2, NULL, NULL, &c->id, err);
    if (st != REC_OK)
        return st;
    return bids_load(c->r, c->id, reply_body(c->r), &c->version, err);
}

void route_bid_create(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    struct create_ctx c = {.r = r};
    if (body == NULL || data_or_reply(r, body, &c.data, &c.len) != 0)
        return;
    rec_err err = {0};
    rec_status st = rec_txn(r->db, create_body, &c, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    reply_created(r, "/v1/bids", c.id, c.version);
}

void route_bid_get(http_req *r)
{
    uint32_t v = 0;
    rec_err err = {0};
    rec_status st = bids_load(r, r->ids[0], reply_body(r), &v, &err);
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

static int is_status(const char *s)
{
    return strcmp(s, "open") == 0 || strcmp(s, "evaluating") == 0 ||
           strcmp(s, "decided") == 0 || strcmp(s, "archived") == 0;
}

void route_bid_list(http_req *r)
{
    unsigned limit;
    uint64_t after;
    char status[16];
    if (paging_or_reply(r, &after, &limit) != 0)
        return;
    int has_status = http_query_param(r, "status", status, sizeof status);
    if (has_status < 0 || (has_status > 0 && !is_status(status))) {
        reply_error(r, 400, "bad_request",
                    "status must be open, evaluating, decided or archived",
                    NULL);
        return;
    }
    if (has_status) {
        rec_param p[5] = {REC_U(r->tenant_id), REC_CSTR(status), REC_U(after),
                          REC_U(limit), REC_U(r->conf->page_max_bytes)};
        paging_stream(r, SQL_LIST_STATUS, p, 5, limit, C_ID, render_row);
    } else {
        rec_param p[4] = {REC_U(r->tenant_id), REC_U(after), REC_U(limit),
                          REC_U(r->conf->page_max_bytes)};
        paging_stream(r, SQL_LIST, p, 4, limit, C_ID, render_row);
    }
}

/* ---- patch, archive ------------------------------------------------------ */

struct write_ctx {
    http_req *r;
    uint64_t id;
    const char *sql;
    const rec_param *params;
    size_t nparams;
    const char *const *from; /* the statuses the write may start from */
    rec_expect expect;
    json_object *patch; /* PATCH: the merge patch; params are ours then */
    char why[128];      /* OUT: why the merged data cannot be stored */
    uint32_t version;   /* OUT */
};

/* Merges `patch` into the stored data `text` (RFC 7396, by jpath.c's
 * merge op, the one storefront's PATCH uses) and writes the result to
 * `merged`. REC_INVALID with why[128] when the result cannot be stored. */
static rec_status merge_data(const char *text, size_t len, json_object *patch,
                             jbuf *merged, char *why, rec_err *err)
{
    char msg[160];
    json_object *data = body_parse(text, len, msg, sizeof msg);
    if (data == NULL) {
        snprintf(err->msg, sizeof err->msg, "stored data: %s", msg);
        return REC_ERROR;
    }
    jp_op op = {.kind = JP_MERGE, .value = patch};
    jp_ops ops = {.ops = &op, .n = 1};
    char jwhy[128];
    if (jp_ops_apply(&ops, &data, jwhy, sizeof jwhy) != 0) {
        json_object_put(data);
        snprintf(err->msg, sizeof err->msg, "merge: %s", jwhy);
        return REC_ERROR; /* a merge into an object cannot fail */
    }
    int depth = jp_depth(data);
    jb_reset(merged);
    jb_lit(merged, json_object_to_json_string_ext(
                       data, JSON_C_TO_STRING_PLAIN |
                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(data);
    if (depth > JP_MAX_DEPTH || merged->len > DATA_MAX) {
        snprintf(why, 128,
                 depth > JP_MAX_DEPTH
                     ? "the merged data would be nested deeper than %d "
                       "levels, the most the database stores"
                     : "the merged data would be larger than %d bytes",
                 depth > JP_MAX_DEPTH ? JP_MAX_DEPTH : DATA_MAX);
        return REC_INVALID;
    }
    return REC_OK;
}

/* PATCH with If-Match: * (no version to check): reads and locks the
 * data, merges the patch into it, and makes the merged text the UPDATE's
 * parameter (owned by `merged`). The lock is what makes the merge's base
 * the row the UPDATE then changes. */
static rec_status merge_locked(rec_db *db, struct write_ctx *c,
                               jbuf *merged, rec_param *param, rec_err *err)
{
    rec_param key[2] = {REC_U(c->id), REC_U(c->r->tenant_id)};
    rec_rows *rows = NULL;
    rec_status st =
        rec_exec(db, SQL_DATA_FOR_UPDATE, key, 2, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        return REC_NOT_FOUND;
    }
    st = merge_data(rec_rows_get(rows, 0, 0), rec_rows_len(rows, 0, 0),
                    c->patch, merged, c->why, err);
    rec_rows_free(rows);
    if (st == REC_OK)
        *param = REC_S(merged->p, merged->len);
    return st;
}

static rec_status write_body(rec_db *db, void *vctx, rec_err *err)
{
    struct write_ctx *c = vctx;
    rec_guard g = {.update_sql = c->sql, .params = c->params,
                   .nparams = c->nparams, .state_sql = BID_STATE_SQL,
                   .from = c->from};
    rec_guard_out found;
    jbuf merged;
    rec_param mp[1];
    rec_status st = REC_OK;
    c->why[0] = '\0';
    jb_init(&merged);
    if (c->patch != NULL) {
        st = merge_locked(db, c, &merged, &mp[0], err);
        g.params = mp;
        g.nparams = 1;
    }
    if (st == REC_OK)
        st = rec_guarded_write(db, &g, c->id, c->r->tenant_id, c->expect,
                               &found, err);
    jb_free(&merged);
    if (st != REC_OK)
        return st;
    /* Read back inside the transaction: exactly the version we made. */
    return bids_load(c->r, c->id, reply_body(c->r), &c->version, err);
}

/* ---- PATCH with a version: read, merge, and a write that checks it ----- */

/* A PATCH that names a version needs no lock and no transaction: it reads
 * the bid, answers a stale version or an archived bid at once from that
 * read, merges, and writes with "version = the one read". Versions only
 * grow and every change of data bumps it, so a write that matches is a
 * write over exactly the data the merge started from; one that matches
 * nothing lost a race, and the bid is read again to say why. Two round
 * trips for an edit, one for a conflict, and a hot bid is never queued
 * on its row lock by clients that are already stale. The database's
 * clock at the read becomes updated_at, so that the new version's view is
 * rendered from the read without reading it back (its lease is the one
 * read: leases change without a new version anyway). */
static const char SQL_PATCH_READ[] =
    "SELECT " BID_COLUMNS ", UTC_TIMESTAMP(3) FROM bids "
    "WHERE id = ? AND tenant_id = ?";
enum { C_NOW = C_UPDATED + 1 };
static const char SQL_PATCH_CHECKED[] =
    "UPDATE bids SET data = ?, "
    "data_version = data_version + 1, version = version + 1, "
    "updated_at = ? "
    "WHERE id = ? AND tenant_id = ? AND version = ? "
    "AND status IN ('open', 'evaluating', 'decided')";

struct patch_ctx {
    http_req *r;
    uint64_t id;
    uint32_t expect;
    json_object *patch;
    char why[128];    /* OUT: why the merged data cannot be stored */
    jbuf view;        /* OUT: the bid as written, or as it refused */
    jbuf lease;       /* OUT (invalid_state): its lease */
    uint32_t version; /* OUT: the view's version */
    char status[16];  /* OUT: the view's status */
};

/* The stored status allows a PATCH (PATCH_FROM, SQL_PATCH_CHECKED's
 * condition). */
static int patchable(const char *status)
{
    for (const char *const *f = PATCH_FROM; *f != NULL; f++)
        if (status != NULL && strcmp(status, *f) == 0)
            return 1;
    return 0;
}

static rec_status patch_checked(rec_db *db, void *vctx, rec_err *err)
{
    struct patch_ctx *c = vctx;
    rec_param key[2] = {REC_U(c->id), REC_U(c->r->tenant_id)};
    c->why[0] = '\0';
    /* Round 2 only follows a write that lost a race after a read that
     * matched; its read sees the row past the version sent. */
    for (int round = 0; round < 3; round++) {
        rec_rows *rows = NULL;
        rec_status st =
            rec_exec(db, SQL_PATCH_READ, key, 2, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        if (rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            return REC_NOT_FOUND;
        }
        c->version = (uint32_t)rec_rows_u64(rows, 0, C_VERSION);
        snprintf(c->status, sizeof c->status, "%s",
                 rec_rows_get(rows, 0, C_STATUS));
        jb_reset(&c->view);
        jb_reset(&c->lease);
        /* invalid_state wins over a stale version (see transition.c). */
        if (!patchable(c->status) || c->version != c->expect || round == 2) {
            render_row(&c->view, rows, 0);
            render_lease(&c->lease, rows, 0);
            rec_rows_free(rows);
            return patchable(c->status) ? REC_CONFLICT : REC_INVALID_STATE;
        }
        jbuf merged;
        jb_init(&merged);
        st = merge_data(rec_rows_get(rows, 0, C_DATA),
                        rec_rows_len(rows, 0, C_DATA), c->patch, &merged,
                        c->why, err);
        const char *now = rec_rows_get(rows, 0, C_NOW);
        uint64_t affected = 0;
        if (st == REC_OK) {
            rec_param p[5] = {REC_S(merged.p, merged.len),
                              REC_S(now, strlen(now)), REC_U(c->id),
                              REC_U(c->r->tenant_id), REC_U(c->expect)};
            st = rec_exec(db, SQL_PATCH_CHECKED, p, 5, NULL, &affected, NULL,
                          err);
        }
        if (st == REC_OK && affected == 1) {
            struct bid_edit e = {.version = c->expect + 1, .data = merged.p,
                                 .data_len = merged.len, .updated_at = now};
            render_edited(&c->view, rows, 0, &e);
            c->version = e.version;
        }
        jb_free(&merged);
        rec_rows_free(rows);
        if (st != REC_OK || affected == 1)
            return st;
    }
    return REC_CONFLICT; /* not reached: round 2 returns above */
}

static void patch_with_version(http_req *r, json_object *patch,
                               uint32_t expect, int use_412)
{
    struct patch_ctx c = {.r = r, .id = r->ids[0], .expect = expect,
                          .patch = patch};
    rec_err err = {0};
    jb_init(&c.view);
    jb_init(&c.lease);
    rec_status st = rec_autocommit(r->db, patch_checked, &c, &err);
    if (st == REC_OK) {
        jb_raw(reply_body(r), c.view.p, c.view.len);
        reply_etag(r, c.version);
        reply_json(r, 200);
    } else if (st == REC_INVALID && c.why[0] != '\0') {
        reply_error(r, 400, "bad_request", c.why, NULL);
    } else if (st == REC_CONFLICT || st == REC_INVALID_STATE) {
        refusal_reply(r, st, use_412, c.version, c.status, &c.view, &c.lease);
    } else {
        reply_rec(r, st, &err);
    }
    jb_free(&c.view);
    jb_free(&c.lease);
}

/* A [versioned] guarded write of bid r->ids[0] (a merge of `patch` into
 * its data, when not NULL), answered. */
static void guarded_write(http_req *r, rec_expect expect, int use_412,
                          const char *sql, json_object *patch,
                          const char *const *from)
{
    struct write_ctx c = {.r = r, .id = r->ids[0], .sql = sql,
                          .patch = patch, .from = from, .expect = expect};
    rec_err err = {0};
    rec_status st = rec_txn(r->db, write_body, &c, &err);
    if (st == REC_INVALID && c.why[0] != '\0') {
        reply_error(r, 400, "bad_request", c.why, NULL);
        return;
    }
    if (st != REC_OK) {
        bids_refused_reply(r, c.id, st, &err, use_412);
        return;
    }
    reply_etag(r, c.version);
    reply_json(r, 200);
}

void route_bid_patch(http_req *r)
{
    json_object *body = body_object_or_reply(r), *patch = NULL;
    if (body == NULL)
        return;
    if (!json_object_object_get_ex(body, "data", &patch) || patch == NULL ||
        !json_object_is_type(patch, json_type_object)) {
        reply_error(r, 400, "bad_request",
                    "\"data\" must be a JSON object (a merge patch)", NULL);
        return;
    }
    rec_expect expect;
    int use_412 = 0;
    if (bids_expect_or_reply(r, body, r->ids[0], &expect, &use_412) != 0)
        return;
    if (!expect.any)
        patch_with_version(r, patch, expect.version, use_412);
    else
        guarded_write(r, expect, use_412, SQL_PATCH, patch, PATCH_FROM);
}

void route_bid_archive(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    rec_expect expect;
    int use_412 = 0;
    if (bids_expect_or_reply(r, body, r->ids[0], &expect, &use_412) != 0)
        return;
    guarded_write(r, expect, use_412, SQL_ARCHIVE, NULL, ARCHIVE_FROM);
}

/* ---- the runs ---------------------------------------------------------------- */

void route_bid_evaluations(http_req *r)
{
    rec_param p[2] = {REC_U(r->ids[0]), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec(r->db, SQL_EXISTS, p, 2, &rows, NULL, NULL, &err);
    size_t found = rec_rows_count(rows);
    rec_rows_free(rows);
    rows = NULL;
    if (st == REC_OK && found == 0)
        st = REC_NOT_FOUND;
    if (st == REC_OK)
        st = rec_exec(r->db, SQL_RUNS, p, 2, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"items\":[");
    for (size_t i = 0; i < rec_rows_count(rows); i++) {
        const char *outcome = rec_rows_get(rows, i, 2);
        const char *result = rec_rows_get(rows, i, 3);
        const char *finished = rec_rows_get(rows, i, 5);
        const char *detail = rec_rows_get(rows, i, 6);
        /* A dead worker marks nothing: a run whose lease passed is over. */
        if (strcmp(outcome, "running") == 0 && rec_rows_u64(rows, i, 7) == 0) {
            outcome = "expired";
            finished = rec_rows_get(rows, i, 8);
            detail = "the lease passed before the run finished";
        }
        if (i > 0)
            jb_lit(b, ",");
        jb_lit(b, "{\"id\":");
        jb_u64(b, rec_rows_u64(rows, i, 0));
        jb_lit(b, ",\"kind\":");
        jb_cstr(b, rec_rows_get(rows, i, 1));
        jb_lit(b, ",\"outcome\":");
        jb_cstr(b, outcome);
        jb_lit(b, ",\"result\":");
        if (result != NULL)
            jb_raw(b, result, rec_rows_len(rows, i, 3));
        else
            jb_lit(b, "null");
        jb_lit(b, ",\"started_at\":");
        jb_time(b, rec_rows_get(rows, i, 4));
        jb_lit(b, ",\"finished_at\":");
        jb_time(b, finished);
        jb_lit(b, ",\"error\":");
        jb_cstr(b, detail);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
    rec_rows_free(rows);
    reply_json(r, 200);
}
