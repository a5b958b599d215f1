/*
 * master.c -- the pool's master process: pre-forks the workers, reaps them
 * and replaces the ones that exit, rolls them one by one on SIGHUP, and
 * stops them on SIGTERM/SIGINT (gracefully) or SIGQUIT (fast).
 *
 * Everything happens in one poll() loop: signals arrive as bytes on the
 * self-pipe (signals.c), each new worker says "ready" with one byte on its
 * own pipe, and the poll timeout drives the timers (respawn back-off, stop
 * deadlines, reload steps). The master never accepts a connection itself;
 * it only keeps the listening socket open, so that while workers come and
 * go nginx's connections wait in the backlog instead of being refused.
 *
 * Its state and the forks are in slots.c; a reload's roll in roll.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, strsignal; also set by the Makefile */
#endif
#include "master.h"

#include "roll.h"
#include "slots.h"

#include "janitor.h"
#include "tableset.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "signals.h"
#include "streams.h"
#include "upgrade.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The hub exited: its evaluation slots are free again (its runs expire
 * at their leases, hub.c's sweep), and a new hub is forked unless we are
 * stopping -- at once, or after a back-off if it died young. */
static void hub_exited(int st, long long now)
{
    long long up = now - pool.hub_started;
    if (WIFSIGNALED(st))
        LOG(pool.state >= MS_FINISHING ? LOG_INFO : LOG_WARN,
            "hub %d killed by signal %d after %.1f s", (int)pool.hub_pid,
            WTERMSIG(st), (double)up / 1000.0);
    else
        LOG(LOG_INFO, "hub %d exited code %d", (int)pool.hub_pid,
            WEXITSTATUS(st));
    streams_forget(pool.hub_pid);
    pool.hub_pid = 0;
    if (pool.state >= MS_FINISHING)
        return;
    if (up > HEALTHY_MS)
        pool.hub_backoff = 0;
    if (up < FAST_DEATH_MS) {
        pool.hub_backoff =
            pool.hub_backoff ? pool.hub_backoff * 2 : BACKOFF_FIRST_MS;
        if (pool.hub_backoff > BACKOFF_MAX_MS)
            pool.hub_backoff = BACKOFF_MAX_MS;
        pool.hub_respawn_at = now + pool.hub_backoff;
    } else {
        pool.hub_respawn_at = now;
    }
}

/* Logs one exit line for slot s; returns 1 if it was a crash (a signal or
 * a non-zero code that we did not ask for). */
static int log_exit(const struct slot *s, int st, long long up)
{
    double secs = (double)up / 1000.0;
    int bad = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    enum log_level lv = bad && !s->stopping ? LOG_WARN : LOG_INFO;

    if (WIFSIGNALED(st))
        LOG(lv, "worker %d killed by signal %d (%s) after %.1f s", (int)s->pid,
            WTERMSIG(st), strsignal(WTERMSIG(st)), secs);
    else
        LOG(lv, "worker %d exited code %d after %.1f s", (int)s->pid,
            WEXITSTATUS(st), secs);
    return bad && !s->stopping;
}

/* Collects every exited worker and decides each slot's future:
 * - we stopped it, or we are stopping, or it belongs to the generation a
 *   reload is replacing: the slot is freed (the roll refills the pool);
 * - it exited 0 (recycled after max_requests): respawned at once;
 * - it crashed: counted, and respawned at once, or after the slot's
 *   back-off if it died within FAST_DEATH_MS of its start. */
static void reap(long long now)
{
    int st;
    pid_t pid;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == pool.hub_pid) {
            hub_exited(st, now);
            continue;
        }
        int i = 0;
        while (i < MAX_SLOTS && pool.slots[i].pid != pid)
            i++;
        if (i == MAX_SLOTS) {
            LOG(LOG_WARN, "reaped unknown child %d", (int)pid);
            continue;
        }
        struct slot *s = &pool.slots[i];
        long long up = now - s->started;
        int crashed = log_exit(s, st, up);
        streams_forget(pid); /* a worker killed mid-evaluation */

        s->pid = 0;
        s->ready = 0;
        if (s->ready_fd >= 0) {
            close(s->ready_fd);
            s->ready_fd = -1;
        }
        if (crashed && pool.state < MS_FINISHING)
            metrics_worker_restart();
        if (s->stopping || pool.state >= MS_FINISHING ||
            (pool.state == MS_RELOADING && s->generation != pool.generation)) {
            s->used = 0;
            s->stopping = 0;
            continue;
        }
        if (up > HEALTHY_MS)
            s->backoff = 0;
        if (crashed && up < FAST_DEATH_MS) {
            int delay = grow_backoff(i);
            LOG(LOG_WARN,
                "worker slot %d died %lld ms after its start; "
                "respawning in %d ms",
                i, up, delay);
            respawn_later(i, now, delay);
        } else {
            respawn_later(i, now, 0);
        }
    }
    if (pid < 0 && errno != ECHILD && errno != EINTR)
        LOG(LOG_ERROR, "waitpid: %s", strerror(errno));
}

static void respawn_due(long long now)
{
    if (pool.state >= MS_FINISHING)
        return;
    if (pool.hub_pid == 0 && pool.hub_respawn_at && pool.hub_respawn_at <= now)
        spawn_hub(now);
    for (int i = 0; i < MAX_SLOTS; i++)
        if (pool.slots[i].respawn && pool.slots[i].respawn_at <= now)
            spawn_worker(i, now);
}

/* Sends `sig` to every live worker and marks it as stopping (its exit is
 * expected); cancels pending respawns and frees the empty slots. */
static void signal_all(int sig)
{
    pool.hub_respawn_at = 0;
    if (pool.hub_pid > 0 && kill(pool.hub_pid, sig) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(hub %d, %d): %s", (int)pool.hub_pid, sig,
            strerror(errno));
    for (int i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &pool.slots[i];
        s->respawn = 0;
        if (s->pid == 0) {
            s->used = 0;
            continue;
        }
        signal_worker(s, sig);
        s->stopping = 1;
    }
}

/* Enters FINISHING (SIGTERM to all, SIGKILL after shutdown_timeout) or
 * TERMINATING (SIGQUIT to all, SIGKILL after QUIT_GRACE_MS). */
static void begin_stop(enum master_state to, long long now)
{
    int n = live_workers();

    notify_stopping();
    if (to == MS_FINISHING) {
        LOG(LOG_INFO, "stopping gracefully: %d workers, %d s to finish", n,
            pool.c->shutdown_timeout);
        signal_all(SIGTERM);
        pool.deadline = now + (long long)pool.c->shutdown_timeout * 1000;
    } else {
        LOG(LOG_INFO, "stopping fast: %d workers", n);
        signal_all(SIGQUIT);
        pool.deadline = now + QUIT_GRACE_MS;
    }
    pool.state = to;
    pool.killed = 0;
}

/* SIGUSR1 (logrotate's postrotate): the master opens OPTIMIST_LOG_FILE
 * again and passes the signal on; each child reopens its own descriptor
 * between requests (worker.c), so no line is cut in half. */
static void reopen_logs(void)
{
    if (log_reopen() != 0) {
        LOG(LOG_ERROR, "reopening %s: %s; still logging to the old file",
            pool.c->log_file, strerror(errno));
        return;
    }
    /* The workers first, then our line: once it is in the new file, every
     * worker has the signal pending, and takes it (reopening) before it
     * accepts its next request. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (pool.slots[i].pid > 0)
            kill(pool.slots[i].pid, SIGUSR1);
    if (pool.hub_pid > 0)
        kill(pool.hub_pid, SIGUSR1);
    LOG(LOG_INFO, "log file reopened");
}

static void on_signal(int sig, long long now)
{
    switch (sig) {
    case SIGCHLD:
        break; /* the loop reaps on every wake-up */
    case SIGHUP:
        if (pool.state == MS_NORMAL)
            begin_reload(now);
        else if (pool.state == MS_RELOADING) {
            LOG(LOG_INFO, "SIGHUP during a reload: reloading again after it");
            pool.reload_again = 1;
        } else
            LOG(LOG_INFO, "SIGHUP ignored: stopping");
        break;
    case SIGTERM:
    case SIGINT:
        if (pool.state < MS_FINISHING)
            begin_stop(MS_FINISHING, now);
        else if (pool.state == MS_FINISHING) {
            LOG(LOG_INFO, "%s during a graceful stop",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
            begin_stop(MS_TERMINATING, now);
        }
        break;
    case SIGQUIT:
        if (pool.state < MS_TERMINATING)
            begin_stop(MS_TERMINATING, now);
        break;
    case SIGUSR1:
        reopen_logs();
        break;
    default:
        break;
    }
}

/* Milliseconds until the next timer, for poll(); at most TICK_MS. */
static int next_timeout(long long now)
{
    long long next = now + TICK_MS;

    if (pool.state < MS_FINISHING)
        for (int i = 0; i < MAX_SLOTS; i++)
            if (pool.slots[i].respawn && pool.slots[i].respawn_at < next)
                next = pool.slots[i].respawn_at;
    if (pool.state < MS_FINISHING && pool.hub_respawn_at &&
        pool.hub_respawn_at < next)
        next = pool.hub_respawn_at;
    if (pool.state >= MS_FINISHING && !pool.killed && pool.deadline < next)
        next = pool.deadline;
    if (pool.state == MS_RELOADING && pool.roll_deadline < next &&
        (pool.phase == ROLL_WAIT_READY ||
         (pool.phase == ROLL_WAIT_EXIT && !pool.roll_killed)))
        next = pool.roll_deadline;
    return next > now ? (int)(next - now) : 0;
}

/* Reads a worker's ready byte (or the EOF of one that died first). */
static void read_ready(struct slot *s)
{
    char b;
    ssize_t r = read(s->ready_fd, &b, 1);

    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r == 1) {
        s->ready = 1;
        LOG(LOG_DEBUG, "worker %d ready", (int)s->pid);
        /* systemd's "started": the first worker of the first generation
         * can serve (the others follow within milliseconds, and nginx's
         * connections wait in the backlog meanwhile). */
        if (!pool.notified_ready && pool.state == MS_NORMAL) {
            pool.notified_ready = 1;
            notify_ready(pool.c->workers);
        }
    }
    close(s->ready_fd);
    s->ready_fd = -1;
}

/* A first read of the declared tables that found no database is tried
 * again this often. */
#define TABLES_RETRY_MS 5000

int master_run(conf *c, int listen_fd)
{
    static struct pollfd pfd[MAX_SLOTS + 1];
    static int pslot[MAX_SLOTS + 1];

    memset(&pool, 0, sizeof pool);
    pool.c = c;
    pool.listen_fd = listen_fd;
    pool.self = getpid();
    pool.state = MS_NORMAL;
    for (int i = 0; i < MAX_SLOTS; i++)
        pool.slots[i].ready_fd = -1;
    if (sig_fd() < 0 && sig_master_install() != 0) {
        LOG(LOG_ERROR, "signals: %s", strerror(errno));
        return 1;
    }

    /* The declared tables, before the first fork: the workers and the hub
     * inherit the set (tableset.h). The master keeps no connection. A
     * database that cannot be reached yet: tried again every few seconds,
     * and a reload hands the set to the workers once it could. */
    int tables_due = tset_load(c, NULL, 1) == TSET_NO_DB;
    long long tables_retry = pool_now_ms() + TABLES_RETRY_MS;

    long long now = pool_now_ms();
    pid_t adopted[MAX_SLOTS];
    int nadopted = upgrade_inherited_pids(adopted, MAX_SLOTS);
    if (nadopted > 0) {
        /* We replaced an older binary (upgrade.c): its workers are our
         * children still. They are generation 0; rolling them over to
         * generation 1 is a reload like any other. */
        LOG(LOG_INFO, "master upgraded: adopting %d workers on %s", nadopted,
            c->listen);
        for (int i = 0; i < nadopted; i++) {
            struct slot *s = &pool.slots[i];
            s->used = 1;
            s->pid = adopted[i];
            s->generation = 0;
            s->started = now;
            s->ready = 1;
        }
        pool.generation = 1;
        pool.state = MS_RELOADING;
        pool.phase = ROLL_NEXT;
        roll_step(now);
    } else {
        LOG(LOG_INFO, "master started: %d workers on %s", c->workers,
            c->listen);
        for (int i = 0; i < c->workers && i < MAX_SLOTS; i++)
            spawn_worker(i, now);
    }
    spawn_hub(now);

    for (;;) {
        now = pool_now_ms();
        reap(now);
        respawn_due(now);
        roll_step(now);
        if (pool.state == MS_NORMAL)
            janitor_tick(pool.c, now); /* expired Idempotency-Keys */
        if (tables_due && pool.state == MS_NORMAL && now >= tables_retry) {
            tables_retry = now + TABLES_RETRY_MS;
            if (tset_load(pool.c, NULL, 1) != TSET_NO_DB) {
                tables_due = 0;
                begin_reload(now); /* the workers and the hub read it */
            }
        }
        if (pool.state >= MS_FINISHING) {
            if (live_workers() == 0 && pool.hub_pid == 0)
                break;
            if (now >= pool.deadline && !pool.killed) {
                LOG(LOG_WARN, "%d workers still running; SIGKILL",
                    live_workers());
                signal_all(SIGKILL);
                pool.killed = 1;
            }
        }

        int n = 0;
        pfd[n].fd = sig_fd();
        pfd[n].events = POLLIN;
        pslot[n++] = -1;
        for (int i = 0; i < MAX_SLOTS; i++)
            if (pool.slots[i].ready_fd >= 0) {
                pfd[n].fd = pool.slots[i].ready_fd;
                pfd[n].events = POLLIN;
                pslot[n++] = i;
            }

        if (poll(pfd, (nfds_t)n, next_timeout(now)) < 0) {
            if (errno == EINTR)
                continue; /* a signal: its byte is in the pipe */
            /* Cannot happen with valid fds; the workers get SIGTERM from
             * PR_SET_PDEATHSIG when we exit. */
            LOG(LOG_ERROR, "poll: %s", strerror(errno));
            return 1;
        }
        for (int k = 1; k < n; k++)
            if (pfd[k].revents)
                read_ready(&pool.slots[pslot[k]]);

        int sigs[32], ns;
        now = pool_now_ms();
        while ((ns = sig_read_pending(sigs, 32)) > 0)
            for (int k = 0; k < ns; k++)
                on_signal(sigs[k], now);
    }
    LOG(LOG_INFO, "all workers gone; master exiting");
    return 0;
}
