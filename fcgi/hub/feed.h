/*
 * feed.h -- what a watch's connections are sent, by the feed kind of its
 * resource (resource.h): a record's newest state (versions in between
 * are folded) or `deleted`; a chat's messages; the outbox's events; an
 * evaluation's events. A connection is sent what it has not seen, up to
 * OUT_BOUND bytes queued; past that it is marked behind and catches up
 * from the database once it has drained.
 */
#ifndef OPTIMIST_FEED_H
#define OPTIMIST_FEED_H

#include "conn.h"
#include "watch.h"

#include <stddef.h>
#include <stdint.h>

/* c follows w from now on (watch_attach, catching up as it drains). */
void feed_attach(struct watch *w, struct conn *c);

/* Queues whatever c has not seen yet, up to OUT_BOUND, then writes. */
void feed_catch_up(struct conn *c);

/* Record feeds: reads the row as GET returns it into w->doc (and its
 * version; w->gone when there is none). */
void feed_refresh(struct watch *w);

/* w's state moved on (a poll saw it): a record is read again, and every
 * connection catches up. */
void feed_changed(struct watch *w);

/* Makes an evaluation's event (this hub's run stored it) the newest of w
 * and sends it to whoever is caught up. */
void feed_event(struct watch *w, uint32_t seq, const char *name,
                const char *data, size_t len, int final);

#endif
