/*
 * sandbox.h -- what an evaluator child gets: untrusted code that reads
 * tenant data must not read the service's secrets or other runs, reach the
 * database or the pool's socket, take the host's memory, CPU, processes,
 * disk or descriptors, or outlive its run.
 *
 * The isolation is bubblewrap's (bwrap, Debian's `bubblewrap`): every run
 * is started as
 *
 *     bwrap --unshare-{user,pid,net,ipc,uts} --die-with-parent
 *           --new-session --cap-drop ALL
 *           --ro-bind /usr /usr (and /bin, /lib* as the host has them)
 *           --proc /proc --dev /dev --tmpfs /tmp --chdir /tmp
 *           --ro-bind PROGRAM PROGRAM --clearenv --setenv ... -- PROGRAM
 *
 * so it has its own user, pid, mount, network, IPC and UTS namespaces
 * (--unshare-all but cgroup); its filesystem is the host's /usr (read-only),
 * the program, the paths of OPTIMIST_EVALUATOR_BIND (read-only) and a fresh
 * tmpfs at /tmp, its only writable place, gone with the namespace (no cleanup).
 * It sees no var/, no database or pool socket, no other process (its
 * /proc is its own pid namespace), no network but its own loopback.
 *
 * The end of a run: the spawner's child IS the outer bwrap process (same
 * user as the spawner, so a kill never fails with EPERM); SIGKILL to it
 * kills the namespace's pid 1 (--die-with-parent), and the death of pid 1
 * kills every process in the namespace, double-forked setsid escapees
 * included. When the program itself exits, pid 1 exits with it and the
 * kernel kills the rest the same way.
 *
 * Limits: rlimits set before bwrap is exec'd (inherited by everything in
 * the namespace), soft = hard: address space, CPU seconds, file size,
 * open files, no core files; processes (RLIMIT_NPROC) only when the
 * evaluator runs as a user of its own (a root pool), because the kernel
 * counts them per user across user namespaces.
 *
 * The user: a root pool never runs an evaluator as root: the child
 * becomes OPTIMIST_EVALUATOR_USER (default `nobody`) before exec'ing
 * bwrap. A pool that is not root ignores OPTIMIST_EVALUATOR_USER (it
 * could not kill a process of another user): the namespaces separate the
 * evaluator from the pool's processes and files instead.
 */
#ifndef OPTIMIST_SANDBOX_H
#define OPTIMIST_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conf;

#define SANDBOX_ARGV_MAX 256

struct sandbox_conf {
    long memory_mb;   /* RLIMIT_AS in MiB; 0: not limited */
    long cpu_seconds; /* RLIMIT_CPU; 0: not limited */
    long processes;   /* RLIMIT_NPROC, with a user of its own only */
    long file_mb;     /* RLIMIT_FSIZE in MiB; 0: not limited */
    long open_files;  /* RLIMIT_NOFILE; 0: not limited */
    char user[64];    /* OPTIMIST_EVALUATOR_USER (root pools only) */
    char bind[512];   /* OPTIMIST_EVALUATOR_BIND: read-only paths, ':' */
    char bwrap[256];  /* OPTIMIST_BWRAP: the bwrap binary */
    /* Filled by sandbox_prepare: */
    int switch_user;
    uid_t uid;
    gid_t gid;
};

/* The limits and the user from the pool's options. */
void sandbox_conf_from(const struct conf *c, struct sandbox_conf *out);

/* In the spawner, before fork: looks the user up (a root pool only).
 * Returns 0, or -1 with a sentence in `why`. */
int sandbox_prepare(struct sandbox_conf *sb, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* In the child, after fork: the limits. Writes one line to stderr and
 * returns -1 on failure (the caller _exits). (The built-in demo, our own
 * code, gets these only: it is forked, not exec'd.) */
int sandbox_child_limits(const struct sandbox_conf *sb)
    __attribute__((warn_unused_result));

/* In the child, after sandbox_child_limits: becomes the evaluator's user
 * (root pools) and execs bwrap with `program`; the run's variables are
 * OPTIMIST_EVAL_KIND, OPTIMIST_EVALUATION_ID, OPTIMIST_BID_ID. Returns
 * only on failure (a line on stderr). */
void sandbox_child_exec(const struct sandbox_conf *sb, const char *program,
                        const char *kind, uint64_t evaluation_id,
                        uint64_t bid_id);

/* Fills argv[0..] (NULL-terminated, at most SANDBOX_ARGV_MAX entries) with
 * the bwrap command line for `program` and the environment env[] ("K=V",
 * NULL-terminated); strings point into `store` (bytes, `storelen`) or
 * into the arguments. Returns the count, or -1 if it does not fit. Pure
 * but for lstat of the host's top folders. */
int sandbox_argv(const struct sandbox_conf *sb, const char *program,
                 char *const *env, const char **argv, char *store,
                 size_t storelen);

/* At the pool's start, when a program is configured: one trial run of
 * bwrap with the run's options (as the evaluator's user), so that a host
 * without user namespaces (or without bwrap) refuses to start with a
 * sentence instead of failing every run. `mode` gets a sentence for the
 * log: which user, which limits (rlimits, or a cgroup). Blocking (start
 * only). Returns 0, or -1 with `why`. */
int sandbox_check(const struct conf *c, char *mode, size_t modelen, char *why,
                  size_t whylen) __attribute__((warn_unused_result));

#endif
