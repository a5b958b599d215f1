/*
 * feeds.h -- what the streams need from the resources' route files: each
 * resource as GET returns it (the data of a record feed's events), and
 * the worker's side of every stream route (routes_streams.c).
 */
#ifndef OPTIMIST_FEEDS_H
#define OPTIMIST_FEEDS_H

#include "http.h"

/* Each writes resource `id` of r->tenant_id as GET answers it to `out`
 * and its version to *version; REC_NOT_FOUND when there is none. Only
 * r->db and r->tenant_id are read. (draft_load ignores id.) */
rec_status session_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                        rec_err *err);
rec_status draft_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                      rec_err *err);
rec_status report_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                       rec_err *err);
rec_status approval_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                         rec_err *err);

/* 1 when Accept names text/event-stream. */
int feeds_wants_sse(const http_req *r);

/* routes_streams.c: the stream routes. Each authorises and checks in the
 * time of a GET, then hands the connection to the hub. */
void route_feed_session(http_req *r);
void route_feed_draft(http_req *r);
void route_feed_bid(http_req *r);
void route_feed_report(http_req *r);
void route_feed_approval(http_req *r);
void route_feed_chat(http_req *r);
void route_feed_outbox(http_req *r); /* GET /v1/approvals/events, SSE */
void route_evaluation_get(http_req *r);
void route_evaluation_events(http_req *r);
void route_stream_ticket_create(http_req *r);

/* The worker, for a route flagged ROUTE_STREAM called without
 * Authorization: authenticates by ?ticket= (one path, GET only). 0 with
 * r->tenant_id set; -1 when there is no ticket (the caller goes on to the
 * usual 401); -2 when it answered (401 or 503). */
int feeds_ticket_auth(http_req *r);

/* The query string with a ticket's value cut to its first 6 characters,
 * for the access log. */
void feeds_redact_query(const char *query, char *out, size_t outlen);

#endif
