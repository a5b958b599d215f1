/*
 * bidstate.h -- the bid state machine in SQL: guarded writes, the claim
 * an evaluation takes (with its lease), the lease's renewal and the
 * evaluation's finish. No HTTP in here.
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

/* Statuses as a set, for the `allowed` argument of bid_guarded_write. */
enum {
    BID_OPEN = 1,       /* status 'open' */
    BID_EVALUATING = 2, /* 'evaluating' with a lease that has not passed */
    BID_DECIDED = 4,    /* 'decided' */
    BID_ARCHIVED = 8,   /* 'archived' */
    BID_LAPSED = 16     /* 'evaluating' whose lease has passed: the run's
                           worker is gone (or stalled); claimable again */
};

/* What a refused write found. */
typedef struct bid_state {
    uint32_t version; /* the row's version */
    char status[16];  /* "open", "evaluating", "decided", "archived" */
    int lease_live;   /* evaluating and the lease has not passed */
} bid_state;

/* Inside a transaction: runs `sql`, an UPDATE of table bids whose WHERE
 * clause encodes the statuses of `allowed` and ends with "id = ? AND
 * tenant_id = ? AND version = COALESCE(?, version)" (those three are
 * appended to `params`, as for rec_versioned_write). Every such UPDATE
 * sets version = version + 1.
 *
 * REC_OK: *version (OUT) gets the new version. Nothing matched:
 * REC_NOT_FOUND; REC_CONFLICT when the version is not the expected one;
 * REC_INVALID_STATE when the status is not in `allowed`; *found (OUT)
 * describes the row for the last two. */
rec_status bid_guarded_write(rec_db *db, const char *sql,
                             const rec_param *params, size_t nparams,
                             uint64_t id, uint64_t tenant_id,
                             rec_expect expect, unsigned allowed,
                             uint32_t *version, bid_state *found,
                             rec_err *err) REC_MUST_CHECK;

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
 * lease was taken over becomes 'expired'. Errors as bid_guarded_write
 * (nothing is kept: the caller's transaction rolls back). *out (OUT) is
 * filled on REC_OK. */
rec_status bid_claim_run(rec_db *db, uint64_t tenant_id, uint64_t id,
                         rec_expect expect, const char *kind,
                         unsigned lease_seconds, bid_claim *out,
                         bid_state *found, rec_err *err) REC_MUST_CHECK;

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
