/*
 * watch.h -- what the hub's streams follow: one watch per (resource,
 * tenant, key) however many connections follow it, with the newest state
 * known (a version, a chat's length, an outbox's seq, an evaluation's
 * last event) and, for a record, the row as GET returns it. The
 * bookkeeping only: feed.c sends what a watch learns, poll.c asks the
 * database.
 *
 * A watch keeps its resource's id (resource.h), never the descriptor: a
 * reload may swap or drop the descriptor, and resource_by_id answers for
 * the one in force.
 */
#ifndef OPTIMIST_WATCH_H
#define OPTIMIST_WATCH_H

#include "conn.h"
#include "jbuf.h"
#include "resource.h"

#include <stddef.h>
#include <stdint.h>

struct run;

struct watch {
    int rid;                       /* the resource's id */
    uint64_t tenant, id;           /* per_tenant resources: id is the tenant */
    uint64_t version;              /* the newest known: version, length, seq */
    int gone;                      /* a deleted row: its feeds end */
    int final;                     /* an evaluation's final event is stored */
    jbuf doc;                      /* record feeds: the resource at version */
    struct conn_shared *doc_event; /* record feeds: its event, once
                                      formatted (conn.h) */
    uint32_t ev_seq;               /* evaluations: the event cached below */
    char ev_name[16];
    jbuf ev_data;
    struct run *run; /* an evaluation this hub runs */
    int dirty;       /* a worker of this pool changed it: poll it */
    int loading;     /* record feeds: a refresh is on a database thread */
    int load_again;  /* ... and it changed again meanwhile */
    struct conn *conns;
    struct watch *next;  /* in the list */
    struct watch *hnext; /* in its hash bucket (watch.c) */
    size_t followed;     /* its counter in followed.h, plus 1 (0: none) */
};

/* The first watch (the list runs through ->next). */
struct watch *watch_list(void);

/* The watch of (rid, tenant, id): NULL if none / made if none. */
struct watch *watch_find(int rid, uint64_t tenant, uint64_t id);
struct watch *watch_get(int rid, uint64_t tenant, uint64_t id);

/* Frees the watches nobody follows (no connection, no run). */
void watch_gc(void);

/* Frees every watch (the hub's end). */
void watch_free_all(void);

/* The feed kind of w's resource; RES_FEED_NONE when a reload dropped it. */
enum resource_feed watch_feed(const struct watch *w);

/* c follows w from now on: linked in w->conns, unlinked when it closes;
 * `drained` runs when its buffer drained while it was behind. */
void watch_attach(struct watch *w, struct conn *c, conn_hook drained);

/* Row `key` of resource `rid` of `tenant` changed (a worker of this pool
 * says so): its watches, and those of the resources its descriptor names
 * in `also` (keyed by the tenant when per_tenant), are marked dirty. */
void watch_mark_dirty(int rid, uint64_t tenant, uint64_t key);

/* The same, and `each` is called for every watch it marked. */
void watch_mark_dirty_each(int rid, uint64_t tenant, uint64_t key,
                           void (*each)(struct watch *));

#endif
