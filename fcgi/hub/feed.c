/*
 * feed.c -- sending a watch's news to its connections (see feed.h).
 *
 * Where events come from: the database is the event store, so that any
 * host of the pool can serve any stream and a hub that restarts loses
 * nothing. Record feeds follow versions (the version is the cursor); the
 * chat feed its length; the outbox feed its seq; an evaluation's stream
 * the rows of evaluation_events (seq = the event id).
 */
#include "feed.h"

#include "changes.h"
#include "hubctx.h"
#include "hubdb.h"
#include "log.h"
#include "xalloc.h"
#include "sse.h"

#include "chat.h"

#include <stdio.h>
#include <stdlib.h>

#define EVENTS_PER_FETCH 100

static const char SQL_EVENTS_AFTER[] =
    "SELECT seq, event, data, final FROM evaluation_events "
    "WHERE evaluation_id = ? AND seq > ? ORDER BY seq LIMIT 100";
static const char SQL_OUTBOX_AFTER[] =
    "SELECT seq, approval_id, type, action, at FROM approval_events "
    "WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT 100";

void feed_attach(struct watch *w, struct conn *c)
{
    watch_attach(w, c, feed_catch_up);
}

void feed_refresh(struct watch *w)
{
    const struct resource *res = resource_by_id(w->rid);
    uint32_t v = 0;
    rec_err err = {0};
    rec_status st = REC_ERROR;
    conn_shared_unref(w->doc_event); /* connections sending it keep theirs */
    w->doc_event = NULL;
    jb_reset(&w->doc);
    if (res != NULL)
        st = resource_load(hub.db, res, w->tenant, w->id, &w->doc, &v, &err);
    if (st == REC_NOT_FOUND) {
        w->gone = 1;
    } else if (st == REC_OK) {
        w->version = v;
    } else {
        LOG(LOG_WARN, "hub: loading a followed resource failed: %s", err.msg);
    }
}

/* Sends the evaluation events after c->cursor. */
static void catch_up_eval(struct conn *c)
{
    struct watch *w = c->w;
    if (!c->sse)
        return; /* the wait gets its answer from the run's finish */
    while (conn_pending(c) < OUT_BOUND && c->cursor < w->version &&
           !c->ending) {
        if (w->ev_seq > 0 && c->cursor + 1 == w->ev_seq) {
            conn_event(c, w->ev_name, w->ev_seq, w->ev_data.p, w->ev_data.len);
            if (w->final && w->ev_seq == w->version)
                conn_end(c);
            continue;
        }
        rec_param p[2] = {REC_U(w->id), REC_U(c->cursor)};
        rec_rows *rows = NULL;
        rec_err err = {0};
        if (rec_exec(hub.db, SQL_EVENTS_AFTER, p, 2, &rows, NULL, NULL, &err) !=
            REC_OK) {
            LOG(LOG_WARN, "hub: reading evaluation %llu's events: %s",
                (unsigned long long)w->id, err.msg);
            return;
        }
        size_t n = rec_rows_count(rows);
        for (size_t i = 0; i < n; i++) {
            conn_event(c, rec_rows_get(rows, i, 1), rec_rows_u64(rows, i, 0),
                       rec_rows_get(rows, i, 2), rec_rows_len(rows, i, 2));
            if (rec_rows_get(rows, i, 3) != NULL) {
                conn_end(c);
                break;
            }
        }
        rec_rows_free(rows);
        if (n == 0)
            return;
    }
}

static void catch_up_chat(struct conn *c)
{
    struct watch *w = c->w;
    while (conn_pending(c) < OUT_BOUND && c->cursor < w->version) {
        jbuf b;
        jb_init(&b);
        uint32_t length = 0;
        rec_err err = {0};
        jb_lit(&b, "{\"messages\":");
        rec_status st = chat_read(hub.db, w->id, w->tenant, c->cursor,
                                  EVENTS_PER_FETCH, &b, &length, &err);
        if (st != REC_OK) {
            jb_free(&b);
            return;
        }
        uint64_t upto = c->cursor + EVENTS_PER_FETCH;
        if (upto > length)
            upto = length;
        jb_lit(&b, ",\"length\":");
        jb_u64(&b, upto);
        jb_lit(&b, "}");
        if (upto > c->cursor)
            conn_event(c, "chat", upto, b.p, b.len);
        jb_free(&b);
        if (length > w->version)
            w->version = length;
        if (upto <= c->cursor || upto >= length)
            return;
    }
}

static void catch_up_outbox(struct conn *c)
{
    struct watch *w = c->w;
    while (conn_pending(c) < OUT_BOUND && c->cursor < w->version) {
        rec_param p[2] = {REC_U(w->tenant), REC_U(c->cursor)};
        rec_rows *rows = NULL;
        rec_err err = {0};
        if (rec_exec(hub.db, SQL_OUTBOX_AFTER, p, 2, &rows, NULL, NULL, &err) !=
            REC_OK)
            return;
        size_t n = rec_rows_count(rows);
        for (size_t i = 0; i < n; i++) {
            jbuf b;
            jb_init(&b);
            jb_lit(&b, "{\"seq\":");
            jb_u64(&b, rec_rows_u64(rows, i, 0));
            jb_lit(&b, ",\"approval_id\":");
            jb_u64(&b, rec_rows_u64(rows, i, 1));
            jb_lit(&b, ",\"type\":");
            jb_cstr(&b, rec_rows_get(rows, i, 2));
            jb_lit(&b, ",\"action\":");
            jb_raw(&b, rec_rows_get(rows, i, 3), rec_rows_len(rows, i, 3));
            jb_lit(&b, ",\"at\":");
            jb_time(&b, rec_rows_get(rows, i, 4));
            jb_lit(&b, "}");
            conn_event(c, "approval", rec_rows_u64(rows, i, 0), b.p, b.len);
            jb_free(&b);
        }
        rec_rows_free(rows);
        if (n == 0)
            return;
    }
}

static void catch_up_record(struct conn *c)
{
    struct watch *w = c->w;
    if (w->gone) {
        char data[64];
        int n = snprintf(data, sizeof data, "{\"id\":%llu}",
                         (unsigned long long)w->id);
        conn_event(c, "deleted", 0, data, (size_t)n);
        conn_end(c);
    } else if (c->cursor < w->version) {
        /* Only the newest state: versions in between are folded. Formatted
         * once for every connection of the watch, and shared. */
        if (w->doc_event == NULL) {
            jbuf b;
            jb_init(&b);
            sse_format_event_id(&b, "version", w->version, w->doc.p,
                                w->doc.len);
            w->doc_event = conn_shared_new(b.p, b.len);
            jb_free(&b);
        }
        conn_send_shared(c, w->doc_event);
        c->cursor = w->version;
    }
}

void feed_catch_up(struct conn *c)
{
    struct watch *w = c->w;
    if (c->ending || w == NULL)
        return;
    /* A full buffer, or a shared event on its way (events cannot
     * interleave): later, and then only what is newest (folded). */
    if (conn_pending(c) >= OUT_BOUND || conn_busy(c)) {
        c->behind = 1;
        return;
    }
    c->behind = 0;
    switch (watch_feed(w)) {
    case RES_FEED_NONE:
        conn_end(c); /* a reload dropped the resource */
        break;
    case RES_FEED_RECORD:
        catch_up_record(c);
        break;
    case RES_FEED_CHAT:
        catch_up_chat(c);
        break;
    case RES_FEED_OUTBOX:
        catch_up_outbox(c);
        break;
    case RES_FEED_EVAL:
        catch_up_eval(c);
        break;
    case RES_FEED_CHANGES:
        changes_catch_up(c);
        break;
    }
    if (conn_pending(c) >= OUT_BOUND && !c->ending)
        c->behind = 1;
    (void)conn_flush(c);
}

/* Every connection of w catches up (each may close meanwhile). */
static void catch_up_all(struct watch *w)
{
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        feed_catch_up(c);
        c = next;
    }
}

/* A record read again on a database thread, so that the loop never waits
 * for it: under load each read takes milliseconds, and 200 changes a
 * second read one after the other held every stream of the hub behind
 * them. Built-in resources only: a declared table's descriptor and
 * prepared statements belong to the loop's connection and a reload may
 * free them (feed_refresh reads those on the loop). So are documents of
 * REFRESH_ON_THREAD_MAX bytes or more: a connection keeps a receive
 * buffer as big as the biggest row it read, and a 6 MB session read by
 * each of the four threads' connections would keep four such buffers
 * (the loop's connection keeps one). The watch is found
 * again by its key when the read is back: it may have been freed (nobody
 * follows it any more) meanwhile. */
#define REFRESH_ON_THREAD_MAX (256 * 1024)

struct refresh {
    int rid;
    uint64_t tenant, id;
    jbuf doc;
    uint32_t version;
    rec_status st;
    rec_err err;
};

/* Jobs of one watch run in order (hubdb.h); the key never meets an
 * evaluation's id (far below 2^62) or a poll's (bit 63). */
static uint64_t refresh_key(const struct watch *w)
{
    return (1ULL << 62) | ((uint64_t)(unsigned)w->rid << 48) |
           ((w->id ^ (w->tenant << 24)) & 0xFFFFFFFFFFFFULL);
}

static void refresh_work(rec_db *db, void *arg)
{
    struct refresh *j = arg;
    const struct resource *res = resource_by_id(j->rid); /* built in */
    j->st =
        resource_load(db, res, j->tenant, j->id, &j->doc, &j->version, &j->err);
}

static void refresh_done(void *arg)
{
    struct refresh *j = arg;
    struct watch *w = watch_find(j->rid, j->tenant, j->id);
    if (w != NULL) {
        w->loading = 0;
        if (j->st == REC_NOT_FOUND) {
            w->gone = 1;
            catch_up_all(w);
        } else if (j->st != REC_OK) {
            LOG(LOG_WARN, "hub: loading a followed resource failed: %s",
                j->err.msg);
        } else if (j->version > w->version || w->doc.len == 0) {
            conn_shared_unref(w->doc_event);
            w->doc_event = NULL;
            jbuf old = w->doc;
            w->doc = j->doc;
            j->doc = old;
            w->version = j->version;
            catch_up_all(w);
        }
        if (w->load_again) {
            w->load_again = 0;
            feed_changed(w);
        }
    }
    jb_free(&j->doc);
    free(j);
}

void feed_changed(struct watch *w)
{
    if (watch_feed(w) == RES_FEED_RECORD && !w->gone) {
        if (resource_builtin(w->rid) && w->doc.len < REFRESH_ON_THREAD_MAX) {
            if (w->loading) {
                w->load_again = 1; /* read once more when this one is back */
                return;
            }
            struct refresh *j = xcalloc(1, sizeof *j);
            j->rid = w->rid;
            j->tenant = w->tenant;
            j->id = w->id;
            jb_init(&j->doc);
            w->loading = 1;
            hubdb_submit(refresh_key(w), refresh_work, refresh_done, j);
            return;
        }
        feed_refresh(w);
    }
    catch_up_all(w);
}

void feed_event(struct watch *w, uint32_t seq, const char *name,
                const char *data, size_t len, int final)
{
    w->ev_seq = seq;
    snprintf(w->ev_name, sizeof w->ev_name, "%s", name);
    jb_reset(&w->ev_data);
    jb_raw(&w->ev_data, data, len);
    if (seq > w->version)
        w->version = seq;
    if (final)
        w->final = 1;
    catch_up_all(w);
}
