/*
 * conn.c -- the hub's client connections (see conn.h).
 */
#include "conn.h"

#include "fcgirec.h"
#include "hubctx.h"
#include "log.h"
#include "sse.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static struct conn **by_fd; /* every live connection, by its fd */
static int max_fd;
static int hi_fd = -1; /* no connection above this fd */

int conn_table_init(int max)
{
    by_fd = calloc((size_t)max, sizeof *by_fd);
    if (by_fd == NULL)
        return -1;
    max_fd = max;
    hi_fd = -1;
    return 0;
}

void conn_table_free(void)
{
    for (int fd = 0; fd < conn_fd_end(); fd++)
        if (by_fd[fd])
            conn_close(by_fd[fd]);
    free(by_fd);
    by_fd = NULL;
    max_fd = 0;
}

struct conn *conn_at(int fd)
{
    return fd >= 0 && fd < max_fd ? by_fd[fd] : NULL;
}

int conn_fd_end(void)
{
    return hi_fd + 1 < max_fd ? hi_fd + 1 : max_fd;
}

static void on_event(void *ctx, int fd, uint32_t events);

struct conn *conn_open(int fd, uint16_t rid, int sse, uint64_t cursor,
                       uint64_t tenant, const char *request_id)
{
    if (fd >= max_fd) {
        LOG(LOG_ERROR, "hub: connection fd %d beyond the limit %d", fd, max_fd);
        close(fd);
        return NULL;
    }
    struct conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->rid = rid;
    c->sse = sse;
    c->cursor = cursor;
    c->tenant = tenant;
    c->last_write = c->last_ping = c->opened = hub_now_ms();
    jb_init(&c->out);
    snprintf(c->request_id, sizeof c->request_id, "%s", request_id);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
        LOG(LOG_WARN, "hub: fcntl: %s", strerror(errno));
    if (loop_add(&hub.loop, fd, EPOLLIN | EPOLLRDHUP, on_event, c) != 0) {
        LOG(LOG_ERROR, "hub: epoll_ctl: %s", strerror(errno));
        close(fd);
        jb_free(&c->out);
        free(c);
        return NULL;
    }
    by_fd[fd] = c;
    if (fd > hi_fd)
        hi_fd = fd;
    return c;
}

void conn_close(struct conn *c)
{
    log_set_request(c->request_id);
    LOG(LOG_INFO, "stream closed after %.1f s, %llu bytes%s",
        (double)(hub_now_ms() - c->opened) / 1000.0,
        (unsigned long long)c->sent, c->ending ? "" : " (client gone)");
    log_set_request(NULL);
    if (c->detach != NULL)
        c->detach(c);
    if (c->fd >= 0) {
        loop_del(&hub.loop, c->fd);
        close(c->fd);
        by_fd[c->fd] = NULL;
    }
    jb_free(&c->out);
    conn_shared_unref(c->shared);
    free(c);
}

size_t conn_pending(const struct conn *c)
{
    return c->out.len - c->off;
}

struct conn_shared *conn_shared_new(const char *data, size_t len)
{
    struct conn_shared *s = xmalloc(sizeof *s + len);
    s->refs = 1;
    s->len = len;
    memcpy(s->data, data, len);
    return s;
}

void conn_shared_unref(struct conn_shared *s)
{
    if (s != NULL && --s->refs == 0)
        free(s);
}

int conn_busy(const struct conn *c)
{
    return c->shared != NULL;
}

void conn_send_shared(struct conn *c, struct conn_shared *s)
{
    s->refs++;
    c->shared = s;
    c->shared_off = 0;
    c->last_write = hub_now_ms();
}

/* Moves the next part of the shared event into the buffer, which never
 * holds more than about CONN_SHARED_CHUNK of it (what was written is
 * dropped first, so the buffer does not grow with a slow reader). */
static void refill(struct conn *c)
{
    while (c->shared != NULL && conn_pending(c) < CONN_SHARED_CHUNK) {
        if (c->off > 0) {
            memmove(c->out.p, c->out.p + c->off, conn_pending(c));
            c->out.len -= c->off;
            c->off = 0;
        }
        size_t n = c->shared->len - c->shared_off;
        if (n > CONN_SHARED_CHUNK)
            n = CONN_SHARED_CHUNK;
        conn_put(c, c->shared->data + c->shared_off, n);
        c->shared_off += n;
        if (c->shared_off == c->shared->len) {
            conn_shared_unref(c->shared);
            c->shared = NULL;
            c->shared_off = 0;
        }
    }
}

static void set_want_out(struct conn *c, int on)
{
    if (c->want_out == on)
        return;
    if (loop_mod(&hub.loop, c->fd,
                 EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u)) == 0)
        c->want_out = on;
}

int conn_flush(struct conn *c)
{
    for (refill(c); conn_pending(c) > 0; refill(c)) {
        ssize_t n = write(c->fd, c->out.p + c->off, conn_pending(c));
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

void conn_put(struct conn *c, const char *p, size_t n)
{
    if (c->off > 0 && c->off == c->out.len) {
        jb_reset(&c->out);
        c->off = 0;
    }
    fcgirec_stdout(&c->out, c->rid, p, n);
    c->last_write = hub_now_ms();
}

void conn_end(struct conn *c)
{
    fcgirec_end(&c->out, c->rid);
    c->ending = 1;
}

void conn_event(struct conn *c, const char *event, uint64_t id,
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

void conn_sse_headers(struct conn *c)
{
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "Status: 200 OK\r\n"
               "Content-Type: text/event-stream; charset=utf-8\r\n"
               "Cache-Control: no-cache\r\n"
               "X-Accel-Buffering: no\r\n"
               "X-Request-Id: ");
    jb_lit(&b, c->request_id);
    /* And a comment at once: nginx passes the headers on only with the
     * first bytes of the body, so without it a client that is up to date
     * would wait for its first change or ping to see the status line. */
    jb_lit(&b, "\r\n\r\n: open\n\n");
    conn_put(c, b.p, b.len);
    jb_free(&b);
}

void conn_reply_begin(http_req *r)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    r->route = -1;
    snprintf(r->request_id, sizeof r->request_id, "hub");
}

void conn_answer(struct conn *c, const http_req *r)
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

/* The loop's callback for a connection. */
static void on_event(void *ctx, int fd, uint32_t events)
{
    struct conn *c = ctx;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* nginx sends nothing more after the request: anything readable
         * is its end (the client went away) or stray bytes to drop. */
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
            (events & (EPOLLHUP | EPOLLERR))) {
            conn_close(c);
            return;
        }
    }
    if (events & EPOLLOUT) {
        if (conn_flush(c) != 0)
            return;
        if (c->behind && conn_pending(c) < OUT_BOUND && c->drained != NULL)
            c->drained(c);
    }
}

void conn_pings(long long now, long long every)
{
    for (int fd = 0; fd < conn_fd_end(); fd++) {
        struct conn *c = by_fd[fd];
        if (c == NULL || !c->sse || c->ending || conn_pending(c) > 0 ||
            conn_busy(c) || now - c->last_ping < every)
            continue;
        c->last_ping = now;
        conn_put(c, ": ping\n\n", 8);
        (void)conn_flush(c);
    }
}
