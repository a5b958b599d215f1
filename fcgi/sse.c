/*
 * sse.c -- writing a text/event-stream answer through libfcgi: every event
 * is followed by FCGX_FFlush, which sends the FCGI_STDOUT record now
 * instead of when the 8 KiB buffer fills.
 */
#include "sse.h"

#include <fcgiapp.h>
#include <string.h>

void sse_format_event(jbuf *b, const char *event, const char *data,
                      size_t len)
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

/* Writes and flushes; remembers a failure in the stream's own error. */
static int send_now(http_req *r, const char *p, size_t n)
{
    FCGX_Stream *out = r->stream;
    if (out == NULL || FCGX_GetError(out) != 0)
        return -1;
    if (n > 0 && FCGX_PutStr(p, (int)n, out) != (int)n)
        return -1;
    if (FCGX_FFlush(out) != 0)
        return -1;
    return 0;
}

void sse_begin(http_req *r)
{
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "Status: 200 OK\r\n"
               "Content-Type: text/event-stream; charset=utf-8\r\n"
               "Cache-Control: no-cache\r\n"
               /* For a proxy whose config does not turn buffering off. */
               "X-Accel-Buffering: no\r\n"
               "X-Request-Id: ");
    jb_lit(&b, r->request_id);
    jb_lit(&b, "\r\n");
    jb_raw(&b, r->headers, r->headers_len);
    jb_lit(&b, "\r\n");
    (void)send_now(r, b.p, b.len); /* a client already gone: see sse_gone */
    jb_free(&b);
    r->status = 200;
    r->streamed = 1;
}

int sse_event(http_req *r, const char *event, const char *data, size_t len)
{
    jbuf b;
    jb_init(&b);
    sse_format_event(&b, event, data, len);
    int rc = send_now(r, b.p, b.len);
    jb_free(&b);
    return rc;
}

int sse_ping(http_req *r)
{
    return send_now(r, ": ping\n\n", 8);
}

int sse_gone(const http_req *r)
{
    return r->stream == NULL || FCGX_GetError(r->stream) != 0;
}
