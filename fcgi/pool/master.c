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
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, strsignal; also set by the Makefile */
#endif
#include "master.h"

#include "hub.h"
#include "janitor.h"
#include "tableset.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "signals.h"
#include "streams.h"
#include "upgrade.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* conf.c allows at most 256 workers. A reload with a new count overlaps
 * old and new workers, so leave room for both generations. */
#define MAX_SLOTS 520

#define BACKOFF_FIRST_MS 100  /* first delay after a fast death */
#define BACKOFF_MAX_MS   5000 /* the doubling stops here */
#define FAST_DEATH_MS                                                          \
    1000                 /* dying sooner than this after the fork              \
                            looks like a crash loop: back off */
#define HEALTHY_MS 10000 /* living longer than this resets it */
#define READY_TIMEOUT_MS                                                       \
    10000                  /* reload: longest wait for a new worker's          \
                              ready byte before going on anyway */
#define QUIT_GRACE_MS 1000 /* fast stop: SIGQUIT, SIGKILL after this */
#define TICK_MS                                                                \
    1000 /* longest poll(): reap even if a SIGCHLD                             \
            byte were ever lost */

/*
 * The master's states (php-fpm's). A signal only ever moves the state to a
 * stronger one: NORMAL < RELOADING < FINISHING < TERMINATING.
 *
 *   NORMAL       SIGHUP -> RELOADING; SIGTERM/SIGINT -> FINISHING;
 *                SIGQUIT -> TERMINATING.
 *   RELOADING    SIGHUP is remembered and one more reload runs when this
 *                one ends (a config edited mid-roll is not lost);
 *                SIGTERM/SIGINT -> FINISHING, dropping the roll;
 *                SIGQUIT -> TERMINATING. The roll's end -> NORMAL.
 *   FINISHING    SIGHUP ignored; a second SIGTERM/SIGINT, or SIGQUIT ->
 *                TERMINATING. No respawns. Ends when no worker is left.
 *   TERMINATING  every signal ignored. Ends when no worker is left.
 */
enum master_state {
    MS_NORMAL,     /* serving; workers that exit are replaced */
    MS_RELOADING,  /* rolling the workers to a new generation, one by one */
    MS_FINISHING,  /* graceful stop: SIGTERM sent, SIGKILL at the deadline */
    MS_TERMINATING /* fast stop: SIGQUIT sent, SIGKILL after 1 s */
};

/* One place in the pool. The back-off belongs to the place, not to the
 * process, so that a crash loop is seen across the respawns. */
struct slot {
    int used;             /* 1: part of the pool (live, or to respawn) */
    pid_t pid;            /* the live worker, 0 if none */
    unsigned generation;  /* reload count when it was forked */
    long long started;    /* monotonic ms at the fork */
    int ready_fd;         /* read end of its ready pipe, -1 once done */
    int ready;            /* 1: it wrote its ready byte */
    int stopping;         /* 1: we told it to exit, so its exit is not a
                             crash and the slot is not respawned */
    int backoff;          /* ms before the next respawn after a fast
                             death; 0 = no crash loop seen */
    int respawn;          /* 1: a respawn is pending */
    long long respawn_at; /* monotonic ms of that respawn */
};

/* The steps of a reload's roll (state RELOADING). */
enum roll_phase {
    ROLL_NEXT,       /* decide: fork a new worker, stop an old one, or end */
    ROLL_WAIT_READY, /* a new worker was forked: wait for its ready byte */
    ROLL_WAIT_EXIT   /* an old one was sent SIGTERM: wait for its exit */
};

/* The master's whole state; there is one master per process. */
static struct {
    conf *c;       /* the live configuration (caller's) */
    int listen_fd; /* inherited by every worker */
    pid_t self;    /* the master's pid, for the child's check */
    enum master_state state;
    unsigned generation;     /* bumped by each reload */
    int reload_again;        /* a SIGHUP came during the roll */
    int notified_ready;      /* systemd was told READY=1 once */
    long long deadline;      /* FINISHING/TERMINATING: when to SIGKILL */
    int killed;              /* that SIGKILL was sent */
    enum roll_phase phase;   /* RELOADING: where the roll is */
    int roll_slot;           /* WAIT_READY: the new slot; WAIT_EXIT: old */
    pid_t roll_pid;          /* WAIT_EXIT: the old worker being stopped */
    long long roll_deadline; /* WAIT_READY: give up; WAIT_EXIT: SIGKILL */
    int roll_killed;         /* WAIT_EXIT: SIGKILL was sent */
    struct slot slots[MAX_SLOTS];
    /* The hub (hub.c): one process beside the workers, holding every
     * stream and running every evaluation; forked again if it dies. */
    pid_t hub_pid;
    long long hub_started;
    int hub_backoff;
    long long hub_respawn_at; /* 0: none pending */
} m;

static void begin_reload(long long now);

/* A first read of the declared tables that found no database is tried
 * again this often. */
#define TABLES_RETRY_MS 5000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The only place the master sends a signal: to a pid from its own table,
 * never 0 or -1 (which would reach the process group or everyone). */
static void signal_worker(struct slot *s, int sig)
{
    if (s->pid > 0 && kill(s->pid, sig) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(%d, %d): %s", (int)s->pid, sig, strerror(errno));
}

static int live_workers(void)
{
    int n = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        n += m.slots[i].pid > 0;
    return n;
}

static int free_slot(void)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (!m.slots[i].used)
            return i;
    return -1;
}

/* Puts slot i's next respawn `delay` ms from now. */
static void respawn_later(int i, long long now, long long delay)
{
    m.slots[i].used = 1;
    m.slots[i].respawn = 1;
    m.slots[i].respawn_at = now + delay;
}

/* Slot i died young (or could not be forked): double its back-off. */
static int grow_backoff(int i)
{
    struct slot *s = &m.slots[i];
    s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_FIRST_MS;
    if (s->backoff > BACKOFF_MAX_MS)
        s->backoff = BACKOFF_MAX_MS;
    return s->backoff;
}

/* In the child, between fork() and worker_run(). Never returns. */
static void __attribute__((noreturn)) child(int ready_r, int ready_w)
{
    sig_child_reset();
    close(ready_r);
    /* Other workers' ready pipes: not ours to hold (no exec closes them). */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (m.slots[i].ready_fd >= 0)
            close(m.slots[i].ready_fd);
    /* If the master dies, workers must not serve on without it; and if it
     * already died before prctl, getppid() has changed: leave now. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m.self)
        _exit(1);
    int rc = worker_run(m.c, m.listen_fd, ready_w);
    _exit(rc);
}

/* Forks a worker into slot i. On failure the slot's respawn is scheduled
 * with back-off, so a fork that fails (EAGAIN, ENOMEM) is retried. */
static void spawn(int i, long long now)
{
    struct slot *s = &m.slots[i];
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
    s->generation = m.generation;
    s->started = now;
    s->ready_fd = rp[0];
    s->ready = 0;
    s->stopping = 0;
    LOG(LOG_INFO, "worker %d started (slot %d, generation %u)", (int)pid, i,
        m.generation);
}

/* Forks the hub. A fork that fails is retried after a back-off. */
static void spawn_hub(long long now)
{
    sigset_t old;
    m.hub_respawn_at = 0;
    sig_block_all(&old);
    pid_t pid = fork();
    if (pid == 0) {
        sig_child_reset();
        for (int i = 0; i < MAX_SLOTS; i++)
            if (m.slots[i].ready_fd >= 0)
                close(m.slots[i].ready_fd);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != m.self)
            _exit(1);
        _exit(hub_run(m.c));
    }
    int err = errno;
    sig_restore(&old);
    if (pid < 0) {
        LOG(LOG_ERROR, "hub: fork: %s", strerror(err));
        m.hub_backoff = m.hub_backoff ? m.hub_backoff * 2 : BACKOFF_FIRST_MS;
        if (m.hub_backoff > BACKOFF_MAX_MS)
            m.hub_backoff = BACKOFF_MAX_MS;
        m.hub_respawn_at = now + m.hub_backoff;
        return;
    }
    m.hub_pid = pid;
    m.hub_started = now;
    LOG(LOG_INFO, "hub %d started", (int)pid);
}

/* The hub exited: its evaluation slots are free again (its runs expire
 * at their leases, hub.c's sweep), and a new hub is forked unless we are
 * stopping -- at once, or after a back-off if it died young. */
static void hub_exited(int st, long long now)
{
    long long up = now - m.hub_started;
    if (WIFSIGNALED(st))
        LOG(m.state >= MS_FINISHING ? LOG_INFO : LOG_WARN,
            "hub %d killed by signal %d after %.1f s", (int)m.hub_pid,
            WTERMSIG(st), (double)up / 1000.0);
    else
        LOG(LOG_INFO, "hub %d exited code %d", (int)m.hub_pid, WEXITSTATUS(st));
    streams_forget(m.hub_pid);
    m.hub_pid = 0;
    if (m.state >= MS_FINISHING)
        return;
    if (up > HEALTHY_MS)
        m.hub_backoff = 0;
    if (up < FAST_DEATH_MS) {
        m.hub_backoff = m.hub_backoff ? m.hub_backoff * 2 : BACKOFF_FIRST_MS;
        if (m.hub_backoff > BACKOFF_MAX_MS)
            m.hub_backoff = BACKOFF_MAX_MS;
        m.hub_respawn_at = now + m.hub_backoff;
    } else {
        m.hub_respawn_at = now;
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
        if (pid == m.hub_pid) {
            hub_exited(st, now);
            continue;
        }
        int i = 0;
        while (i < MAX_SLOTS && m.slots[i].pid != pid)
            i++;
        if (i == MAX_SLOTS) {
            LOG(LOG_WARN, "reaped unknown child %d", (int)pid);
            continue;
        }
        struct slot *s = &m.slots[i];
        long long up = now - s->started;
        int crashed = log_exit(s, st, up);
        streams_forget(pid); /* a worker killed mid-evaluation */

        s->pid = 0;
        s->ready = 0;
        if (s->ready_fd >= 0) {
            close(s->ready_fd);
            s->ready_fd = -1;
        }
        if (crashed && m.state < MS_FINISHING)
            metrics_worker_restart();
        if (s->stopping || m.state >= MS_FINISHING ||
            (m.state == MS_RELOADING && s->generation != m.generation)) {
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
    if (m.state >= MS_FINISHING)
        return;
    if (m.hub_pid == 0 && m.hub_respawn_at && m.hub_respawn_at <= now)
        spawn_hub(now);
    for (int i = 0; i < MAX_SLOTS; i++)
        if (m.slots[i].respawn && m.slots[i].respawn_at <= now)
            spawn(i, now);
}

/* Sends `sig` to every live worker and marks it as stopping (its exit is
 * expected); cancels pending respawns and frees the empty slots. */
static void signal_all(int sig)
{
    m.hub_respawn_at = 0;
    if (m.hub_pid > 0 && kill(m.hub_pid, sig) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(hub %d, %d): %s", (int)m.hub_pid, sig,
            strerror(errno));
    for (int i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &m.slots[i];
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
            m.c->shutdown_timeout);
        signal_all(SIGTERM);
        m.deadline = now + (long long)m.c->shutdown_timeout * 1000;
    } else {
        LOG(LOG_INFO, "stopping fast: %d workers", n);
        signal_all(SIGQUIT);
        m.deadline = now + QUIT_GRACE_MS;
    }
    m.state = to;
    m.killed = 0;
}

/* Sends SIGTERM to one worker of an older generation and enters
 * ROLL_WAIT_EXIT. Returns 0 if there is none left. */
static int stop_one_old(long long now)
{
    for (int i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &m.slots[i];
        if (s->pid > 0 && s->generation != m.generation && !s->stopping) {
            LOG(LOG_INFO, "reload: stopping old worker %d", (int)s->pid);
            signal_worker(s, SIGTERM);
            s->stopping = 1;
            m.roll_slot = i;
            m.roll_pid = s->pid;
            m.roll_deadline = now + (long long)m.c->shutdown_timeout * 1000;
            m.roll_killed = 0;
            m.phase = ROLL_WAIT_EXIT;
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
static void roll_step(long long now)
{
    while (m.state == MS_RELOADING) {
        struct slot *s = &m.slots[m.roll_slot];

        if (m.phase == ROLL_WAIT_READY) {
            /* A new worker that crashed is respawned by the reaper (with
             * back-off); its slot keeps the rest of the wait. */
            if (!s->ready && now < m.roll_deadline)
                return;
            if (!s->ready)
                LOG(LOG_WARN,
                    "reload: new worker in slot %d not ready "
                    "after %d s; going on",
                    m.roll_slot, READY_TIMEOUT_MS / 1000);
            if (!stop_one_old(now))
                m.phase = ROLL_NEXT;
            continue;
        }
        if (m.phase == ROLL_WAIT_EXIT) {
            if (s->pid != m.roll_pid) {
                m.phase = ROLL_NEXT;
                continue;
            }
            if (now >= m.roll_deadline && !m.roll_killed) {
                LOG(LOG_WARN,
                    "reload: worker %d still running after %d s; "
                    "SIGKILL",
                    (int)s->pid, m.c->shutdown_timeout);
                signal_worker(s, SIGKILL);
                m.roll_killed = 1;
            }
            return;
        }

        /* ROLL_NEXT */
        int fresh = 0, old = 0;
        for (int i = 0; i < MAX_SLOTS; i++) {
            if (!m.slots[i].used)
                continue;
            if (m.slots[i].generation == m.generation)
                fresh++;
            else if (m.slots[i].pid > 0 && !m.slots[i].stopping)
                old++;
        }
        if (old > 0 && fresh < m.c->workers) {
            int i = free_slot();
            if (i < 0) {
                LOG(LOG_ERROR, "reload: no free worker slot");
                return;
            }
            spawn(i, now);
            m.roll_slot = i;
            m.roll_deadline = now + READY_TIMEOUT_MS;
            m.phase = ROLL_WAIT_READY;
            return;
        }
        if (old > 0) {
            stop_one_old(now);
            continue;
        }
        while (fresh < m.c->workers) {
            int i = free_slot();
            if (i < 0)
                break;
            spawn(i, now);
            fresh++;
        }
        LOG(LOG_INFO, "reload done: %d workers, generation %u", fresh,
            m.generation);
        m.state = MS_NORMAL;
        notify_ready(fresh);
        if (m.reload_again) {
            m.reload_again = 0;
            begin_reload(now);
        }
    }
}

/* SIGHUP in NORMAL: reads the configuration again (keeping the old one if
 * it is invalid, as PgBouncer does) and starts rolling the workers -- even
 * on a failed read, so that a reload always yields fresh workers. */
/* conf_keep_fixed: an option a reload cannot change was changed. */
static void warn_fixed(const char *name, const char *kept)
{
    LOG(LOG_WARN,
        "reload: %s cannot change on reload (restart to change); "
        "keeping %s",
        name, kept);
}

static void begin_reload(long long now)
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
            if (m.slots[i].pid > 0)
                pids[n++] = m.slots[i].pid;
        /* The hub too: the new master adopts it as an old worker and its
         * roll stops it (SIGTERM: its runs finish, its feeds end and are
         * resumed on the new master's hub). */
        if (m.hub_pid > 0 && n < MAX_SLOTS)
            pids[n++] = m.hub_pid;
        if (upgrade_exec(m.listen_fd, pids, n) != 0)
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
        conf_keep_fixed(&nc, m.c, warn_fixed);
        if (nc.workers != m.c->workers)
            LOG(LOG_INFO, "reload: workers %d -> %d", m.c->workers, nc.workers);
        *m.c = nc;
        log_threshold = (enum log_level)m.c->log_level;
    }
    /* The declared tables again, before the new workers are forked: they
     * inherit the new set, or the old one if the folder has a refused
     * declaration (logged). */
    (void)tset_load(m.c, NULL, 0);
    /* The hub reads the options again itself (its streams stay open). */
    if (m.hub_pid > 0 && kill(m.hub_pid, SIGHUP) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "kill(hub %d, SIGHUP): %s", (int)m.hub_pid,
            strerror(errno));
    m.generation++;
    /* A slot waiting out its back-off is refilled with a new worker: it
     * already counts as one of the new generation. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (m.slots[i].used && m.slots[i].pid == 0)
            m.slots[i].generation = m.generation;
    m.state = MS_RELOADING;
    m.phase = ROLL_NEXT;
    roll_step(now);
}

/* SIGUSR1 (logrotate's postrotate): the master opens OPTIMIST_LOG_FILE
 * again and passes the signal on; each child reopens its own descriptor
 * between requests (worker.c), so no line is cut in half. */
static void reopen_logs(void)
{
    if (log_reopen() != 0) {
        LOG(LOG_ERROR, "reopening %s: %s; still logging to the old file",
            m.c->log_file, strerror(errno));
        return;
    }
    /* The workers first, then our line: once it is in the new file, every
     * worker has the signal pending, and takes it (reopening) before it
     * accepts its next request. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (m.slots[i].pid > 0)
            kill(m.slots[i].pid, SIGUSR1);
    if (m.hub_pid > 0)
        kill(m.hub_pid, SIGUSR1);
    LOG(LOG_INFO, "log file reopened");
}

static void on_signal(int sig, long long now)
{
    switch (sig) {
    case SIGCHLD:
        break; /* the loop reaps on every wake-up */
    case SIGHUP:
        if (m.state == MS_NORMAL)
            begin_reload(now);
        else if (m.state == MS_RELOADING) {
            LOG(LOG_INFO, "SIGHUP during a reload: reloading again after it");
            m.reload_again = 1;
        } else
            LOG(LOG_INFO, "SIGHUP ignored: stopping");
        break;
    case SIGTERM:
    case SIGINT:
        if (m.state < MS_FINISHING)
            begin_stop(MS_FINISHING, now);
        else if (m.state == MS_FINISHING) {
            LOG(LOG_INFO, "%s during a graceful stop",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
            begin_stop(MS_TERMINATING, now);
        }
        break;
    case SIGQUIT:
        if (m.state < MS_TERMINATING)
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

    if (m.state < MS_FINISHING)
        for (int i = 0; i < MAX_SLOTS; i++)
            if (m.slots[i].respawn && m.slots[i].respawn_at < next)
                next = m.slots[i].respawn_at;
    if (m.state < MS_FINISHING && m.hub_respawn_at && m.hub_respawn_at < next)
        next = m.hub_respawn_at;
    if (m.state >= MS_FINISHING && !m.killed && m.deadline < next)
        next = m.deadline;
    if (m.state == MS_RELOADING && m.roll_deadline < next &&
        (m.phase == ROLL_WAIT_READY ||
         (m.phase == ROLL_WAIT_EXIT && !m.roll_killed)))
        next = m.roll_deadline;
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
        if (!m.notified_ready && m.state == MS_NORMAL) {
            m.notified_ready = 1;
            notify_ready(m.c->workers);
        }
    }
    close(s->ready_fd);
    s->ready_fd = -1;
}

int master_run(conf *c, int listen_fd)
{
    static struct pollfd pfd[MAX_SLOTS + 1];
    static int pslot[MAX_SLOTS + 1];

    memset(&m, 0, sizeof m);
    m.c = c;
    m.listen_fd = listen_fd;
    m.self = getpid();
    m.state = MS_NORMAL;
    for (int i = 0; i < MAX_SLOTS; i++)
        m.slots[i].ready_fd = -1;
    if (sig_fd() < 0 && sig_master_install() != 0) {
        LOG(LOG_ERROR, "signals: %s", strerror(errno));
        return 1;
    }

    /* The declared tables, before the first fork: the workers and the hub
     * inherit the set (tableset.h). The master keeps no connection. A
     * database that cannot be asked yet: tried again every few seconds,
     * and a reload hands the set to the workers once it could. */
    int tables_due = tset_load(c, NULL, 1) == TSET_NO_DB;
    long long tables_retry = now_ms() + TABLES_RETRY_MS;

    long long now = now_ms();
    pid_t adopted[MAX_SLOTS];
    int nadopted = upgrade_inherited_pids(adopted, MAX_SLOTS);
    if (nadopted > 0) {
        /* We replaced an older binary (upgrade.c): its workers are our
         * children still. They are generation 0; rolling them over to
         * generation 1 is a reload like any other. */
        LOG(LOG_INFO, "master upgraded: adopting %d workers on %s", nadopted,
            c->listen);
        for (int i = 0; i < nadopted; i++) {
            struct slot *s = &m.slots[i];
            s->used = 1;
            s->pid = adopted[i];
            s->generation = 0;
            s->started = now;
            s->ready = 1;
        }
        m.generation = 1;
        m.state = MS_RELOADING;
        m.phase = ROLL_NEXT;
        roll_step(now);
    } else {
        LOG(LOG_INFO, "master started: %d workers on %s", c->workers,
            c->listen);
        for (int i = 0; i < c->workers && i < MAX_SLOTS; i++)
            spawn(i, now);
    }
    spawn_hub(now);

    for (;;) {
        now = now_ms();
        reap(now);
        respawn_due(now);
        roll_step(now);
        if (m.state == MS_NORMAL)
            janitor_tick(m.c, now); /* expired Idempotency-Keys */
        if (tables_due && m.state == MS_NORMAL && now >= tables_retry) {
            tables_retry = now + TABLES_RETRY_MS;
            if (tset_load(m.c, NULL, 1) != TSET_NO_DB) {
                tables_due = 0;
                begin_reload(now); /* the workers and the hub read it */
            }
        }
        if (m.state >= MS_FINISHING) {
            if (live_workers() == 0 && m.hub_pid == 0)
                break;
            if (now >= m.deadline && !m.killed) {
                LOG(LOG_WARN, "%d workers still running; SIGKILL",
                    live_workers());
                signal_all(SIGKILL);
                m.killed = 1;
            }
        }

        int n = 0;
        pfd[n].fd = sig_fd();
        pfd[n].events = POLLIN;
        pslot[n++] = -1;
        for (int i = 0; i < MAX_SLOTS; i++)
            if (m.slots[i].ready_fd >= 0) {
                pfd[n].fd = m.slots[i].ready_fd;
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
                read_ready(&m.slots[pslot[k]]);

        int sigs[32], ns;
        now = now_ms();
        while ((ns = sig_read_pending(sigs, 32)) > 0)
            for (int k = 0; k < ns; k++)
                on_signal(sigs[k], now);
    }
    LOG(LOG_INFO, "all workers gone; master exiting");
    return 0;
}
