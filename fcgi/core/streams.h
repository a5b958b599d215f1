/*
 * streams.h -- how many evaluations the pool runs at once. An evaluation
 * holds its worker for as long as the evaluator runs (seconds to minutes);
 * if every worker held one, a GET would wait in the backlog behind them.
 * So a run first takes one of `cap` slots, kept in a mapping shared by the
 * master and every worker (like metrics.c); when none is free the request
 * is answered 503 `unavailable` with Retry-After, and the other workers
 * stay free for short requests.
 *
 * A slot holds its worker's pid. The worker gives it back when the run
 * ends; the master gives back the slots of a worker it reaps, so a worker
 * killed mid-run cannot leak one.
 */
#ifndef OPTIMIST_STREAMS_H
#define OPTIMIST_STREAMS_H

#include <sys/types.h>

#include <stdint.h>

#define STREAMS_MAX         256 /* OPTIMIST_MAX_EVALUATIONS at most */
#define STREAMS_DEFAULT_CAP 64  /* evaluator processes, by default */

/* Maps the shared slots. Call once in the master, before any fork.
 * Returns 0, or -1 (errno set): then each process counts alone. */
int streams_init(void);

/* The cap on evaluator processes (OPTIMIST_MAX_EVALUATIONS; 0:
 * STREAMS_DEFAULT_CAP). A run no longer holds a worker (the hub runs it),
 * so the pool's worker count plays no part. */
int streams_cap(int workers, int configured);

/* One tenant's share of `cap` (OPTIMIST_MAX_EVALUATIONS_PER_TENANT; 0:
 * half of it), at least 1: no tenant can take every slot. */
int streams_tenant_cap(int cap, int configured);

/* streams_acquire for `tenant`: -1 when every slot is taken, -2 when the
 * tenant already holds its share. */
int streams_acquire_tenant(int cap, uint64_t tenant, int tenant_cap)
    __attribute__((warn_unused_result));

/* The hub: the slot a worker took for a run it handed over is the
 * hub's now, running evaluation `eval_id` (the master forgets it if the
 * hub dies, and keeps the run as an orphan for the next hub). */
void streams_adopt(int slot, uint64_t eval_id);

/* The hub: takes (and clears) up to `max` runs whose hub died; returns
 * how many it wrote to ids. */
int streams_take_orphans(uint64_t *ids, int max);

/* Takes a free slot among the first `cap` for this process. Returns the
 * slot's index, or -1 when all are taken. */
int streams_acquire(int cap) __attribute__((warn_unused_result));

/* Gives back a slot taken by streams_acquire (-1 is a no-op). */
void streams_release(int slot);

/* The master: gives back every slot held by `pid` (a reaped worker). */
void streams_forget(pid_t pid);

/* How many slots are taken now. */
int streams_running(void);

#endif
