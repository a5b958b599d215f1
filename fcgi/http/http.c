/*
 * http.c -- small helpers over http_req: response headers, the rendered
 * answer, reason phrases, query parameters.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>

void http_header(http_req *r, const char *name, const char *value)
{
    /* Copied, not snprintf'd (its format parsing was a hot spot); a header
     * that does not fit whole is left out, as before. */
    size_t nl = strlen(name), vl = strlen(value);
    size_t room = sizeof r->headers - r->headers_len;
    if (nl + vl + 4 >= room)
        return;
    char *p = r->headers + r->headers_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 3); /* with the NUL */
    r->headers_len += nl + vl + 4;
}

void http_render(const http_req *r, jbuf *out)
{
    char num[21];
    int nobody = r->status == 204 || r->status == 304;
    int head = r->method != NULL && strcmp(r->method, "HEAD") == 0;
    jb_lit(out, "Status: ");
    jb_u64(out, (uint64_t)(r->status > 0 ? r->status : 0));
    jb_lit(out, " ");
    jb_lit(out, http_reason(r->status));
    jb_lit(out, "\r\n");
    if (!nobody) {
        jb_lit(out, "Content-Type: ");
        jb_lit(out,
               r->content_type_out ? r->content_type_out : "application/json");
        jb_lit(out, "\r\nContent-Length: ");
        size_t n = jb_fmt_u64(num, r->out.len);
        jb_raw(out, num, n);
        jb_lit(out, "\r\n");
    }
    jb_lit(out, "X-Request-Id: ");
    jb_lit(out, r->request_id);
    jb_lit(out, "\r\n");
    if (r->headers_len > 0)
        jb_raw(out, r->headers, r->headers_len);
    jb_lit(out, "\r\n");
    if (!nobody && !head && r->out.len > 0)
        jb_raw(out, r->out.p, r->out.len);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 428:
        return "Precondition Required";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

int http_query_param(const http_req *r, const char *name, char *out,
                     size_t outlen)
{
    size_t nlen = strlen(name);
    const char *q = r->query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        if (seg > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            size_t vlen = seg - nlen - 1;
            if (vlen >= outlen)
                return -1;
            memcpy(out, q + nlen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        if (seg == nlen && strncmp(q, name, nlen) == 0) {
            out[0] = '\0';
            return 1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}
