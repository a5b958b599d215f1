/*
 * watch.c -- the hub's watches (see watch.h). A list, for the passes over
 * every watch (polls, gc), and a hash table on (resource, tenant, key) for
 * the lookups: a notify or a new stream finds its watch at once. With
 * 10,000 followed rows a pass over the list per lookup, 200 notifies a
 * second, was most of the hub's loop time.
 */
#include "watch.h"

#include "followed.h"
#include "xalloc.h"

#include <stdlib.h>

static struct watch *watches;
static struct watch **table;   /* chained through ->hnext */
static size_t nbuckets, count; /* nbuckets: 0 or a power of two */

static size_t bucket(int rid, uint64_t tenant, uint64_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ULL;
    h ^= (tenant + ((uint64_t)(unsigned)rid << 40)) * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 29;
    return (size_t)(h & (nbuckets - 1));
}

/* Keeps about one watch a bucket. */
static void grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 64;
    free(table);
    table = xcalloc(n, sizeof *table);
    nbuckets = n;
    for (struct watch *w = watches; w; w = w->next) {
        size_t b = bucket(w->rid, w->tenant, w->id);
        w->hnext = table[b];
        table[b] = w;
    }
}

static void unhash(struct watch *w)
{
    struct watch **pp = &table[bucket(w->rid, w->tenant, w->id)];
    while (*pp && *pp != w)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = w->hnext;
    count--;
}

struct watch *watch_list(void)
{
    return watches;
}

struct watch *watch_find(int rid, uint64_t tenant, uint64_t id)
{
    if (nbuckets == 0)
        return NULL;
    for (struct watch *w = table[bucket(rid, tenant, id)]; w; w = w->hnext)
        if (w->rid == rid && w->id == id && w->tenant == tenant)
            return w;
    return NULL;
}

struct watch *watch_get(int rid, uint64_t tenant, uint64_t id)
{
    struct watch *w = watch_find(rid, tenant, id);
    if (w != NULL)
        return w;
    w = xcalloc(1, sizeof *w);
    w->rid = rid;
    w->tenant = tenant;
    w->id = id;
    /* Counted before anything reads the row's first state (followed.h). */
    const struct resource *res = resource_by_id(rid);
    if (res != NULL)
        w->followed = followed_add(res->name, tenant, id) + 1;
    jb_init(&w->doc);
    jb_init(&w->ev_data);
    w->next = watches;
    watches = w;
    if (count + 1 > nbuckets)
        grow(); /* links w too */
    else {
        size_t b = bucket(rid, tenant, id);
        w->hnext = table[b];
        table[b] = w;
    }
    count++;
    return w;
}

static void watch_free(struct watch *w)
{
    if (w->followed)
        followed_remove(w->followed - 1);
    conn_shared_unref(w->doc_event);
    jb_free(&w->doc);
    jb_free(&w->ev_data);
    free(w);
}

void watch_gc(void)
{
    struct watch **pp = &watches;
    while (*pp) {
        struct watch *w = *pp;
        if (w->conns == NULL && w->run == NULL) {
            *pp = w->next;
            unhash(w);
            watch_free(w);
        } else {
            pp = &w->next;
        }
    }
}

void watch_free_all(void)
{
    while (watches) {
        struct watch *w = watches;
        watches = w->next;
        for (struct conn *c = w->conns; c; c = c->next)
            c->w = NULL;
        watch_free(w);
    }
    free(table);
    table = NULL;
    nbuckets = count = 0;
}

enum resource_feed watch_feed(const struct watch *w)
{
    const struct resource *res = resource_by_id(w->rid);
    return res ? res->feed : RES_FEED_NONE;
}

/* conn_hook: c is closing. */
static void detach(struct conn *c)
{
    struct watch *w = c->w;
    if (w == NULL)
        return;
    struct conn **pp = &w->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    c->w = NULL;
}

void watch_attach(struct watch *w, struct conn *c, conn_hook drained)
{
    c->w = w;
    c->next = w->conns;
    w->conns = c;
    c->drained = drained;
    c->detach = detach;
}

static int mark_one(const struct resource *r, uint64_t tenant, uint64_t key,
                    void *ctx)
{
    void (*const *each)(struct watch *) = ctx;
    struct watch *w = watch_find(resource_id(r->name), tenant, key);
    if (w != NULL) {
        w->dirty = 1;
        if (*each != NULL)
            (*each)(w);
    }
    return 0; /* every target */
}

void watch_mark_dirty_each(int rid, uint64_t tenant, uint64_t key,
                           void (*each)(struct watch *))
{
    const struct resource *res = resource_by_id(rid);
    if (res != NULL)
        (void)resource_touched(res, tenant, key, mark_one, &each);
}

void watch_mark_dirty(int rid, uint64_t tenant, uint64_t key)
{
    watch_mark_dirty_each(rid, tenant, key, NULL);
}
