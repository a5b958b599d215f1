/*
 * routes.h -- what the files of routes share: the built-in resources'
 * descriptors (resource.h) and the generic stream routes. Each file keeps
 * its handlers and its rows of the route table (router.h, ROUTE_SET).
 */
#ifndef OPTIMIST_ROUTES_H
#define OPTIMIST_ROUTES_H

#include "http.h"
#include "resource.h"

/* The built-in resources that more than one file of routes names (the
 * others are static in their file). */
extern const struct resource res_outbox;      /* routes_approvals.c */
extern const struct resource res_chat;        /* routes_reports.c */
extern const struct resource res_bids;        /* routes_bids.c */
extern const struct resource res_evaluations; /* routes_streams.c */

/* routes_streams.c: the stream routes other files' rows name. Each
 * authorises and checks in the time of a GET, then hands the connection
 * to the hub. */
void route_feed_record(http_req *r); /* r->res's record feed */
void route_feed_outbox(http_req *r); /* GET /v1/approvals/events, SSE */

/* Last-Event-ID (or ?last_event_id=) of a stream: 1 given (in *cursor),
 * 0 not given, -1 answered 400. */
int route_stream_cursor(http_req *r, uint64_t *cursor);
/* Hands the stream to the hub: resource `res`, row (or tenant) `id`, from
 * `cursor`; reset: the stream starts with `event: reset`. */
void route_stream_handoff(http_req *r, const struct resource *res, uint64_t id,
                          uint64_t cursor, int reset);

/* 1 when Accept names text/event-stream. */
int routes_wants_sse(const http_req *r);

#endif
