/*
 * watch.c -- the hub's watches (see watch.h). A list: a hub follows a few
 * thousand resources at most, and each lookup is one pass.
 */
#include "watch.h"

#include "xalloc.h"

#include <stdlib.h>

static struct watch *watches;

struct watch *watch_list(void)
{
    return watches;
}

struct watch *watch_find(int rid, uint64_t tenant, uint64_t id)
{
    for (struct watch *w = watches; w; w = w->next)
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
    jb_init(&w->doc);
    jb_init(&w->ev_data);
    w->next = watches;
    watches = w;
    return w;
}

static void watch_free(struct watch *w)
{
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

static void mark_one(int rid, uint64_t tenant, uint64_t key)
{
    for (struct watch *w = watches; w; w = w->next)
        if (w->rid == rid && w->tenant == tenant && w->id == key)
            w->dirty = 1;
}

void watch_mark_dirty(int rid, uint64_t tenant, uint64_t key)
{
    const struct resource *res = resource_by_id(rid);
    if (res == NULL)
        return;
    mark_one(rid, tenant, key);
    for (const char *const *a = res->also; a && *a; a++) {
        const struct resource *other = resource_find(*a);
        if (other != NULL)
            mark_one(resource_id(*a), tenant, other->per_tenant ? tenant : key);
    }
}
