/*
 * hublink.c -- the workers' channel to the hub (see hublink.h).
 */
#include "hublink.h"

#include "followed.h"

#include "log.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int ends[2] = {-1, -1}; /* [0] workers send, [1] the hub reads */

int hublink_init(void)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0)
        return -1;
    /* A handoff waits at most this long for room in the queue (a hub
     * being restarted); then the worker answers 503 itself. */
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    (void)setsockopt(ends[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int big = 4 * 1024 * 1024; /* capped by net.core.wmem_max */
    (void)setsockopt(ends[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    (void)setsockopt(ends[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return 0;
}

int hublink_hub_fd(void)
{
    return ends[1];
}

static int send_msg(const hub_msg *m, int fd, int flags)
{
    struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof *m};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    for (;;) {
        ssize_t n = sendmsg(ends[0], &mh, flags | MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof *m)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

int hublink_handoff(http_req *r, hub_msg *m)
{
    FCGX_Request *fr = r->fcgi;
    if (ends[0] < 0 || fr == NULL || fr->ipcFd < 0)
        return -1;
    /* The rest of the input (the end of FCGI_STDIN) belongs to this
     * request: read it here, so the hub starts on a clean connection. */
    while (FCGX_GetChar(fr->in) != EOF)
        ;
    m->magic = HUB_MAGIC;
    m->fcgi_id = (uint16_t)fr->requestId;
    snprintf(m->request_id, sizeof m->request_id, "%s", r->request_id);
    snprintf(m->token_key, sizeof m->token_key, "%s", r->token_key);
    if (send_msg(m, fr->ipcFd, 0) != 0) {
        LOG(LOG_ERROR, "handoff to the hub failed: %s", strerror(errno));
        return -1;
    }
    /* The hub holds the connection now. libfcgi will still write its
     * END_REQUEST and close: let that reach /dev/null, not nginx. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup3(null, fr->ipcFd, O_CLOEXEC) < 0) {
        /* Cannot happen short of fd exhaustion; closing is the next best:
         * libfcgi's writes then fail on a closed descriptor. */
        LOG(LOG_ERROR, "dup /dev/null over the handed connection: %s",
            strerror(errno));
    }
    if (null >= 0)
        close(null);
    r->streamed = 1;
    r->status = 200;
    return 0;
}

void hub_msg_resource(hub_msg *m, const struct resource *res)
{
    snprintf(m->resource, sizeof m->resource, "%s", res ? res->name : "");
}

int hublink_changed(const struct resource *res, const uint64_t *ids, int nids,
                    uint64_t tenant, uint64_t *key)
{
    *key = 0;
    if (res == NULL || res->feed == RES_FEED_NONE)
        return 0;
    if (res->per_tenant) {
        *key = tenant;
        return 1;
    }
    if (nids == 0 || ids[0] == 0)
        return 0; /* a create: nobody follows it yet */
    *key = ids[0];
    return 1;
}

static int maybe_followed(const struct resource *r, uint64_t tenant,
                          uint64_t key, void *ctx)
{
    (void)ctx;
    return followed_maybe(r->name, tenant, key);
}

int hublink_followed(const struct resource *res, uint64_t tenant, uint64_t key)
{
    /* The rows a notify marks on the hub (watch_mark_dirty). */
    return resource_touched(res, tenant, key, maybe_followed, NULL);
}

void hublink_notify(const http_req *r)
{
    hub_msg m;
    memset(&m, 0, sizeof m);
    m.magic = HUB_MAGIC;
    m.type = HUB_NOTIFY;
    m.tenant_id = r->tenant_id;
    if (!hublink_changed(r->res, r->ids, r->nids, r->tenant_id, &m.id))
        return; /* nothing anybody follows */
    if (!hublink_followed(r->res, r->tenant_id, m.id))
        return; /* no stream of the hub follows it (followed.h) */
    hub_msg_resource(&m, r->res);
    if (ends[0] >= 0)
        (void)send_msg(&m, -1, MSG_DONTWAIT);
}

int hublink_recv(hub_msg *m, int *fd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    *fd = -1;
    ssize_t n = recvmsg(ends[1], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int got[4], k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(got, CMSG_DATA(c), (size_t)k * sizeof(int));
            for (int i = 0; i < k; i++) {
                if (*fd < 0)
                    *fd = got[i];
                else
                    close(got[i]);
            }
        }
    if (n != (ssize_t)sizeof *m || m->magic != HUB_MAGIC ||
        (mh.msg_flags & MSG_TRUNC)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        m->type = 0; /* ignored by the caller */
    }
    return 1;
}
