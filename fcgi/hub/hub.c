/*
 * hub.c -- the pool's one event-driven process: it holds every open
 * stream (connections handed over by the workers, hublink.c) and runs
 * every evaluation (run.c), in one event loop (loop.c).
 *
 * Why a process of its own: a pool worker is blocking and serves one
 * request at a time, so a stream held by a worker is a worker lost for
 * minutes. A worker authorises a stream (or claims a bid) in the time of a
 * GET and hands the accepted FastCGI socket over; the hub writes FastCGI
 * records on it (conn.c) as events come, and END_REQUEST at the end.
 *
 * Never blocking the work: every socket is non-blocking; what a client
 * does not read waits in that connection's own buffer, and once the
 * buffer holds OUT_BOUND bytes nothing more is queued for it: it is marked
 * behind, and when it has drained it catches up from the database (a
 * record feed gets only the newest state: the versions in between are
 * folded; feed.c). So memory per stream is bounded, and a client that
 * stops reading delays nobody: not other streams, not a run's time limit.
 *
 * The parts: conn.c (a client connection), watch.c (what the streams
 * follow, one watch per resource row), feed.c (what a watch's clients are
 * sent, by the feed kind of its resource descriptor, resource.h),
 * poller.c (asking the database: every OPTIMIST_STREAM_POLL_MS, and at
 * once for what a worker of this pool says it changed), run.c (the
 * evaluations). This file: the signals, the handoffs and the loop.
 *
 * The database: every statement that takes row locks (a run's lease
 * renewals, events and finish; expiries) and every poll runs on the
 * database threads (hubdb.c, hubjobs.c), so a row held by another session
 * stalls no stream. What stays on the loop's own connection are single
 * plain reads (a changed row, a client's catch-up, the sweep's search):
 * under READ COMMITTED they never wait on a lock, only on a database
 * that does not answer (up to the read time-out).
 */
#include "hub.h"

#include "tableset.h"

#include "conn.h"
#include "feed.h"
#include "followed.h"
#include "hubctx.h"
#include "hubdb.h"
#include "hublink.h"
#include "hubtokens.h"
#include "log.h"
#include "poller.h"
#include "reply.h"
#include "resource.h"
#include "run.h"
#include "watch.h"
#include "xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define SWEEP_EVERY_MS 1000 /* expiring runs whose runner died */

static struct {
    int max_fd;
    long long next_poll, next_sweep, next_ping;
    volatile sig_atomic_t stop;
    volatile sig_atomic_t quit;
    volatile sig_atomic_t reload;
    volatile sig_atomic_t reopen; /* SIGUSR1: reopen the log file */
} H;

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
    /* Two slots: the file is read into the one hub.c does not point at
     * (conf_load clears it first), so a refused file leaves hub.c whole. */
    static conf slot[2];
    static int next;
    conf *fresh = &slot[next];
    char err[256];
    H.reload = 0;
    if (conf_load(fresh, err, sizeof err) != 0) {
        LOG(LOG_ERROR, "hub: reload: %s; keeping the old configuration", err);
        return;
    }
    hub.c = fresh;
    next ^= 1;
    log_threshold = (enum log_level)fresh->log_level;
    LOG(LOG_INFO, "hub: configuration reloaded");
    /* The declared tables, as the new workers read them (a refused
     * folder keeps the set served before; its watches stay). */
    (void)tset_load(hub.c, hub.db, 0);
}

/* ---- handoffs ------------------------------------------------------------ */

/* The streams this pool holds at most: OPTIMIST_MAX_STREAMS, set below
 * what nginx can hold (each stream is two of an nginx worker's
 * connections), so that a crowd gets 503 from here before nginx runs out
 * of connections and closes them with no answer; and never more than the
 * hub's own descriptors allow. */
static int pool_cap(void)
{
    int fds = H.max_fd - 256; /* the database, evaluators' pipes, logs */
    int cap = hub.c->max_streams;
    return cap > 0 && cap < fds ? cap : fds;
}

static int tenant_share(void)
{
    int share = hub.c->max_streams_per_tenant;
    if (share <= 0)
        share = pool_cap() / 2;
    return share > 0 ? share : 1;
}

/* Is there room for one more stream of `tenant`? 0: yes; 1: the tenant
 * holds its share; 2: the pool holds its cap. (A scan of the open
 * connections, once per stream opened: 10,000 compares.) */
static int over_share(uint64_t tenant)
{
    int mine = 0, all = 0;
    for (int fd = 0; fd < conn_fd_end(); fd++) {
        const struct conn *c = conn_at(fd);
        if (c == NULL || !c->sse || c->ending)
            continue;
        all++;
        mine += c->tenant == tenant;
    }
    /* the new one is counted already */
    if (all > pool_cap())
        return 2;
    return mine > tenant_share() ? 1 : 0;
}

/* Every second: the streams opened with a token that is revoked now
 * (directly, or by a ticket it asked for) end; a revoked credential stops
 * reading at once. */
static void end_revoked(void)
{
    size_t n = 0, cap = 0;
    char(*keys)[HUBTOKENS_KEY] = NULL;
    for (int fd = 0; fd < conn_fd_end(); fd++) {
        const struct conn *c = conn_at(fd);
        if (c == NULL || !c->sse || c->ending || c->token_key[0] == '\0')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            keys = xrealloc(keys, cap * HUBTOKENS_KEY);
        }
        memcpy(keys[n++], c->token_key, HUBTOKENS_KEY);
    }
    n = hubtokens_unique(keys, n);
    unsigned char *alive = n ? malloc(n) : NULL;
    rec_err err = {0};
    if (n > 0 && alive != NULL &&
        hubtokens_alive(hub.db, keys, n, alive, &err) != REC_OK)
        LOG(LOG_WARN, "hub: checking the streams' tokens: %s", err.msg);
    for (int fd = 0; n > 0 && alive && fd < conn_fd_end(); fd++) {
        struct conn *c = conn_at(fd);
        if (c == NULL || !c->sse || c->ending || c->token_key[0] == '\0')
            continue;
        long i = hubtokens_find(keys, n, c->token_key);
        if (i < 0 || alive[i])
            continue;
        log_set_request(c->request_id);
        LOG(LOG_INFO, "stream ended: its token was revoked");
        log_set_request(NULL);
        conn_end(c);
        (void)conn_flush(c);
    }
    free(alive);
    free(keys);
}

static void follow(const hub_msg *m, struct conn *c)
{
    int rid = resource_id(m->resource);
    const struct resource *res = resource_by_id(rid);
    if (res == NULL || res->feed == RES_FEED_NONE) {
        LOG(LOG_ERROR, "hub: a stream of an unknown resource '%.79s'",
            m->resource);
        conn_close(c);
        return;
    }
    uint64_t id = resource_key(res, m->tenant_id, m->id);
    struct watch *w = watch_find(rid, m->tenant_id, id);
    /* A watch nobody followed (kept for a run, or not freed yet) heard of
     * no change since its last stream left: its state is learnt again,
     * as a new one's is, and so is a dirty one's. */
    int learn = w == NULL || w->conns == NULL || w->dirty;
    if (w == NULL)
        w = watch_get(rid, m->tenant_id, id);
    feed_attach(w, c);
    conn_sse_headers(c);
    if (m->reset) /* what followed its Last-Event-ID is no longer kept */
        conn_event(c, "reset", m->cursor, "{}", 2);
    if (learn && res->feed == RES_FEED_RECORD) {
        w->dirty = 0;
        feed_refresh(w);
    }
    if (learn && res->feed != RES_FEED_RECORD) {
        w->dirty = 1; /* learn where the feed is now */
        hub_poll_at(hub_now_ms());
    }
    feed_catch_up(c);
}

static void on_handoff(const hub_msg *m, int fd)
{
    struct conn *c = conn_open(fd, m->fcgi_id, m->type == HUB_FEED || m->sse,
                               m->cursor, m->tenant_id, m->request_id);
    if (c == NULL)
        return;
    snprintf(c->token_key, sizeof c->token_key, "%s", m->token_key);
    if (m->type == HUB_FEED && hub.draining) {
        conn_close(c); /* stopping: the client reconnects elsewhere */
        return;
    }
    int over = m->type == HUB_FEED ? over_share(m->tenant_id) : 0;
    if (over) {
        /* One tenant cannot take every stream of the pool, and the pool
         * answers before nginx runs out of connections. */
        http_req r;
        conn_reply_begin(&r);
        http_header(&r, "Retry-After", "5");
        if (over == 1)
            reply_errorf(&r, 503, "unavailable",
                         "this tenant holds %d event streams, its share; "
                         "close some or retry later",
                         tenant_share());
        else
            reply_errorf(&r, 503, "unavailable",
                         "this pool holds %d event streams, all it takes; "
                         "retry later",
                         pool_cap());
        conn_answer(c, &r);
        jb_free(&r.out);
        (void)conn_flush(c);
        return;
    }
    if (m->type == HUB_EVAL_RUN)
        run_start(m, c);
    else
        follow(m, c);
}

/* The loop's callback for the workers' channel. */
static void on_link(void *ctx, int fd, uint32_t events)
{
    (void)ctx;
    (void)fd;
    (void)events;
    for (int i = 0; i < 256; i++) {
        hub_msg m;
        int got_fd = -1;
        if (hublink_recv(&m, &got_fd) <= 0)
            return;
        if (m.type == HUB_NOTIFY) {
            poll_notified(resource_id(m.resource), m.tenant_id, m.id);
        } else if ((m.type == HUB_FEED || m.type == HUB_EVAL_RUN) &&
                   got_fd >= 0) {
            on_handoff(&m, got_fd);
        } else if (got_fd >= 0) {
            close(got_fd);
        }
    }
}

/* ---- the loop ------------------------------------------------------------ */

/* The database threads finished jobs (hubdb.c): their `done`s run here. */
static void on_db(void *ctx, int fd, uint32_t events)
{
    (void)ctx;
    (void)fd;
    (void)events;
    hubdb_dispatch();
}

static int next_timeout(long long now)
{
    long long next = H.next_poll;
    if (hub.poll_asap && hub.poll_asap < next)
        next = hub.poll_asap;
    if (H.next_sweep < next)
        next = H.next_sweep;
    if (H.next_ping < next)
        next = H.next_ping;
    next = run_next_deadline(next, now);
    return next > now ? (int)(next - now) : 0;
}

static void install_signals(void)
{
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
}

/* Thousands of streams: as many descriptors as we are allowed. */
static int raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 1048576)
        rl.rlim_cur = 1048576;
    return (int)rl.rlim_cur;
}

/* A graceful stop: the feeds end now (their clients resume on another
 * hub with Last-Event-ID); the runs finish. */
static void begin_draining(void)
{
    hub.draining = 1;
    LOG(LOG_INFO, "hub: stopping; %s",
        run_any() ? "finishing the runs in flight" : "no run in flight");
    for (int fd = 0; fd < conn_fd_end(); fd++) {
        struct conn *k = conn_at(fd);
        if (k != NULL && (k->w == NULL || k->w->run == NULL))
            conn_close(k);
    }
}

/* What is due after the loop's callbacks: finished runs, polls, the
 * sweep, pings. Returns 1 when the master is gone. */
static int timers(long long now, pid_t master)
{
    run_tick(now);
    if (now >= H.next_poll) {
        hub.poll_asap = 0;
        H.next_poll = now + hub.c->stream_poll_ms;
        poll_all(0);
    } else if (hub.poll_asap && now >= hub.poll_asap) {
        hub.poll_asap = 0;
        poll_all(1);
    }
    int orphaned = 0;
    if (now >= H.next_sweep) {
        H.next_sweep = now + SWEEP_EVERY_MS;
        run_sweep();
        end_revoked();
        orphaned = getppid() != master; /* nobody restarts us */
    }
    if (now >= H.next_ping) {
        H.next_ping = now + 1000;
        conn_pings(now, (long long)hub.c->sse_ping_seconds * 1000);
    }
    return orphaned;
}

int hub_run(const conf *c)
{
    memset(&H, 0, sizeof H);
    memset(&hub, 0, sizeof hub);
    hub.c = c;
    hub.rid_bids = resource_id("bids");
    hub.rid_evals = resource_id("evaluations");
    (void)prctl(PR_SET_NAME, "optimist-hub");
    followed_reset(); /* a hub that died left its watches counted */
    log_threshold = (enum log_level)c->log_level;
    install_signals();
    H.max_fd = raise_fd_limit();
    if (conn_table_init(H.max_fd) != 0)
        return 1;

    rec_config cfg;
    conf_rec_config(c, &cfg);
    hub.db = rec_db_new(&cfg);
    (void)hubdb_start(&cfg, hub.db); /* logs if it falls back to the loop */
    if (loop_init(&hub.loop, H.max_fd) != 0 ||
        loop_add(&hub.loop, hublink_hub_fd(), EPOLLIN, on_link, NULL) != 0) {
        LOG(LOG_ERROR, "hub: epoll: %s", strerror(errno));
        return 1;
    }
    if (hubdb_fd() >= 0 &&
        loop_add(&hub.loop, hubdb_fd(), EPOLLIN, on_db, NULL) != 0)
        LOG(LOG_ERROR, "hub: epoll: %s", strerror(errno));
    long long now = hub_now_ms();
    H.next_poll = now + c->stream_poll_ms;
    H.next_sweep = now;
    H.next_ping = now + 1000;
    LOG(LOG_INFO, "hub started: up to %d descriptors", H.max_fd);

    pid_t master = getppid();
    int orphaned = 0;
    while (!H.quit && !orphaned && !(H.stop && !run_any())) {
        if (H.stop && !hub.draining)
            begin_draining();
        now = hub_now_ms();
        if (loop_wait(&hub.loop, next_timeout(now)) < 0 && errno != EINTR) {
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
        orphaned = timers(hub_now_ms(), master);
    }
    LOG(LOG_INFO, "hub stopping: %s", orphaned ? "master gone" : "told to");
    hubdb_stop();   /* what is queued is stored; the `done`s run */
    run_free_all(); /* kills and reaps; the runs expire at their lease,
                       their streams can resume to it */
    conn_table_free();
    watch_gc();
    rec_db_close(hub.db);
    loop_close(&hub.loop);
    return 0;
}
