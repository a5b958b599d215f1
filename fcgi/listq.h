/*
 * listq.h -- the paging parameters every list route takes, per the
 * contract's "Lists": ?limit= (1..max, a default when absent) and
 * ?after=<id> (the last id of the previous page; 0 when absent). Anything
 * else in them -- empty, signed, not decimal, out of range -- is a 400.
 */
#ifndef OPTIMIST_LISTQ_H
#define OPTIMIST_LISTQ_H

#include "http.h"

#define LISTQ_DEFAULT_LIMIT 50
#define LISTQ_MAX_LIMIT 500

/* Reads limit and after from r->query into *limit and *after (OUT).
 * Returns 0, or -1 with a message for the client in msg. Pure. */
int listq_parse(const http_req *r, unsigned *limit, uint64_t *after,
                char *msg, size_t msglen);

/* The same, answering 400 itself when it returns -1. */
int listq_parse_or_reply(http_req *r, unsigned *limit, uint64_t *after)
    __attribute__((warn_unused_result));

#endif
