/*
 * roll.c -- a reload's roll of the workers (see roll.h).
 */
#include "roll.h"

#include "log.h"
#include "notify.h"
#include "slots.h"
#include "tableset.h"
#include "upgrade.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Sends SIGTERM to one worker of an older generation and enters
 * ROLL_WAIT_EXIT. Returns 0 if there is none left. */
static int stop_one_old(long long now)
{
    for (int i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &pool.slots[i];
        if (s->pid > 0 && s->generation != pool.generation && !s->stopping) {
            LOG(LOG_INFO, "reload: stopping old worker %d", (int)s->pid);
            signal_worker(s, SIGTERM);
            s->stopping = 1;
            pool.roll_slot = i;
            pool.roll_pid = s->pid;
            pool.roll_deadline =
                now + (long long)pool.c->shutdown_timeout * 1000;
            pool.roll_killed = 0;
            pool.phase = ROLL_WAIT_EXIT;
            return 1;
        }
    }
    return 0;
}

/* Advances the roll as far as it can go now. The sequence, for each old
 * worker: fork a new one; wait for its ready byte (at most
 * READY_TIMEOUT_MS); SIGTERM the old one; wait for its exit (SIGKILL after
 * shutdown_timeout). At any moment at least the old count of workers is
 * accepting, and the listening socket never closes, so no request is
 * refused. A smaller new count only stops old workers once enough new
 * ones exist; a larger one forks the rest at the end. */
void roll_step(long long now)
{
    while (pool.state == MS_RELOADING) {
        struct slot *s = &pool.slots[pool.roll_slot];

        if (pool.phase == ROLL_WAIT_READY) {
            /* A new worker that crashed is respawned by the reaper (with
             * back-off); its slot keeps the rest of the wait. */
            if (!s->ready && now < pool.roll_deadline)
                return;
            if (!s->ready)
                LOG(LOG_WARN,
                    "reload: new worker in slot %d not ready "
                    "after %d s; going on",
                    pool.roll_slot, READY_TIMEOUT_MS / 1000);
            if (!stop_one_old(now))
                pool.phase = ROLL_NEXT;
            continue;
        }
        if (pool.phase == ROLL_WAIT_EXIT) {
            if (s->pid != pool.roll_pid) {
                pool.phase = ROLL_NEXT;
                continue;
            }
            if (now >= pool.roll_deadline && !pool.roll_killed) {
                LOG(LOG_WARN,
                    "reload: worker %d still running after %d s; "
                    "SIGKILL",
                    (int)s->pid, pool.c->shutdown_timeout);
                signal_worker(s, SIGKILL);
                pool.roll_killed = 1;
            }
            return;
        }

        /* ROLL_NEXT */
        int fresh = 0, old = 0;
        for (int i = 0; i < MAX_SLOTS; i++) {
            if (!pool.slots[i].used)
                continue;
            if (pool.slots[i].generation == pool.generation)
                fresh++;
            else if (pool.slots[i].pid > 0 && !pool.slots[i].stopping)
                old++;
        }
        if (old > 0 && fresh < pool.c->workers) {
            int i = free_slot();
            if (i < 0) {
                LOG(LOG_ERROR, "reload: no free worker slot");
                return;
            }
            spawn_worker(i, now);
            pool.roll_slot = i;
            pool.roll_deadline = now + READY_TIMEOUT_MS;
            pool.phase = ROLL_WAIT_READY;
            return;
        }
        if (old > 0) {
            stop_one_old(now);
            continue;
        }
        while (fresh < pool.c->workers) {
            int i = free_slot();
            if (i < 0)
                break;
            spawn_worker(i, now);
            fresh++;
        }
        LOG(LOG_INFO, "reload done: %d workers, generation %u", fresh,
            pool.generation);
        pool.state = MS_NORMAL;
        notify_ready(fresh);
        if (pool.reload_again) {
            pool.reload_again = 0;
            begin_reload(now);
        }
    }
}

/* conf_keep_fixed: an option a reload cannot change was changed. */
static void warn_fixed(const char *name, const char *kept)
{
    LOG(LOG_WARN,
        "reload: %s cannot change on reload (restart to change); "
        "keeping %s",
        name, kept);
}

void begin_reload(long long now)
{
    conf nc;
    char err[256];

    LOG(LOG_INFO, "reloading");
    notify_reloading();
    if (upgrade_binary_changed() && upgrade_check_new() == 0) {
        /* A package upgrade put a new binary in place: become it. Every
         * live child is handed over, the ones already stopping included
         * (the new master reaps them). Returns only if the exec failed. */
        pid_t pids[MAX_SLOTS];
        int n = 0;
        for (int i = 0; i < MAX_SLOTS; i++)
            if (pool.slots[i].pid > 0)
                pids[n++] = pool.slots[i].pid;
        /* The hub too: the new master adopts it as an old worker and its
         * roll stops it (SIGTERM: its runs finish, its feeds end and are
         * resumed on the new master's hub). */
        if (pool.hub_pid > 0 && n < MAX_SLOTS)
            pids[n++] = pool.hub_pid;
        if (upgrade_exec(pool.listen_fd, pids, n) != 0)
            LOG(LOG_ERROR,
                "upgrade: exec failed: %s; reloading with the "
                "running binary",
                strerror(errno));
    }
    if (conf_load(&nc, err, sizeof err) != 0) {
        LOG(LOG_ERROR, "reload: %s; keeping the old configuration", err);
    } else {
        /* The socket is bound once, by main(); the pidfile was written
         * once. Neither can move under a running master: the option
         * table says which options a reload keeps. */
        conf_keep_fixed(&nc, pool.c, warn_fixed);
        if (nc.workers != pool.c->workers)
            LOG(LOG_INFO, "reload: workers %d -> %d", pool.c->workers,
                nc.workers);
        *pool.c = nc;
        log_threshold = (enum log_level)pool.c->log_level;
    }
    /* The declared tables again, before the new workers are forked: they
     * inherit the new set, or the old one if the folder has a refused
     * declaration (logged). */
    (void)tset_load(pool.c, NULL, 0);
    /* The hub reads the options again itself (its streams stay open). */
    if (pool.hub_pid > 0 && kill(pool.hub_pid, SIGHUP) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(hub %d, SIGHUP): %s", (int)pool.hub_pid,
            strerror(errno));
    pool.generation++;
    /* A slot waiting out its back-off is refilled with a new worker: it
     * already counts as one of the new generation. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (pool.slots[i].used && pool.slots[i].pid == 0)
            pool.slots[i].generation = pool.generation;
    pool.state = MS_RELOADING;
    pool.phase = ROLL_NEXT;
    roll_step(now);
}
