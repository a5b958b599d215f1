/*
 * routes_streams.c -- the worker's side of every stream: authorise, check
 * that the resource exists for the tenant (404) and that Last-Event-ID is
 * not ahead of it (400), then hand the connection to the hub (hublink.c),
 * all in the time of a GET. Also GET /v1/evaluations/{id} and the stream
 * tickets of browsers (POST /v1/stream-tickets).
 */
#include "parse.h"
#include "body.h"
#include "routes.h"
#include "tickets.h"
#include "hublink.h"
#include "log.h"
#include "reply.h"
#include "router.h"

#include <fcgiapp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define TICKET_SECONDS 3600
#define TICKET_WINDOW  10 /* seconds of OPTIMIST_STREAM_TICKET_RATE */

int routes_wants_sse(const http_req *r)
{
    if (r->accept == NULL)
        return 0;
    for (const char *p = r->accept; *p; p++)
        if (strncasecmp(p, "text/event-stream", 17) == 0)
            return 1;
    return 0;
}

/* Last-Event-ID (header, or ?last_event_id= for EventSource's first
 * connection): 0 when absent; -1 answered 400. *given (may be NULL): 1
 * when one was sent. */
static int cursor_given_or_reply(http_req *r, uint64_t *cursor, int *given);

static int cursor_or_reply(http_req *r, uint64_t *cursor)
{
    return cursor_given_or_reply(r, cursor, NULL);
}

int route_stream_cursor(http_req *r, uint64_t *cursor)
{
    int given = 0;
    if (cursor_given_or_reply(r, cursor, &given) != 0)
        return -1;
    return given;
}

static int cursor_given_or_reply(http_req *r, uint64_t *cursor, int *given)
{
    char q[32];
    const char *v = NULL;
    if (r->fcgi != NULL)
        v = FCGX_GetParam("HTTP_LAST_EVENT_ID", r->fcgi->envp);
    if (v == NULL) {
        int got = http_query_param(r, "last_event_id", q, sizeof q);
        if (got < 0) {
            reply_error(r, 400, "bad_request", "bad last_event_id", NULL);
            return -1;
        }
        v = got ? q : NULL;
    }
    *cursor = 0;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (given != NULL)
        *given = 1;
    /* All digits, and below the top value (which stands for "too big"). */
    size_t n = parse_u64(v, UINT64_MAX, cursor);
    if (n == 0 || v[n] != '\0' || *cursor == UINT64_MAX) {
        reply_error(r, 400, "bad_request",
                    "Last-Event-ID must be an event id (digits)", NULL);
        return -1;
    }
    return 0;
}

static void handoff_or_reply(http_req *r, hub_msg *m)
{
    m->type = m->type ? m->type : HUB_FEED;
    m->tenant_id = r->tenant_id;
    if (hublink_handoff(r, m) != 0) {
        http_header(r, "Retry-After", "2");
        reply_error(r, 503, "unavailable",
                    "the stream cannot be opened now; retry shortly", NULL);
    }
}

/* Hands the connection to the hub for resource `res` on `id` from
 * `cursor`, unless the cursor is ahead of `last` (what the stream has to
 * offer now: the version, the chat's length, the run's last event): 400,
 * naming `what`. */
static void feed_from(http_req *r, const struct resource *res, uint64_t id,
                      uint64_t cursor, uint64_t last, const char *what)
{
    if (cursor > last) {
        reply_errorf(
            r, 400, "bad_request", "Last-Event-ID %llu is beyond %s %llu",
            (unsigned long long)cursor, what, (unsigned long long)last);
        return;
    }
    if (r->check_only)
        return; /* it could open: the ticket route asked only that */
    hub_msg m;
    memset(&m, 0, sizeof m);
    hub_msg_resource(&m, res);
    m.id = id;
    m.cursor = cursor;
    handoff_or_reply(r, &m);
}

void route_stream_handoff(http_req *r, const struct resource *res, uint64_t id,
                          uint64_t cursor, int reset)
{
    hub_msg m;
    memset(&m, 0, sizeof m);
    hub_msg_resource(&m, res);
    m.id = id;
    m.cursor = cursor;
    m.reset = (uint8_t)(reset != 0);
    handoff_or_reply(r, &m);
}

/* A record feed of the resource the route names (r->res): the row
 * exists, the cursor is not ahead of it. */
void route_feed_record(http_req *r)
{
    const struct resource *res = r->res;
    uint64_t id = res->per_tenant ? 0 : r->ids[0];
    uint64_t cursor;
    if (cursor_or_reply(r, &cursor) != 0)
        return;
    jbuf doc;
    jb_init(&doc);
    uint32_t v = 0;
    rec_err err = {0};
    rec_status st = resource_load(r->db, res, r->tenant_id, id, &doc, &v, &err);
    jb_free(&doc);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    feed_from(r, res, id, cursor, v, "the current version");
}

static const char SQL_REPORT_LENGTH[] =
    "SELECT chat_length FROM reports WHERE id = ? AND tenant_id = ?";

static void route_feed_chat(http_req *r)
{
    uint64_t cursor;
    if (cursor_or_reply(r, &cursor) != 0)
        return;
    rec_param p[2] = {REC_U(r->ids[0]), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec_row(r->db, SQL_REPORT_LENGTH, p, 2, &rows, &err);
    uint64_t length = st == REC_OK ? rec_rows_u64(rows, 0, 0) : 0;
    rec_rows_free(rows);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    feed_from(r, &res_chat, r->ids[0], cursor, length, "the chat's length");
}

void route_feed_outbox(http_req *r)
{
    uint64_t cursor;
    if (cursor_or_reply(r, &cursor) != 0)
        return;
    /* Any seq: the outbox only grows, and a cursor ahead of it waits. */
    feed_from(r, &res_outbox, 0, cursor, UINT64_MAX, "the outbox");
}

/* ---- evaluations ----------------------------------------------------------
 */

/* An evaluation's stream: its cursor is the seq of evaluation_events,
 * and the final event ends it. */
const struct resource res_evaluations = {
    .name = "evaluations",
    .table = "evaluations",
    .id_col = "id",
    .tenant_col = "tenant_id",
    .feed = RES_FEED_EVAL,
    .poll_sql =
        "SELECT evaluation_id, MAX(seq), MAX(final) FROM evaluation_events "
        "WHERE evaluation_id IN " RESOURCE_IN_LIST " GROUP BY evaluation_id"};

/* A running run whose lease passed is over (as GET /v1/bids/{id}/
 * evaluations answers it). */
static const char SQL_RUN[] =
    "SELECT e.id, e.bid_id, e.kind, "
    "IF(e.outcome = 'running' AND NOT EXISTS (SELECT 1 FROM bids b "
    "WHERE b.id = e.bid_id AND b.lease_owner = e.id AND "
    "b.lease_until >= UTC_TIMESTAMP(3)), 'expired', e.outcome), "
    "e.result, e.started_at, e.finished_at, e.detail "
    "FROM evaluations e WHERE e.id = ? AND e.tenant_id = ?";
static const char SQL_LAST_SEQ[] =
    "SELECT COALESCE(MAX(seq), 0) FROM evaluation_events "
    "WHERE evaluation_id = ?";

static void route_evaluation_get(http_req *r)
{
    rec_param p[2] = {REC_U(r->ids[0]), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec_row(r->db, SQL_RUN, p, 2, &rows, &err);
    if (st != REC_OK) {
        rec_rows_free(rows);
        reply_rec(r, st, &err);
        return;
    }
    jbuf *b = reply_body(r);
    const char *result = rec_rows_get(rows, 0, 4);
    jb_lit(b, "{\"id\":");
    jb_u64(b, rec_rows_u64(rows, 0, 0));
    jb_lit(b, ",\"bid_id\":");
    jb_u64(b, rec_rows_u64(rows, 0, 1));
    jb_lit(b, ",\"kind\":");
    jb_cstr(b, rec_rows_get(rows, 0, 2));
    jb_lit(b, ",\"outcome\":");
    jb_cstr(b, rec_rows_get(rows, 0, 3));
    jb_lit(b, ",\"result\":");
    if (result != NULL)
        jb_raw(b, result, rec_rows_len(rows, 0, 4));
    else
        jb_lit(b, "null");
    jb_lit(b, ",\"started_at\":");
    jb_time(b, rec_rows_get(rows, 0, 5));
    jb_lit(b, ",\"finished_at\":");
    jb_time(b, rec_rows_get(rows, 0, 6));
    jb_lit(b, ",\"error\":");
    jb_cstr(b, rec_rows_get(rows, 0, 7));
    jb_lit(b, "}");
    rec_rows_free(rows);
    reply_json(r, 200);
}

static void route_evaluation_events(http_req *r)
{
    uint64_t cursor;
    if (cursor_or_reply(r, &cursor) != 0)
        return;
    rec_param p[2] = {REC_U(r->ids[0]), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st = rec_exec_row(r->db, SQL_RUN, p, 2, &rows, &err);
    rec_rows_free(rows);
    rows = NULL;
    uint64_t last = 0;
    if (st == REC_OK)
        st = rec_exec(r->db, SQL_LAST_SEQ, p, 1, &rows, NULL, NULL, &err);
    if (st == REC_OK)
        last = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    feed_from(r, &res_evaluations, r->ids[0], cursor, last,
              "the run's last event");
}

/* ---- tickets
 * ------------------------------------------------------------------ */

static const char SQL_TICKET_INSERT[] =
    "INSERT INTO stream_tickets (hash, tenant_id, path, expires_at, "
    "token_key) VALUES (?, ?, ?, UTC_TIMESTAMP(3) + INTERVAL ? SECOND, ?)";
static const char SQL_TICKET_EXPIRY[] =
    "SELECT expires_at FROM stream_tickets WHERE hash = ?";
/* A ticket lives only as long as the token that asked for it: a revoked
 * (or deleted) token's tickets open nothing. */
static const char SQL_TICKET_FIND[] =
    "SELECT s.tenant_id, s.token_key FROM stream_tickets s "
    "JOIN api_tokens t ON t.lookup_key = s.token_key "
    "AND t.tenant_id = s.tenant_id AND t.revoked_at IS NULL "
    "WHERE s.hash = ? AND s.path = ? AND s.expires_at > UTC_TIMESTAMP(3)";
/* The tenant's live tickets, and those made in the last TICKET_WINDOW
 * seconds (a ticket's expiry is its birth plus TICKET_SECONDS). */
static const char SQL_TICKET_COUNT[] =
    "SELECT COUNT(*), COALESCE(SUM(expires_at > UTC_TIMESTAMP(3) + "
    "INTERVAL ? SECOND), 0) FROM stream_tickets WHERE tenant_id = ? AND "
    "expires_at > UTC_TIMESTAMP(3)";
static const char SQL_TICKET_PURGE[] =
    "DELETE FROM stream_tickets WHERE expires_at < UTC_TIMESTAMP(3) "
    "LIMIT 100";

/* The route of a stream path ("/v1/approvals/events" is the outbox
 * stream when asked for as one), or -1. */
static int stream_route(const char *path, uint64_t *ids, int *nids)
{
    char allow[64];
    int idx = router_match("GET", path, ids, nids, allow, sizeof allow);
    const struct route *rt = router_get(idx);
    return rt != NULL && (rt->flags & ROUTE_STREAM) ? idx : -1;
}

/* Could r's tenant open the stream at `path` now? The stream route itself
 * answers, in check-only mode, on a request of its own: the same 404 as
 * opening it would give, with no separate list of what each stream
 * checks. 0, or the status it answered (404, 503). */
static int stream_visible(const http_req *r, int idx, const uint64_t *ids,
                          int nids, const char *path)
{
    http_req sub;
    memset(&sub, 0, sizeof sub);
    jb_init(&sub.out);
    sub.db = r->db;
    sub.conf = r->conf;
    sub.tenant_id = r->tenant_id;
    sub.route = idx;
    sub.res = router_get(idx)->res; /* as the worker sets it */
    sub.method = "GET";
    snprintf(sub.path, sizeof sub.path, "%s", path);
    sub.query = "";
    sub.accept = "text/event-stream";
    sub.check_only = 1;
    memcpy(sub.ids, ids, sizeof sub.ids);
    sub.nids = nids;
    snprintf(sub.request_id, sizeof sub.request_id, "%s", r->request_id);
    router_get(idx)->fn(&sub);
    int status = sub.status;
    jb_free(&sub.out);
    return status;
}

static void route_stream_ticket_create(http_req *r)
{
    json_object *body = body_object_or_reply(r), *p = NULL;
    if (body == NULL)
        return;
    const char *path = NULL;
    if (json_object_object_get_ex(body, "path", &p) && p != NULL &&
        json_object_is_type(p, json_type_string))
        path = json_object_get_string(p);
    uint64_t ids[HTTP_MAX_IDS] = {0};
    int nids = 0;
    int idx = path != NULL && strlen(path) <= 255
                  ? stream_route(path, ids, &nids)
                  : -1;
    if (idx < 0) {
        reply_error(r, 400, "bad_request",
                    "\"path\" must be the path of an event stream, e.g. "
                    "/v1/bids/7/events",
                    NULL);
        return;
    }
    /* A stream the tenant cannot see: 404 here, as for any route. Every
     * stream route (a declared table's feeds too) runs in check-only mode. */
    int seen = stream_visible(r, idx, ids, nids, path);
    if (seen == 404) {
        reply_error(r, 404, "not_found",
                    "no such stream for this tenant: the resource does not "
                    "exist or belongs to another",
                    NULL);
        return;
    }
    if (seen != 0) {
        http_header(r, "Retry-After", "2");
        reply_error(r, 503, "unavailable",
                    "the stream could not be checked now; retry shortly", NULL);
        return;
    }
    unsigned char raw[24];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        reply_error(r, 500, "internal", "internal error; see the log", NULL);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char ticket[2 * sizeof raw + 1];
    for (size_t i = 0; i < sizeof raw; i++) {
        ticket[2 * i] = hex[raw[i] >> 4];
        ticket[2 * i + 1] = hex[raw[i] & 15];
    }
    ticket[2 * sizeof raw] = '\0';
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)ticket, strlen(ticket), hash);
    rec_param ip[5] = {REC_B((const char *)hash, sizeof hash),
                       REC_U(r->tenant_id), REC_CSTR(path),
                       REC_U(TICKET_SECONDS), REC_CSTR(r->token_key)};
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_status st =
        rec_exec(r->db, SQL_TICKET_PURGE, NULL, 0, NULL, NULL, NULL, &err);
    /* Bounded per tenant (the token's owner): how many live, how many in
     * the last few seconds. Each is a row kept for an hour. */
    rec_param cp[2] = {REC_U(TICKET_SECONDS - TICKET_WINDOW),
                       REC_U(r->tenant_id)};
    if (st == REC_OK)
        st = rec_exec(r->db, SQL_TICKET_COUNT, cp, 2, &rows, NULL, NULL, &err);
    if (st == REC_OK) {
        uint64_t live = rec_rows_u64(rows, 0, 0),
                 recent = rec_rows_u64(rows, 0, 1);
        rec_rows_free(rows);
        rows = NULL;
        int over_rate = recent >= (uint64_t)r->conf->stream_ticket_rate;
        if (over_rate || live >= (uint64_t)r->conf->stream_ticket_max) {
            http_header(r, "Retry-After", over_rate ? "10" : "60");
            reply_errorf(r, 503, "unavailable",
                         over_rate
                             ? "more than %d stream tickets in %d seconds; "
                               "retry later"
                             : "%d stream tickets are live, the most a "
                               "tenant may hold; retry when some expired",
                         over_rate ? r->conf->stream_ticket_rate
                                   : r->conf->stream_ticket_max,
                         TICKET_WINDOW);
            return;
        }
    }
    if (st == REC_OK)
        st = rec_exec(r->db, SQL_TICKET_INSERT, ip, 5, NULL, NULL, NULL, &err);
    if (st == REC_OK)
        st = rec_exec(r->db, SQL_TICKET_EXPIRY, ip, 1, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        rec_rows_free(rows);
        reply_rec(r, st, &err);
        return;
    }
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"ticket\":");
    jb_cstr(b, ticket);
    jb_lit(b, ",\"path\":");
    jb_cstr(b, path);
    jb_lit(b, ",\"expires_at\":");
    jb_time(b, rec_rows_count(rows) ? rec_rows_get(rows, 0, 0) : NULL);
    jb_lit(b, "}");
    rec_rows_free(rows);
    reply_json(r, 201);
}

int feeds_ticket_auth(http_req *r)
{
    char ticket[128];
    if (http_query_param(r, "ticket", ticket, sizeof ticket) != 1 ||
        ticket[0] == '\0' || strcmp(r->method, "GET") != 0)
        return -1;
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)ticket, strlen(ticket), hash);
    rec_param p[2] = {REC_B((const char *)hash, sizeof hash),
                      REC_CSTR(r->path)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    rec_status st =
        rec_exec(r->db, SQL_TICKET_FIND, p, 2, &rows, NULL, NULL, &err);
    if (st != REC_OK) {
        rec_rows_free(rows);
        reply_rec(r, st, &err);
        return -2;
    }
    if (rec_rows_count(rows) == 0) {
        rec_rows_free(rows);
        reply_error(r, 401, "unauthorized",
                    "unknown or expired ticket, or a ticket for another "
                    "stream",
                    NULL);
        return -2;
    }
    r->tenant_id = rec_rows_u64(rows, 0, 0);
    snprintf(r->token_key, sizeof r->token_key, "%s", rec_rows_get(rows, 0, 1));
    rec_rows_free(rows);
    return 0;
}

void feeds_redact_query(const char *query, char *out, size_t outlen)
{
    size_t o = 0;
    const char *q = query;
    while (*q && o + 1 < outlen) {
        int at_start = q == query || q[-1] == '&';
        if (at_start && strncmp(q, "ticket=", 7) == 0) {
            const char *end = strchr(q, '&');
            size_t vlen = end ? (size_t)(end - q - 7) : strlen(q + 7);
            int n = snprintf(out + o, outlen - o, "ticket=%.6s...",
                             vlen >= 6 ? q + 7 : "");
            if (n < 0 || (size_t)n >= outlen - o)
                break;
            o += (size_t)n;
            q = end ? end : q + strlen(q);
            continue;
        }
        out[o++] = *q++;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"GET", "/v1/reports/{id}/chat/events", route_feed_chat,
     ROUTE_AUTH | ROUTE_STREAM, &res_chat},
    {"GET", "/v1/evaluations/{id}", route_evaluation_get, ROUTE_AUTH,
     &res_evaluations},
    {"GET", "/v1/evaluations/{id}/events", route_evaluation_events,
     ROUTE_AUTH | ROUTE_STREAM, &res_evaluations},
    {"POST", "/v1/stream-tickets", route_stream_ticket_create, ROUTE_AUTH,
     NULL},
};

const struct route_set stream_routes = ROUTE_SET(rows);
