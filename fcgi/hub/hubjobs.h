/*
 * hubjobs.h -- the statements of a run that take row locks, as jobs for
 * the hub's database threads (hubdb.h): a progress line (lease renewal
 * and the stored event), a run's finish (the bid's finish and the final
 * event in one transaction), a run whose hub died, a final event for a
 * run another sweep expired. Each job's record carries its inputs and,
 * when done, its results; the `work` functions touch nothing else.
 */
#ifndef OPTIMIST_HUBJOBS_H
#define OPTIMIST_HUBJOBS_H

#include "bidstate.h"
#include "jbuf.h"
#include "rec.h"

#include <stddef.h>
#include <stdint.h>

/* A progress line: renew the lease first when `renew`, then store it. */
struct hubjob_progress {
    void *owner; /* the loop's run: for the `done` only */
    bid_claim claim;
    unsigned lease_seconds;
    int renew;
    uint32_t seq;
    char *line; /* malloc'd, owned by the job */
    size_t len;
    rec_status renewed; /* REC_INVALID_STATE: the claim is lost */
    rec_status stored;
    rec_err err;
};
void hubjob_progress(rec_db *db, void *arg);

/* A run's finish: `result` (malloc'd, owned) or, with NULL, failed with
 * `why`. Out: st, outcome, version, the final event (event, data) and
 * the seq it was stored at (0: none stored). */
struct hubjob_finish {
    void *owner;
    bid_claim claim;
    char *result;
    size_t rlen;
    char why[256];
    rec_status st;
    bid_outcome outcome;
    uint32_t version;
    const char *event;
    jbuf data;
    uint32_t seq;
    rec_err err;
};
struct hubjob_finish *hubjob_finish_new(const bid_claim *claim,
                                        const char *result, size_t rlen,
                                        const char *why);
void hubjob_finish(rec_db *db, void *arg);
void hubjob_finish_free(struct hubjob_finish *f);

/* A run whose hub died: if it is still running, its lease ends now and
 * it is finished as the sweep finishes a run whose lease passed (expired,
 * the bid open again, error "expired"). Out: found, and the finish's
 * results. */
struct hubjob_orphan {
    int found;
    struct hubjob_finish f; /* f.claim.eval_id: the run */
};
void hubjob_orphan(rec_db *db, void *arg);

/* The final `error` {"error": "expired"} of a run expired elsewhere
 * without one. */
struct hubjob_final {
    uint64_t eval_id, tenant;
    rec_status st;
    rec_err err;
};
void hubjob_final(rec_db *db, void *arg);

/* A poll: the versions of `n` followed resources of one kind (`ids`,
 * sorted), by `sql` (a SELECT key, version[, final] ... WHERE key IN a
 * list of HUBJOB_POLL_BATCH) run once per HUBJOB_POLL_BATCH ids. A read:
 * on a thread only so that the loop never waits for 40 of them in a row.
 * Out: found[i], version[i], final[i] (a third column not NULL). */
#define HUBJOB_POLL_BATCH 256
struct hubjob_poll {
    int feed;
    char *sql;     /* a copy: a reload may free the descriptor's meanwhile */
    int has_final; /* the query has the third column */
    size_t n;
    uint64_t *ids;
    uint64_t *version;
    unsigned char *found, *final;
    rec_status st;
    rec_err err;
};
struct hubjob_poll *hubjob_poll_new(int feed, const char *sql, size_t n);
void hubjob_poll(rec_db *db, void *arg);
void hubjob_poll_free(struct hubjob_poll *j);

#endif
