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

#define STREAMS_MAX 256 /* as many as workers can be */

/* Maps the shared slots. Call once in the master, before any fork.
 * Returns 0, or -1 (errno set): then each process counts alone. */
int streams_init(void);

/* The cap for a pool of `workers` when the option asks for `configured`
 * (0: automatic, half the workers). Never more than workers - 1, so that
 * one worker is always left for short requests, and at least 1. */
int streams_cap(int workers, int configured);

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
