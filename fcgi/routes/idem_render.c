/*
 * idem_render.c -- stored idempotent answers kept as "the GET that renders
 * them" (see idem_render.h for the rule and why it keeps replays honest).
 *
 * A sub-request is an http_req of its own (method GET, the parent's tenant
 * and connection, no body) run through the ordinary route table, so the
 * bytes are those any GET of the resource gets: nothing here knows a
 * resource.
 */
#include "idem_render.h"

#include "log.h"
#include "reply.h"
#include "router.h"
#include "xalloc.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Finds header `name` in a "Name: value\r\n" block; copies its value to
 * out. Returns 1 if found (and it fits), else 0. */
static int header_value(const char *block, size_t len, const char *name,
                        char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = block, *end = block + len;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl + 2 && strncasecmp(p, name, nl) == 0 &&
            p[nl] == ':' && p[nl + 1] == ' ') {
            size_t vl = (size_t)(eol - p) - nl - 2;
            if (vl >= outlen)
                return 0;
            memcpy(out, p + nl + 2, vl);
            out[vl] = '\0';
            return 1;
        }
        if (end - eol < 2)
            break;
        p = eol + 2;
    }
    return 0;
}

/* Runs GET `path` for the tenant of `parent` into *sub (which the caller
 * frees with sub_free, whatever the outcome). Returns 1 if a GET route
 * answered, 0 if no GET route has that path. */
static int run_get(const http_req *parent, const char *path, size_t plen,
                   http_req *sub)
{
    char allow[128];
    memset(sub, 0, sizeof *sub);
    jb_init(&sub->out);
    sub->route = -1;
    if (plen >= sizeof sub->path)
        return 0;
    memcpy(sub->path, path, plen);
    sub->path[plen] = '\0';
    sub->method = "GET";
    sub->query = "";
    memcpy(sub->request_id, parent->request_id, sizeof sub->request_id);
    sub->db = parent->db;
    sub->conf = parent->conf;
    sub->tenant_id = parent->tenant_id;
    sub->authorization = parent->authorization;
    int idx = router_match("GET", sub->path, sub->ids, &sub->nids, allow,
                           sizeof allow);
    const struct route *rt = router_get(idx);
    if (rt == NULL || strcmp(rt->method, "GET") != 0)
        return 0;
    sub->route = idx;
    rt->fn(sub);
    return sub->status != 0;
}

static void sub_free(http_req *sub)
{
    if (sub->json != NULL)
        json_object_put(sub->json);
    jb_free(&sub->out);
}

/* Where GET `path` renders inside r's answer: the whole body of a 2xx,
 * or the value of "current" in a refusal (409, 412, 428 ...), with the
 * same ETag. Returns 1 with *at and *len, else 0. */
static int rendered_at(http_req *r, const char *path, size_t plen, size_t *at,
                       size_t *len)
{
    static const char member[] = "\"current\":";
    char want[32], got[32];
    http_req sub;
    int found = 0;
    if (!header_value(r->headers, r->headers_len, "ETag", want, sizeof want))
        return 0;
    if (run_get(r, path, plen, &sub) && sub.status == 200 &&
        header_value(sub.headers, sub.headers_len, "ETag", got, sizeof got) &&
        strcmp(want, got) == 0 && sub.out.len > 0) {
        if (r->status >= 200 && r->status <= 299) {
            found = sub.out.len == r->out.len &&
                    memcmp(sub.out.p, r->out.p, r->out.len) == 0;
            *at = 0;
        } else {
            const char *p = r->out.p, *end = r->out.p + r->out.len;
            while (!found && p != NULL && p < end) {
                p = memmem(p, (size_t)(end - p), member, sizeof member - 1);
                if (p == NULL)
                    break;
                p += sizeof member - 1;
                if ((size_t)(end - p) >= sub.out.len &&
                    memcmp(p, sub.out.p, sub.out.len) == 0) {
                    found = 1;
                    *at = (size_t)(p - r->out.p);
                }
            }
        }
        *len = sub.out.len;
    }
    sub_free(&sub);
    return found;
}

int idem_render_split(http_req *r, char *path, size_t pathlen, size_t *at,
                      size_t *len)
{
    if (r->out.len <= IDEM_BODY_INLINE || r->status < 200 || r->status >= 500)
        return 0;
    /* The candidates: the created resource (Location), the path written
     * (PUT/PATCH of a resource), its parent (POST .../messages,
     * .../approve, .../archive). */
    char cand[3][sizeof r->path];
    int n = 0;
    if (header_value(r->headers, r->headers_len, "Location", cand[n],
                     sizeof cand[n]))
        n++;
    snprintf(cand[n++], sizeof cand[0], "%s", r->path);
    const char *slash = strrchr(r->path, '/');
    if (slash != NULL && slash > r->path) {
        snprintf(cand[n], sizeof cand[0], "%.*s", (int)(slash - r->path),
                 r->path);
        n++;
    }
    for (int i = 0; i < n; i++) {
        size_t clen = strlen(cand[i]);
        if (clen < pathlen && rendered_at(r, cand[i], clen, at, len)) {
            memcpy(path, cand[i], clen + 1);
            return 1;
        }
    }
    return 0;
}

/* A refusal replayed after its resource moved on: the stored members
 * with "current" and "current_version" of now (parsed and written again:
 * not the first bytes, but never a version that disagrees with its
 * resource). Returns 0, or -1 if the stored text is not what we wrote. */
static int refusal_now(jbuf *out, const char *shell, const jbuf *current,
                       const char *etag)
{
    json_object *o = json_tokener_parse(shell);
    json_object *cur = json_tokener_parse(current->p);
    if (o == NULL || cur == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        json_object_put(cur);
        return -1;
    }
    json_object_object_add(o, "current", cur);
    unsigned long v = strtoul(etag + (etag[0] == '"'), NULL, 10);
    json_object_object_add(o, "current_version",
                           json_object_new_int64((int64_t)v));
    jb_lit(out,
           json_object_to_json_string_ext(
               o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
}

void idem_render_replay(http_req *r, int status, const char *headers,
                        size_t headers_len, const char *body, size_t body_len,
                        size_t at, const char *path, size_t path_len)
{
    http_req sub;
    char stored[32], now[32];
    if (body == NULL || at + 4 > body_len ||
        memcmp(body + at, "null", 4) != 0) {
        LOG(LOG_ERROR,
            "idempotency: stored answer for %.*s has no place "
            "for its resource",
            (int)path_len, path);
        reply_error(r, 500, "internal", "internal error; see the log", NULL);
        return;
    }
    if (!run_get(r, path, path_len, &sub)) {
        sub_free(&sub);
        LOG(LOG_ERROR, "idempotency: stored render path %.*s has no GET",
            (int)path_len, path);
        reply_error(r, 500, "internal", "internal error; see the log", NULL);
        return;
    }
    jbuf *b = reply_body(r);
    if (sub.status != 200) {
        /* Gone since (404), or the database is away (503): the GET's own
         * answer is the truthful one. */
        if (sub.out.len > 0)
            jb_raw(b, sub.out.p, sub.out.len);
        if (sub.headers_len < sizeof r->headers - r->headers_len) {
            memcpy(r->headers + r->headers_len, sub.headers, sub.headers_len);
            r->headers_len += sub.headers_len;
        }
        r->status = sub.status;
        sub_free(&sub);
        return;
    }
    int have_now =
        header_value(sub.headers, sub.headers_len, "ETag", now, sizeof now);
    int same =
        header_value(headers, headers_len, "ETag", stored, sizeof stored) &&
        have_now && strcmp(stored, now) == 0;
    if (same || (status >= 200 && status <= 299)) {
        /* The stored text with the resource put back where it was: the
         * first answer byte for byte at the same version, the current
         * resource (with its ETag, below) after later writes. */
        jb_raw(b, body, at);
        jb_raw(b, sub.out.p, sub.out.len);
        jb_raw(b, body + at + 4, body_len - at - 4);
    } else {
        /* A refusal (its "current" at `at`) whose resource moved on. */
        char *shell = xmalloc(body_len + 1);
        memcpy(shell, body, body_len);
        shell[body_len] = '\0';
        int rc = refusal_now(b, shell, &sub.out, now);
        free(shell);
        if (rc != 0) {
            sub_free(&sub);
            LOG(LOG_ERROR, "idempotency: stored refusal is not JSON");
            reply_error(r, 500, "internal", "internal error; see the log",
                        NULL);
            return;
        }
    }
    /* The stored headers, with the ETag of the body actually sent. */
    const char *p = headers, *end = headers + headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
        int etag = ll > 6 && strncasecmp(p, "ETag: ", 6) == 0;
        if (!(etag && !same) && ll + 2 < sizeof r->headers - r->headers_len) {
            memcpy(r->headers + r->headers_len, p, ll);
            memcpy(r->headers + r->headers_len + ll, "\r\n", 2);
            r->headers_len += ll + 2;
        }
        if ((size_t)(end - p) < ll + 2)
            break;
        p += ll + 2;
    }
    if (!same && have_now)
        http_header(r, "ETag", now);
    r->status = status;
    sub_free(&sub);
}
