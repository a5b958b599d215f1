/*
 * evchild.c -- the evaluator's process start: the pipes, the fork, and
 * the child's side up to exec (or the built-in demo, which runs in the
 * forked child). The parent's side, reading and reaping, is evaluator.c.
 *
 * The worker is single-threaded, so between fork() and exec() the child
 * may use ordinary libc calls.
 */
#include "evchild.h"

#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

void evchild_sleep_ms(long long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Writes all of buf to fd 1; exits if the reader is gone. */
static void demo_write(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(1); /* the worker is gone */
        buf += w;
        n -= (size_t)w;
    }
}

/* The built-in demo: reads the bid, then prints a progress line after
 * each pause and a result that depends on the input (so that an edit
 * gives another score). "quick_scan" takes half the steps. */
static void __attribute__((noreturn)) demo_main(const ev_spec *spec)
{
    char buf[4096], line[256];
    size_t total = 0;
    unsigned sum = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31u + (unsigned char)buf[i];
        total += (size_t)n;
    }
    int quick = spec->kind && strcmp(spec->kind, "quick_scan") == 0;
    int steps = quick ? (spec->demo_steps + 1) / 2 : spec->demo_steps;
    for (int i = 1; i <= steps; i++) {
        evchild_sleep_ms(spec->demo_delay_ms);
        int n = snprintf(line, sizeof line,
                         "{\"progress\":{\"step\":%d,\"of\":%d}}\n", i, steps);
        demo_write(line, (size_t)n);
    }
    int n = snprintf(line, sizeof line,
                     "{\"result\":{\"evaluator\":\"demo\",\"kind\":\"%s\","
                     "\"score\":%u,\"steps\":%d,\"input_bytes\":%zu}}\n",
                     quick ? "quick_scan" : "full", sum % 101u, steps, total);
    demo_write(line, (size_t)n);
    _exit(0);
}

/* In the child: fds 0 and 1 become the pipes, every other descriptor but
 * 2 is closed, signals are as a fresh program expects them, and the child
 * leads its own process group (so a kill reaches what it starts). */
static void __attribute__((noreturn))
child(const ev_spec *spec, pid_t parent, int rfd, int wfd, int efd)
{
    static const int sigs[] = {SIGPIPE, SIGHUP,  SIGTERM,
                               SIGINT,  SIGQUIT, SIGCHLD};
    sigset_t none;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setpgid(0, 0) != 0)
        _exit(126);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126); /* the worker died before prctl */

    /* Out of the way of 0, 1 and 2 first, whatever numbers the pipes got.
     * Its stderr is a pipe of its own too: read by the parent, logged with
     * the run's id and bounded, never the pool's log file itself. */
    int r = fcntl(rfd, F_DUPFD, 10), w = fcntl(wfd, F_DUPFD, 10);
    int e = efd >= 0 ? fcntl(efd, F_DUPFD, 10) : 2;
    if (r < 0 || w < 0 || e < 0 || dup2(r, 0) != 0 || dup2(w, 1) != 1 ||
        dup2(e, 2) != 2)
        _exit(126);
    if (close_range(3, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close((int)fd);
    }
    if (spec->sandbox != NULL && sandbox_child_limits(spec->sandbox) != 0)
        _exit(126);
    if (spec->program == NULL || spec->program[0] == '\0')
        demo_main(spec); /* our own code: limits only */
    if (spec->sandbox != NULL) {
        sandbox_child_exec(spec->sandbox, spec->program, spec->kind,
                           spec->evaluation_id, spec->bid_id);
        _exit(127); /* it said why on stderr */
    }

    char id[32], bid[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)spec->evaluation_id);
    snprintf(bid, sizeof bid, "%llu", (unsigned long long)spec->bid_id);
    if (setenv("OPTIMIST_EVAL_KIND", spec->kind ? spec->kind : "full", 1) ||
        setenv("OPTIMIST_EVALUATION_ID", id, 1) ||
        setenv("OPTIMIST_BID_ID", bid, 1))
        _exit(126);
    char *argv[] = {(char *)spec->program, NULL};
    execv(spec->program, argv);
    fprintf(stderr, "optimist evaluator: cannot run %s: %s\n", spec->program,
            strerror(errno));
    _exit(127);
}

/* The one place an evaluator is started: pipes, fork, the child's set-up
 * (child() above). Returns the child's pid, or -1 with `why` set. */
pid_t evchild_spawn(const ev_spec *spec, int *infd, int *outfd, int *errfd,
                    char *why, size_t whylen)
{
    /* spec->sandbox was prepared by the caller (sandbox_prepare): the
     * child applies it between fork and exec (child() above). */
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return -1;
    }
    int err[2] = {-1, -1};
    if (errfd != NULL && pipe2(err, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child(spec, parent, in[0], out[1], err[1]);
    close(in[0]);
    close(out[1]);
    if (err[1] >= 0)
        close(err[1]);
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(in[1]);
        close(out[0]);
        if (err[0] >= 0)
            close(err[0]);
        return -1;
    }
    if (errfd != NULL)
        *errfd = err[0];
    /* Also here, so that a kill right after the fork finds the group. */
    (void)setpgid(pid, pid);
    *infd = in[1];
    *outfd = out[0];
    return pid;
}
