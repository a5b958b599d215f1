/*
 * sandbox.h -- what an evaluator child gets: untrusted code that reads
 * tenant data must not read the service's secrets, take the host's memory,
 * CPU, processes, disk or descriptors, write into the service's folders,
 * or outlive its run.
 *
 * The three steps, in the process that spawns evaluators:
 *
 *     struct sandbox_conf sb;
 *     sandbox_conf_from(conf, &sb);                  limits from the options
 *     sandbox_prepare(&sb, why, whylen)              before fork: a fresh
 *                                                    0700 working directory,
 *                                                    the user looked up, this
 *                                                    process made a subreaper
 *     fork();  child: sandbox_child_setup(&sb)       before exec (or the demo)
 *     ...the run; wait for the child to exit WITHOUT reaping it (WNOWAIT)...
 *     sandbox_kill_group(pid)                        SIGKILL to its group and
 *                                                    to every escaped orphan
 *     waitpid(pid); sandbox_cleanup(&sb)             the directory removed
 *
 * What is guaranteed (Linux, no cgroups):
 * - environment: only PATH, LANG, LC_*, TZ from the spawner's, plus
 *   HOME = TMPDIR = the working directory; never OPTIMIST_* (so never the
 *   database's socket, user or password);
 * - rlimits, soft = hard (the child cannot raise them): address space,
 *   CPU seconds, file size, open files, no core dumps; processes
 *   (RLIMIT_NPROC) only when the evaluator runs as its own user
 *   (OPTIMIST_EVALUATOR_USER), because the kernel counts them per user:
 *   under the service's user it would count the pool and MariaDB too, and
 *   root ignores it;
 * - a process group of its own; at the end of the run every process of
 *   that group is SIGKILLed, and so is every descendant that left the
 *   group (setsid, setpgid): the spawner is a child subreaper
 *   (PR_SET_CHILD_SUBREAPER), so an orphan becomes its child instead of
 *   init's, and sandbox_kill_group kills and reaps every child of the
 *   spawner that is not an evaluator still running, until none is left.
 *   A descendant whose parent is still alive outside the group is reached
 *   once that parent is killed (the loop goes on until no child remains).
 * Not guaranteed: a process that escaped while the spawner itself is
 *   SIGKILLed (its orphans go to the next subreaper or init); disk use by
 *   file count in the working directory (each file is bounded, not their
 *   number); network access (no namespaces are made).
 */
#ifndef OPTIMIST_SANDBOX_H
#define OPTIMIST_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

struct conf;

struct sandbox_conf {
    long memory_mb;         /* RLIMIT_AS in MiB; 0: not limited */
    long cpu_seconds;       /* RLIMIT_CPU; 0: not limited */
    long processes;         /* RLIMIT_NPROC, with `user` only; 0: not limited */
    long file_mb;           /* RLIMIT_FSIZE in MiB; 0: not limited */
    long open_files;        /* RLIMIT_NOFILE; 0: not limited */
    char user[64];          /* run as this user ("": the spawner's) */
    char workdir_base[256]; /* where run folders are made ("": $TMPDIR or
                               /tmp) */
    /* Filled by sandbox_prepare: */
    int switch_user;
    uid_t uid;
    gid_t gid;
    char workdir[320]; /* "": none made */
};

/* The limits and the user from the pool's options. */
void sandbox_conf_from(const struct conf *c, struct sandbox_conf *out);

/* In the spawner, before fork: makes the run's working directory (mode
 * 0700, owned by the evaluator's user), looks the user up, and makes the
 * calling process a child subreaper. Returns 0, or -1 with a sentence in
 * `why` (nothing left behind). */
int sandbox_prepare(struct sandbox_conf *sb, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* In the child, after fork and before exec: the environment, the working
 * directory, the limits, the user. Writes one line to stderr and returns
 * -1 on any failure (the caller _exits). Re-arms PR_SET_PDEATHSIG, which
 * a change of user clears. */
int sandbox_child_setup(const struct sandbox_conf *sb)
    __attribute__((warn_unused_result));

/* In the spawner, once the evaluator `pid` has exited but before it is
 * reaped (a zombie keeps its group id from being reused): SIGKILL to its
 * process group, then to every child of the spawner that is neither `pid`
 * nor one of keep[0..nkeep) (the leaders of other runs still going) nor
 * in one of their groups, each reaped; repeated until no such child is
 * left. (A process that escaped another run's group is killed too: it
 * broke the rule, and nothing tells whose it was.) Returns how many escaped
 * processes were killed outside the group. */
int sandbox_kill_group(pid_t pid, const pid_t *keep, size_t nkeep);

/* Removes the working directory and all in it (never following links).
 * Call after sandbox_kill_group. */
void sandbox_cleanup(struct sandbox_conf *sb);

#endif
