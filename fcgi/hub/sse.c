/*
 * sse.c -- Server-Sent Events framing. The hub (hub.c) writes the events
 * of every stream; no worker writes one (a stream holds no worker).
 */
#include "sse.h"

#include <string.h>

void sse_format_event(jbuf *b, const char *event, const char *data, size_t len)
{
    sse_format_event_id(b, event, 0, data, len);
}

void sse_format_event_id(jbuf *b, const char *event, uint64_t id,
                         const char *data, size_t len)
{
    jb_lit(b, "event: ");
    jb_lit(b, event);
    jb_lit(b, "\n");
    if (id > 0) {
        jb_lit(b, "id: ");
        jb_u64(b, id);
        jb_lit(b, "\n");
    }
    /* A CR, LF or CRLF inside the data would end the field: each line
     * becomes its own "data:" field, which the client joins with LF. */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        jb_lit(b, "data: ");
        jb_raw(b, data + start, i - start);
        jb_lit(b, "\n");
        if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    jb_lit(b, "\n");
}

void sse_format_comment(jbuf *b, const char *text)
{
    jb_lit(b, ": ");
    jb_lit(b, text);
    jb_lit(b, "\n\n");
}
