/*
 * routes_sessions.c -- agent sessions: a title and a list of messages,
 * where every append carries the version the client last saw, so two tabs
 * that both read version 5 cannot both append.
 */
#include "body.h"
#include "doclimits.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "title.h"
#include "vwrite.h"

#include <stdio.h>
#include <string.h>

static const char SQL_LOAD[] =
    "SELECT id, version, title, messages, created_at, updated_at "
    "FROM sessions "
    "WHERE id = ? AND tenant_id = ?";
static const char SQL_VERSION[] =
    "SELECT version FROM sessions WHERE id = ? AND tenant_id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO sessions (tenant_id, title, messages, created_at, updated_at)"
    " VALUES (?, ?, '[]', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))";
/* The message is built by the database from bound strings (JSON_OBJECT
 * quotes them), and appended where the row lives: never read-modify-write.
 * `at` is RFC 3339 with milliseconds, from the same clock as updated_at. */
static const char SQL_APPEND[] =
    "UPDATE sessions SET messages = JSON_ARRAY_APPEND(messages, '$', "
    "JSON_OBJECT('role', ?, 'content', ?, 'at', "
    "CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%f'), 23), "
    "'Z'))), version = version + 1, updated_at = UTC_TIMESTAMP(3) "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_SIZE[] =
    "SELECT version, message_count, messages_bytes FROM sessions "
    "WHERE id = ? AND tenant_id = ?"; /* generated columns, sql/0010 */
static const char SQL_DELETE[] =
    "DELETE FROM sessions "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version)";

static void session_render(jbuf *out, const rec_rows *rows, size_t i)
{
    title_render_head(out, rows, i);
    /* The database keeps messages as checked JSON text: embed it as is,
     * without parsing and printing it again. */
    jb_lit(out, ",\"messages\":");
    jb_raw(out, rec_rows_get(rows, i, 3), rec_rows_len(rows, i, 3));
    title_render_tail(out, rows, i, 4);
}

static const struct resource res_sessions = {.name = "sessions",
                                             .table = "sessions",
                                             .id_col = "id",
                                             .tenant_col = "tenant_id",
                                             .load_sql = SQL_LOAD,
                                             .render = session_render,
                                             .version_sql = SQL_VERSION,
                                             .collection = "/v1/sessions",
                                             .feed = RES_FEED_RECORD,
                                             .deletable = 1};

static void route_session_create(http_req *r)
{
    title_create(r, &res_sessions, SQL_INSERT);
}

static void route_session_get(http_req *r)
{
    vw_get(r, &res_sessions, r->ids[0]);
}

static int is_role(const char *s)
{
    return strcmp(s, "user") == 0 || strcmp(s, "assistant") == 0 ||
           strcmp(s, "system") == 0;
}

/* The session's limits, checked on the row as it is now: a versioned
 * append writes onto exactly the version it names, so a check of that
 * version is the check of what the append extends (with If-Match: *,
 * appends racing at the limit may pass it by one message each). Returns
 * 0 to go on (a missing session included: vw_run answers 404), -1 when
 * answered. `add` is what the message adds to the stored JSON text, at
 * least. */
static int session_room_or_reply(http_req *r, uint64_t id, size_t add)
{
    rec_param p[2] = {REC_U(id), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec(r->db, SQL_SIZE, p, 2, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return -1;
    }
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        return 0;
    }
    uint32_t version = (uint32_t)rec_rows_u64(rows, 0, 0);
    uint64_t count = rec_rows_u64(rows, 0, 1), bytes = rec_rows_u64(rows, 0, 2);
    rec_rows_free(rows);
    const conf *c = r->conf;
    if (count + 1 > (uint64_t)c->session_max_messages) {
        limits_reply_full(r, "messages", (uint64_t)c->session_max_messages,
                          version);
        return -1;
    }
    if (bytes + add > (uint64_t)c->session_max_bytes) {
        limits_reply_full(r, "bytes", (uint64_t)c->session_max_bytes, version);
        return -1;
    }
    return 0;
}

static void route_session_append(http_req *r)
{
    json_object *body = body_object_or_reply(r), *msg, *role, *content;
    if (body == NULL)
        return;
    if (!json_object_object_get_ex(body, "message", &msg) ||
        !json_object_is_type(msg, json_type_object)) {
        reply_error(r, 400, "bad_request",
                    "\"message\" must be an object with \"role\" and "
                    "\"content\"",
                    NULL);
        return;
    }
    if (!json_object_object_get_ex(msg, "role", &role) ||
        !json_object_is_type(role, json_type_string) ||
        !is_role(json_object_get_string(role))) {
        reply_error(r, 400, "bad_request",
                    "\"message.role\" must be \"user\", \"assistant\" or "
                    "\"system\"",
                    NULL);
        return;
    }
    if (!json_object_object_get_ex(msg, "content", &content) ||
        !json_object_is_type(content, json_type_string)) {
        reply_error(r, 400, "bad_request",
                    "\"message.content\" must be a string", NULL);
        return;
    }
    /* As MariaDB stores it, `, {"role": "…", "content": "…", "at":
     * "<24>"}` is 63 bytes and the strings (61 for the first message);
     * escapes only add. */
    if (session_room_or_reply(
            r, r->ids[0],
            61 + strlen(json_object_get_string(role)) +
                (size_t)json_object_get_string_len(content)) != 0)
        return;
    rec_param p[2] = {REC_CSTR(json_object_get_string(role)),
                      REC_S(json_object_get_string(content),
                            (size_t)json_object_get_string_len(content))};
    vw_write w = {.sql = SQL_APPEND, .params = p, .nparams = 2};
    vw_run(r, &res_sessions, r->ids[0], body, &w);
}

static void route_session_delete(http_req *r)
{
    json_object *body = body_object_or_reply(r);
    if (body == NULL)
        return;
    vw_write w = {.sql = SQL_DELETE, .is_delete = 1};
    vw_run(r, &res_sessions, r->ids[0], body, &w);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"POST", "/v1/sessions", route_session_create, ROUTE_AUTH, &res_sessions},
    {"GET", "/v1/sessions/{id}", route_session_get, ROUTE_AUTH, &res_sessions},
    {"DELETE", "/v1/sessions/{id}", route_session_delete, ROUTE_AUTH,
     &res_sessions},
    {"POST", "/v1/sessions/{id}/messages", route_session_append, ROUTE_AUTH,
     &res_sessions},
    {"GET", "/v1/sessions/{id}/events", route_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, &res_sessions},
};

const struct route_set session_routes = ROUTE_SET(rows);
