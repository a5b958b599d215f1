/*
 * listq.c -- ?limit= and ?after= of list routes. Digits only: a sign, a
 * space or an empty value is a client's mistake worth a 400, not a
 * default.
 */
#include "listq.h"

#include "reply.h"

#include <stdio.h>

/* Decimal digits only, at most UINT64_MAX. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int listq_parse(const http_req *r, unsigned *limit, uint64_t *after,
                char *msg, size_t msglen)
{
    char val[32];
    uint64_t v;
    int got;

    *limit = LISTQ_DEFAULT_LIMIT;
    *after = 0;
    got = http_query_param(r, "limit", val, sizeof val);
    if (got != 0) {
        if (got < 0 || parse_u64(val, &v) != 0 || v < 1 ||
            v > LISTQ_MAX_LIMIT) {
            snprintf(msg, msglen, "limit must be an integer from 1 to %d",
                     LISTQ_MAX_LIMIT);
            return -1;
        }
        *limit = (unsigned)v;
    }
    got = http_query_param(r, "after", val, sizeof val);
    if (got != 0) {
        if (got < 0 || parse_u64(val, &v) != 0) {
            snprintf(msg, msglen, "after must be an id (decimal digits)");
            return -1;
        }
        *after = v;
    }
    return 0;
}

int listq_parse_or_reply(http_req *r, unsigned *limit, uint64_t *after)
{
    char msg[96];
    if (listq_parse(r, limit, after, msg, sizeof msg) == 0)
        return 0;
    reply_error(r, 400, "bad_request", msg, NULL);
    return -1;
}
