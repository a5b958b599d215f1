/*
 * loop.h -- the hub's event loop, and nothing else: descriptors, each
 * with its own callback, on one epoll set (as Redis's ae.c keeps only the
 * loop). What a descriptor is (a client connection, an evaluator's pipe,
 * the workers' channel) is the business of whoever registered it.
 *
 * Events are dispatched by descriptor, looked up in the loop's table when
 * they are handled: a callback that removes another descriptor (a run
 * that ends a client's connection) removes its events of the same batch
 * too, instead of leaving them pointing at freed memory. And a descriptor
 * registered during a batch gets none of that batch's events: they
 * belong to an older descriptor that had the same number (a client's
 * socket closed a moment ago, its number taken again by an evaluator's
 * pidfd, must not make the run look exited).
 */
#ifndef OPTIMIST_LOOP_H
#define OPTIMIST_LOOP_H

#include <stdint.h>

/* Called with the registration's ctx, its descriptor and the epoll
 * events that fired (EPOLLIN, EPOLLOUT, EPOLLHUP, ...). */
typedef void (*loop_fn)(void *ctx, int fd, uint32_t events);

struct loop_handler {
    loop_fn fn;
    void *ctx;
    unsigned long added; /* the batch it was registered in */
};

typedef struct loop {
    int ep;
    int max_fd;                    /* descriptors below this only */
    struct loop_handler *handlers; /* by fd; fn NULL: none */
    unsigned long batch;           /* counts loop_wait's batches */
} loop;

/* 0, or -1 with errno. max_fd bounds the descriptors it takes. */
int loop_init(loop *l, int max_fd);
void loop_close(loop *l);

/* Registers fd for `events` (EPOLLIN, EPOLLOUT, ...; EPOLLRDHUP too) with
 * its callback. 0, or -1 with errno (fd out of range, already there). */
int loop_add(loop *l, int fd, uint32_t events, loop_fn fn, void *ctx);

/* Changes the events fd waits for. 0, or -1 with errno. */
int loop_mod(loop *l, int fd, uint32_t events);

/* Forgets fd (before it is closed): no callback runs for it from now on,
 * not even for events of the batch being dispatched. */
void loop_del(loop *l, int fd);

/* Waits up to timeout_ms (-1: no limit, 0: not at all) and runs the
 * callbacks of what fired. Returns how many ran, or -1 with errno (EINTR:
 * a signal came; nothing ran). */
int loop_wait(loop *l, int timeout_ms);

#endif
