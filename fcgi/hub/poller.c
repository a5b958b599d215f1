/*
 * poller.c -- the hub's polls (see poller.h). A poll is a read, but 40 of
 * them in a row (10,000 followed rows, 256 keys a statement) would hold
 * the loop for as long as they take: each kind's poll is a job on the
 * hub's database threads (hubjobs.c), and its answer comes back to the
 * loop (poll_done).
 */
#include "poller.h"

#include "changes.h"

#include "feed.h"
#include "hubctx.h"
#include "hubdb.h"
#include "hubjobs.h"
#include "log.h"
#include "watch.h"
#include "xalloc.h"

#include <stdlib.h>

_Static_assert(HUBJOB_POLL_BATCH == RESOURCE_POLL_IN,
               "a poll job binds as many keys as the poll statement has");

/* Job keys of the polls (never an evaluation's id: those are far below
 * 2^63). One poll of each kind at a time: a poll still running when the
 * next is due makes that one wait, not pile up. */
#define POLL_KEY_ALL   ((1ULL << 63) | 1)
#define POLL_KEY_DIRTY ((1ULL << 63) | 2)
#define NOTIFY_MIN_MS  20

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A poll's answer: every watch of the resource that was asked for and
 * has moved hears of it. */
static void poll_done(void *arg)
{
    struct hubjob_poll *j = arg;
    static int failing; /* log a database outage once, not every poll */
    if (j->st != REC_OK) {
        if (!failing++)
            LOG(LOG_WARN, "hub: poll: %s (streams wait for the database)",
                j->err.msg);
        hubjob_poll_free(j);
        return;
    }
    if (failing) {
        LOG(LOG_INFO, "hub: poll works again after %d failures", failing);
        failing = 0;
    }
    const struct resource *res = resource_by_id(j->feed);
    for (struct watch *w = watch_list(); res && w; w = w->next) {
        if (w->rid != j->feed || w->gone || w->conns == NULL)
            continue;
        uint64_t *hit = bsearch(&w->id, j->ids, j->n, sizeof *j->ids, cmp_u64);
        if (hit == NULL)
            continue; /* followed since the poll was asked for */
        size_t i = (size_t)(hit - j->ids);
        if (!j->found[i]) {
            if (res->deletable) {
                w->gone = 1;
                feed_changed(w);
            }
            continue;
        }
        if (res->feed == RES_FEED_EVAL && j->final[i])
            w->final = 1;
        if (j->version[i] > w->version) {
            if (res->feed != RES_FEED_RECORD)
                w->version = j->version[i];
            feed_changed(w);
        }
    }
    hubjob_poll_free(j);
    watch_gc();
}

/* Is w asked for in this poll? (A reload that dropped its resource ends
 * its streams at once.) */
static int polled(struct watch *w, int rid, const struct resource *res,
                  int only_dirty)
{
    if (w->rid != rid || w->gone || w->conns == NULL ||
        (only_dirty && !w->dirty))
        return 0;
    if (res == NULL || res->feed == RES_FEED_NONE) {
        feed_changed(w); /* a reload dropped it: its streams end */
        return 0;
    }
    return !(res->feed == RES_FEED_EVAL && w->final && w->run == NULL);
}

void poll_all(int only_dirty)
{
    uint64_t key = only_dirty ? POLL_KEY_DIRTY : POLL_KEY_ALL;
    if (hubdb_key_pending(key)) {
        if (only_dirty) /* the flags stay: asked again shortly */
            hub_poll_at(hub_now_ms() + NOTIFY_MIN_MS);
        return;
    }
    /* Two passes over the watches whatever the number of kinds: count
     * each kind's, then fill each kind's job. */
    int end = resource_id_end();
    size_t *count = xcalloc((size_t)(end > 0 ? end : 1), sizeof *count);
    struct hubjob_poll **jobs =
        xcalloc((size_t)(end > 0 ? end : 1), sizeof *jobs);
    int changes = 0;
    for (struct watch *w = watch_list(); w; w = w->next)
        if (w->rid > 0 && w->rid < end &&
            polled(w, w->rid, resource_by_id(w->rid), only_dirty)) {
            count[w->rid]++;
            changes |= resource_by_id(w->rid)->feed == RES_FEED_CHANGES;
        }
    /* The change feeds' commit order: a read on the loop, made only when
     * a change feed is followed. */
    if (changes)
        changes_horizon();
    for (int rid = 1; rid < end; rid++)
        if (count[rid] > 0) {
            jobs[rid] =
                hubjob_poll_new(rid, resource_poll_sql(rid), count[rid]);
            jobs[rid]->has_final = resource_by_id(rid)->feed == RES_FEED_EVAL;
            jobs[rid]->n = 0;
        }
    for (struct watch *w = watch_list(); w; w = w->next) {
        struct hubjob_poll *j =
            w->rid > 0 && w->rid < end ? jobs[w->rid] : NULL;
        if (j == NULL || j->n >= count[w->rid] ||
            !polled(w, w->rid, resource_by_id(w->rid), only_dirty))
            continue;
        w->dirty = 0;
        j->ids[j->n++] = w->id;
    }
    for (int rid = 1; rid < end; rid++)
        if (jobs[rid] != NULL) {
            qsort(jobs[rid]->ids, jobs[rid]->n, sizeof *jobs[rid]->ids,
                  cmp_u64);
            hubdb_submit(key, hubjob_poll, poll_done, jobs[rid]);
        }
    free(jobs);
    free(count);
    watch_gc();
}

/* A worker of this pool changed a row: a built-in record's followers get
 * it read again at once (feed_changed, on a database thread); other
 * kinds are polled shortly, several notifies in one poll. */
static int notify_left;

static void notified(struct watch *w)
{
    if (w->conns == NULL)
        return; /* nobody to tell (a run's own watch) */
    if (watch_feed(w) == RES_FEED_RECORD && resource_builtin(w->rid)) {
        w->dirty = 0;
        feed_changed(w);
    } else {
        notify_left = 1;
    }
}

void poll_notified(int rid, uint64_t tenant, uint64_t key)
{
    notify_left = 0;
    watch_mark_dirty_each(rid, tenant, key, notified);
    if (notify_left)
        hub_poll_at(hub_now_ms() + NOTIFY_MIN_MS);
}
