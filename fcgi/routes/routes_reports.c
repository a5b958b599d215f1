/*
 * routes_reports.c -- reports: a versioned title, and a chat history that
 * many clients append to at once without a version (an append conflicts
 * with nobody) and without ever losing or doubling a message. The chat's
 * rules live in lib/chat.c; this file reads requests and answers them.
 */
#include "chat.h"
#include "body.h"
#include "metrics.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "title.h"
#include "vwrite.h"

#include <stdio.h>
#include <string.h>

/* A report is read without its history (which is in
 * report_chat_segments). */
static const char SQL_LOAD[] =
    "SELECT id, version, title, chat_length, created_at, updated_at "
    "FROM reports "
    "WHERE id = ? AND tenant_id = ?";
static const char SQL_VERSION[] =
    "SELECT version FROM reports WHERE id = ? AND tenant_id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO reports (tenant_id, title, created_at, updated_at)"
    " VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
static const char SQL_SET_TITLE[] =
    "UPDATE reports SET title = ?, version = version + 1, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version)";

static void report_render(jbuf *out, const rec_rows *rows, size_t i)
{
    title_render_head(out, rows, i);
    jb_lit(out, ",\"chat_length\":");
    jb_u64(out, rec_rows_u64(rows, i, 3));
    title_render_tail(out, rows, i, 4);
}

/* A chat append changes the report (its chat_length) and the chat. */
static const char *const report_and_chat[] = {"chat", NULL};
static const char *const chat_and_report[] = {"reports", NULL};

static const struct resource res_reports = {.name = "reports",
                                            .table = "reports",
                                            .id_col = "id",
                                            .tenant_col = "tenant_id",
                                            .load_sql = SQL_LOAD,
                                            .render = report_render,
                                            .version_sql = SQL_VERSION,
                                            .collection = "/v1/reports",
                                            .feed = RES_FEED_RECORD,
                                            .also = report_and_chat};

/* A report's chat, as its feed follows it: the cursor is its length. */
const struct resource res_chat = {.name = "chat",
                                  .table = "reports",
                                  .id_col = "id",
                                  .tenant_col = "tenant_id",
                                  .feed = RES_FEED_CHAT,
                                  .poll_col = "chat_length",
                                  .also = chat_and_report};

/* ---- the report -------------------------------------------------------- */

static void route_report_create(http_req *r)
{
    title_create(r, &res_reports, SQL_INSERT);
}

static void route_report_get(http_req *r)
{
    vw_get(r, &res_reports, r->ids[0]);
}

static void route_report_patch(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    rec_param title;
    if (body == NULL)
        return;
    /* "title" is what a PATCH changes: it must be there (null clears it),
     * or the call would bump the version and change nothing. */
    if (!json_object_object_get_ex(body, "title", NULL)) {
        reply_error(r, 400, "bad_request",
                    "\"title\" (a string, or null to clear it) is required",
                    NULL);
        return;
    }
    if (title_param_or_reply(r, body, &title) != 0)
        return;
    vw_write w = {.sql = SQL_SET_TITLE, .params = &title, .nparams = 1};
    vw_run(r, &res_reports, r->ids[0], body, &w);
}

/* ---- the chat ---------------------------------------------------------- */

/* A string member of a message, or NULL when absent or not a string. */
static const char *msg_string(json_object *msg, const char *key, size_t *len)
{
    json_object *v = NULL;
    *len = 0;
    if (!json_object_object_get_ex(msg, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

/* Fills msgs[] from the body's "messages" (strings borrowed from the
 * body). Returns the count, or -1 after answering 400. */
static int parse_messages_or_reply(http_req *r, json_object *body,
                                   chat_msg msgs[CHAT_MAX_BATCH])
{
    json_object *arr = NULL;
    if (!json_object_object_get_ex(body, "messages", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        reply_error(r, 400, "bad_request",
                    "\"messages\" must be an array of {\"id\", \"role\", "
                    "\"content\"}",
                    NULL);
        return -1;
    }
    size_t n = json_object_array_length(arr);
    if (n == 0 || n > CHAT_MAX_BATCH) {
        reply_errorf(r, 400, "bad_request",
                     "\"messages\" must hold 1 to %d messages, not %zu",
                     CHAT_MAX_BATCH, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(arr, i);
        chat_msg *cm = &msgs[i];
        if (!json_object_is_type(m, json_type_object)) {
            reply_errorf(r, 400, "bad_request",
                         "messages[%zu] must be an object", i);
            return -1;
        }
        cm->id = msg_string(m, "id", &cm->id_len);
        cm->role = msg_string(m, "role", &cm->role_len);
        cm->content = msg_string(m, "content", &cm->content_len);
        chat_fault f = chat_check(cm);
        if (f != CHAT_FAULT_NONE) {
            reply_errorf(r, 400, "bad_request", "messages[%zu]: %s", i,
                         chat_fault_text(f));
            return -1;
        }
    }
    return (int)n;
}

static void route_report_chat_append(http_req *r)
{
    chat_msg msgs[CHAT_MAX_BATCH];
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    int n = parse_messages_or_reply(r, body, msgs);
    if (n < 0)
        return;

    chat_result res;
    rec_err err = {0};
    rec_status st = chat_append(r->db, r->ids[0], r->tenant_id, msgs, (size_t)n,
                                &res, &err);
    if (st == REC_INVALID_STATE) {
        char extra[160];
        metrics_conflict("reports");
        snprintf(extra, sizeof extra,
                 "\"length\":%u,\"limit\":%d,\"bytes\":%llu,"
                 "\"bytes_limit\":%u",
                 res.length, CHAT_MAX_HISTORY, (unsigned long long)res.bytes,
                 CHAT_MAX_BYTES);
        reply_error(r, 409, "chat_full",
                    "these messages would take the chat past 1000000 "
                    "messages or 256 MiB of content; nothing was appended",
                    extra);
        return;
    }
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"appended\":");
    jb_u64(b, res.appended);
    jb_lit(b, ",\"duplicates\":");
    jb_u64(b, res.duplicates);
    jb_lit(b, ",\"length\":");
    jb_u64(b, res.length);
    jb_lit(b, "}");
    reply_json(r, 200);
}

/* Reads ?name= as a count: *out keeps `dflt` when absent. Returns 0, or
 * -1 after answering 400. */
static int query_count_or_reply(http_req *r, const char *name, uint64_t dflt,
                                uint64_t cap, uint64_t *out)
{
    char buf[64];
    int got = http_query_param(r, name, buf, sizeof buf);
    *out = dflt;
    if (got == 0)
        return 0;
    if (got < 0 || chat_parse_count(buf, cap, out) != 0) {
        reply_errorf(r, 400, "bad_request",
                     "\"%s\" must be a non-negative integer", name);
        return -1;
    }
    return 0;
}

static void route_report_chat_read(http_req *r)
{
    uint64_t after, limit;
    if (query_count_or_reply(r, "after", 0, INT32_MAX, &after) != 0 ||
        query_count_or_reply(r, "limit", CHAT_READ_DEFAULT, CHAT_READ_MAX + 1,
                             &limit) != 0)
        return;
    if (limit < 1 || limit > CHAT_READ_MAX) {
        reply_errorf(r, 400, "bad_request", "\"limit\" must be 1 to %d",
                     CHAT_READ_MAX);
        return;
    }
    jbuf *b = reply_body(r);
    uint32_t length = 0;
    rec_err err = {0};
    jb_lit(b, "{\"messages\":");
    rec_status st = chat_read(r->db, r->ids[0], r->tenant_id, after,
                              (unsigned)limit, b, &length, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err); /* starts a fresh body */
        return;
    }
    jb_lit(b, ",\"length\":");
    jb_u64(b, length);
    jb_lit(b, "}");
    reply_json(r, 200);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"POST", "/v1/reports", route_report_create, ROUTE_AUTH, &res_reports},
    {"GET", "/v1/reports/{id}", route_report_get, ROUTE_AUTH, &res_reports},
    {"PATCH", "/v1/reports/{id}", route_report_patch, ROUTE_AUTH, &res_reports},
    {"POST", "/v1/reports/{id}/chat", route_report_chat_append, ROUTE_AUTH,
     &res_chat},
    {"GET", "/v1/reports/{id}/chat", route_report_chat_read, ROUTE_AUTH,
     &res_chat},
    {"GET", "/v1/reports/{id}/events", route_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, &res_reports},
};

const struct route_set report_routes = ROUTE_SET(rows);
