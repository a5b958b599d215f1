/*
 * signals.c -- the self-pipe behind signals.h. The handler writes one byte,
 * the signal number, and nothing else: everything a signal means (reap,
 * reload, stop) happens in master.c's loop, outside signal context, where
 * logging, malloc and waitpid are all safe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2; the Makefile sets it too */
#endif
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* [0] read end (the master polls it), [1] write end (handlers only). */
static int sig_pipe[2] = {-1, -1};

/* The signals the master handles; SIGPIPE is ignored separately. */
static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT,
                              SIGHUP,  SIGCHLD, SIGUSR1};
#define NHANDLED (sizeof handled / sizeof handled[0])

static void sig_handler(int signo)
{
    /* The interrupted code may be looking at errno (between a failed call
     * and its check), so it must find it unchanged. */
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    /* Non-blocking: if the pipe is full (64 KiB of unread signals) the
     * byte is dropped, which is harmless -- the loop is already awake and
     * reaps on every wake-up. */
    ssize_t r = write(sig_pipe[1], &b, 1);
    (void)r;
    errno = saved;
}

int sig_master_install(void)
{
    struct sigaction sa;

    if (sig_pipe[0] >= 0)
        return 0;
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sig_handler;
    /* Block the other handled signals while one handler runs: not needed
     * for correctness (each write is one atomic byte), but it keeps the
     * bytes of a burst in arrival order. */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NHANDLED; i++)
        sigaddset(&sa.sa_mask, handled[i]);
    /* No SA_RESTART: a blocking call in the master returns EINTR, so the
     * loop notices the byte at once. SA_NOCLDSTOP: a stopped or continued
     * worker (a debugger) is not an exit. */
    sa.sa_flags = SA_NOCLDSTOP;
    for (size_t i = 0; i < NHANDLED; i++)
        if (sigaction(handled[i], &sa, NULL) != 0)
            return -1;

    /* A worker that hangs up on nginx mid-reply must get EPIPE, not die. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -1;
    return 0;
}

int sig_fd(void)
{
    return sig_pipe[0];
}

int sig_read_pending(int *sigs, int max)
{
    unsigned char buf[64];
    int n = 0;

    if (sig_pipe[0] < 0 || max <= 0)
        return 0;
    if ((size_t)max > sizeof buf)
        max = (int)sizeof buf;
    for (;;) {
        ssize_t r = read(sig_pipe[0], buf, (size_t)max);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            n = (int)r;
        break; /* EAGAIN: empty */
    }
    for (int i = 0; i < n; i++)
        sigs[i] = buf[i];
    return n;
}

void sig_block_all(sigset_t *old)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, old);
}

void sig_restore(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

void sig_child_reset(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NHANDLED; i++)
        sigaction(handled[i], &sa, NULL);
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0) {
            close(sig_pipe[i]);
            sig_pipe[i] = -1;
        }
    /* Only now: a signal that arrived since fork() was held pending and is
     * delivered here, to the default action (or the worker's own handler
     * once it installs one), never to sig_handler. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}
