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

/* Polls every followed watch, or (only_dirty) those marked dirty; what
 * moved is sent (feed_changed). Then frees the watches nobody follows. */
void poll_all(int only_dirty);

#endif
