/*
 * run.h -- the evaluations this hub runs (run.c): a worker claims a bid
 * and hands the run over with its client (hublink.c); the hub runs the
 * evaluator (evaluator.c), stores its events, and finishes the run.
 */
#ifndef OPTIMIST_RUN_H
#define OPTIMIST_RUN_H

#include "conn.h"
#include "hublink.h"

struct run;

/* Starts the run a worker handed over (m, HUB_EVAL_RUN) for client c. */
void run_start(const hub_msg *m, struct conn *c);

/* Every second: expires runs whose lease passed with nobody running
 * them, and stores a final event for followed runs that were taken over. */
void run_sweep(void);

/* 1 while any run is in flight. */
int run_any(void);

/* The earliest of `next` and the runs' deadlines. */
long long run_next_deadline(long long next, long long now);

/* Finishes the runs that ended (their evaluator exited or ran out of
 * time). */
void run_tick(long long now);

/* Kills and frees one run / every run (they expire at their lease; their
 * streams can resume to it). */
void run_free(struct run *rn);
void run_free_all(void);

#endif
