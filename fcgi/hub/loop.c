/*
 * loop.c -- the hub's event loop (see loop.h).
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BATCH 256 /* events per epoll_wait */

int loop_init(loop *l, int max_fd)
{
    memset(l, 0, sizeof *l);
    l->ep = -1;
    if (max_fd <= 0) {
        errno = EINVAL;
        return -1;
    }
    l->handlers = calloc((size_t)max_fd, sizeof *l->handlers);
    if (l->handlers == NULL)
        return -1;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l->handlers);
        l->handlers = NULL;
        return -1;
    }
    l->max_fd = max_fd;
    return 0;
}

void loop_close(loop *l)
{
    if (l->ep >= 0)
        close(l->ep);
    free(l->handlers);
    memset(l, 0, sizeof *l);
    l->ep = -1;
}

int loop_add(loop *l, int fd, uint32_t events, loop_fn fn, void *ctx)
{
    if (fd < 0 || fd >= l->max_fd || fn == NULL) {
        errno = fd >= l->max_fd ? EMFILE : EINVAL;
        return -1;
    }
    if (l->handlers[fd].fn != NULL) {
        errno = EEXIST;
        return -1;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -1;
    l->handlers[fd].fn = fn;
    l->handlers[fd].ctx = ctx;
    l->handlers[fd].added = l->batch;
    return 0;
}

int loop_mod(loop *l, int fd, uint32_t events)
{
    if (fd < 0 || fd >= l->max_fd || l->handlers[fd].fn == NULL) {
        errno = ENOENT;
        return -1;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del(loop *l, int fd)
{
    if (fd < 0 || fd >= l->max_fd || l->handlers[fd].fn == NULL)
        return;
    (void)epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
    l->handlers[fd].fn = NULL;
    l->handlers[fd].ctx = NULL;
}

int loop_wait(loop *l, int timeout_ms)
{
    struct epoll_event evs[BATCH];
    int n = epoll_wait(l->ep, evs, BATCH, timeout_ms);
    if (n < 0)
        return -1;
    l->batch++; /* what registers from here on is newer than evs */
    int ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        /* Looked up now: an earlier callback may have removed it, or
         * closed it and registered a new descriptor under its number. */
        struct loop_handler h = l->handlers[fd];
        if (h.fn == NULL || h.added == l->batch)
            continue;
        h.fn(h.ctx, fd, evs[i].events);
        ran++;
    }
    return ran;
}
