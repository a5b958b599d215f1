/*
 * fiber.h -- a worker's requests in flight: each runs on a stack of its
 * own (a fiber) and, where it would wait for the database, gives the
 * worker back to the others until the answer is there.
 *
 * The worker's loop (worker.c) owns the epoll sets. A fiber that waits
 * (fiber_waiter, the rec_waiter its database handle gets) is parked with
 * its connection's socket in that set; the loop hands what epoll reports
 * to fiber_event and the passing of time to fiber_expire, which resume
 * the fibers whose wait is over. Nothing here runs two fibers at once:
 * one runs until it waits or finishes, then the loop goes on. So a
 * process still serves one request at a time in its code, and none of it
 * needs a lock; what it gains is that waiting for MariaDB no longer puts
 * the whole process to sleep.
 */
#ifndef OPTIMIST_FIBER_H
#define OPTIMIST_FIBER_H

#include "rec.h"

#include <stddef.h>
#include <stdint.h>

/* epoll data of a fiber's descriptors: FIBER_TAG | slot. The worker's own
 * descriptors (the listening socket) use other values. */
#define FIBER_TAG 0x100000000ull

/* Makes n fibers, each with a stack of stack_size bytes, that will run
 * fn(arg[i]) when first resumed; fn must never return. `eps` are the
 * epoll sets (one or two) the loop waits on: a parked fiber's socket is
 * in each. `on_resume(i)` is called before fiber i runs again (the
 * worker sets the log's request id there). Returns 0 or -1. */
int fiber_init(unsigned n, size_t stack_size, const int *eps, unsigned neps,
               void (*fn)(void *), void **arg, void (*on_resume)(unsigned));

/* A fiber that waits for the database while no other one does first
 * waits in place, for up to `ms` (0, the default: never), then parks. */
void fiber_wait_in_place(int ms);

/* When fiber i's current wait began (CLOCK_MONOTONIC ns), 0 if it is not
 * waiting; and the clock. */
long long fiber_parked_since(unsigned i);
long long fiber_now(void);

/* Runs fiber i until it waits or yields. From the loop only. */
void fiber_resume(unsigned i);

/* From a fiber: back to the loop, until fiber_resume(i) again. */
void fiber_yield(void);

/* What epoll reported for `data` (FIBER_TAG | slot): resumes that fiber
 * if it waits for it. */
void fiber_event(uint64_t data, uint32_t events);

/* Resumes the fibers whose wait has timed out; returns the milliseconds
 * until the next one would (-1: none waits with a timeout). */
int fiber_expire(void);

/* The waiter for fiber i's database handle (lives as long as the fibers). */
const rec_waiter *fiber_waiter(unsigned i);

#endif
