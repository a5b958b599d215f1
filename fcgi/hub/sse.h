/*
 * sse.h -- the text of Server-Sent Events: an event (name, id, data split
 * into "data:" lines) and a comment. The hub queues it on a connection as
 * FastCGI records (fcgirec.h) and nginx, with fastcgi_buffering off for
 * the stream locations, passes it on at once.
 */
#ifndef OPTIMIST_SSE_H
#define OPTIMIST_SSE_H

#include "jbuf.h"

#include <stddef.h>
#include <stdint.h>

/* Appends one event to b: "event: NAME\n", one "data: " line per line of
 * data (a JSON text has none, but an evaluator's text might), then the
 * empty line that ends the event. Pure. */
void sse_format_event(jbuf *b, const char *event, const char *data, size_t len);

/* The same with "id: ID" after the event's name (id 0: no id line). */
void sse_format_event_id(jbuf *b, const char *event, uint64_t id,
                         const char *data, size_t len);

/* Appends a comment line ": TEXT\n\n" (a keep-alive the client ignores). */
void sse_format_comment(jbuf *b, const char *text);

#endif
