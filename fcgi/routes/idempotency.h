/*
 * idempotency.h -- the Idempotency-Key header, for every POST, PUT, PATCH
 * and DELETE route but /evaluate, in one place: the worker's dispatch
 * calls idem_begin_or_reply() before the route and idem_finish() after it.
 * Routes know nothing of it.
 *
 * How "the stored answer is committed in the same transaction as the
 * effect" holds for any route: while a key is claimed, the record library
 * keeps the route's transaction open when the route's rec_txn succeeds
 * (rec_txn_hold); after the route has answered, idem_finish() writes the
 * answer into that transaction and commits both. A crash before the COMMIT
 * leaves neither, after it both.
 */
#ifndef OPTIMIST_IDEMPOTENCY_H
#define OPTIMIST_IDEMPOTENCY_H

#include "http.h"

#include <stdint.h>

#define IDEM_KEY_MAX 255

/* The state of one request's key. */
typedef struct idem {
    int active;     /* a key is claimed: idem_finish must store or release */
    rec_idem_key k; /* k.key points into `key` */
    char key[IDEM_KEY_MAX + 1];
} idem;

/* 1 if `key` is 1 to 255 printable ASCII characters (0x20..0x7E), else 0
 * (NULL included). */
int idem_key_valid(const char *key);

/* 1 if a key on this method and route pattern is honoured: POST, PUT,
 * PATCH and DELETE, except a pattern ending in "/evaluate" (the contract:
 * "On GET and on /evaluate the header is ignored"). */
int idem_applies(const char *method, const char *pattern);

/* The SHA-256 that says "the same request": over the method, the path and
 * the body bytes, framed so that no two different requests can collide by
 * moving bytes between the parts: SHA-256(method NUL path NUL
 * SHA-256(body)). */
void idem_request_hash(const char *method, const char *path, const char *body,
                       size_t body_len, uint8_t out[REC_IDEM_HASH_LEN]);

/* Before the route, after authentication. Returns 0 to run the route
 * (*s->active tells whether a key was claimed), or -1 after answering: a
 * replay (the stored answer with Idempotent-Replayed: true), 400 for a
 * malformed key, 422 idempotency_key_reused, 409 idempotency_key_in_use,
 * or 503. */
int idem_begin_or_reply(http_req *r, idem *s);

/* After the route: commits the held transaction with the stored answer,
 * or, when may_rerun and the held transaction was undone by a conflict
 * (a deadlock, a Galera certification failure at COMMIT) or a node that
 * stopped serving, returns 1: nothing of the route committed, the key is
 * still claimed, and the caller runs the route again (after
 * rec_txn_hold(db, 1) and a back-off). Otherwise returns 0 after
 * committing, or storing the answer on its own, or (5xx) rolls back and frees
 * the key. May replace the route's answer when nothing could be committed (503,
 * or 409 idempotency_key_in_use if the claim was taken over meanwhile). */
int idem_finish(http_req *r, idem *s, int may_rerun);

/* Between requests: deletes expired keys, at most once a minute. */
void idem_upkeep(rec_db *db);

#endif
