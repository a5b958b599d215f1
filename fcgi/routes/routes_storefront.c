/*
 * routes_storefront.c -- the storefront: one draft config per tenant,
 * edited from several tabs. Every write carries the version its tab
 * loaded and goes through vw_run, so the database checks that version in
 * the statement that writes; publish copies exactly the draft version it
 * names; the last 50 versions stay readable, so a tab that lost a
 * conflict can show "theirs and yours" and lose nothing.
 *
 * The draft is one row per tenant (vw_resource.per_tenant). Each write of
 * the draft records the new version in the history in its transaction
 * (storefront_record). PATCH ops run in C (jpath.c) on the config
 * read under the row's lock; the versioned UPDATE then writes the result.
 */
#include "body.h"
#include "jpath.h"
#include "paging.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "vwrite.h"
#include "xalloc.h"

#include "parse.h"
#include "storefront.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest config a PATCH may leave (a PUT is bounded by the body). */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define LIST_DEFAULT     50
#define LIST_MAX         500

/* How configs are stored and answered: compact, "/" not escaped. */
#define CONFIG_TEXT_FLAGS                                                      \
    (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char SQL_VERSION[] =
    "SELECT version FROM storefront_drafts WHERE tenant_id = ?";
/* Both start with tenant_id, version, as vw_resource.load_sql does. */
static const char SQL_DRAFT[] =
    "SELECT tenant_id, version, config, updated_at FROM storefront_drafts "
    "WHERE tenant_id = ?";
static const char SQL_STOREFRONT[] =
    "SELECT d.tenant_id, d.version, d.config, d.updated_at, p.draft_version, "
    "p.config, p.published_at FROM storefront_drafts d "
    "LEFT JOIN storefront_published p ON p.tenant_id = d.tenant_id "
    "WHERE d.tenant_id = ?";
/* PATCH reads the config it edits under the row's lock: the UPDATE that
 * follows (which still carries the version) writes exactly what the ops
 * made of that config, and an If-Match: * PATCH cannot lose a write made
 * between its read and its write. */
static const char SQL_LOCK[] =
    "SELECT version, config FROM storefront_drafts WHERE tenant_id = ? "
    "FOR UPDATE";
static const char SQL_SET_CONFIG[] =
    "UPDATE storefront_drafts SET config = ?, version = version + 1, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_DISCARD[] =
    "UPDATE storefront_drafts SET config = COALESCE((SELECT p.config FROM "
    "storefront_published p WHERE p.tenant_id = ?), '{}'), "
    "version = version + 1, updated_at = UTC_TIMESTAMP(3) "
    "WHERE tenant_id = ? AND version = COALESCE(?, version)";
/* Publish is one statement whose WHERE carries the draft's version: it
 * copies a row only if the draft has that version, and the rows it writes
 * decide (REPLACE counts 1 or 2, never 0, when it copied one). The check
 * and the copy read the same row, so the published config is exactly
 * that version's. The draft's version does not change. */
static const char SQL_PUBLISH[] =
    "REPLACE INTO storefront_published "
    "(tenant_id, draft_version, config, published_at) "
    "SELECT tenant_id, version, config, UTC_TIMESTAMP(3) "
    "FROM storefront_drafts "
    "WHERE tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_VERSIONS[] =
    "SELECT version, updated_at FROM storefront_versions "
    "WHERE tenant_id = ? AND version < ? ORDER BY version DESC LIMIT ?";
static const char SQL_VERSION_GET[] =
    "SELECT version, config, updated_at FROM storefront_versions "
    "WHERE tenant_id = ? AND version = ?";

/* ---- loading ----------------------------------------------------------- */

/* {"version", "config", "updated_at"} from columns c, c+1, c+2 of row
 * i. The config is JSON text the service wrote: embedded as it is. */
static void write_version(jbuf *out, const rec_rows *rows, size_t i, size_t c)
{
    jb_lit(out, "{\"version\":");
    jb_u64(out, rec_rows_u64(rows, i, c));
    jb_lit(out, ",\"config\":");
    jb_raw(out, rec_rows_get(rows, i, c + 1), rec_rows_len(rows, i, c + 1));
    jb_lit(out, ",\"updated_at\":");
    jb_time(out, rec_rows_get(rows, i, c + 2));
    jb_lit(out, "}");
}

/* A config as stored (its text belongs to the object); json-c fails only
 * when out of memory. */
static const char *config_text(json_object *config, size_t *len)
{
    const char *text =
        json_object_to_json_string_length(config, CONFIG_TEXT_FLAGS, len);
    xok(text == NULL, "json_object_to_json_string");
    return text;
}

/* One row of `sql` (which takes the tenant id), or REC_NOT_FOUND. */
static rec_status load_row(http_req *r, const char *sql, rec_rows **rows,
                           rec_err *err)
{
    rec_param p[1] = {REC_U(r->tenant_id)};
    return rec_exec_row(r->db, sql, p, 1, rows, err);
}

/* The draft: {"version", "config", "updated_at"}. */
static void draft_render(jbuf *out, const rec_rows *rows, size_t i)
{
    write_version(out, rows, i, 1);
}

/* The whole storefront: {"draft", "published"}. */
static void storefront_render(jbuf *out, const rec_rows *rows, size_t i)
{
    jb_lit(out, "{\"draft\":");
    write_version(out, rows, i, 1);
    jb_lit(out, ",\"published\":");
    if (rec_rows_get(rows, i, 4) == NULL) {
        jb_lit(out, "null");
    } else {
        jb_lit(out, "{\"draft_version\":");
        jb_u64(out, rec_rows_u64(rows, i, 4));
        jb_lit(out, ",\"config\":");
        jb_raw(out, rec_rows_get(rows, i, 5), rec_rows_len(rows, i, 5));
        jb_lit(out, ",\"published_at\":");
        jb_time(out, rec_rows_get(rows, i, 6));
        jb_lit(out, "}");
    }
    jb_lit(out, "}");
}

/* The tenant's draft: one row per tenant. */
static const struct resource res_draft = {.name = "storefront",
                                          .table = "storefront_drafts",
                                          .tenant_col = "tenant_id",
                                          .per_tenant = 1,
                                          .load_sql = SQL_DRAFT,
                                          .render = draft_render,
                                          .version_sql = SQL_VERSION,
                                          .feed = RES_FEED_RECORD};
/* The whole storefront, loaded as one resource (its version is the
 * draft's): GET /v1/storefront and the answer of a publish. */
static const struct resource whole = {.name = "storefront",
                                      .table = "storefront_drafts",
                                      .tenant_col = "tenant_id",
                                      .per_tenant = 1,
                                      .load_sql = SQL_STOREFRONT,
                                      .render = storefront_render};

/* vw_write.after of every write that changes the draft. */
static rec_status record_step(http_req *r, uint64_t id, rec_expect expect,
                              void *ctx, char *why, rec_err *err)
{
    (void)id; /* one draft per tenant */
    (void)expect;
    (void)ctx;
    (void)why;
    return storefront_record(r->db, r->tenant_id, err);
}

/* ---- routes -------------------------------------------------------------- */

static void route_storefront_get(http_req *r)
{
    /* No ETag: a publish changes this answer without changing the draft's
     * version, so "<draft version>" would be a validator that lies. */
    uint32_t v = 0;
    rec_err err = {0};
    rec_status st =
        resource_load(r->db, &whole, r->tenant_id, 0, reply_body(r), &v, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    reply_json(r, 200);
}

static void route_storefront_draft_get(http_req *r)
{
    vw_get(r, &res_draft, 0);
}

static void route_storefront_draft_put(http_req *r)
{
    json_object *body = body_object_or_reply(r), *config = NULL;
    if (body == NULL)
        return;
    if (!json_object_object_get_ex(body, "config", &config) ||
        !json_object_is_type(config, json_type_object)) {
        reply_error(r, 400, "bad_request", "\"config\" must be an object",
                    NULL);
        return;
    }
    if (jp_depth(config) > JP_MAX_DEPTH) {
        reply_errorf(r, 400, "bad_request",
                     "\"config\" is nested deeper than %d levels, the most "
                     "the database stores",
                     JP_MAX_DEPTH);
        return;
    }
    /* The text belongs to `config`, which lives as long as the request. */
    size_t len = 0;
    const char *text = config_text(config, &len);
    rec_param p[1] = {REC_S(text, len)};
    vw_write w = {
        .sql = SQL_SET_CONFIG, .params = p, .nparams = 1, .after = record_step};
    vw_run(r, &res_draft, 0, body, &w);
}

struct patch_ctx {
    const jp_ops *ops;
    rec_rows *rows;      /* the locked row (stale case: its config) */
    json_object *doc;    /* the config after the ops; owns the text */
    rec_param params[1]; /* the new config, for SQL_SET_CONFIG */
};

/* vw_write.before of PATCH: locks the draft, applies the ops to its
 * config and hands the result to the versioned UPDATE. */
static rec_status patch_step(http_req *r, uint64_t id, rec_expect expect,
                             void *vctx, char *why, rec_err *err)
{
    (void)id; /* one draft per tenant */
    struct patch_ctx *c = vctx;
    /* rec_txn may run this again: drop what an earlier run made. */
    json_object_put(c->doc);
    c->doc = NULL;
    rec_rows_free(c->rows);
    c->rows = NULL;

    rec_status st = load_row(r, SQL_LOCK, &c->rows, err);
    if (st != REC_OK)
        return st;
    const char *stored = rec_rows_get(c->rows, 0, 1);
    size_t stored_len = rec_rows_len(c->rows, 0, 1);
    if (!expect.any && rec_rows_u64(c->rows, 0, 0) != expect.version) {
        /* A stale version: the ops were meant for another config. We
         * hold the lock, so the UPDATE cannot match; let it find that
         * out and answer the conflict the usual way (with the unchanged
         * config as its harmless parameter). */
        c->params[0] = REC_S(stored, stored_len);
        return REC_OK;
    }
    /* json-c counts a scalar as a level of its own: one more than ours. */
    json_tokener *tok =
        xnonnull(json_tokener_new_ex(JP_MAX_DEPTH + 2), "json_tokener_new_ex");
    c->doc = json_tokener_parse_ex(tok, stored, (int)stored_len);
    json_tokener_free(tok);
    if (c->doc == NULL) {
        snprintf(err->msg, sizeof err->msg, "stored config is not JSON");
        return REC_ERROR;
    }
    if (jp_ops_apply(c->ops, &c->doc, why, VW_WHY_MAX) != 0)
        return REC_INVALID; /* rolled back: the draft is unchanged */
    size_t len = 0;
    const char *text = config_text(c->doc, &len);
    if (len > CONFIG_MAX_BYTES) {
        snprintf(why, VW_WHY_MAX, "the config would be larger than %d bytes",
                 CONFIG_MAX_BYTES);
        return REC_INVALID;
    }
    c->params[0] = REC_S(text, len);
    return REC_OK;
}

static void route_storefront_draft_patch(http_req *r)
{
    json_object *body = body_object_or_reply(r), *ops_json = NULL;
    char why[VW_WHY_MAX];
    jp_ops ops;
    if (body == NULL)
        return;
    (void)json_object_object_get_ex(body, "ops", &ops_json);
    /* Every op is checked before the transaction; only what depends on
     * the config (a missing target, an index out of range) waits. */
    if (jp_ops_parse(ops_json, &ops, why, sizeof why) != 0) {
        reply_error(r, 400, "bad_request", why, NULL);
        return;
    }
    struct patch_ctx c = {.ops = &ops};
    vw_write w = {.sql = SQL_SET_CONFIG,
                  .params = c.params,
                  .nparams = 1,
                  .before = patch_step,
                  .after = record_step,
                  .ctx = &c};
    vw_run(r, &res_draft, 0, body, &w);
    json_object_put(c.doc);
    rec_rows_free(c.rows);
    jp_ops_free(&ops);
}

static void route_storefront_publish(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    /* Versioned on the draft: its 409/412 carry the draft; success
     * answers the whole storefront, with the draft's version as ETag. */
    vw_write w = {.sql = SQL_PUBLISH, .answer = &whole};
    vw_run(r, &res_draft, 0, body, &w);
}

static void route_storefront_discard(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    rec_param p[1] = {REC_U(r->tenant_id)};
    vw_write w = {
        .sql = SQL_DISCARD, .params = p, .nparams = 1, .after = record_step};
    vw_run(r, &res_draft, 0, body, &w);
}

/* Reads ?name= as an integer in [lo, hi]; absent gives *out = dflt.
 * Returns 0, or -1 after answering 400. */
static int query_uint_or_reply(http_req *r, const char *name, uint64_t lo,
                               uint64_t hi, uint64_t dflt, uint64_t *out)
{
    char buf[24];
    int got = http_query_param(r, name, buf, sizeof buf);
    *out = dflt;
    if (got == 0)
        return 0;
    uint64_t v = 0;
    size_t n = got > 0 ? parse_u64(buf, UINT64_MAX, &v) : 0;
    int ok = n > 0 && n <= 19 && buf[n] == '\0';
    if (!ok || v < lo || v > hi) {
        reply_errorf(r, 400, "bad_request",
                     "?%s= must be an integer from %llu to %llu", name,
                     (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void render_version(jbuf *b, const rec_rows *rows, size_t i)
{
    jb_lit(b, "{\"version\":");
    jb_u64(b, rec_rows_u64(rows, i, 0));
    jb_lit(b, ",\"updated_at\":");
    jb_time(b, rec_rows_get(rows, i, 1));
    jb_lit(b, "}");
}

static void route_storefront_versions(http_req *r)
{
    uint64_t limit, after;
    if (query_uint_or_reply(r, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) ||
        query_uint_or_reply(r, "after", 1, UINT32_MAX, UINT32_MAX + 1ULL,
                            &after))
        return;
    /* Newest first, so ?after=<v> continues with the versions below v. */
    rec_param p[3] = {REC_U(r->tenant_id), REC_U(after), REC_U(limit)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st =
        rec_exec(r->db, SQL_VERSIONS, p, 3, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    paging_reply(r, rows, (unsigned)limit, 0, render_version);
}

static void route_storefront_version_get(http_req *r)
{
    uint64_t v = r->ids[0];
    if (v == 0 || v > UINT32_MAX) {
        reply_error(r, 404, "not_found", "no such version", NULL);
        return;
    }
    rec_param p[2] = {REC_U(r->tenant_id), REC_U(v)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st =
        rec_exec(r->db, SQL_VERSION_GET, p, 2, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        /* Never written, or older than the last 50 and pruned. */
        reply_error(r, 404, "not_found",
                    "no such version (only the last "
                    "50 are kept)",
                    NULL);
        return;
    }
    write_version(reply_body(r), rows, 0, 0);
    rec_rows_free(rows);
    reply_json(r, 200);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"GET", "/v1/storefront", route_storefront_get, ROUTE_AUTH, &res_draft},
    {"GET", "/v1/storefront/draft", route_storefront_draft_get, ROUTE_AUTH,
     &res_draft},
    {"PUT", "/v1/storefront/draft", route_storefront_draft_put, ROUTE_AUTH,
     &res_draft},
    {"PATCH", "/v1/storefront/draft", route_storefront_draft_patch, ROUTE_AUTH,
     &res_draft},
    {"POST", "/v1/storefront/publish", route_storefront_publish, ROUTE_AUTH,
     &res_draft},
    {"POST", "/v1/storefront/discard", route_storefront_discard, ROUTE_AUTH,
     &res_draft},
    {"GET", "/v1/storefront/draft/versions", route_storefront_versions,
     ROUTE_AUTH, &res_draft},
    {"GET", "/v1/storefront/draft/versions/{id}", route_storefront_version_get,
     ROUTE_AUTH, &res_draft},
    {"GET", "/v1/storefront/draft/events", route_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, &res_draft},
};

const struct route_set storefront_routes = ROUTE_SET(rows);
