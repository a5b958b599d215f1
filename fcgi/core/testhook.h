/*
 * testhook.h -- TEST ONLY: a way for end-to-end tests to stop a worker at
 * an exact point of a request, so that a test can SIGKILL it there (the
 * crash windows of Idempotency-Key and of the approvals outbox) without
 * guessing with sleeps.
 *
 * Off unless the environment has OPTIMIST_TEST_PAUSE=<point>:<path prefix>
 * (not an option of conf.c on purpose: nobody sets it by accident in a
 * configuration file, and --help does not advertise it). A worker that
 * reaches <point> in a non-GET request whose path starts with the prefix
 * logs "TEST PAUSE <point>" and stops itself with SIGSTOP (GET and
 * HEAD never stop). Points:
 *   before_commit  the route has answered, its effect transaction is still
 *                  open (only with an Idempotency-Key: see idempotency.h)
 *   after_commit   everything is committed, the answer is not sent yet
 *   mid_answer     half of the rendered answer has been sent (and
 *                  flushed), the rest not yet
 *
 * Compiled only into the test build (-DOPTIMIST_TESTHOOKS: `make test`,
 * `make asan`, as SQLite's SQLITE_TEST); in the release build the calls
 * are empty inline functions and testhook.c is not linked.
 */
#ifndef OPTIMIST_TESTHOOK_H
#define OPTIMIST_TESTHOOK_H

#include "http.h"

/* Stops the process here if OPTIMIST_TEST_PAUSE names this point and
 * request; returns at once otherwise (and after a SIGCONT). */
/* 1 if testhook_pause(point, r) would stop, else 0: for a point that needs
 * to do something first (mid_answer sends half the answer). */
#ifdef OPTIMIST_TESTHOOKS
void testhook_pause(const char *point, const http_req *r);
int testhook_wants(const char *point, const http_req *r);
#else
static inline void testhook_pause(const char *point, const http_req *r)
{
    (void)point;
    (void)r;
}
static inline int testhook_wants(const char *point, const http_req *r)
{
    (void)point;
    (void)r;
    return 0;
}
#endif

#endif
