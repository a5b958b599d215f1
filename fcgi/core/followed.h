/*
 * followed.h -- which rows the hub's streams follow, so that a worker
 * tells the hub only about changes somebody follows.
 *
 * Every versioned write used to send the hub a notify, and on this kind of
 * machine the hub's wake-up to read it costs more than the write's own
 * work in the pool (about 30 µs an append, BENCH.md): for rows nobody
 * follows, that is all waste. The hub counts its watches in a counting
 * filter (a hash of resource name, tenant and key -> a counter) in a
 * mapping shared by every process of the pool, made before the first
 * fork; a worker reads the counters of the row it changed (and of the
 * resources its descriptor names in `also`) and sends nothing when they
 * are all zero. Two rows may share a counter: then a change of the
 * unfollowed one is sent too (harmless, the hub finds no watch).
 *
 * Why nothing is missed: the hub counts a watch before it reads the
 * watched row's first state, and a worker reads the counter after its
 * write committed (sequentially consistent atomics). A worker that saw 0
 * committed before the hub counted, so before the hub's first read, which
 * sees the change. Without the mapping (followed_init failed, or a
 * process that never called it) every change is sent, as before.
 */
#ifndef OPTIMIST_FOLLOWED_H
#define OPTIMIST_FOLLOWED_H

#include <stddef.h>
#include <stdint.h>

#define FOLLOWED_SLOTS (1u << 16)

/* Maps the shared counters (all zero). Call once in the master, before
 * any fork. Returns 0, or -1 (errno set): then every change is sent. */
int followed_init(void);

/* The hub: all counters back to zero (a hub that died left its counts). */
void followed_reset(void);

/* The hub: one more / one less watch of (resource, tenant, key). add
 * returns the counter's slot, which remove takes (a reload may drop the
 * resource's name before the watch goes). */
size_t followed_add(const char *resource, uint64_t tenant, uint64_t key);
void followed_remove(size_t slot);

/* A worker: may (resource, tenant, key) be followed? 1 also when the
 * counters are not shared. */
int followed_maybe(const char *resource, uint64_t tenant, uint64_t key);

#endif
