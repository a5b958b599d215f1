/*
 * doclimits.c -- document_full and return=minimal (see doclimits.h).
 */
#include "doclimits.h"

#include "reply.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void limits_reply_full(http_req *r, const char *what, uint64_t limit,
                       uint32_t current_version)
{
    char msg[160], extra[160];
    snprintf(msg, sizeof msg,
             "the document is full: this write would pass "
             "its limit of %llu %s",
             (unsigned long long)limit, what);
    snprintf(extra, sizeof extra,
             "\"what\":\"%s\",\"limit\":%llu,\"current_version\":%u", what,
             (unsigned long long)limit, current_version);
    reply_error(r, 409, "document_full", msg, extra);
}

/* Prefer is a list of preferences, "name[=value][;params]", comma
 * separated; names are case-insensitive, the value may be quoted. */
int limits_prefers_minimal(const char *prefer)
{
    const char *p = prefer;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        const char *end = p + n;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - p);
        static const char tok[] = "return";
        if (len > 6 && strncasecmp(p, tok, 6) == 0) {
            const char *v = p + 6;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v == '=') {
                v++;
                while (*v == ' ' || *v == '\t')
                    v++;
                size_t vl = (size_t)(end - v);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v++;
                    vl -= 2;
                }
                if (vl == 7 && strncasecmp(v, "minimal", 7) == 0)
                    return 1;
            }
        }
        p = strchr(p, ',');
    }
    return 0;
}

/* The value of header `name` among the route's extra headers, as a
 * number (ETag: "N" or Location: /v1/x/N); 0 if absent. */
static unsigned long long header_number(const http_req *r, const char *name)
{
    size_t nl = strlen(name);
    const char *h = r->headers, *end = r->headers + r->headers_len;
    while (h < end) {
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - h) > nl + 1 && strncasecmp(h, name, nl) == 0 &&
            h[nl] == ':') {
            const char *v = eol;
            while (v > h && !isdigit((unsigned char)v[-1]))
                v--;
            while (v > h && isdigit((unsigned char)v[-1]))
                v--;
            return strtoull(v, NULL, 10);
        }
        h = eol + 1;
    }
    return 0;
}

void limits_minimal(http_req *r, const char *prefer)
{
    if ((r->status != 200 && r->status != 201) || r->streamed ||
        strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 ||
        !limits_prefers_minimal(prefer))
        return;
    size_t pl = strlen(r->path);
    if (pl >= 9 && strcmp(r->path + pl - 9, "/evaluate") == 0)
        return;
    unsigned long long version = header_number(r, "ETag");
    if (version == 0)
        return; /* not an answer that is the resource */
    jbuf *b = reply_body(r);
    jb_lit(b, "{");
    if (r->status == 201) {
        jb_lit(b, "\"id\":");
        jb_u64(b, header_number(r, "Location"));
        jb_lit(b, ",");
    }
    jb_lit(b, "\"version\":");
    jb_u64(b, version);
    jb_lit(b, "}");
    http_header(r, "Preference-Applied", "return=minimal");
}
