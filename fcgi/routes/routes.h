/*
 * routes.h -- every route handler, one file of routes per resource, and
 * the built-in resources' descriptors (resource.h) the router rows name.
 */
#ifndef OPTIMIST_ROUTES_H
#define OPTIMIST_ROUTES_H

#include "http.h"
#include "resource.h"

/* The built-in resources, each defined in its route file. */
extern const struct resource res_sessions;    /* routes_sessions.c */
extern const struct resource res_approvals;   /* routes_approvals.c */
extern const struct resource res_outbox;      /* routes_approvals.c */
extern const struct resource res_draft;       /* routes_storefront.c */
extern const struct resource res_reports;     /* routes_reports.c */
extern const struct resource res_chat;        /* routes_reports.c */
extern const struct resource res_bids;        /* routes_bids.c */
extern const struct resource res_evaluations; /* routes_streams.c */

/* routes_health.c */
void route_healthz(http_req *r);
void route_metrics(http_req *r);

/* routes_sessions.c */
void route_session_create(http_req *r);
void route_session_get(http_req *r);
void route_session_append(http_req *r);
void route_session_delete(http_req *r);

/* routes_approvals.c */
void route_approval_create(http_req *r);
void route_approval_list(http_req *r);
void route_approval_events(http_req *r);
void route_approval_get(http_req *r);
void route_approval_approve(http_req *r);
void route_approval_reject(http_req *r);

/* routes_storefront.c */
void route_storefront_get(http_req *r);
void route_storefront_draft_get(http_req *r);
void route_storefront_draft_put(http_req *r);
void route_storefront_draft_patch(http_req *r);
void route_storefront_publish(http_req *r);
void route_storefront_discard(http_req *r);
void route_storefront_versions(http_req *r);
void route_storefront_version_get(http_req *r);

/* routes_reports.c */
void route_report_create(http_req *r);
void route_report_get(http_req *r);
void route_report_patch(http_req *r);
void route_report_chat_append(http_req *r);
void route_report_chat_read(http_req *r);

/* routes_bids.c */
void route_bid_create(http_req *r);
void route_bid_list(http_req *r);
void route_bid_get(http_req *r);
void route_bid_patch(http_req *r);
void route_bid_archive(http_req *r);
void route_bid_evaluations(http_req *r);

/* routes_evaluate.c */
void route_bid_evaluate(http_req *r);

/* routes_streams.c: the stream routes. Each authorises and checks in the
 * time of a GET, then hands the connection to the hub. */
void route_feed_record(http_req *r); /* r->res's record feed */
void route_feed_chat(http_req *r);
void route_feed_outbox(http_req *r); /* GET /v1/approvals/events, SSE */
void route_evaluation_get(http_req *r);
void route_evaluation_events(http_req *r);
void route_stream_ticket_create(http_req *r);

/* Last-Event-ID (or ?last_event_id=) of a stream: 1 given (in *cursor),
 * 0 not given, -1 answered 400. */
int route_stream_cursor(http_req *r, uint64_t *cursor);
/* Hands the stream to the hub: resource `res`, row (or tenant) `id`, from
 * `cursor`; reset: the stream starts with `event: reset`. */
void route_stream_handoff(http_req *r, const struct resource *res, uint64_t id,
                          uint64_t cursor, int reset);

/* routes_tables.c: the declared tables, /v1/tables/{name}... */
void route_table_create(http_req *r);
void route_table_list(http_req *r);
void route_table_get(http_req *r);
void route_table_patch(http_req *r);
void route_table_delete(http_req *r);
void route_table_feed_record(http_req *r);
void route_table_feed_changes(http_req *r);
/* For POST /v1/stream-tickets: a declared table's stream path the tenant
 * can see (0), or -1 answered (404). */
int route_tables_ticket_check(http_req *r, const char *path);

/* 1 when Accept names text/event-stream. */
int routes_wants_sse(const http_req *r);

#endif
