/*
 * routes_approvals.c -- approvals that execute exactly once, and their
 * outbox.
 *
 * The bug this resource exists to prevent: an approvals table whose
 * version column the executor never checks, so two concurrent approve
 * requests both succeed and the action runs twice. Here a decision is one
 * UPDATE ... WHERE id=? AND tenant_id=? AND version=? AND status='pending'
 * (a guarded transition, lib/versioned.c), and the event that downstream
 * consumers act on is inserted in the same transaction: a decision and its
 * event exist together or not at all, and only once (the outbox's unique
 * key on approval_id would refuse a second one even if the guard did not).
 *
 * The events feed is read with "seq > after". For a consumer never to miss
 * an event, events must become visible in seq order: each decision locks
 * its tenant's row in approval_event_heads before it takes a seq and holds
 * it until COMMIT, so within a tenant the seqs commit in order.
 */
#include "body.h"
#include "paging.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "vwrite.h"

#include <stdio.h>
#include <string.h>

#define TYPE_MAX_CHARS 200
#define NOTE_MAX_CHARS 10000

#define APPROVAL_COLS                                                          \
    "id, version, status, action_type, action_payload, note, created_at, "     \
    "decided_at"

static const char SQL_LOAD[] =
    "SELECT " APPROVAL_COLS " FROM approvals WHERE id = ? AND tenant_id = ?";
static const char SQL_VERSION[] =
    "SELECT version FROM approvals WHERE id = ? AND tenant_id = ?";
static const char SQL_STATE[] =
    "SELECT version, status FROM approvals WHERE id = ? AND tenant_id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO approvals (tenant_id, action_type, action_payload, "
    "created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))";
/* The guarded transition: see rec_guarded_write(). */
static const char SQL_DECIDE[] =
    "UPDATE approvals SET status = ?, note = ?, "
    "decided_at = UTC_TIMESTAMP(3), version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version) "
    "AND status = 'pending'";
static const char *const FROM_PENDING[] = {"pending", NULL};
static const char SQL_LIST_ALL[] =
    "SELECT " APPROVAL_COLS " FROM approvals WHERE tenant_id = ? AND id > ? "
    "ORDER BY id LIMIT ?";
static const char SQL_LIST_STATUS[] =
    "SELECT " APPROVAL_COLS " FROM approvals WHERE tenant_id = ? AND "
    "status = ? AND id > ? ORDER BY id LIMIT ?";
/* The tenant's outbox lock, taken before the event's seq (see above). */
static const char SQL_HEAD[] =
    "INSERT INTO approval_event_heads (tenant_id, events) VALUES (?, 1) "
    "ON DUPLICATE KEY UPDATE events = events + 1";
static const char SQL_ACTION[] =
    "SELECT action_type, action_payload FROM approvals "
    "WHERE id = ? AND tenant_id = ?";
static const char SQL_EVENT[] =
    "INSERT INTO approval_events (tenant_id, approval_id, type, action, at) "
    "SELECT tenant_id, id, ?, ?, decided_at FROM approvals "
    "WHERE id = ? AND tenant_id = ?";
static const char SQL_EVENTS[] =
    "SELECT seq, approval_id, type, action, at FROM approval_events "
    "WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?";

/* {"type": ..., "payload": ...} from the two columns; the payload is JSON
 * text checked by the database, embedded as it is. */
static void render_action(jbuf *out, const char *type, const char *payload,
                          size_t payload_len)
{
    jb_lit(out, "{\"type\":");
    jb_cstr(out, type);
    jb_lit(out, ",\"payload\":");
    if (payload != NULL)
        jb_raw(out, payload, payload_len);
    else
        jb_lit(out, "null");
    jb_lit(out, "}");
}

/* One approval from row i of a SELECT of APPROVAL_COLS. */
static void render(jbuf *out, const rec_rows *rows, size_t i)
{
    jb_record_head(out, rec_rows_u64(rows, i, 0), rec_rows_u64(rows, i, 1));
    jb_lit(out, ",\"status\":");
    jb_cstr(out, rec_rows_get(rows, i, 2));
    jb_lit(out, ",\"action\":");
    render_action(out, rec_rows_get(rows, i, 3), rec_rows_get(rows, i, 4),
                  rec_rows_len(rows, i, 4));
    jb_lit(out, ",\"note\":");
    jb_cstr(out, rec_rows_get(rows, i, 5));
    jb_lit(out, ",\"created_at\":");
    jb_time(out, rec_rows_get(rows, i, 6));
    jb_lit(out, ",\"decided_at\":");
    jb_time(out, rec_rows_get(rows, i, 7));
    jb_lit(out, "}");
}

/* A decision also adds to the tenant's outbox. */
static const char *const approval_and_outbox[] = {"approval_events", NULL};

static const struct resource res_approvals = {.name = "approvals",
                                              .table = "approvals",
                                              .id_col = "id",
                                              .tenant_col = "tenant_id",
                                              .load_sql = SQL_LOAD,
                                              .render = render,
                                              .version_sql = SQL_VERSION,
                                              .state_sql = SQL_STATE,
                                              .collection = "/v1/approvals",
                                              .feed = RES_FEED_RECORD,
                                              .also = approval_and_outbox};

/* The tenant's outbox of decisions (GET /v1/approvals/events): one feed
 * per tenant, its cursor the newest seq. */
const struct resource res_outbox = {
    .name = "approval_events",
    .table = "approval_events",
    .tenant_col = "tenant_id",
    .per_tenant = 1,
    .feed = RES_FEED_OUTBOX,
    .poll_sql = "SELECT tenant_id, MAX(seq) FROM approval_events "
                "WHERE tenant_id IN " RESOURCE_IN_LIST " GROUP BY tenant_id"};

/* ---- POST /v1/approvals ------------------------------------------------ */

static void route_approval_create(http_req *r)
{
    json_object *body = body_object_or_reply(r), *action, *payload = NULL;
    const char *type;
    size_t type_len;
    if (body == NULL)
        return;
    if (!json_object_object_get_ex(body, "action", &action) ||
        !json_object_is_type(action, json_type_object)) {
        reply_error(r, 400, "bad_request",
                    "\"action\" must be an object with a \"type\" string",
                    NULL);
        return;
    }
    if (body_opt_string_or_reply(r, action, "type", TYPE_MAX_CHARS, &type,
                                 &type_len) != 0)
        return;
    if (type == NULL || type_len == 0) {
        reply_error(r, 400, "bad_request",
                    "\"action.type\" must be a string of 1 to 200 characters",
                    NULL);
        return;
    }
    rec_param p[2] = {REC_S(type, type_len), REC_NULLP}; /* type, payload */
    if (json_object_object_get_ex(action, "payload", &payload) &&
        payload != NULL) {
        /* Any JSON value; json-c prints it back as compact JSON (the
         * text of the body was already checked: UTF-8, depth). */
        size_t n = 0;
        const char *text = json_object_to_json_string_length(
            payload, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
            &n);
        p[1] = REC_S(text, n);
    }
    vw_create(r, &res_approvals, SQL_INSERT, p, 2);
}

/* ---- GET /v1/approvals/{id} ---------------------------------------------- */

static void route_approval_get(http_req *r)
{
    vw_get(r, &res_approvals, r->ids[0]);
}

/* ---- GET /v1/approvals?status=&after=&limit= ------------------------------
 */

static const char *const STATUSES[] = {"pending", "executed", "rejected", NULL};

static void route_approval_list(http_req *r)
{
    static const vw_list_sql list = {
        .all = SQL_LIST_ALL,
        .by_status = SQL_LIST_STATUS,
        .statuses = STATUSES,
        .bad_status = "?status= must be pending, executed or rejected"};
    vw_list(r, &res_approvals, &list);
}

/* ---- POST /v1/approvals/{id}/approve and /reject ---------------------------
 */

/* The outbox event, inside the decision's transaction (vw_write.after). */
static rec_status write_event(http_req *r, uint64_t id, rec_expect expect,
                              void *ctx, char *why, rec_err *err)
{
    (void)expect;
    (void)why;
    const char *type = ctx;
    rec_param head[1] = {REC_U(r->tenant_id)};
    rec_status st = rec_exec(r->db, SQL_HEAD, head, 1, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    rec_param key[2] = {REC_U(id), REC_U(r->tenant_id)};
    rec_rows *rows = NULL;
    /* REC_NOT_FOUND cannot be: we hold the row's lock. */
    st = rec_exec_row(r->db, SQL_ACTION, key, 2, &rows, err);
    if (st != REC_OK)
        return st;
    jbuf action;
    jb_init(&action);
    render_action(&action, rec_rows_get(rows, 0, 0), rec_rows_get(rows, 0, 1),
                  rec_rows_len(rows, 0, 1));
    rec_rows_free(rows);
    uint64_t affected = 0;
    rec_param ev[4] = {REC_CSTR(type), REC_S(action.p, action.len), REC_U(id),
                       REC_U(r->tenant_id)};
    st = rec_exec(r->db, SQL_EVENT, ev, 4, NULL, &affected, NULL, err);
    jb_free(&action);
    if (st == REC_OK && affected != 1) {
        snprintf(err->msg, sizeof err->msg, "outbox insert affected %llu",
                 (unsigned long long)affected);
        st = REC_ERROR;
    }
    return st;
}

static void decide(http_req *r, const char *status, const char *event)
{
    json_object *body = body_object_or_reply(r);
    const char *note;
    size_t note_len;
    if (body == NULL ||
        body_opt_string_or_reply(r, body, "note", NOTE_MAX_CHARS, &note,
                                 &note_len) != 0)
        return;
    rec_param p[2] = {REC_CSTR(status),
                      note ? REC_S(note, note_len) : REC_NULLP};
    vw_write w = {.sql = SQL_DECIDE,
                  .params = p,
                  .nparams = 2,
                  .from = FROM_PENDING,
                  .after = write_event,
                  .ctx = (void *)event};
    vw_run(r, &res_approvals, r->ids[0], body, &w);
}

static void route_approval_approve(http_req *r)
{
    decide(r, "executed", "approval.executed");
}

static void route_approval_reject(http_req *r)
{
    decide(r, "rejected", "approval.rejected");
}

/* ---- GET /v1/approvals/events?after=&limit= --------------------------------
 */

static void render_event(jbuf *b, const rec_rows *rows, size_t i)
{
    jb_lit(b, "{\"seq\":");
    jb_u64(b, rec_rows_u64(rows, i, 0));
    jb_lit(b, ",\"approval_id\":");
    jb_u64(b, rec_rows_u64(rows, i, 1));
    jb_lit(b, ",\"type\":");
    jb_cstr(b, rec_rows_get(rows, i, 2));
    jb_lit(b, ",\"action\":");
    jb_raw(b, rec_rows_get(rows, i, 3), rec_rows_len(rows, i, 3));
    jb_lit(b, ",\"at\":");
    jb_time(b, rec_rows_get(rows, i, 4));
    jb_lit(b, "}");
}

static void route_approval_events(http_req *r)
{
    if (routes_wants_sse(r)) { /* the live outbox feed (routes_streams.c) */
        route_feed_outbox(r);
        return;
    }
    uint64_t after;
    unsigned limit;
    if (paging_or_reply(r, &after, &limit) != 0)
        return;
    rec_param p[3] = {REC_U(r->tenant_id), REC_U(after), REC_U(limit)};
    paging_stream(r, SQL_EVENTS, p, 3, limit, 0, render_event);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"POST", "/v1/approvals", route_approval_create, ROUTE_AUTH,
     &res_approvals},
    {"GET", "/v1/approvals", route_approval_list, ROUTE_AUTH, &res_approvals},
    {"GET", "/v1/approvals/events", route_approval_events,
     ROUTE_AUTH | ROUTE_STREAM, &res_outbox},
    {"GET", "/v1/approvals/{id}", route_approval_get, ROUTE_AUTH,
     &res_approvals},
    {"POST", "/v1/approvals/{id}/approve", route_approval_approve, ROUTE_AUTH,
     &res_approvals},
    {"POST", "/v1/approvals/{id}/reject", route_approval_reject, ROUTE_AUTH,
     &res_approvals},
    {"GET", "/v1/approvals/{id}/events", route_feed_record,
     ROUTE_AUTH | ROUTE_STREAM, &res_approvals},
};

const struct route_set approval_routes = ROUTE_SET(rows);
