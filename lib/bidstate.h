/*
 * bidstate.h -- the bid state machine in SQL: the claim an evaluation
 * takes (with its lease), the lease's renewal and the evaluation's finish;
 * the other writes of a bid are a resource's (fcgi/routes/routes_bids.c through
 * vw_run): archive and a PATCH with If-Match: * are rec_guarded_write with
 * BID_STATE_SQL, a PATCH with a version is rec_checked_write. No HTTP in
 * here.
 *
 * Every status change is one UPDATE whose WHERE clause names the statuses
 * it may start from, so a transition the machine does not have cannot
 * happen whatever the interleaving; the affected-row count decides, and
 * only a refused write reads the row, to say why. The machine itself is
 * written out at the top of bidstate.c.
 */
#ifndef OPTIMIST_BIDSTATE_H
#define OPTIMIST_BIDSTATE_H

#include "rec.h"

/* SELECT version, status of a bid for rec_guarded_write, with a status
 * of its own for "evaluating, and the lease has passed": "lapsed". A
 * lapsed bid may be claimed again; to a client it is still "evaluating"
 * (with "lease": {"expired": true}). */
extern const char BID_STATE_SQL[];

/* A claim: one run's hold on one bid. */
typedef struct bid_claim {
    uint64_t bid_id;
    uint64_t tenant_id;
    uint64_t eval_id;      /* the evaluations row: the stream's
                              evaluation_id and the lease's owner */
    uint32_t version;      /* the bid's version right after the claim */
    uint32_t data_version; /* the bid's data_version at the claim */
} bid_claim;

/* Inside a transaction: claims bid `id` for a new run of `kind`
 * ("quick_scan" or "full"): status open, decided, or evaluating with a
 * passed lease, and the expected version -> evaluating, version + 1, a
 * lease of `lease_seconds`, an evaluations row 'running'. A run whose
 * lease was taken over becomes 'expired'. Errors as rec_guarded_write:
 * REC_NOT_FOUND, REC_INVALID_STATE (held by a live lease, or archived;
 * wins over a stale version), REC_CONFLICT; nothing is kept then (the
 * caller's transaction rolls back). *out (OUT) is filled on REC_OK. */
rec_status bid_claim_run(rec_db *db, uint64_t tenant_id, uint64_t id,
                         rec_expect expect, const char *kind,
                         unsigned lease_seconds, bid_claim *out,
                         rec_err *err) REC_MUST_CHECK;

/* Renews the claim's lease to `lease_seconds` from now, if the claim still
 * holds the bid and its lease has not passed. REC_OK, or REC_INVALID_STATE
 * when the claim is lost (superseded runs keep their lease until they
 * finish: an edit does not take the claim). Runs on its own. */
rec_status bid_renew(rec_db *db, const bid_claim *c, unsigned lease_seconds,
                     rec_err *err) REC_MUST_CHECK;

/* How a run ended. */
typedef enum bid_outcome {
    BID_APPLIED,    /* data unchanged: the result is the bid's evaluation,
                       status decided */
    BID_SUPERSEDED, /* data edited meanwhile: result kept on the run, bid
                       back to open */
    BID_FAILED,     /* the evaluator failed: bid back to open */
    BID_EXPIRED     /* the claim was lost (lease passed or taken over):
                       the bid is not this run's to change any more */
} bid_outcome;

/* Finishes the claim in one transaction. `result` (JSON object text, or
 * NULL when the evaluator failed) and `detail` (why it failed, or NULL)
 * are stored on the run whatever the outcome. *outcome (OUT) says what
 * happened, *version (OUT) is the bid's version after it. A claim whose
 * lease passed without a take-over releases the bid to open (version + 1)
 * so that nothing stays evaluating. */
rec_status bid_finish(rec_db *db, const bid_claim *c, const char *result,
                      size_t result_len, const char *detail,
                      bid_outcome *outcome, uint32_t *version,
                      rec_err *err) REC_MUST_CHECK;

/* "applied", "superseded", "failed", "expired". */
const char *bid_outcome_name(bid_outcome o);

#endif
