/*
 * bids.h -- what routes_bids.c gives routes_evaluate.c: a bid rendered as
 * GET answers it, the version a write expects, and the answer to a
 * refused write (the bids resource of vwrite.h: vw_expect_or_reply,
 * vw_refused_reply).
 */
#ifndef OPTIMIST_BIDS_H
#define OPTIMIST_BIDS_H

#include "bidstate.h"
#include "http.h"

#include <json.h>

/* Writes bid `id` of r->tenant_id as GET answers it to `out`; *version
 * (OUT) gets its version. REC_NOT_FOUND when there is none. */
rec_status bids_load(http_req *r, uint64_t id, jbuf *out, uint32_t *version,
                     rec_err *err);

/* The version a [versioned] write of bid `id` expects, from the body's
 * "version" or If-Match. Answers 400 (malformed), 404 or 428 (none given)
 * and 412 (a weak tag) itself and returns -1; else 0, with *expect and
 * *use_412 (a stale If-Match answers 412, a stale body version 409). */
int bids_expect_or_reply(http_req *r, json_object *body, uint64_t id,
                         rec_expect *expect, int *use_412);

/* Answers a write that bid_claim_run refused: 404,
 * 409 version_conflict / 412 with the current bid, or 409 invalid_state
 * with status, the current bid and, while it is evaluating, its lease.
 * Other statuses go to reply_rec. */
void bids_refused_reply(http_req *r, uint64_t id, rec_status st,
                        const rec_err *err, int use_412);

#endif
