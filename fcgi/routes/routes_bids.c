/*
 * routes_bids.c -- bids: create, read, list, edit (JSON merge patch on
 * `data`), archive, and the record of their evaluation runs. The evaluate
 * route itself is in routes_evaluate.c; the state machine every write here
 * goes through is in lib/bidstate.c.
 *
 * An edit is allowed while an evaluation runs: it is exactly what makes
 * that run's result "superseded" instead of applied over the edit.
 */

#include "body.h"
#include "jpath.h"
#include "bidstate.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "vwrite.h"

#include <stdio.h>
#include <string.h>

#define DATA_MAX HTTP_MAX_BODY /* bytes of a bid's data, after a merge */

/* The columns every bid view is rendered from (render_row). */
#define BID_COLUMNS                                                            \
    "id, version, status, data, evaluation, lease_until, "                     \
    "lease_until < UTC_TIMESTAMP(3), created_at, updated_at"
enum {
    C_ID,
    C_VERSION,
    C_STATUS,
    C_DATA,
    C_EVAL,
    C_LEASE_UNTIL,
    C_LEASE_EXPIRED,
    C_CREATED,
    C_UPDATED
};

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
static const char SQL_VERSION[] =
    "SELECT version FROM bids WHERE id = ? AND tenant_id = ?";

/* The data a PATCH merges into, locked until the transaction ends: the
 * merge is computed from exactly the row the guarded UPDATE then checks. */
static const char SQL_DATA_FOR_UPDATE[] =
    "SELECT data FROM bids WHERE id = ? AND tenant_id = ? FOR UPDATE";
/* open | evaluating | decided -> the same status, data replaced by the
 * merge (If-Match: * alone, with the data locked above). data_version
 * tells a running evaluation that it was edited. The start statuses:
 * every one but archived ("lapsed" is BID_STATE_SQL's name for evaluating
 * with a passed lease). */
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
    jb_record_head(b, rec_rows_u64(rows, i, C_ID),
                   e ? e->version : rec_rows_u64(rows, i, C_VERSION));
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

/* resource_view_fn: a refused write is answered with the bid's lease while it
 * is evaluating (until when, and whether a new evaluation could already
 * take it over). */
static void bid_view(const rec_rows *rows, jbuf *out, uint32_t *version,
                     char *status, jbuf *extra)
{
    *version = (uint32_t)rec_rows_u64(rows, 0, C_VERSION);
    snprintf(status, REC_STATUS_MAX, "%s", rec_rows_get(rows, 0, C_STATUS));
    render_row(out, rows, 0);
    if (strcmp(status, "evaluating") == 0) {
        jb_lit(extra, "\"lease\":");
        render_lease(extra, rows, 0);
    }
}

const struct resource res_bids = {.name = "bids",
                                  .table = "bids",
                                  .id_col = "id",
                                  .tenant_col = "tenant_id",
                                  .load_sql = SQL_LOAD,
                                  .render = render_row,
                                  .version_sql = SQL_VERSION,
                                  .state_sql = BID_STATE_SQL,
                                  .collection = "/v1/bids",
                                  .view = bid_view,
                                  .feed = RES_FEED_RECORD};

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
                     "the database stores",
                     JP_MAX_DEPTH);
        return -1;
    }
    *text = json_object_to_json_string_ext(
        d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    *len = strlen(*text);
    return 0;
}

/* ---- create, get, list ------------------------------------------------ */

static void route_bid_create(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    const char *data;
    size_t len;
    if (body == NULL || data_or_reply(r, body, &data, &len) != 0)
        return;
    rec_param p[1] = {REC_S(data, len)};
    vw_create(r, &res_bids, SQL_INSERT, p, 1);
}

static void route_bid_get(http_req *r)
{
    vw_get(r, &res_bids, r->ids[0]);
}

static const char *const STATUSES[] = {"open", "evaluating", "decided",
                                       "archived", NULL};

static void route_bid_list(http_req *r)
{
    static const vw_list_sql list = {
        .all = SQL_LIST,
        .by_status = SQL_LIST_STATUS,
        .statuses = STATUSES,
        .bad_status = "status must be open, evaluating, decided or archived",
        .byte_cut = 1};
    vw_list(r, &res_bids, &list);
}

/* ---- patch, archive ------------------------------------------------------ */

/* Merges `patch` into the stored data `text` (RFC 7396, by jpath.c's
 * merge op, the one storefront's PATCH uses) and writes the result to
 * `merged`. REC_INVALID with why[VW_WHY_MAX] when the result cannot be
 * stored. */
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
    jb_lit(merged,
           json_object_to_json_string_ext(
               data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(data);
    if (depth > JP_MAX_DEPTH || merged->len > DATA_MAX) {
        snprintf(why, VW_WHY_MAX,
                 depth > JP_MAX_DEPTH
                     ? "the merged data would be nested deeper than %d "
                       "levels, the most the database stores"
                     : "the merged data would be larger than %d bytes",
                 depth > JP_MAX_DEPTH ? JP_MAX_DEPTH : DATA_MAX);
        return REC_INVALID;
    }
    return REC_OK;
}

/* A PATCH: the merge patch, the merged data (owned here) and, for the
 * checked write, the database's clock at the read, which becomes
 * updated_at so that the new version's view is rendered from the read
 * without reading it back (its lease is the one read: leases change
 * without a new version anyway). */
struct patch_ctx {
    json_object *patch;
    jbuf merged;
    rec_param set[2];
    const char *now;
    char why[VW_WHY_MAX]; /* the checked write's 400 message */
};

/* PATCH with If-Match: * (no version to check): reads and locks the
 * data, in the transaction of the guarded UPDATE, and merges the patch
 * into it: the lock is what makes the merge's base the row the UPDATE then
 * changes. */
static rec_status merge_locked(http_req *r, uint64_t id, rec_expect expect,
                               void *vctx, char *why, rec_err *err)
{
    struct patch_ctx *c = vctx;
    rec_param key[2] = {REC_U(id), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    (void)expect;
    rec_status st =
        rec_exec_row(r->db, SQL_DATA_FOR_UPDATE, key, 2, &rows, err);
    if (st != REC_OK)
        return st;
    st = merge_data(rec_rows_get(rows, 0, 0), rec_rows_len(rows, 0, 0),
                    c->patch, &c->merged, why, err);
    rec_rows_free(rows);
    if (st == REC_OK)
        c->set[0] = REC_S(c->merged.p, c->merged.len);
    return st;
}

/* PATCH with a version: the checked write (rec_checked_write), read
 * without a lock and written with "version = the one read". Two round
 * trips for an edit, one for a conflict, and a hot bid is never queued
 * on its row lock by clients that are already stale. */
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

static rec_status merge_read(const rec_rows *read, void *vctx,
                             rec_param *params, size_t *n, rec_err *err)
{
    struct patch_ctx *c = vctx;
    rec_status st =
        merge_data(rec_rows_get(read, 0, C_DATA), rec_rows_len(read, 0, C_DATA),
                   c->patch, &c->merged, c->why, err);
    if (st != REC_OK)
        return st;
    c->now = rec_rows_get(read, 0, C_NOW);
    params[0] = REC_S(c->merged.p, c->merged.len);
    params[1] = REC_S(c->now, strlen(c->now));
    *n = 2;
    return REC_OK;
}

static void patch_written(const rec_rows *read, uint32_t version, void *vctx,
                          jbuf *out)
{
    struct patch_ctx *c = vctx;
    struct bid_edit e = {.version = version,
                         .data = c->merged.p,
                         .data_len = c->merged.len,
                         .updated_at = c->now};
    render_edited(out, read, 0, &e);
}

static void route_bid_patch(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    struct patch_ctx c = {0};
    if (body == NULL)
        return;
    if (!json_object_object_get_ex(body, "data", &c.patch) || c.patch == NULL ||
        !json_object_is_type(c.patch, json_type_object)) {
        reply_error(r, 400, "bad_request",
                    "\"data\" must be a JSON object (a merge patch)", NULL);
        return;
    }
    vw_expect e;
    if (vw_expect_or_reply(r, &res_bids, r->ids[0], body, &e) != 0)
        return;
    jb_init(&c.merged);
    if (e.expect.any) {
        /* If-Match: * alone: no version to check, the row is locked. */
        vw_write w = {.sql = SQL_PATCH,
                      .params = c.set,
                      .nparams = 1,
                      .from = PATCH_FROM,
                      .before = merge_locked,
                      .ctx = &c};
        vw_write_txn(r, &res_bids, r->ids[0], &e, &w);
    } else {
        vw_checked w = {.check = {.read_sql = SQL_PATCH_READ,
                                  .version_col = C_VERSION,
                                  .status_col = C_STATUS,
                                  .update_sql = SQL_PATCH_CHECKED,
                                  .nparams = 2,
                                  .from = PATCH_FROM,
                                  .compute = merge_read,
                                  .ctx = &c},
                        .written = patch_written,
                        .why = c.why};
        vw_write_checked(r, &res_bids, r->ids[0], &e, &w);
    }
    jb_free(&c.merged);
}

static void route_bid_archive(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    vw_write w = {.sql = SQL_ARCHIVE, .from = ARCHIVE_FROM};
    vw_run(r, &res_bids, r->ids[0], body, &w);
}

/* ---- the runs
 * ---------------------------------------------------------------- */

static void route_bid_evaluations(http_req *r)
{
    rec_param p[2] = {REC_U(r->ids[0]), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec_row(r->db, SQL_VERSION, p, 2, &rows, &err);
    rec_rows_free(rows);
    rows = NULL;
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

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"POST", "/v1/bids", route_bid_create, ROUTE_AUTH, &res_bids},
    {"GET", "/v1/bids", route_bid_list, ROUTE_AUTH, &res_bids},
    {"GET", "/v1/bids/{id}", route_bid_get, ROUTE_AUTH, &res_bids},
    {"PATCH", "/v1/bids/{id}", route_bid_patch, ROUTE_AUTH, &res_bids},
    {"POST", "/v1/bids/{id}/archive", route_bid_archive, ROUTE_AUTH, &res_bids},
    {"GET", "/v1/bids/{id}/evaluations", route_bid_evaluations, ROUTE_AUTH,
     &res_bids},
    {"GET", "/v1/bids/{id}/events", route_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, &res_bids},
};

const struct route_set bid_routes = ROUTE_SET(rows);
