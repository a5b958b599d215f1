/*
 * janitor.h -- periodic upkeep in the master (PgBouncer's janitor.c):
 * deletes expired Idempotency-Key records, so that the table is bounded
 * by the keys of the last OPTIMIST_IDEMPOTENCY_TTL seconds whether or not
 * requests come (the workers' purge between requests only runs when they
 * serve).
 */
#ifndef OPTIMIST_JANITOR_H
#define OPTIMIST_JANITOR_H

#include "conf.h"

/* Called on every turn of the master's loop (at least once a second) with
 * the monotonic time in ms. Every OPTIMIST_IDEMPOTENCY_PURGE seconds it
 * connects, deletes expired keys in batches of JANITOR_BATCH until none is
 * left or JANITOR_BUDGET_MS have passed (then it comes back a second
 * later, not a period later), and disconnects: the master keeps no
 * connection open, so no worker forked later inherits one. */
void janitor_tick(const conf *c, long long now_ms);

#endif
