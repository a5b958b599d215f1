/*
 * hubdb.h -- the hub's statements that can wait: run on threads of their
 * own, never on the hub's loop.
 *
 * The loop (hub.c) keeps one connection for a few plain reads: a new
 * stream's first state, the events a client catches up on. Under READ
 * COMMITTED (lib/db.c) such a read never waits on a row lock, so a long
 * transaction elsewhere cannot stall it. The polls and the records read
 * again after a change are jobs here too: not because they wait on locks
 * but because, 200 a second under load, they took most of the loop's
 * time one after the other. Every statement that writes (a
 * run's lease renewal and its progress events, a run's finish, the
 * expiry of a run whose hub died) takes row locks and may wait on another
 * session's for as long as innodb_lock_wait_timeout: those are jobs here.
 *
 * HUBDB_THREADS threads, each with its own connection, take jobs from one
 * queue. Jobs with the same key (an evaluation's id) run one at a time in
 * the order they were queued, so a run's events are stored in order and
 * its finish comes after them; jobs with other keys go on meanwhile on
 * the other threads. So a lock wait on one bid holds that bid's run and
 * at most one thread; the loop, every stream and every other run go on.
 *
 * A job's `work` runs on a thread with that thread's connection and must
 * touch only its own argument; its `done` runs later on the loop (after
 * hubdb_fd() turned readable, from hubdb_dispatch()), in the order the
 * jobs finished, and may touch anything the loop owns.
 */
#ifndef OPTIMIST_HUBDB_H
#define OPTIMIST_HUBDB_H

#include "rec.h"

#include <stddef.h>
#include <stdint.h>

#define HUBDB_THREADS 4

typedef void (*hubdb_work)(rec_db *db, void *arg);
typedef void (*hubdb_done)(void *arg);

/* Starts the threads (connections made lazily, as rec_db_new's). Returns
 * 0, or -1 (then hubdb_submit runs each job at once on `fallback`, the
 * loop's own connection: slower under a lock wait, never wrong). */
int hubdb_start(const rec_config *cfg, rec_db *fallback);

/* The descriptor the loop polls for EPOLLIN (-1 before hubdb_start). */
int hubdb_fd(void);

/* Queues a job. `done` may be NULL. Never blocks. */
void hubdb_submit(uint64_t key, hubdb_work work, hubdb_done done, void *arg);

/* The loop: runs the `done` of every finished job. */
void hubdb_dispatch(void);

/* Is a job of `key` queued or running? (Not to queue one twice.) */
int hubdb_key_pending(uint64_t key);

/* Jobs queued or running. */
size_t hubdb_pending(void);

/* Lets the threads finish what is queued, joins them, runs the last
 * `done`s and closes their connections. */
void hubdb_stop(void);

#endif
