/*
 * conn.h -- one client connection held by the hub: a FastCGI connection
 * handed over by a worker (hublink.c), on which the hub writes STDOUT
 * records (fcgirec.c) as events come and END_REQUEST at the end.
 *
 * Every socket is non-blocking: what the client does not read waits in
 * the connection's own buffer. What a connection follows (a watch) is
 * not known here; the part that attaches it sets two hooks.
 */
#ifndef OPTIMIST_CONN_H
#define OPTIMIST_CONN_H

#include "http.h"
#include "jbuf.h"

#include <stddef.h>
#include <stdint.h>

struct conn;
struct watch;

typedef void (*conn_hook)(struct conn *c);

/* One event formatted once and shared by every connection that sends it
 * (a record feed's `version`, whose document may be megabytes: a client
 * that does not read must not hold a copy of its own). A connection copies
 * it into its buffer CONN_SHARED_CHUNK bytes at a time, as its socket
 * takes them. */
struct conn_shared {
    int refs;
    size_t len;
    char data[];
};

#define CONN_SHARED_CHUNK (64 * 1024)

/* A new one holding data[0..len) (one reference, the caller's). */
struct conn_shared *conn_shared_new(const char *data, size_t len);
/* Drops a reference (NULL: nothing); the last one frees it. */
void conn_shared_unref(struct conn_shared *s);

struct conn {
    int fd;
    uint16_t rid;               /* FastCGI request id */
    int sse;                    /* 1: an event stream; 0: the wait for a run */
    uint64_t cursor;            /* the last event id sent */
    jbuf out;                   /* records not yet written */
    size_t off;                 /* how much of out is written */
    int behind;                 /* stopped queueing at OUT_BOUND: catch up */
    int ending;                 /* END_REQUEST queued: close once written */
    int want_out;               /* EPOLLOUT is on */
    long long last_write;       /* monotonic ms */
    long long last_ping;        /* monotonic ms */
    long long opened;           /* monotonic ms */
    uint64_t sent;              /* bytes written */
    struct conn_shared *shared; /* an event being sent (a reference) */
    size_t shared_off;          /* how much of it is in `out` already */
    char request_id[64];
    char token_key[17]; /* the token it was opened with (directly or by a
                           ticket): its streams end when it is revoked */
    uint64_t tenant;
    /* Set by whoever attaches the connection (watch.c): */
    struct watch *w;
    struct conn *next; /* in w->conns */
    conn_hook drained; /* its buffer drained while behind: catch up */
    conn_hook detach;  /* it is closing: forget it */
};

/* The table of connections by descriptor, for up to max_fd. 0 or -1. */
int conn_table_init(int max_fd);
void conn_table_free(void);

/* The connection on fd (NULL if none), and one past the highest fd that
 * may hold one (for scans). */
struct conn *conn_at(int fd);
int conn_fd_end(void);

/* Takes fd (made non-blocking) into the loop as a connection answering
 * FastCGI request `rid`. NULL (fd closed) when it cannot. */
struct conn *conn_open(int fd, uint16_t rid, int sse, uint64_t cursor,
                       uint64_t tenant, const char *request_id);

/* Closes c and frees it (its detach hook first). */
void conn_close(struct conn *c);

/* Bytes queued and not yet written (in `out`; a shared event's rest is
 * not counted: see conn_busy). */
size_t conn_pending(const struct conn *c);

/* A shared event is on its way: nothing may be queued behind it yet. */
int conn_busy(const struct conn *c);

/* Sends `s` (takes a reference) as the next bytes of the body: c must not
 * be busy. */
void conn_send_shared(struct conn *c, struct conn_shared *s);

/* Writes what is queued, without waiting. Returns -1 if c was closed
 * (the client is gone, or END_REQUEST was written). */
int conn_flush(struct conn *c);

/* Queues bytes of the response body as STDOUT records. */
void conn_put(struct conn *c, const char *p, size_t n);

/* Queues END_REQUEST: c closes once it is written. */
void conn_end(struct conn *c);

/* Queues one SSE event (id 0: none; a nonzero id becomes the cursor). */
void conn_event(struct conn *c, const char *event, uint64_t id,
                const char *data, size_t len);

/* Queues the headers of an event stream. */
void conn_sse_headers(struct conn *c);

/* Readies r to hold an answer the hub writes itself (a 503, a run's
 * result to a client that waits), built with reply.h: r holds the
 * response only, no route runs on it. */
void conn_reply_begin(http_req *r);

/* Queues a whole non-stream answer built in r (status, headers and body,
 * with Content-Length) and END_REQUEST. */
void conn_answer(struct conn *c, const http_req *r);

/* Every `every_ms`: a comment line to each idle stream, so proxies and
 * clients see it alive. */
void conn_pings(long long now, long long every_ms);

#endif
