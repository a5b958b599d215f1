/*
 * tickets.h -- the stream tickets of browsers (routes_streams.c), for the
 * worker: EventSource cannot send Authorization, so a stream route takes
 * ?ticket= instead.
 */
#ifndef OPTIMIST_TICKETS_H
#define OPTIMIST_TICKETS_H

#include "http.h"

#include <stddef.h>

/* The worker, for a route flagged ROUTE_STREAM called without
 * Authorization: authenticates by ?ticket= (one path, GET only). 0 with
 * r->tenant_id set; -1 when there is no ticket (the caller goes on to the
 * usual 401); -2 when it answered (401 or 503). */
int feeds_ticket_auth(http_req *r);

/* The query string with a ticket's value cut to its first 6 characters,
 * for the access log. */
void feeds_redact_query(const char *query, char *out, size_t outlen);

#endif
