/*
 * poller.c -- the hub's polls (see poller.h).
 */
#include "poller.h"

#include "changes.h"

#include "feed.h"
#include "hubctx.h"
#include "log.h"
#include "watch.h"

#define BATCH RESOURCE_POLL_IN

static void poll_batch(const struct resource *res, int rid, struct watch **ws,
                       int n)
{
    rec_param p[BATCH];
    for (int i = 0; i < BATCH; i++)
        p[i] = REC_U(i < n ? ws[i]->id : 0);
    rec_rows *rows = NULL;
    rec_err err = {0};
    static int failing; /* log a database outage once, not every poll */
    if (rec_exec(hub.db, resource_poll_sql(rid), p, BATCH, &rows, NULL, NULL,
                 &err) != REC_OK) {
        if (!failing++)
            LOG(LOG_WARN, "hub: poll: %s (streams wait for the database)",
                err.msg);
        return;
    }
    if (failing) {
        LOG(LOG_INFO, "hub: poll works again after %d failures", failing);
        failing = 0;
    }
    int seen[BATCH] = {0};
    for (size_t r = 0; r < rec_rows_count(rows); r++) {
        uint64_t key = rec_rows_u64(rows, r, 0), v = rec_rows_u64(rows, r, 1);
        for (int i = 0; i < n; i++) {
            struct watch *w = ws[i];
            if (w->id != key)
                continue;
            seen[i] = 1;
            if (res->feed == RES_FEED_EVAL && rec_rows_get(rows, r, 2) != NULL)
                w->final = 1;
            if (v > w->version) {
                if (res->feed != RES_FEED_RECORD)
                    w->version = v;
                feed_changed(w);
            }
        }
    }
    rec_rows_free(rows);
    if (res->deletable)
        for (int i = 0; i < n; i++)
            if (!seen[i] && !ws[i]->gone) {
                ws[i]->gone = 1;
                feed_changed(ws[i]);
            }
}

void poll_all(int only_dirty)
{
    struct watch *batch[BATCH];
    changes_horizon(); /* the change feeds' commit order */
    for (int rid = 1; rid < resource_id_end(); rid++) {
        const struct resource *res = resource_by_id(rid);
        int n = 0;
        for (struct watch *w = watch_list(); w; w = w->next) {
            if (w->rid != rid || w->gone || w->conns == NULL ||
                (only_dirty && !w->dirty))
                continue;
            if (res == NULL || res->feed == RES_FEED_NONE) {
                feed_changed(w); /* a reload dropped it: its streams end */
                continue;
            }
            if (res->feed == RES_FEED_EVAL && w->final && w->run == NULL)
                continue;
            w->dirty = 0;
            batch[n++] = w;
            if (n == BATCH) {
                poll_batch(res, rid, batch, n);
                n = 0;
            }
        }
        if (n > 0)
            poll_batch(res, rid, batch, n);
    }
    watch_gc();
}
