/*
 * precond.c -- parsing of the client's expected version. A missing
 * version is never defaulted: the caller answers 428.
 */
#include "precond.h"

#include "reply.h"

#include "parse.h"

#include <string.h>

int precond_version_value(json_object *v, uint32_t *out)
{
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return -1; /* null, string, fractional, bool, object */
    /* json-c keeps integers beyond INT64_MAX as uint64; anything that is
     * not in 1..UINT32_MAX is out of range either way. */
    int64_t i = json_object_get_int64(v);
    uint64_t u = json_object_get_uint64(v);
    if (i < 1 || u > 4294967295ULL || (uint64_t)i != u)
        return -1;
    *out = (uint32_t)i;
    return 0;
}

/* Parses "N" (quoted decimal) at s; returns chars consumed or 0. */
static size_t parse_quoted(const char *s, uint32_t *v)
{
    uint64_t n = 0;
    if (s[0] != '"')
        return 0;
    if (s[1] < '1' || s[1] > '9')
        return 0; /* versions start at 1: no "0", no leading zeros */
    size_t i = 1 + parse_u64(s + 1, UINT64_MAX, &n);
    if (n > 4294967295ULL)
        return 0;
    if (s[i] != '"')
        return 0;
    *v = (uint32_t)n;
    return i + 1;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int precond_parse_if_match(const char *h, enum if_match_kind *kind,
                           uint32_t *version)
{
    *kind = IM_NONE;
    *version = 0;
    if (h == NULL)
        return 0;
    h = skip_ws(h);
    if (h[0] == '*') {
        if (*skip_ws(h + 1) != '\0')
            return -1;
        *kind = IM_ANY;
        return 0;
    }
    int weak = 0;
    if (h[0] == 'W' && h[1] == '/') {
        weak = 1;
        h += 2;
    }
    size_t n = parse_quoted(h, version);
    if (n == 0 || *skip_ws(h + n) != '\0')
        return -1;
    *kind = weak ? IM_WEAK : IM_TAG;
    return 0;
}

int precond_none_match(const char *h, uint32_t current)
{
    if (h == NULL)
        return 0;
    const char *s = skip_ws(h);
    if (*s == '*')
        return 1;
    while (*s) {
        uint32_t v = 0;
        if (s[0] == 'W' && s[1] == '/')
            s += 2; /* If-None-Match compares weakly */
        if (*s != '"')
            return 0;
        const char *end = strchr(s + 1, '"');
        if (end == NULL)
            return 0;
        /* Any entity-tag may be in the list (a cache's, another server's,
         * a number past our range): it matches nothing, and the tags after
         * it still count (RFC 9110, 13.1.2). */
        if (parse_quoted(s, &v) == (size_t)(end + 1 - s) && v == current)
            return 1;
        s = skip_ws(end + 1);
        if (*s == ',')
            s = skip_ws(s + 1);
        else if (*s != '\0')
            return 0;
    }
    return 0;
}

int precond_parse_or_reply(http_req *r, json_object *body, precond *pc)
{
    json_object *v = NULL;
    memset(pc, 0, sizeof *pc);
    if (body != NULL && json_object_object_get_ex(body, "version", &v)) {
        if (precond_version_value(v, &pc->body_version) != 0) {
            reply_error(r, 400, "bad_request",
                        "\"version\" must be an integer from 1 to 4294967295",
                        NULL);
            return -1;
        }
        pc->has_body = 1;
    }
    if (precond_parse_if_match(r->if_match, &pc->im, &pc->im_version) != 0) {
        reply_error(r, 400, "bad_request",
                    "If-Match must be \"<version>\" or *", NULL);
        return -1;
    }
    if (pc->has_body && pc->im == IM_TAG &&
        pc->im_version != pc->body_version) {
        reply_error(r, 400, "bad_request",
                    "the body's version and If-Match disagree", NULL);
        return -1;
    }
    return 0;
}
