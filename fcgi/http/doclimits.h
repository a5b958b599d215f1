/*
 * doclimits.h -- how big a document may grow, and answers smaller than the
 * whole document.
 *
 * Document limits (docs/api.md, "Document limits", states the rule): a
 * write that would leave a document over its limit answers 409
 * `document_full` with "what" ("messages" or "bytes"), "limit" and
 * "current_version", and changes nothing.
 *
 * `Prefer: return=minimal` (RFC 7240) on a write that answers the
 * resource: the body becomes {"version": N} ({"id", "version"} for a 201),
 * the ETag stays, and `Preference-Applied: return=minimal` says so.
 */
#ifndef OPTIMIST_DOCLIMITS_H
#define OPTIMIST_DOCLIMITS_H

#include "http.h"

#include <stddef.h>
#include <stdint.h>

/* Answers 409 document_full. */
void limits_reply_full(http_req *r, const char *what, uint64_t limit,
                       uint32_t current_version);

/* 1 if a Prefer header value asks for return=minimal. */
int limits_prefers_minimal(const char *prefer);

/* After the route, before the answer is stored or sent: applies
 * return=minimal to a 200/201 of a POST, PUT, PATCH or DELETE that carries
 * an ETag (not to evaluate, whose answer is an outcome). */
void limits_minimal(http_req *r, const char *prefer);

#endif
