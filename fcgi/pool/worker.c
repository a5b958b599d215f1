/*
 * worker.c -- a worker process: wait for a connection, serve one request,
 * repeat; leave after max_requests or when told to stop, never in the
 * middle of a request.
 *
 * Signals: SIGTERM and SIGINT are blocked except inside epoll_pwait(), so
 * they can only arrive while the worker is idle: a stop can never cut a
 * database call or a response in half, and the check-then-wait race of a
 * plain wait does not exist. Each worker waits on the listening socket
 * through its own epoll instance with EPOLLEXCLUSIVE, so a new connection
 * wakes one idle worker, not all of them (a plain poll() wakes every idle
 * worker for each connection, and all but one find nothing to accept: on
 * a busy machine that herd cost more CPU than the request). The listening
 * socket is non-blocking, so a worker that still wakes for a connection
 * another one took gets EAGAIN and waits again.
 *
 * On a unix socket the worker accepts the connection itself and hands the
 * fd to libfcgi, which reads the request from it (see own_accept below).
 *
 * After the answer the connection is closed at once (FCGX_Detach before
 * FCGX_Finish_r), once the request's input has been read to its end so
 * that the close cannot reset anything nginx still has to read. Without
 * it, libfcgi shuts the socket down and waits (up to 2 s) for nginx to
 * close its end first: a wake-up and three system calls per request, with
 * the worker held until nginx gets round to it.
 */
#include "worker.h"

#include "auth.h"
#include "tickets.h"
#include "http.h"
#include "hublink.h"
#include "idempotency.h"
#include "doclimits.h"
#include "fiber.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "router.h"
#include "testhook.h"
#include "xalloc.h"

#include <errno.h>
#include <fcgiapp.h>
#include <json.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_reopen(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_request_id(char *out, size_t outlen, const char *given)
{
    /* nginx's $request_id: 32 hex digits. Take what the proxy gives if it
     * is short and printable, else make one. */
    if (given != NULL && given[0] != '\0' && strlen(given) < outlen) {
        int ok = 1;
        for (const char *p = given; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\')
                ok = 0;
        if (ok) {
            memcpy(out, given, strlen(given) + 1);
            return;
        }
    }
    unsigned char rnd[16];
    static const char hex[] = "0123456789abcdef";
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    for (int i = 0; i < 16 && (size_t)(2 * i + 2) < outlen; i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
        out[2 * i + 2] = '\0';
    }
}

/* The FastCGI parameters a request reads, found in one pass over its
 * environment: FCGX_GetParam scans all of it (~30 entries) for each name,
 * and the thirteen look-ups of a request were 7,000 instructions of
 * strncmp, a tenth of a GET's own code (callgrind, BENCH.md "The pool's
 * CPU per answer"). As with FCGX_GetParam, the first entry of a name
 * counts; a name not sent stays NULL. */
struct params {
    const char *request_id, *method, *request_uri, *document_uri, *query,
        *content_type, *content_length, *authorization, *if_match,
        *if_none_match, *idempotency_key, *accept, *prefer;
};

static void read_params(char **env, struct params *p)
{
    static const struct {
        const char *name;
        size_t len;
        size_t off;
    } want[] = {
#define P(name, field) {name, sizeof name - 1, offsetof(struct params, field)}
        P("REQUEST_ID", request_id),
        P("REQUEST_METHOD", method),
        P("REQUEST_URI", request_uri),
        P("DOCUMENT_URI", document_uri),
        P("QUERY_STRING", query),
        P("CONTENT_TYPE", content_type),
        P("CONTENT_LENGTH", content_length),
        P("HTTP_AUTHORIZATION", authorization),
        P("HTTP_IF_MATCH", if_match),
        P("HTTP_IF_NONE_MATCH", if_none_match),
        P("HTTP_IDEMPOTENCY_KEY", idempotency_key),
        P("HTTP_ACCEPT", accept),
        P("HTTP_PREFER", prefer),
#undef P
    };
    memset(p, 0, sizeof *p);
    for (; env != NULL && *env != NULL; env++) {
        const char *e = *env;
        const char *eq = strchr(e, '=');
        if (eq == NULL)
            continue;
        size_t n = (size_t)(eq - e);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if (want[i].len != n || memcmp(want[i].name, e, n) != 0)
                continue;
            const char **slot = (const char **)((char *)p + want[i].off);
            if (*slot == NULL)
                *slot = eq + 1;
            break;
        }
    }
}

/* Reads the body; returns 0, or answers 413/400 and returns -1. */
static int read_body(http_req *r, FCGX_Request *fr, const char *cl)
{
    char *end;
    long long n = 0;
    if (cl != NULL && cl[0] != '\0') {
        errno = 0;
        n = strtoll(cl, &end, 10);
        if (errno || *end != '\0' || n < 0) {
            reply_error(r, 400, "bad_request", "bad Content-Length", NULL);
            return -1;
        }
    }
    if (n > HTTP_MAX_BODY) {
        reply_error(r, 413, "payload_too_large",
                    "the body is larger than 1 MiB", NULL);
        return -1;
    }
    if (n == 0)
        return 0;
    r->body = xmalloc((size_t)n + 1);
    int got = FCGX_GetStr(r->body, (int)n, fr->in);
    if (got != (int)n) {
        reply_error(r, 400, "bad_request", "the body ended early", NULL);
        return -1;
    }
    r->body[n] = '\0';
    r->body_len = (size_t)n;
    return 0;
}

static void dispatch(http_req *r, FCGX_Request *fr, const struct params *p)
{
    char allow[128];
    /* The body is read before anything answers: a response sent while
     * nginx is still writing the body would reset its connection. */
    if (read_body(r, fr, p->content_length) != 0)
        return;
    int idx =
        router_match(r->method, r->path, r->ids, &r->nids, allow, sizeof allow);
    r->route = idx;
    if (idx == ROUTER_NO_PATH) {
        reply_error(r, 404, "not_found", "no such route", NULL);
        return;
    }
    if (idx == ROUTER_NO_METHOD) {
        r->route = -1;
        http_header(r, "Allow", allow);
        reply_errorf(r, 405, "method_not_allowed",
                     "%s is not allowed here; allowed: %s", r->method, allow);
        return;
    }
    const struct route *rt = router_get(idx);
    r->res = rt->res;
    /* A stream opened by a browser's EventSource carries a ticket
     * instead of the token (routes_streams.c). */
    int ticket = (rt->flags & ROUTE_STREAM) && r->authorization == NULL
                     ? feeds_ticket_auth(r)
                     : -1;
    if (ticket == -2)
        return;
    if (ticket != 0 && (rt->flags & ROUTE_AUTH) && auth_tenant_or_reply(r) != 0)
        return;
    /* Idempotency-Key, for every write route: a replay or a refusal
     * answers here; a claimed key holds the route's transaction open
     * until idem_finish has stored the answer in it. */
    idem key;
    if (idem_begin_or_reply(r, &key) != 0)
        return;
    for (unsigned again = 0;; again++) {
        rt->fn(r);
        if (r->status == 0) {
            LOG(LOG_ERROR, "route %s answered nothing", router_name(idx));
            reply_error(r, 500, "internal", "internal error; see the log",
                        NULL);
        }
        limits_minimal(r, p->prefer);
        if (!idem_finish(r, &key, again < rec_retry_limit(r->db)))
            break;
        /* The held transaction was undone by a conflict: run the whole
         * request again, on a clean answer, as rec_txn would. */
        rec_backoff(r->db, again);
        r->status = 0;
        r->headers_len = 0;
        r->headers[0] = '\0';
        r->content_type_out = NULL;
        jb_reset(&r->out);
        rec_txn_hold(r->db, 1);
    }
}

/* The whole answer is rendered in memory first and handed to libfcgi in
 * one piece, with its Content-Length: a worker killed while it is being
 * written leaves nginx (and so the client) with fewer bytes than
 * announced, an error, never a well-formed shorter answer. */
static void send_response(http_req *r, FCGX_Request *fr)
{
    jbuf whole;
    jb_init(&whole);
    http_render(r, &whole);
    size_t first = whole.len;
    if (testhook_wants("mid_answer", r)) /* TEST ONLY; off by default */
        first = whole.len / 2;
    int ok = FCGX_PutStr(whole.p, (int)first, fr->out) == (int)first;
    if (ok && first < whole.len) {
        ok = FCGX_FFlush(fr->out) == 0;
        testhook_pause("mid_answer", r);
        ok = ok && FCGX_PutStr(whole.p + first, (int)(whole.len - first),
                               fr->out) == (int)(whole.len - first);
    }
    if (!ok)
        LOG(LOG_WARN, "answer %d not sent whole: nginx went away", r->status);
    jb_free(&whole);
}

/* Where serve() copies its request id, for the fiber loop to give the
 * log back to a fiber it resumes (NULL: one request at a time). */
static char *reqid_sink;

static void serve(FCGX_Request *fr, rec_db *db, const conf *c)
{
    double t0 = now_s();
    http_req r;
    memset(&r, 0, sizeof r);
    jb_init(&r.out);
    r.db = db;
    r.conf = c;
    r.route = -1;
    r.stream = fr->out; /* for routes that stream (sse.c) */
    r.fcgi = fr;        /* for routes that hand it to the hub */

    struct params p;
    read_params(fr->envp, &p);
    make_request_id(r.request_id, sizeof r.request_id, p.request_id);
    log_set_request(r.request_id);
    if (reqid_sink != NULL) /* a fiber's: see slot_resumed */
        memcpy(reqid_sink, r.request_id, sizeof r.request_id);
    r.method = p.method;
    if (r.method == NULL)
        r.method = "GET";
    const char *uri = p.request_uri;
    if (uri == NULL)
        uri = p.document_uri;
    if (uri == NULL)
        uri = "/";
    size_t plen = strcspn(uri, "?");
    if (plen < sizeof r.path) {
        memcpy(r.path, uri, plen);
        r.path[plen] = '\0';
    }
    r.query = p.query;
    if (r.query == NULL)
        r.query = "";
    r.content_type = p.content_type;
    r.authorization = p.authorization;
    r.if_match = p.if_match;
    r.if_none_match = p.if_none_match;
    r.idempotency_key = p.idempotency_key;
    r.accept = p.accept;

    rec_stats before, after;
    rec_db_stats(db, &before);
    dispatch(&r, fr, &p);
    testhook_pause("after_commit", &r); /* TEST ONLY; off by default */
    if (!r.streamed)
        send_response(&r, fr);
    rec_db_stats(db, &after);
    metrics_db(after.errors - before.errors, after.retries - before.retries);

    /* A committed write: the hub's streams learn of it at once. */
    if (r.status >= 200 && r.status < 300 && strcmp(r.method, "GET") != 0 &&
        strcmp(r.method, "HEAD") != 0)
        hublink_notify(&r);

    double dt = now_s() - t0;
    metrics_request(r.route, r.status, dt);
    char query[512]; /* a stream ticket is never logged whole */
    feeds_redact_query(r.query, query, sizeof query);
    LOG(LOG_INFO, "access %s %s%s%s %d %.1fms tenant=%llu", r.method, r.path,
        query[0] ? "?" : "", query, r.status, dt * 1000.0,
        (unsigned long long)r.tenant_id);
    log_set_request(NULL);
    if (reqid_sink != NULL)
        reqid_sink[0] = '\0';
    if (r.json != NULL)
        json_object_put(r.json);
    free(r.body);
    jb_free(&r.out);
}

/* Reads one request from fr (its ipcFd set by our accept, or accepted by
 * libfcgi), answers it and closes the connection. -1 when no request
 * came. */
static int serve_conn(FCGX_Request *fr, rec_db *db, const conf *c)
{
    int rc = FCGX_Accept_r(fr);
    if (rc < 0) {
        /* Another worker took the connection, or (ours) nginx closed
         * it before a whole request came: libfcgi closed it and found
         * nothing more to accept. */
        if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR)
            LOG(LOG_WARN, "accept failed: %s", strerror(-rc));
        return -1;
    }
    serve(fr, db, c);
    /* Read what is left of the input (the end of FCGI_STDIN, or a
     * body no route read) so that closing cannot reset the
     * connection, then close it without waiting for nginx. */
    while (FCGX_GetChar(fr->in) != EOF)
        ;
    /* nginx asks to keep the connection (fastcgi_keep_conn on, so
     * that it treats a close before FCGI_END_REQUEST as an error: see
     * nginx/optimist.conf); we close it all the same, after the
     * END_REQUEST that FCGX_Finish_r writes. */
    fr->keepConnection = 0;
    (void)FCGX_Detach(fr);
    FCGX_Finish_r(fr);
    return 0;
}

/* ---- many requests in flight (OPTIMIST_INFLIGHT > 1, the default) --------
 *
 * Each request runs on a fiber of its own with its own database
 * connection (fiber.h); a request that waits for MariaDB long parks its
 * fiber instead of holding the process.
 *
 * When to take another connection depends on where the database is:
 *
 * - On a unix socket (the same machine), as the one-at-a-time loop does
 *   -- when no request is in flight -- or when every request held has
 *   waited STALL_MS or more: one held by a row lock (the site's own SQL,
 *   up to the session's innodb_lock_wait_timeout), a slow statement, a
 *   back-off. Until then a waiting fiber waits in place (one poll, as the
 *   blocking call does). So a stuck request holds its fiber, not the
 *   worker, and no more than one request a worker makes progress at a
 *   time: more would only queue in MariaDB, on the same CPUs (measured:
 *   8 or 16 in flight a worker cost MariaDB and the pool more CPU per
 *   answer than one; BENCH.md).
 * - Over TCP or to a list of hosts (another machine, a Galera cluster), as
 *   soon as a fiber is free: there a round trip is time on the network,
 *   not CPU here, and requests in flight are what fill it.
 *
 * Two epoll sets: `all` holds the listening socket (EPOLLEXCLUSIVE, as in
 * the one-at-a-time loop) and the fibers' database sockets; `db` holds
 * only the latter. A worker that may take a connection waits on `all`;
 * one that may not waits on `db`, so that a new connection wakes a worker
 * that can take it, not one that would only put it back.
 *
 * The rules of the one-at-a-time loop hold: signals are taken only in
 * epoll_pwait, where no fiber runs; a stop, or max_requests, ends
 * accepting and the worker leaves once its fibers are idle, never in the
 * middle of a request. */

#define STALL_MS 10

static long long stall_ns; /* STALL_MS, or 0 for a database elsewhere */

struct slot {
    FCGX_Request fr;
    rec_db *db;
    int fd;         /* the connection to serve; -1: idle */
    char reqid[64]; /* the request id for the log while parked */
};

static struct slot *slots;
static unsigned slots_n, slots_busy;
static const conf *slots_conf;

static void slot_main(void *arg)
{
    struct slot *s = arg;
    for (;;) {
        if (s->fd >= 0) {
            s->fr.ipcFd = s->fd;
            s->fr.keepConnection = 1; /* see own_accept in worker_run */
            reqid_sink = s->reqid;
            (void)serve_conn(&s->fr, s->db, slots_conf);
            idem_upkeep(s->db);
            reqid_sink = NULL;
            s->fd = -1;
            slots_busy--;
        }
        fiber_yield();
    }
}

static void slot_resumed(unsigned i)
{
    log_set_request(slots[i].reqid[0] ? slots[i].reqid : NULL);
    reqid_sink = slots[i].reqid;
}

/* Requests in flight that have not waited STALL_MS yet; *until_ms: when
 * the first of them will have (-1: none). */
static unsigned progressing(long long now, int *until_ms)
{
    const long long stall = stall_ns;
    unsigned k = 0;
    long long soonest = -1;
    for (unsigned i = 0; i < slots_n; i++) {
        if (slots[i].fd < 0)
            continue;
        long long since = fiber_parked_since(i);
        if (since != 0 && now - since >= stall)
            continue;
        k++;
        long long left = since == 0 ? stall : since + stall - now;
        if (soonest < 0 || left < soonest)
            soonest = left;
    }
    *until_ms = soonest < 0 ? -1 : (int)((soonest + 999999) / 1000000);
    return k;
}

#define LISTEN_TAG 1ull

static int run_inflight(const conf *c, int listen_fd, const sigset_t *mask,
                        pid_t master)
{
    unsigned n = (unsigned)c->inflight;
    int eps[2] = {epoll_create1(EPOLL_CLOEXEC), epoll_create1(EPOLL_CLOEXEC)};
    struct epoll_event want = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                               .data.u64 = LISTEN_TAG};
    if (eps[0] < 0 || eps[1] < 0 ||
        epoll_ctl(eps[0], EPOLL_CTL_ADD, listen_fd, &want) != 0) {
        LOG(LOG_ERROR, "epoll on the listening socket: %s", strerror(errno));
        return 1;
    }
    slots = calloc(n, sizeof *slots);
    void **args = calloc(n, sizeof *args);
    if (slots == NULL || args == NULL) {
        LOG(LOG_ERROR, "out of memory for %u fibers", n);
        return 1;
    }
    slots_n = n;
    slots_conf = c;
    rec_config cfg;
    conf_rec_config(c, &cfg);
    for (unsigned i = 0; i < n; i++) {
        args[i] = &slots[i];
        slots[i].fd = -1;
        if (FCGX_InitRequest(&slots[i].fr, listen_fd, 0) != 0) {
            LOG(LOG_ERROR, "FCGX_InitRequest failed");
            return 1;
        }
    }
    /* 256 KiB a fiber: the routes' deepest frames (a 4 KiB result
     * buffer, json-c's parser at the document depth limit) use a small
     * part; pages never touched cost nothing. */
    if (fiber_init(n, 256 * 1024, eps, 2, slot_main, args, slot_resumed) != 0) {
        LOG(LOG_ERROR, "cannot make %u fibers: %s", n, strerror(errno));
        return 1;
    }
    int local = c->db_hosts[0] == '\0' && c->db_socket[0] != '\0';
    stall_ns = local ? STALL_MS * 1000000LL : 0;
    fiber_wait_in_place(local ? STALL_MS : 0);
    for (unsigned i = 0; i < n; i++) {
        slots[i].db = rec_db_new(&cfg);
        rec_db_set_waiter(slots[i].db, fiber_waiter(i));
    }
    /* Connect the first now so the first request does not pay for it and
     * a database that is down is logged; the others connect when first
     * used (most are, only while a request is stuck). */
    rec_err err = {0};
    if (rec_db_connect(slots[0].db, &err) != REC_OK)
        LOG(LOG_WARN, "database not reachable yet: %s", err.msg);

    long accepted = 0;
    int stopping = 0, listen_ready = 1;
    struct epoll_event evs[64];
    for (;;) {
        /* Waits whose time is up first (a back-off's sleep, a read
         * timeout), and when the next one will be. */
        int next = fiber_expire();
        log_set_request(NULL);
        int timeout = next >= 0 && next < 1000 ? next : 1000;
        int until = -1;
        unsigned going = slots_busy ? progressing(fiber_now(), &until) : 0;
        int may_accept = !stopping && slots_busy < n && going == 0;
        if (may_accept && listen_ready) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                unsigned i = 0;
                while (slots[i].fd >= 0)
                    i++;
                slots[i].fd = fd;
                slots_busy++;
                fiber_resume(i);
                log_set_request(NULL);
                if (c->max_requests > 0 && ++accepted >= c->max_requests) {
                    LOG(LOG_INFO, "recycling after %ld requests", accepted);
                    stopping = 1;
                }
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG(LOG_WARN, "accept failed: %s", strerror(errno));
            listen_ready = 0; /* until epoll says otherwise */
        }
        if (stopping && slots_busy == 0)
            break;
        int wait_ms = timeout;
        if (!may_accept && !stopping && slots_busy < n && until >= 0 &&
            until < wait_ms)
            wait_ms = until; /* then the stuck ones no longer count */
        int k =
            epoll_pwait(may_accept ? eps[0] : eps[1], evs, 64, wait_ms, mask);
        if (!may_accept)
            listen_ready = 1; /* not watched meanwhile: try */
        if (stop_requested)
            stopping = 1;
        if (reopen_requested) {
            reopen_requested = 0;
            if (log_reopen() != 0)
                LOG(LOG_ERROR, "reopening the log: %s", strerror(errno));
        }
        if (k <= 0 && slots_busy == 0 && getppid() != master)
            stopping = 1; /* see the one-at-a-time loop */
        for (int e = 0; e < k; e++) {
            if (evs[e].data.u64 == LISTEN_TAG)
                listen_ready = 1;
            else
                fiber_event(evs[e].data.u64, evs[e].events);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        rec_db_close(slots[i].db);
        FCGX_Free(&slots[i].fr, 0);
    }
    free(args);
    close(eps[0]);
    close(eps[1]);
    return 0;
}

int worker_run(const conf *c, int listen_fd, int ready_fd)
{
    struct sigaction sa;
    sigset_t block, during_poll;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: the wait must return */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* nginx gone: write fails, we go on */
    sigaction(SIGHUP, &sa, NULL);  /* reloads are the master's business */
    sa.sa_handler = on_reopen;     /* the master's SIGUSR1: reopen the log */
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &during_poll);
    sigdelset(&during_poll, SIGTERM);
    sigdelset(&during_poll, SIGINT);
    sigdelset(&during_poll, SIGUSR1);

    log_threshold = (enum log_level)c->log_level;
    if (FCGX_Init() != 0) {
        LOG(LOG_ERROR, "FCGX_Init failed");
        return 1;
    }
    FCGX_Request fr;
    if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        LOG(LOG_ERROR, "FCGX_InitRequest failed");
        return 1;
    }
    /* On a unix socket the accept is ours, not libfcgi's: its OS_Accept
     * also polls each new unix connection for up to 2 s before reading it
     * (its "AF_UNIX keeper"), one more system call per request where the
     * read that follows waits the same way. Given an open fd,
     * FCGX_Accept_r reads the request from it; with keepConnection set,
     * its opening FCGX_Finish_r leaves that fd alone (the previous
     * request's was closed by the FCGX_Finish_r below). On TCP, or with
     * FCGI_WEB_SERVER_ADDRS set (libfcgi's filter of the peer's address,
     * applied in its accept), libfcgi accepts. */
    struct sockaddr_storage la;
    socklen_t la_len = sizeof la;
    int own_accept =
        getenv("FCGI_WEB_SERVER_ADDRS") == NULL &&
        getsockname(listen_fd, (struct sockaddr *)&la, &la_len) == 0 &&
        la.ss_family == AF_UNIX;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event want = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &want) != 0) {
        LOG(LOG_ERROR, "epoll on the listening socket: %s", strerror(errno));
        return 1;
    }

    /* Requests in flight need our own accept, on TCP too (libfcgi's
     * accept blocks); libfcgi's peer filter keeps one at a time. */
    int filtered = getenv("FCGI_WEB_SERVER_ADDRS") != NULL;
    if (c->inflight > 1 && filtered)
        LOG(LOG_WARN, "FCGI_WEB_SERVER_ADDRS is set: one request at a time "
                      "(OPTIMIST_INFLIGHT ignored)");
    if (c->inflight > 1 && !filtered) {
        close(ep);
        auth_init();
        if (ready_fd >= 0) {
            ssize_t w = write(ready_fd, "r", 1);
            (void)w;
            close(ready_fd);
        }
        FCGX_Free(&fr, 0);
        return run_inflight(c, listen_fd, &during_poll, getppid());
    }

    rec_config cfg;
    conf_rec_config(c, &cfg);
    rec_db *db = rec_db_new(&cfg);
    rec_err err = {0};
    /* Connect now so the first request does not pay for it; a database
     * that is down is not fatal: requests answer 503 until it is back. */
    if (rec_db_connect(db, &err) != REC_OK)
        LOG(LOG_WARN, "database not reachable yet: %s", err.msg);
    auth_init();

    if (ready_fd >= 0) {
        ssize_t w = write(ready_fd, "r", 1);
        (void)w; /* the master also notices us by our first request */
        close(ready_fd);
    }
    pid_t master = getppid();
    long served = 0;
    while (!stop_requested) {
        struct epoll_event ev;
        int n = epoll_pwait(ep, &ev, 1, 1000, &during_poll);
        if (stop_requested)
            break;
        if (reopen_requested) {
            reopen_requested = 0;
            if (log_reopen() != 0)
                LOG(LOG_ERROR, "reopening the log: %s", strerror(errno));
        }
        if (n <= 0) {
            /* The master's death sends us SIGTERM (PR_SET_PDEATHSIG, set
             * in master.c); this check, made only while idle so that a
             * busy worker pays no system call for it, is the belt. */
            if (getppid() != master)
                break; /* the master is gone: nobody would replace us */
            continue;
        }
        if (own_accept) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                    errno != ECONNABORTED)
                    LOG(LOG_WARN, "accept failed: %s", strerror(errno));
                continue; /* another worker took it */
            }
            fr.ipcFd = fd;
            fr.keepConnection = 1; /* see own_accept's comment */
        }
        if (serve_conn(&fr, db, c) != 0)
            continue;
        served++;
        idem_upkeep(db);
        if (c->max_requests > 0 && served >= c->max_requests) {
            LOG(LOG_INFO, "recycling after %ld requests", served);
            break;
        }
    }
    FCGX_Free(&fr, 0);
    close(ep);
    rec_db_close(db);
    return 0;
}
