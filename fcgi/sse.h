/*
 * sse.h -- Server-Sent Events on a FastCGI response: the headers once,
 * then each event written and flushed as it happens, so that nginx (with
 * fastcgi_buffering off for the route) passes it on at once.
 *
 * A client that went away makes the writes fail; that is not an error for
 * the caller: the work goes on and is stored, only nobody hears about it
 * (SIGPIPE is ignored in workers). sse_gone() tells whether that happened.
 */
#ifndef OPTIMIST_SSE_H
#define OPTIMIST_SSE_H

#include "http.h"

/* Appends one event to b: "event: NAME\n", one "data: " line per line of
 * data (a JSON text has none, but an evaluator's text might), then the
 * empty line that ends the event. Pure: for the unit tests and sse_event. */
void sse_format_event(jbuf *b, const char *event, const char *data,
                      size_t len);

/* The same with "id: ID" after the event's name (id 0: no id line). */
void sse_format_event_id(jbuf *b, const char *event, uint64_t id,
                         const char *data, size_t len);

/* Appends a comment line ": TEXT\n\n" (a keep-alive the client ignores). */
void sse_format_comment(jbuf *b, const char *text);

/* Sends "200, Content-Type: text/event-stream" with the extra headers of
 * r (r->headers), and marks r as streamed (r->status = 200): the worker
 * will send nothing more. */
void sse_begin(http_req *r);

/* Sends one event now. Returns 0, or -1 once the client is gone. */
int sse_event(http_req *r, const char *event, const char *data, size_t len);

/* Sends ": ping" now. Returns 0, or -1 once the client is gone. */
int sse_ping(http_req *r);

/* 1 once a write to the client failed. */
int sse_gone(const http_req *r);

#endif
