/*
 * reply.h -- answering a request: JSON bodies, the contract's error body,
 * and the one mapping from a library status to an HTTP status.
 *
 * Helpers ending in _or_reply have answered the request when they fail:
 * the route just returns.
 */
#ifndef OPTIMIST_REPLY_H
#define OPTIMIST_REPLY_H

#include "http.h"

/* Starts a fresh JSON body: returns r->out, emptied. */
jbuf *reply_body(http_req *r);

/* Answers `status` with the body written into r->out (may be empty). */
void reply_json(http_req *r, int status);

/* Adds `ETag: "<version>"`. */
void reply_etag(http_req *r, uint32_t version);

/* Answers 201 for resource `id` just made under `collection` ("/v1/bids"):
 * Location, ETag and the body written into r->out. */
void reply_created(http_req *r, const char *collection, uint64_t id,
                   uint32_t version);

/* Answers {"error": code, "message": message, "request_id": ...}. `extra`
 * (may be NULL) is JSON text of more members, e.g. "\"current_version\":3",
 * appended after the standard ones. */
void reply_error(http_req *r, int status, const char *code, const char *message,
                 const char *extra);

/* The same with a printf-style message. */
void reply_errorf(http_req *r, int status, const char *code, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Maps a library failure to its answer: REC_NOT_FOUND 404, REC_INVALID
 * 400, REC_UNAVAILABLE and an exhausted REC_RETRY 503 with Retry-After,
 * anything else 500 (details to the log only). Conflicts are the route's
 * to answer, since they carry the current resource. */
void reply_rec(http_req *r, rec_status st, const rec_err *err);

/* Answers 409 `version_conflict` or 412 `precondition_failed` (use_412)
 * with the current version and resource (`current` is its JSON text). */
void reply_conflict(http_req *r, int use_412, const char *resource,
                    uint32_t current_version, const jbuf *current);

/* Answers 409 `invalid_state`: the resource's status (`status`) forbids
 * the change, whatever the version. Carries status, current_version and
 * current (the resource's JSON text). */
void reply_invalid_state(http_req *r, const char *resource, const char *status,
                         uint32_t current_version, const jbuf *current);

/* The same with `extra` (may be NULL): JSON text of more members, e.g.
 * "\"lease\":{...}" (a bid held by a running evaluation). */
void reply_invalid_state_extra(http_req *r, const char *resource,
                               const char *status, uint32_t current_version,
                               const jbuf *current, const char *extra);

#endif
