/*
 * slots.h -- the master's state (master.c, roll.c): its places for
 * workers, the hub it forks beside them, and what a reload's roll has
 * done; and the few things done to a slot (fork into it, signal it).
 */
#ifndef OPTIMIST_SLOTS_H
#define OPTIMIST_SLOTS_H

#include "conf.h"

#include <sys/types.h>

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
struct pool {
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
};

extern struct pool pool;

/* Monotonic milliseconds. */
long long pool_now_ms(void);

/* The only place the master sends a signal: to a pid from its own table,
 * never 0 or -1 (which would reach the process group or everyone). */
void signal_worker(struct slot *s, int sig);

/* Live workers; the first unused slot (-1 if none). */
int live_workers(void);
int free_slot(void);

/* Puts slot i's next respawn `delay` ms from now. */
void respawn_later(int i, long long now, long long delay);

/* Slot i died young (or could not be forked): doubles its back-off and
 * returns it. */
int grow_backoff(int i);

/* Forks a worker into slot i. On failure the slot's respawn is scheduled
 * with back-off, so a fork that fails (EAGAIN, ENOMEM) is retried. */
void spawn_worker(int i, long long now);

/* Forks the hub. A fork that fails is retried after a back-off. */
void spawn_hub(long long now);

#endif