/*
 * slots.c -- the master's state and its slots (see slots.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2; also set by the Makefile */
#endif
#include "slots.h"

#include "hub.h"
#include "log.h"
#include "signals.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

struct pool pool;

long long pool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The only place the master sends a signal: to a pid from its own table,
 * never 0 or -1 (which would reach the process group or everyone). */
void signal_worker(struct slot *s, int sig)
{
    if (s->pid > 0 && kill(s->pid, sig) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(%d, %d): %s", (int)s->pid, sig, strerror(errno));
}

int live_workers(void)
{
    int n = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        n += pool.slots[i].pid > 0;
    return n;
}

int free_slot(void)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (!pool.slots[i].used)
            return i;
    return -1;
}

/* Puts slot i's next respawn `delay` ms from now. */
void respawn_later(int i, long long now, long long delay)
{
    pool.slots[i].used = 1;
    pool.slots[i].respawn = 1;
    pool.slots[i].respawn_at = now + delay;
}

/* Slot i died young (or could not be forked): double its back-off. */
int grow_backoff(int i)
{
    struct slot *s = &pool.slots[i];
    s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_FIRST_MS;
    if (s->backoff > BACKOFF_MAX_MS)
        s->backoff = BACKOFF_MAX_MS;
    return s->backoff;
}

/* In a child of the master (a worker or the hub), after its signals are
 * reset: lets go of what is the master's, and ties its life to it. */
static void child_detach(void)
{
    /* Workers' ready pipes: not ours to hold (no exec closes them). */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (pool.slots[i].ready_fd >= 0)
            close(pool.slots[i].ready_fd);
    /* If the master dies, a child must not serve on without it; and if it
     * already died before prctl, getppid() has changed: leave now. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != pool.self)
        _exit(1);
}

/* In the child, between fork() and worker_run(). Never returns. */
static void __attribute__((noreturn)) child(int ready_r, int ready_w)
{
    sig_child_reset();
    close(ready_r);
    child_detach();
    int rc = worker_run(pool.c, pool.listen_fd, ready_w);
    _exit(rc);
}

/* Forks a worker into slot i. On failure the slot's respawn is scheduled
 * with back-off, so a fork that fails (EAGAIN, ENOMEM) is retried. */
void spawn_worker(int i, long long now)
{
    struct slot *s = &pool.slots[i];
    int rp[2];
    sigset_t old;
    pid_t pid;

    s->respawn = 0;
    if (pipe2(rp, O_CLOEXEC) != 0) {
        LOG(LOG_ERROR, "worker slot %d: pipe: %s", i, strerror(errno));
        respawn_later(i, now, grow_backoff(i));
        return;
    }
    sig_block_all(&old);
    pid = fork();
    if (pid == 0)
        child(rp[0], rp[1]);
    int err = errno;
    sig_restore(&old);
    close(rp[1]);
    if (pid < 0) {
        close(rp[0]);
        LOG(LOG_ERROR, "worker slot %d: fork: %s", i, strerror(err));
        respawn_later(i, now, grow_backoff(i));
        return;
    }
    if (fcntl(rp[0], F_SETFL, O_NONBLOCK) != 0)
        LOG(LOG_WARN, "ready pipe: fcntl: %s", strerror(errno));
    s->used = 1;
    s->pid = pid;
    s->generation = pool.generation;
    s->started = now;
    s->ready_fd = rp[0];
    s->ready = 0;
    s->stopping = 0;
    LOG(LOG_INFO, "worker %d started (slot %d, generation %u)", (int)pid, i,
        pool.generation);
}

/* Forks the hub. A fork that fails is retried after a back-off. */
void spawn_hub(long long now)
{
    sigset_t old;
    pool.hub_respawn_at = 0;
    sig_block_all(&old);
    pid_t pid = fork();
    if (pid == 0) {
        sig_child_reset();
        child_detach();
        _exit(hub_run(pool.c));
    }
    int err = errno;
    sig_restore(&old);
    if (pid < 0) {
        LOG(LOG_ERROR, "hub: fork: %s", strerror(err));
        pool.hub_backoff =
            pool.hub_backoff ? pool.hub_backoff * 2 : BACKOFF_FIRST_MS;
        if (pool.hub_backoff > BACKOFF_MAX_MS)
            pool.hub_backoff = BACKOFF_MAX_MS;
        pool.hub_respawn_at = now + pool.hub_backoff;
        return;
    }
    pool.hub_pid = pid;
    pool.hub_started = now;
    LOG(LOG_INFO, "hub %d started", (int)pid);
}
