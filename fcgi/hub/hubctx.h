/*
 * hubctx.h -- what the hub's parts share (hub.c runs them): the options,
 * the database connection, the event loop, and when the next poll is due.
 * One hub per process, so one of these.
 */
#ifndef OPTIMIST_HUBCTX_H
#define OPTIMIST_HUBCTX_H

#include "conf.h"
#include "loop.h"
#include "rec.h"

#define OUT_BOUND (256 * 1024) /* bytes queued for one client at most */

struct hubctx {
    const conf *c;
    rec_db *db;
    loop loop;
    long long poll_asap; /* a notify asked for a poll at this time; 0 none */
    int draining;        /* stopping: only the runs' clients are left */
    int rid_bids;        /* resource ids of what the runs change */
    int rid_evals;
};

extern struct hubctx hub;

/* Monotonic milliseconds. */
long long hub_now_ms(void);

/* Asks for a poll of the dirty watches at `at` (the earliest asked wins). */
void hub_poll_at(long long at);

#endif
