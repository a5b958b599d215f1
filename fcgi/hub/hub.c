/*
 * hub.c -- the pool's one event-driven process: it holds every open
 * stream (connections handed over by the workers, hublink.c) and runs
 * every evaluation (evaluator.c's ev_proc), in one epoll loop.
 *
 * Why a process of its own: a pool worker is blocking and serves one
 * request at a time, so a stream held by a worker is a worker lost for
 * minutes. A worker authorises a stream (or claims a bid) in the time of a
 * GET and hands the accepted FastCGI socket over; the hub writes FastCGI
 * records on it (fcgirec.c) as events come, and END_REQUEST at the end.
 *
 * Never blocking the work: every socket is non-blocking; what a client
 * does not read waits in that connection's own buffer, and once the
 * buffer holds OUT_BOUND bytes nothing more is queued for it: it is marked
 * behind, and when it has drained it catches up from the database (a
 * record feed gets only the newest state: the versions in between are
 * folded). So memory per stream is bounded, and a client that stops
 * reading delays nobody: not other streams, not a run's time limit.
 *
 * Where events come from: the database is the event store, so that any
 * host of the pool can serve any stream and a hub that restarts loses
 * nothing. Record feeds follow versions (the version is the cursor); the
 * chat feed its length; the outbox feed its seq; an evaluation's stream
 * the rows of evaluation_events (seq = the event id). The hub polls the
 * versions of what its streams follow every OPTIMIST_STREAM_POLL_MS, one
 * query per 32 resources of a kind, and, for the resources a worker of
 * this pool says it changed (hublink_notify), at once (20 ms debounce):
 * local changes arrive in milliseconds, other hosts' within a poll.
 *
 * Runs: ev_start, then the loop pumps the evaluator's pipes, stores each
 * progress line as an event (renewing the lease at most every
 * RENEW_EVERY_MS), enforces the time limit, and finishes the run: the
 * bid's finish and the final event are one transaction. Every second the
 * sweep expires runs whose lease passed with nobody running them (their
 * hub died): the bid goes back to open, the run's final event is
 * `error` {"error": "expired"}.
 *
 * The database calls are blocking (libmysqlclient); each is one indexed
 * statement on a local connection, so they are short, but a database that
 * hangs delays this loop for the connect/read time-outs.
 */
#include "hub.h"

#include "evaluator.h"
#include "fcgirec.h"
#include "hublink.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "resource.h"
#include "sandbox.h"
#include "sse.h"
#include "streams.h"
#include "tableset.h"

#include "chat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define OUT_BOUND        (256 * 1024) /* bytes queued for one client at most */
#define RENEW_EVERY_MS   250          /* at most one lease renewal per this */
#define SWEEP_EVERY_MS   1000         /* expiring runs whose runner died */
#define NOTIFY_MIN_MS    20 /* polls after notifies: at most one per */
#define BATCH            32 /* resources per poll query */
#define EVENTS_PER_FETCH 100

enum tag { TAG_LINK = 1, TAG_CONN, TAG_EV_IN, TAG_EV_OUT, TAG_EV_EXIT };

struct watch;
struct run;

/* One client connection. */
struct conn {
    int tag; /* TAG_CONN: first, for epoll's data.ptr */
    int fd;
    uint16_t rid;         /* FastCGI request id */
    int sse;              /* 1: an event stream; 0: the wait for a run */
    uint64_t cursor;      /* the last event id sent */
    jbuf out;             /* records not yet written */
    size_t off;           /* how much of out is written */
    int behind;           /* stopped queueing at OUT_BOUND: catch up */
    int ending;           /* END_REQUEST queued: close once written */
    int want_out;         /* EPOLLOUT is on */
    long long last_write; /* monotonic ms */
    long long last_ping;  /* monotonic ms */
    long long opened;     /* monotonic ms */
    uint64_t sent;        /* bytes written */
    char request_id[64];
    uint64_t tenant;
    struct watch *w;
    struct conn *next; /* in w->conns */
};

/* One resource that one or more connections follow. */
struct watch {
    int rid;             /* the resource's id (resource.h): looked up again
                            at each use, so a reload may swap or drop it */
    uint64_t tenant, id; /* per_tenant resources: id is the tenant */
    uint64_t version;    /* the newest known: version, length, seq */
    int gone;            /* a deleted session */
    int final;           /* an evaluation's final event is stored */
    jbuf doc;            /* record feeds: the resource at version */
    uint32_t ev_seq;     /* evaluations: the event cached below */
    char ev_name[16];
    jbuf ev_data;
    struct run *run; /* an evaluation this hub runs */
    int dirty;       /* a worker of this pool changed it: poll it */
    struct conn *conns;
    struct watch *next; /* in H.watches */
};

/* One evaluation this hub runs. */
struct run {
    int tag_in, tag_out, tag_exit; /* TAG_EV_*, for epoll */
    ev_proc *p;
    bid_claim claim;
    int slot;
    int quick;
    uint32_t seq;     /* the last event stored */
    char failed[256]; /* p == NULL: why the evaluator did not start */
    long long renewed;
    struct watch *w;
    struct run *next;
};

static struct {
    const conf *c;
    rec_db *db;
    int ep;
    int link_tag;
    struct conn **by_fd; /* every live connection, by its fd */
    int max_fd;
    int hi_fd; /* no connection above this fd */
    struct watch *watches;
    struct run *runs;
    int rid_bids, rid_evals; /* what the runs change */
    long long next_poll, next_sweep, next_ping;
    long long poll_asap; /* a notify asked for a poll at this time */
    volatile sig_atomic_t stop;
    volatile sig_atomic_t quit;
    volatile sig_atomic_t reload;
    volatile sig_atomic_t reopen; /* SIGUSR1: reopen the log file */
    int draining; /* stopping: only the runs' clients are left */
} H;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGTERM/SIGINT: a graceful stop (the runs in flight finish, up to the
 * master's OPTIMIST_SHUTDOWN_TIMEOUT); SIGQUIT: at once. */
static void on_stop(int sig)
{
    if (sig == SIGQUIT)
        H.quit = 1;
    H.stop = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    H.reload = 1;
}

/* SIGUSR1, passed on by the master after logrotate moved the log away. */
static void on_usr1(int sig)
{
    (void)sig;
    H.reopen = 1;
}

/* SIGHUP (sent by the master's reload): the options again, as the new
 * workers read them; a bad file keeps the old ones. Runs in flight keep
 * what they started with. */
static void reload(void)
{
    static conf fresh;
    char err[256];
    H.reload = 0;
    if (conf_load(&fresh, err, sizeof err) != 0) {
        LOG(LOG_ERROR, "hub: reload: %s; keeping the old configuration", err);
        return;
    }
    H.c = &fresh;
    log_threshold = (enum log_level)fresh.log_level;
    LOG(LOG_INFO, "hub: configuration reloaded");
    /* The declared tables, as the new workers read them (a refused
     * folder keeps the set served before; its watches stay). */
    (void)tset_load(H.c, H.db, 0);
}

/* An answer the hub writes itself (a 503, a run's result to a client
 * that waits) is built with reply.h into `r`, which holds the response
 * only: no route runs on it. */
static void answer_begin(http_req *r)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    r->route = -1;
    snprintf(r->request_id, sizeof r->request_id, "hub");
}

/* ---- connections ----------------------------------------------------------
 */

static void conn_close(struct conn *c)
{
    struct watch *w = c->w;
    log_set_request(c->request_id);
    LOG(LOG_INFO, "stream closed after %.1f s, %llu bytes%s",
        (double)(now_ms() - c->opened) / 1000.0, (unsigned long long)c->sent,
        c->ending ? "" : " (client gone)");
    log_set_request(NULL);
    if (w != NULL) {
        struct conn **pp = &w->conns;
        while (*pp && *pp != c)
            pp = &(*pp)->next;
        if (*pp)
            *pp = c->next;
    }
    if (c->fd >= 0) {
        (void)epoll_ctl(H.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        H.by_fd[c->fd] = NULL;
    }
    jb_free(&c->out);
    free(c);
}

static size_t pending(const struct conn *c)
{
    return c->out.len - c->off;
}

static void set_want_out(struct conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u), .data.ptr = c};
    if (epoll_ctl(H.ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = on;
}

static void conn_catch_up(struct conn *c);

/* Writes what is queued, without waiting. Returns -1 if c was closed. */
static int conn_flush(struct conn *c)
{
    while (pending(c) > 0) {
        ssize_t n = write(c->fd, c->out.p + c->off, pending(c));
        if (n > 0) {
            c->off += (size_t)n;
            c->sent += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_want_out(c, 1);
            return 0;
        }
        conn_close(c); /* the client (nginx) is gone */
        return -1;
    }
    jb_reset(&c->out);
    c->off = 0;
    set_want_out(c, 0);
    if (c->ending) {
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Queues bytes of the response body as STDOUT records. */
static void conn_put(struct conn *c, const char *p, size_t n)
{
    if (c->off > 0 && c->off == c->out.len) {
        jb_reset(&c->out);
        c->off = 0;
    }
    fcgirec_stdout(&c->out, c->rid, p, n);
    c->last_write = now_ms();
}

static void conn_end(struct conn *c)
{
    fcgirec_end(&c->out, c->rid);
    c->ending = 1;
}

static void conn_event(struct conn *c, const char *event, uint64_t id,
                       const char *data, size_t len)
{
    jbuf b;
    jb_init(&b);
    sse_format_event_id(&b, event, id, data, len);
    conn_put(c, b.p, b.len);
    jb_free(&b);
    if (id > 0)
        c->cursor = id;
}

static void sse_headers(struct conn *c)
{
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "Status: 200 OK\r\n"
               "Content-Type: text/event-stream; charset=utf-8\r\n"
               "Cache-Control: no-cache\r\n"
               "X-Accel-Buffering: no\r\n"
               "X-Request-Id: ");
    jb_lit(&b, c->request_id);
    jb_lit(&b, "\r\n\r\n");
    conn_put(c, b.p, b.len);
    jb_free(&b);
}

/* A whole non-stream answer (the wait for a run): r's status, headers
 * and body, with Content-Length. */
static void conn_answer(struct conn *c, http_req *r)
{
    jbuf b;
    jb_init(&b);
    char line[128];
    snprintf(line, sizeof line, "Status: %d %s\r\n", r->status,
             http_reason(r->status));
    jb_lit(&b, line);
    jb_lit(&b, "Content-Type: application/json\r\nX-Request-Id: ");
    jb_lit(&b, c->request_id);
    snprintf(line, sizeof line, "\r\nContent-Length: %zu\r\n", r->out.len);
    jb_lit(&b, line);
    jb_raw(&b, r->headers, r->headers_len);
    jb_lit(&b, "\r\n");
    jb_raw(&b, r->out.p, r->out.len);
    conn_put(c, b.p, b.len);
    jb_free(&b);
    conn_end(c);
}

/* ---- watches ---------------------------------------------------------------
 */

static struct watch *watch_find(int rid, uint64_t tenant, uint64_t id)
{
    for (struct watch *w = H.watches; w; w = w->next)
        if (w->rid == rid && w->id == id && w->tenant == tenant)
            return w;
    return NULL;
}

static struct watch *watch_get(int rid, uint64_t tenant, uint64_t id)
{
    struct watch *w = watch_find(rid, tenant, id);
    if (w != NULL)
        return w;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->rid = rid;
    w->tenant = tenant;
    w->id = id;
    jb_init(&w->doc);
    jb_init(&w->ev_data);
    w->next = H.watches;
    H.watches = w;
    return w;
}

/* Frees watches nobody follows. */
static void watches_gc(void)
{
    struct watch **pp = &H.watches;
    while (*pp) {
        struct watch *w = *pp;
        if (w->conns == NULL && w->run == NULL) {
            *pp = w->next;
            jb_free(&w->doc);
            jb_free(&w->ev_data);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* The feed kind of w's resource; RES_FEED_NONE when a reload dropped it. */
static enum resource_feed feed_of(const struct watch *w)
{
    const struct resource *res = resource_by_id(w->rid);
    return res ? res->feed : RES_FEED_NONE;
}

static int is_record(const struct watch *w)
{
    return feed_of(w) == RES_FEED_RECORD;
}

/* Record feeds: reads the resource as GET returns it into w->doc. */
static void watch_load(struct watch *w)
{
    const struct resource *res = resource_by_id(w->rid);
    uint32_t v = 0;
    rec_err err = {0};
    rec_status st = REC_ERROR;
    jb_reset(&w->doc);
    if (res != NULL)
        st = resource_load(H.db, res, w->tenant, w->id, &w->doc, &v, &err);
    if (st == REC_NOT_FOUND) {
        w->gone = 1;
    } else if (st == REC_OK) {
        w->version = v;
    } else {
        LOG(LOG_WARN, "hub: loading a followed resource failed: %s", err.msg);
    }
}

static void mark_one(int rid, uint64_t tenant, uint64_t key)
{
    for (struct watch *w = H.watches; w; w = w->next)
        if (w->rid == rid && w->tenant == tenant && w->id == key)
            w->dirty = 1;
}

/* This pool changed row `key` of resource `rid` of `tenant`: its watches,
 * and those of the resources its descriptor says change with it, are
 * polled at the next notify poll. */
static void mark_dirty(int rid, uint64_t tenant, uint64_t key)
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

/* ---- catching a connection up
 * ------------------------------------------------ */

static const char SQL_EVENTS_AFTER[] =
    "SELECT seq, event, data, final FROM evaluation_events "
    "WHERE evaluation_id = ? AND seq > ? ORDER BY seq LIMIT 100";
static const char SQL_OUTBOX_AFTER[] =
    "SELECT seq, approval_id, type, action, at FROM approval_events "
    "WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT 100";

/* Sends the evaluation events after c->cursor. */
static void catch_up_eval(struct conn *c)
{
    struct watch *w = c->w;
    if (!c->sse)
        return; /* the wait gets its answer from the run's finish */
    while (pending(c) < OUT_BOUND && c->cursor < w->version && !c->ending) {
        if (w->ev_seq > 0 && c->cursor + 1 == w->ev_seq) {
            conn_event(c, w->ev_name, w->ev_seq, w->ev_data.p, w->ev_data.len);
            if (w->final && w->ev_seq == w->version)
                conn_end(c);
            continue;
        }
        rec_param p[2] = {REC_U(w->id), REC_U(c->cursor)};
        rec_rows *rows = NULL;
        rec_err err = {0};
        if (rec_exec(H.db, SQL_EVENTS_AFTER, p, 2, &rows, NULL, NULL, &err) !=
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
    while (pending(c) < OUT_BOUND && c->cursor < w->version) {
        jbuf b;
        jb_init(&b);
        uint32_t length = 0;
        rec_err err = {0};
        jb_lit(&b, "{\"messages\":");
        rec_status st = chat_read(H.db, w->id, w->tenant, c->cursor,
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
    while (pending(c) < OUT_BOUND && c->cursor < w->version) {
        rec_param p[2] = {REC_U(w->tenant), REC_U(c->cursor)};
        rec_rows *rows = NULL;
        rec_err err = {0};
        if (rec_exec(H.db, SQL_OUTBOX_AFTER, p, 2, &rows, NULL, NULL, &err) !=
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

/* ---- a declared table's change feed ----------------------------------
 *
 * The change log's seq is taken at insert and becomes visible at commit,
 * so a reader that sent seq 12 may later see 11 commit. The horizon is
 * the seq up to which every change is visible or given up on: it moves
 * over each seq that follows it by the server's auto-increment step, and
 * over a gap once the change after the gap is CHANGES_GAP_MS old (an
 * insert rolled back, a Galera node's own increments, or a transaction
 * that held its change that long: a feed skips it then, documented in
 * docs/tables-http.md). A feed sends changes up to the horizon at once,
 * and younger ones past a gap once the horizon reaches them. */
#define CHANGES_GAP_MS 3000

static const char SQL_CHANGES_AFTER[] =
    "SELECT seq, TIMESTAMPDIFF(MICROSECOND, committed_at, UTC_TIMESTAMP(3))"
    " DIV 1000 FROM optimist_changes WHERE seq > ? ORDER BY seq LIMIT 1000";
static const char SQL_CHANGES_START[] =
    "SELECT COALESCE(MAX(seq), 0), @@auto_increment_increment FROM "
    "optimist_changes WHERE committed_at < UTC_TIMESTAMP(3) - INTERVAL 3 "
    "SECOND";

static struct {
    int known;
    uint64_t horizon, step;
} CH;

static void changes_horizon(void)
{
    rec_rows *rows = NULL;
    rec_err err = {0};
    if (!CH.known) {
        if (rec_exec(H.db, SQL_CHANGES_START, NULL, 0, &rows, NULL, NULL,
                     &err) != REC_OK ||
            rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            return;
        }
        CH.horizon = rec_rows_u64(rows, 0, 0);
        CH.step = rec_rows_u64(rows, 0, 1);
        if (CH.step == 0)
            CH.step = 1;
        CH.known = 1;
        rec_rows_free(rows);
        rows = NULL;
    }
    rec_param p[1] = {REC_U(CH.horizon)};
    if (rec_exec(H.db, SQL_CHANGES_AFTER, p, 1, &rows, NULL, NULL, &err) !=
        REC_OK)
        return;
    for (size_t i = 0; i < rec_rows_count(rows); i++) {
        uint64_t seq = rec_rows_u64(rows, i, 0);
        const char *age = rec_rows_get(rows, i, 1);
        if (seq != CH.horizon + CH.step &&
            (age == NULL || atoll(age) < CHANGES_GAP_MS))
            break;
        CH.horizon = seq;
    }
    rec_rows_free(rows);
}

static void catch_up_changes(struct conn *c)
{
    struct watch *w = c->w;
    const struct resource *res = resource_by_id(w->rid);
    tbl_table *t = res ? tset_table_of(res) : NULL;
    if (t == NULL)
        return;
    int held = 0;
    while (!held && pending(c) < OUT_BOUND && c->cursor < w->version) {
        tbl_change ch[EVENTS_PER_FETCH];
        size_t n = 0;
        rec_err err = {0};
        if (tbl_changes(H.db, t->name, w->tenant, 0, c->cursor, ch,
                        EVENTS_PER_FETCH, &n, &err) != REC_OK) {
            LOG(LOG_WARN, "hub: reading the change log of %s: %s", t->name,
                err.msg);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (ch[i].seq > CH.horizon && ch[i].age_ms < CHANGES_GAP_MS) {
                held = 1; /* an earlier change may still commit */
                break;
            }
            jbuf b;
            jb_init(&b);
            jb_lit(&b, "{\"id\":");
            jb_u64(&b, ch[i].key);
            jb_lit(&b, ",\"version\":");
            jb_u64(&b, ch[i].version);
            jb_lit(&b, ",\"row\":");
            size_t at = b.len;
            uint32_t v = 0;
            tbl_err terr;
            rec_status st = ch[i].deleted ? REC_NOT_FOUND
                                          : tbl_get(H.db, t, w->tenant,
                                                    ch[i].key, &b, &v, &terr);
            if (st != REC_OK) {
                b.len = at;
                b.p[at] = '\0';
                jb_lit(&b, "null"); /* deleted since */
            }
            jb_lit(&b, "}");
            conn_event(c, "change", ch[i].seq, b.p, b.len);
            jb_free(&b);
        }
        if (n == 0)
            break;
    }
    /* Held back: the next poll finds the feed behind again and retries. */
    if (held && c->cursor < w->version)
        w->version = c->cursor;
}

/* Queues whatever c has not seen yet, up to OUT_BOUND, then writes. */
static void conn_catch_up(struct conn *c)
{
    struct watch *w = c->w;
    if (c->ending)
        return;
    if (pending(c) >= OUT_BOUND) {
        c->behind = 1;
        return;
    }
    c->behind = 0;
    enum resource_feed feed = feed_of(w);
    if (feed == RES_FEED_NONE) {
        conn_end(c); /* a reload dropped the resource */
    } else if (feed == RES_FEED_RECORD) {
        if (w->gone) {
            char data[64];
            int n = snprintf(data, sizeof data, "{\"id\":%llu}",
                             (unsigned long long)w->id);
            conn_event(c, "deleted", 0, data, (size_t)n);
            conn_end(c);
        } else if (c->cursor < w->version) {
            /* Only the newest state: versions in between are folded. */
            conn_event(c, "version", w->version, w->doc.p, w->doc.len);
        }
    } else if (feed == RES_FEED_CHAT) {
        catch_up_chat(c);
    } else if (feed == RES_FEED_OUTBOX) {
        catch_up_outbox(c);
    } else if (feed == RES_FEED_EVAL) {
        catch_up_eval(c);
    } else if (feed == RES_FEED_CHANGES) {
        catch_up_changes(c);
    }
    if (pending(c) >= OUT_BOUND && !c->ending)
        c->behind = 1;
    (void)conn_flush(c);
}

static void watch_changed(struct watch *w)
{
    if (is_record(w))
        watch_load(w);
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next; /* c may close */
        conn_catch_up(c);
        c = next;
    }
}

/* ---- polling
 * ------------------------------------------------------------------ */

static void poll_batch(const struct resource *res, int rid, struct watch **ws,
                       int n)
{
    rec_param p[BATCH];
    for (int i = 0; i < BATCH; i++)
        p[i] = REC_U(i < n ? ws[i]->id : 0);
    rec_rows *rows = NULL;
    rec_err err = {0};
    static int failing; /* log a database outage once, not every poll */
    if (rec_exec(H.db, resource_poll_sql(rid), p, BATCH, &rows, NULL, NULL,
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
                watch_changed(w);
            }
        }
    }
    rec_rows_free(rows);
    if (res->deletable)
        for (int i = 0; i < n; i++)
            if (!seen[i] && !ws[i]->gone) {
                ws[i]->gone = 1;
                watch_changed(ws[i]);
            }
}

/* Polls the versions of every followed resource, or (only_dirty) of
 * those a worker of this pool said it changed. */
static void poll_all(int only_dirty)
{
    struct watch *batch[BATCH];
    changes_horizon();
    for (int rid = 1; rid < resource_id_end(); rid++) {
        const struct resource *res = resource_by_id(rid);
        int n = 0;
        for (struct watch *w = H.watches; w; w = w->next) {
            if (w->rid != rid || w->gone || w->conns == NULL ||
                (only_dirty && !w->dirty))
                continue;
            if (res == NULL || res->feed == RES_FEED_NONE) {
                watch_changed(w); /* a reload dropped it: its streams end */
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
    watches_gc();
}

/* ---- evaluation events
 * ---------------------------------------------------------- */

static const char SQL_EVENT_INSERT[] =
    "INSERT IGNORE INTO evaluation_events (evaluation_id, seq, event, data) "
    "VALUES (?, ?, ?, ?)";
static const char SQL_FINAL_INSERT[] =
    "INSERT IGNORE INTO evaluation_events (evaluation_id, seq, event, data, "
    "final) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, 1 "
    "FROM evaluation_events WHERE evaluation_id = ?";
static const char SQL_FINAL_SEQ[] =
    "SELECT seq FROM evaluation_events WHERE evaluation_id = ? AND final = 1";

/* Makes ev the watch's newest event and sends it to whoever is caught up. */
static void watch_event(struct watch *w, uint32_t seq, const char *name,
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
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        conn_catch_up(c);
        c = next;
    }
}

struct final_ctx {
    uint64_t eval_id;
    const char *event;
    const jbuf *data;
};

static rec_status insert_final(rec_db *db, void *vctx, rec_err *err)
{
    struct final_ctx *f = vctx;
    rec_param p[4] = {REC_U(f->eval_id), REC_CSTR(f->event),
                      REC_S(f->data->p, f->data->len), REC_U(f->eval_id)};
    return rec_exec(db, SQL_FINAL_INSERT, p, 4, NULL, NULL, NULL, err);
}

/* The seq the final event got (0 if none is stored). */
static uint32_t final_seq(uint64_t eval_id)
{
    rec_param p[1] = {REC_U(eval_id)};
    rec_rows *rows = NULL;
    rec_err err = {0};
    uint32_t seq = 0;
    if (rec_exec(H.db, SQL_FINAL_SEQ, p, 1, &rows, NULL, NULL, &err) ==
            REC_OK &&
        rec_rows_count(rows) > 0)
        seq = (uint32_t)rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    return seq;
}

/* bid_finish and the final event in one transaction (the idempotency
 * hold: bid_finish's transaction stays open for one more statement). */
static rec_status finish_with_event(const bid_claim *claim, const char *result,
                                    size_t rlen, const char *why,
                                    bid_outcome *outcome, uint32_t *version,
                                    jbuf *data, const char **event,
                                    rec_err *err);

static void final_data(jbuf *b, const char **event, bid_outcome outcome,
                       uint64_t eval_id, uint32_t version, const char *result,
                       size_t rlen, const char *why, int expired_by_sweep)
{
    jb_reset(b);
    if (outcome == BID_APPLIED) {
        *event = "result";
        jb_lit(b, "{\"version\":");
        jb_u64(b, version);
        jb_lit(b, ",\"evaluation\":");
        if (result != NULL)
            jb_raw(b, result, rlen);
        else
            jb_lit(b, "null"); /* applied always has a result */
        jb_lit(b, "}");
        return;
    }
    if (outcome == BID_SUPERSEDED) {
        *event = "conflict";
        jb_lit(b, "{\"current_version\":");
        jb_u64(b, version);
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, eval_id);
        jb_lit(b, "}");
        return;
    }
    *event = "error";
    const char *code = outcome == BID_FAILED ? "evaluation_failed"
                       : expired_by_sweep    ? "expired"
                                             : "lease_expired";
    const char *msg =
        outcome == BID_FAILED ? why
        : expired_by_sweep
            ? "the run's runner stopped before it finished and its lease "
              "passed; the bid can be evaluated again"
            : "the evaluation lost its lease before it finished; its "
              "result was kept but not applied";
    jb_lit(b, "{\"error\":");
    jb_cstr(b, code);
    jb_lit(b, ",\"message\":");
    jb_cstr(b, msg);
    jb_lit(b, ",\"evaluation_id\":");
    jb_u64(b, eval_id);
    if (version > 0) {
        jb_lit(b, ",\"current_version\":");
        jb_u64(b, version);
    }
    jb_lit(b, "}");
}

static rec_status finish_with_event(const bid_claim *claim, const char *result,
                                    size_t rlen, const char *why,
                                    bid_outcome *outcome, uint32_t *version,
                                    jbuf *data, const char **event,
                                    rec_err *err)
{
    rec_txn_hold(H.db, 1);
    rec_status st =
        bid_finish(H.db, claim, result, rlen, why, outcome, version, err);
    if (st == REC_OK && rec_txn_held(H.db) == REC_HOLD_OPEN) {
        final_data(data, event, *outcome, claim->eval_id, *version, result,
                   rlen, why,
                   why != NULL && result == NULL &&
                       strncmp(why, "the runner", 10) == 0);
        struct final_ctx f = {
            .eval_id = claim->eval_id, .event = *event, .data = data};
        st = rec_txn_commit_held(H.db, insert_final, &f, err);
    } else if (st == REC_OK) {
        st = REC_ERROR; /* not held: cannot happen */
        snprintf(err->msg, sizeof err->msg, "the finish was not held");
    }
    if (rec_txn_held(H.db) != REC_HOLD_NONE)
        rec_txn_rollback_held(H.db);
    rec_txn_hold(H.db, 0);
    return st;
}

/* ---- runs
 * -------------------------------------------------------------------------- */

static void run_register(struct run *rn)
{
    int in = ev_in_fd(rn->p), out = ev_out_fd(rn->p), ex = ev_exit_fd(rn->p);
    if (ex >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &rn->tag_exit};
        (void)epoll_ctl(H.ep, EPOLL_CTL_ADD, ex, &ev);
    }
    if (in >= 0) {
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = &rn->tag_in};
        (void)epoll_ctl(H.ep, EPOLL_CTL_ADD, in, &ev);
    }
    if (out >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &rn->tag_out};
        (void)epoll_ctl(H.ep, EPOLL_CTL_ADD, out, &ev);
    }
}

static int on_progress(void *vctx, const char *line, size_t len)
{
    struct run *rn = vctx;
    long long now = now_ms();
    if (now - rn->renewed >= RENEW_EVERY_MS) {
        rec_err err = {0};
        rec_status st =
            bid_renew(H.db, &rn->claim, (unsigned)H.c->lease_seconds, &err);
        if (st == REC_INVALID_STATE) {
            LOG(LOG_WARN,
                "evaluation %llu: the claim on bid %llu is lost; "
                "stopping the evaluator",
                (unsigned long long)rn->claim.eval_id,
                (unsigned long long)rn->claim.bid_id);
            return -1;
        }
        if (st != REC_OK)
            LOG(LOG_WARN, "evaluation %llu: lease renewal failed: %s",
                (unsigned long long)rn->claim.eval_id, err.msg);
        else
            rn->renewed = now;
    }
    uint32_t seq = rn->seq + 1;
    rec_param p[4] = {REC_U(rn->claim.eval_id), REC_U(seq),
                      REC_CSTR("progress"), REC_S(line, len)};
    rec_err err = {0};
    if (rec_exec(H.db, SQL_EVENT_INSERT, p, 4, NULL, NULL, NULL, &err) !=
        REC_OK)
        LOG(LOG_WARN, "evaluation %llu: storing a progress event: %s",
            (unsigned long long)rn->claim.eval_id, err.msg);
    rn->seq = seq;
    watch_event(rn->w, seq, "progress", line, len, 0);
    return 0;
}

/* The JSON answer of a client that waits (routes_evaluate.c's contract:
 * 200 with the outcome and the bid, or 409 when superseded/expired). */
static void wait_answer(http_req *r, const bid_claim *claim,
                        bid_outcome outcome, const char *why, int stored)
{
    if (!stored) {
        http_header(r, "Retry-After", "5");
        reply_error(r, 503, "unavailable",
                    "the result could not be stored; the claim will expire "
                    "with its lease",
                    NULL);
        return;
    }
    jbuf cur;
    uint32_t v = 0;
    rec_err err = {0};
    jb_init(&cur);
    rec_status st = REC_ERROR;
    const struct resource *bids = resource_by_id(H.rid_bids);
    if (bids != NULL)
        st = resource_load(H.db, bids, claim->tenant_id, claim->bid_id, &cur,
                           &v, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        jb_free(&cur);
        return;
    }
    reply_etag(r, v);
    jbuf *b = reply_body(r);
    if (outcome == BID_APPLIED || outcome == BID_FAILED) {
        jb_lit(b, "{\"outcome\":");
        jb_cstr(b, bid_outcome_name(outcome));
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, claim->eval_id);
        if (outcome == BID_FAILED) {
            jb_lit(b, ",\"error\":");
            jb_cstr(b, why);
        }
        jb_lit(b, ",\"bid\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 200);
    } else {
        jb_lit(b, "{\"error\":\"version_conflict\",\"message\":");
        jb_cstr(b, outcome == BID_SUPERSEDED
                       ? "the bid was edited during the evaluation; the "
                         "result was kept but not applied"
                       : "the evaluation lost its lease before it "
                         "finished; the result was kept but not applied");
        jb_lit(b, ",\"outcome\":");
        jb_cstr(b, bid_outcome_name(outcome));
        jb_lit(b, ",\"evaluation_id\":");
        jb_u64(b, claim->eval_id);
        jb_lit(b, ",\"current_version\":");
        jb_u64(b, v);
        jb_lit(b, ",\"current\":");
        jb_raw(b, cur.p, cur.len);
        jb_lit(b, "}");
        reply_json(r, 409);
    }
    jb_free(&cur);
}

static void run_free(struct run *rn)
{
    struct run **pp = &H.runs;
    while (*pp && *pp != rn)
        pp = &(*pp)->next;
    if (*pp)
        *pp = rn->next;
    ev_free(rn->p);
    streams_release(rn->slot);
    if (rn->w)
        rn->w->run = NULL;
    free(rn);
}

/* The run's end: store it, tell every client, free it. */
static void run_finish(struct run *rn)
{
    char why[256] = "";
    jbuf result, data;
    jb_init(&result);
    jb_init(&data);
    ev_status es = EV_FAILED;
    if (rn->p != NULL)
        es = ev_outcome(rn->p, &result, why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", rn->failed);
    bid_outcome outcome = BID_FAILED;
    uint32_t version = 0;
    const char *event = "error";
    rec_err err = {0};
    rec_status st = finish_with_event(&rn->claim, es == EV_OK ? result.p : NULL,
                                      result.len, es == EV_OK ? NULL : why,
                                      &outcome, &version, &data, &event, &err);
    log_set_request(NULL);
    LOG(LOG_INFO, "evaluation %llu of bid %llu: %s%s%s%s",
        (unsigned long long)rn->claim.eval_id,
        (unsigned long long)rn->claim.bid_id,
        st == REC_OK ? bid_outcome_name(outcome) : "not stored",
        es == EV_OK ? "" : " (", es == EV_OK ? "" : why,
        es == EV_OK ? "" : ")");
    if (st == REC_OK && (outcome == BID_SUPERSEDED || outcome == BID_EXPIRED))
        metrics_conflict("bids");
    struct watch *w = rn->w;
    /* The bid changed here: its followers hear of it at once. */
    mark_dirty(H.rid_bids, rn->claim.tenant_id, rn->claim.bid_id);
    H.poll_asap = now_ms();
    if (st == REC_OK) {
        uint32_t seq = final_seq(rn->claim.eval_id);
        if (seq == 0)
            seq = rn->seq + 1;
        watch_event(w, seq, event, data.p, data.len, 1);
    } else {
        LOG(LOG_ERROR, "evaluation %llu: finish failed (%s): %u %s",
            (unsigned long long)rn->claim.eval_id, rec_status_name(st),
            err.code, err.msg);
        /* Not stored: the sweep expires the run at its lease's end and
         * stores its final event; the streams here end with an error. */
        const char *msg = "{\"error\":\"unavailable\",\"message\":\"the "
                          "result could not be stored; the claim will "
                          "expire with its lease\"}";
        for (struct conn *c = w->conns; c; c = c->next)
            if (c->sse && !c->ending) {
                conn_event(c, "error", 0, msg, strlen(msg));
                conn_end(c);
            }
    }
    /* The clients that wait. */
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        if (!c->sse && !c->ending) {
            http_req r;
            answer_begin(&r);
            wait_answer(&r, &rn->claim, outcome, why, st == REC_OK);
            conn_answer(c, &r);
            jb_free(&r.out);
        }
        (void)conn_flush(c);
        c = next;
    }
    jb_free(&result);
    jb_free(&data);
    run_free(rn);
}

static const ev_hooks *run_hooks(struct run *rn)
{
    static ev_hooks h;
    h.ctx = rn;
    h.progress = on_progress;
    h.tick = NULL;
    h.tick_ms = 0;
    return &h;
}

/* A worker claimed a bid and handed the run over (with its client). */
static void run_start(const hub_msg *m, struct conn *c)
{
    struct run *rn = calloc(1, sizeof *rn);
    if (rn == NULL)
        abort();
    rn->tag_in = TAG_EV_IN;
    rn->tag_out = TAG_EV_OUT;
    rn->tag_exit = TAG_EV_EXIT;
    rn->claim = m->claim;
    rn->slot = m->slot;
    rn->quick = m->quick;
    rn->seq = 1; /* `claimed`, stored by the worker with the claim */
    rn->renewed = now_ms();
    streams_adopt(rn->slot);
    struct watch *w = watch_get(H.rid_evals, m->tenant_id, m->claim.eval_id);
    rn->w = w;
    w->run = rn;
    c->w = w;
    c->next = w->conns;
    w->conns = c;
    rn->next = H.runs;
    H.runs = rn;

    char claimed[96];
    int n = snprintf(claimed, sizeof claimed,
                     "{\"version\":%u,\"evaluation_id\":%llu}",
                     m->claim.version, (unsigned long long)m->claim.eval_id);
    if (c->sse)
        sse_headers(c);
    watch_event(w, 1, "claimed", claimed, (size_t)n, 0);

    /* The bid as the claim left it, for the evaluator's stdin. */
    jbuf input;
    jb_init(&input);
    uint32_t v = 0;
    rec_err err = {0};
    char why[256] = "";
    rec_status st = REC_ERROR;
    const struct resource *bids = resource_by_id(H.rid_bids);
    if (bids != NULL)
        st = resource_load(H.db, bids, m->tenant_id, m->claim.bid_id, &input,
                           &v, &err);
    else
        snprintf(err.msg, sizeof err.msg, "no bids resource");
    ev_spec spec = {.program = H.c->evaluator,
                    .timeout_ms = H.c->evaluator_timeout * 1000,
                    .demo_steps = H.c->demo_eval_steps,
                    .demo_delay_ms = H.c->demo_eval_delay_ms,
                    .kind = m->quick ? "quick_scan" : "full",
                    .evaluation_id = m->claim.eval_id,
                    .bid_id = m->claim.bid_id};
    struct sandbox_conf sandbox; /* ev_start keeps its own copy */
    sandbox_conf_from(H.c, &sandbox);
    spec.sandbox = &sandbox;
    if (st == REC_OK)
        rn->p = ev_start(&spec, input.p, input.len, why, sizeof why);
    else
        snprintf(why, sizeof why, "the bid could not be read: %s", err.msg);
    jb_free(&input);
    if (rn->p == NULL) {
        /* Nothing runs: the run fails now, as an evaluator that failed. */
        LOG(LOG_ERROR, "evaluation %llu: %s",
            (unsigned long long)m->claim.eval_id, why);
        snprintf(rn->failed, sizeof rn->failed, "%s", why);
        run_finish(rn);
        return;
    }
    run_register(rn);
}

/* Every second: runs whose lease passed while nobody runs them. */
static const char SQL_ORPHANS[] =
    "SELECT e.id, e.bid_id, e.tenant_id FROM evaluations e "
    "JOIN bids b ON b.id = e.bid_id AND b.lease_owner = e.id "
    "WHERE e.outcome = 'running' AND b.status = 'evaluating' "
    "AND b.lease_until < UTC_TIMESTAMP(3) ORDER BY e.id LIMIT 50";
static const char SQL_RUN_OUTCOME[] =
    "SELECT outcome, bid_id FROM evaluations WHERE id = ?";

static int is_local(uint64_t eval_id)
{
    for (struct run *rn = H.runs; rn; rn = rn->next)
        if (rn->claim.eval_id == eval_id)
            return 1;
    return 0;
}

static void expire_run(uint64_t eval_id, uint64_t bid_id, uint64_t tenant)
{
    bid_claim claim = {
        .bid_id = bid_id, .tenant_id = tenant, .eval_id = eval_id};
    bid_outcome outcome = BID_EXPIRED;
    uint32_t version = 0;
    jbuf data;
    jb_init(&data);
    const char *event = "error";
    rec_err err = {0};
    rec_status st = finish_with_event(&claim, NULL, 0,
                                      "the runner stopped; the lease passed",
                                      &outcome, &version, &data, &event, &err);
    mark_dirty(H.rid_bids, tenant, bid_id);
    mark_dirty(H.rid_evals, tenant, eval_id);
    H.poll_asap = now_ms();
    if (st == REC_OK)
        LOG(LOG_INFO,
            "evaluation %llu of bid %llu: expired (its runner "
            "stopped and its lease passed)",
            (unsigned long long)eval_id, (unsigned long long)bid_id);
    else
        LOG(LOG_WARN, "evaluation %llu: expiring failed: %s",
            (unsigned long long)eval_id, err.msg);
    jb_free(&data);
}

static void sweep(void)
{
    rec_rows *rows = NULL;
    rec_err err = {0};
    if (rec_exec(H.db, SQL_ORPHANS, NULL, 0, &rows, NULL, NULL, &err) ==
        REC_OK) {
        for (size_t i = 0; i < rec_rows_count(rows); i++) {
            uint64_t id = rec_rows_u64(rows, i, 0);
            if (!is_local(id))
                expire_run(id, rec_rows_u64(rows, i, 1),
                           rec_rows_u64(rows, i, 2));
        }
    }
    rec_rows_free(rows);
    /* A followed run taken over by another claim was marked expired
     * without a final event: store one, so its streams can end. */
    for (struct watch *w = H.watches; w; w = w->next) {
        if (w->rid != H.rid_evals || w->final || w->run != NULL ||
            w->conns == NULL)
            continue;
        rec_param p[1] = {REC_U(w->id)};
        rows = NULL;
        if (rec_exec(H.db, SQL_RUN_OUTCOME, p, 1, &rows, NULL, NULL, &err) !=
            REC_OK)
            continue;
        if (rec_rows_count(rows) > 0 &&
            strcmp(rec_rows_get(rows, 0, 0), "expired") == 0) {
            jbuf data;
            jb_init(&data);
            const char *event = "error";
            final_data(&data, &event, BID_EXPIRED, w->id, 0, "", 0, NULL, 1);
            struct final_ctx f = {
                .eval_id = w->id, .event = event, .data = &data};
            (void)insert_final(H.db, &f, &err);
            jb_free(&data);
            w->dirty = 1;
            H.poll_asap = now_ms();
        }
        rec_rows_free(rows);
    }
}

/* ---- handoffs
 * --------------------------------------------------------------------- */

static int tenant_share(void)
{
    int share = H.c->max_streams_per_tenant;
    return share > 0 ? share : (H.max_fd - 64) / 2;
}

/* Does `tenant` hold its share of streams already? (A scan of the open
 * connections: a few thousand compares, once per stream opened.) */
static int over_share(uint64_t tenant)
{
    int n = 0, share = tenant_share();
    for (int fd = 0; fd <= H.hi_fd && fd < H.max_fd; fd++) {
        const struct conn *c = H.by_fd[fd];
        n += c != NULL && c->tenant == tenant && c->sse && !c->ending;
    }
    return n > share; /* the new one is counted already */
}

static void on_handoff(const hub_msg *m, int fd)
{
    if (fd >= H.max_fd) {
        LOG(LOG_ERROR, "hub: connection fd %d beyond the limit %d", fd,
            H.max_fd);
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->tag = TAG_CONN;
    c->fd = fd;
    c->rid = m->fcgi_id;
    c->sse = m->type == HUB_FEED || m->sse;
    c->cursor = m->cursor;
    c->last_write = c->last_ping = c->opened = now_ms();
    jb_init(&c->out);
    snprintf(c->request_id, sizeof c->request_id, "%s", m->request_id);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
        LOG(LOG_WARN, "hub: fcntl: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(H.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        LOG(LOG_ERROR, "hub: epoll_ctl: %s", strerror(errno));
        close(fd);
        jb_free(&c->out);
        free(c);
        return;
    }
    H.by_fd[fd] = c;
    if (fd > H.hi_fd)
        H.hi_fd = fd;
    c->tenant = m->tenant_id;
    if (m->type == HUB_FEED && H.draining) {
        conn_close(c); /* stopping: the client reconnects elsewhere */
        return;
    }
    if (m->type == HUB_FEED && over_share(m->tenant_id)) {
        /* One tenant cannot take every descriptor of the hub. */
        http_req r;
        answer_begin(&r);
        http_header(&r, "Retry-After", "5");
        reply_errorf(&r, 503, "unavailable",
                     "this tenant holds %d event streams, its share; close "
                     "some or retry later",
                     tenant_share());
        conn_answer(c, &r);
        jb_free(&r.out);
        (void)conn_flush(c);
        return;
    }
    if (m->type == HUB_EVAL_RUN) {
        run_start(m, c);
        return;
    }
    int rid = resource_id(m->resource);
    const struct resource *res = resource_by_id(rid);
    if (res == NULL || res->feed == RES_FEED_NONE) {
        LOG(LOG_ERROR, "hub: a stream of an unknown resource '%.47s'",
            m->resource);
        conn_close(c);
        return;
    }
    uint64_t id = resource_key(res, m->tenant_id, m->id);
    struct watch *w = watch_find(rid, m->tenant_id, id);
    int fresh = w == NULL;
    if (fresh)
        w = watch_get(rid, m->tenant_id, id);
    c->w = w;
    c->next = w->conns;
    w->conns = c;
    sse_headers(c);
    if (m->reset) /* what followed its Last-Event-ID is no longer kept */
        conn_event(c, "reset", m->cursor, "{}", 2);
    if (fresh && is_record(w))
        watch_load(w);
    if (fresh && !is_record(w)) {
        w->dirty = 1; /* learn where the feed is now */
        H.poll_asap = now_ms();
    }
    conn_catch_up(c);
}

/* ---- the loop
 * ------------------------------------------------------------------------ */

static void on_conn_event(struct conn *c, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* nginx sends nothing more after the request: anything readable
         * is its end (the client went away) or stray bytes to drop. */
        char buf[4096];
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
            (events & (EPOLLHUP | EPOLLERR))) {
            conn_close(c);
            return;
        }
    }
    if (events & EPOLLOUT) {
        if (conn_flush(c) != 0)
            return;
        if (c->behind && pending(c) < OUT_BOUND)
            conn_catch_up(c);
    }
}

static void pings(long long now)
{
    long long every = (long long)H.c->sse_ping_seconds * 1000;
    for (int fd = 0; fd <= H.hi_fd && fd < H.max_fd; fd++) {
        struct conn *c = H.by_fd[fd];
        if (c == NULL || !c->sse || c->ending || pending(c) > 0 ||
            now - c->last_ping < every)
            continue;
        c->last_ping = now;
        conn_put(c, ": ping\n\n", 8);
        (void)conn_flush(c);
    }
}

static int next_timeout(long long now)
{
    long long next = H.next_poll;
    if (H.poll_asap && H.poll_asap < next)
        next = H.poll_asap;
    if (H.next_sweep < next)
        next = H.next_sweep;
    if (H.next_ping < next)
        next = H.next_ping;
    for (struct run *rn = H.runs; rn; rn = rn->next) {
        long long d = ev_deadline(rn->p);
        if (ev_out_fd(rn->p) < 0)
            d = now + 10; /* waiting for its exit */
        if (d < next)
            next = d;
    }
    return next > now ? (int)(next - now) : 0;
}

static void drain_link(void)
{
    for (int i = 0; i < 256; i++) {
        hub_msg m;
        int fd = -1;
        int got = hublink_recv(&m, &fd);
        if (got <= 0)
            return;
        if (m.type == HUB_NOTIFY) {
            mark_dirty(resource_id(m.resource), m.tenant_id, m.id);
            long long at = now_ms() + NOTIFY_MIN_MS;
            if (H.poll_asap == 0 || H.poll_asap > at)
                H.poll_asap = at;
        } else if ((m.type == HUB_FEED || m.type == HUB_EVAL_RUN) && fd >= 0) {
            on_handoff(&m, fd);
        } else if (fd >= 0) {
            close(fd);
        }
    }
}

int hub_run(const conf *c)
{
    memset(&H, 0, sizeof H);
    H.c = c;
    H.rid_bids = resource_id("bids");
    H.rid_evals = resource_id("evaluations");
    (void)prctl(PR_SET_NAME, "optimist-hub");
    log_threshold = (enum log_level)c->log_level;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Thousands of streams: as many descriptors as we are allowed. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 1048576)
        rl.rlim_cur = 1048576;
    H.max_fd = (int)rl.rlim_cur;
    H.by_fd = calloc((size_t)H.max_fd, sizeof *H.by_fd);
    if (H.by_fd == NULL)
        return 1;

    rec_config cfg;
    conf_rec_config(c, &cfg);
    H.db = rec_db_new(&cfg);
    H.ep = epoll_create1(EPOLL_CLOEXEC);
    H.link_tag = TAG_LINK;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &H.link_tag};
    if (H.ep < 0 ||
        epoll_ctl(H.ep, EPOLL_CTL_ADD, hublink_hub_fd(), &lev) != 0) {
        LOG(LOG_ERROR, "hub: epoll: %s", strerror(errno));
        return 1;
    }
    long long now = now_ms();
    H.next_poll = now + c->stream_poll_ms;
    H.next_sweep = now;
    H.next_ping = now + 1000;
    LOG(LOG_INFO, "hub started: up to %d descriptors", H.max_fd);

    pid_t master = getppid();
    struct epoll_event evs[256];
    int orphaned = 0;
    while (!H.quit && !orphaned && !(H.stop && H.runs == NULL)) {
        if (H.stop && !H.draining) {
            /* A graceful stop: the feeds end now (their clients resume
             * on another hub with Last-Event-ID); the runs finish. */
            H.draining = 1;
            LOG(LOG_INFO, "hub: stopping; %s",
                H.runs ? "finishing the "
                         "runs in flight"
                       : "no run in flight");
            for (int fd = 0; fd <= H.hi_fd && fd < H.max_fd; fd++) {
                struct conn *k = H.by_fd[fd];
                if (k != NULL && (k->w == NULL || k->w->run == NULL))
                    conn_close(k);
            }
        }
        now = now_ms();
        int n = epoll_wait(H.ep, evs, 256, next_timeout(now));
        if (n < 0 && errno != EINTR) {
            LOG(LOG_ERROR, "hub: epoll_wait: %s", strerror(errno));
            break;
        }
        if (H.reopen) {
            H.reopen = 0;
            if (log_reopen() != 0)
                LOG(LOG_ERROR, "hub: reopening the log: %s", strerror(errno));
            else
                LOG(LOG_INFO, "hub: log file reopened");
        }
        if (H.reload)
            reload();
        for (int i = 0; i < n; i++) {
            int *tag = evs[i].data.ptr;
            if (*tag == TAG_LINK) {
                drain_link();
            } else if (*tag == TAG_CONN) {
                on_conn_event((struct conn *)tag, evs[i].events);
            } else if (*tag == TAG_EV_IN) {
                struct run *rn = (struct run *)tag;
                ev_pump_in(rn->p);
            } else if (*tag == TAG_EV_OUT) {
                struct run *rn =
                    (struct run *)((char *)tag - offsetof(struct run, tag_out));
                ev_pump_out(rn->p, run_hooks(rn));
            } else if (*tag == TAG_EV_EXIT) {
                struct run *rn = (struct run *)((char *)tag -
                                                offsetof(struct run, tag_exit));
                /* Deregistered here: the pidfd stays readable. */
                (void)epoll_ctl(H.ep, EPOLL_CTL_DEL, ev_exit_fd(rn->p), NULL);
                ev_on_exit(rn->p, run_hooks(rn));
            }
        }
        now = now_ms();
        struct run *rn = H.runs;
        while (rn) {
            struct run *next = rn->next;
            if (ev_poll_end(rn->p, now))
                run_finish(rn);
            rn = next;
        }
        if (now >= H.next_poll) {
            H.poll_asap = 0;
            H.next_poll = now + H.c->stream_poll_ms;
            poll_all(0);
        } else if (H.poll_asap && now >= H.poll_asap) {
            H.poll_asap = 0;
            poll_all(1);
        }
        if (now >= H.next_sweep) {
            H.next_sweep = now + SWEEP_EVERY_MS;
            sweep();
            if (getppid() != master)
                orphaned = 1; /* the master is gone: nobody restarts us */
        }
        if (now >= H.next_ping) {
            H.next_ping = now + 1000;
            pings(now);
        }
    }
    LOG(LOG_INFO, "hub stopping: %s", orphaned ? "master gone" : "told to");
    while (H.runs)
        run_free(H.runs); /* kills and reaps; the runs expire at their
                             lease, their streams can resume to it */
    for (int fd = 0; fd < H.max_fd; fd++)
        if (H.by_fd[fd])
            conn_close(H.by_fd[fd]);
    watches_gc();
    free(H.by_fd);
    rec_db_close(H.db);
    close(H.ep);
    return 0;
}
