/*
 * poller.h -- asking the database where the followed resources are. The
 * hub polls the cursors (version, length, seq) of what its streams follow
 * every OPTIMIST_STREAM_POLL_MS, one statement per RESOURCE_POLL_IN
 * resources of a kind (the descriptor's poll statement), and, for the
 * ones a worker of this pool says it changed (hublink_notify), at once:
 * local changes arrive in milliseconds, other hosts' within a poll.
 */
#ifndef OPTIMIST_POLLER_H
#define OPTIMIST_POLLER_H

#include <stdint.h>

/* Polls every followed watch, or (only_dirty) those marked dirty; what
 * moved is sent (feed_changed). Then frees the watches nobody follows. */
void poll_all(int only_dirty);

/* Row `key` of resource `rid` of `tenant` changed on a worker of this
 * pool (a notify): built-in records are read again at once, the other
 * kinds polled within NOTIFY_MIN_MS. */
void poll_notified(int rid, uint64_t tenant, uint64_t key);

#endif
