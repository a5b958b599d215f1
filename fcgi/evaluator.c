/*
 * evaluator.c -- the evaluator's child process: fork, pipes, one poll()
 * loop for its input, its output, the ticks and the time limit, then the
 * reaping. The built-in demo runs in the same kind of child (forked, not
 * exec'd), so it goes through the same pipes, limits and checks as a real
 * program.
 *
 * The worker is single-threaded, so between fork() and exec() the child
 * may use ordinary libc calls.
 */
#include "evaluator.h"

#include "body.h"
#include "jpath.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define WAIT_STEP_MS 10 /* polling for the exit after the output ended */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- one output line ---------------------------------------------------- */

ev_line ev_classify(const char *line, size_t len, jbuf *result, char *why,
                    size_t whylen)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return EVL_BLANK;
    char msg[160];
    json_object *obj = body_parse(line, len, msg, sizeof msg);
    if (obj == NULL) {
        snprintf(why, whylen, "the evaluator printed a line that is not "
                 "JSON (%s)", msg);
        return EVL_BAD;
    }
    ev_line kind = EVL_BAD;
    json_object *v = NULL;
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(why, whylen, "the evaluator printed a line that is not a "
                 "JSON object");
    } else if (json_object_object_get_ex(obj, "result", &v)) {
        if (v != NULL && json_object_is_type(v, json_type_object) &&
            jp_depth(v) > JP_MAX_DEPTH) {
            snprintf(why, whylen, "the evaluator's \"result\" is nested "
                     "deeper than %d levels, the most the database stores",
                     JP_MAX_DEPTH);
        } else if (v != NULL && json_object_is_type(v, json_type_object)) {
            jb_reset(result);
            jb_lit(result, json_object_to_json_string_ext(
                               v, JSON_C_TO_STRING_PLAIN |
                                      JSON_C_TO_STRING_NOSLASHESCAPE));
            kind = EVL_RESULT;
        } else {
            snprintf(why, whylen, "the evaluator's \"result\" is not an "
                     "object");
        }
    } else if (json_object_object_get_ex(obj, "progress", &v)) {
        kind = EVL_PROGRESS;
    } else {
        snprintf(why, whylen, "the evaluator printed an object with "
                 "neither \"progress\" nor \"result\"");
    }
    json_object_put(obj);
    return kind;
}

/* ---- the child ------------------------------------------------------------ */

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
        sleep_ms(spec->demo_delay_ms);
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
static void __attribute__((noreturn)) child(const ev_spec *spec, pid_t parent,
                                            int rfd, int wfd)
{
    static const int sigs[] = {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGQUIT,
                               SIGCHLD};
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

    /* Out of the way of 0 and 1 first, whatever numbers the pipes got. */
    int r = fcntl(rfd, F_DUPFD, 10), w = fcntl(wfd, F_DUPFD, 10);
    if (r < 0 || w < 0 || dup2(r, 0) != 0 || dup2(w, 1) != 1)
        _exit(126);
    if (close_range(3, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close((int)fd);
    }
    if (spec->sandbox != NULL && sandbox_child_setup(spec->sandbox) != 0)
        _exit(126);
    if (spec->program == NULL || spec->program[0] == '\0')
        demo_main(spec);

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

/* ---- the parent ------------------------------------------------------------ */

struct run {
    const ev_hooks *hooks;
    jbuf *result;
    int have_result;
    int bad;     /* the output broke the protocol: why says how */
    int stopped; /* a hook asked to stop */
    char *why;
    size_t whylen;
    jbuf line;   /* the line being read */
};

static void on_line(struct run *rn, const char *p, size_t n)
{
    jbuf res;
    jb_init(&res);
    ev_line k = ev_classify(p, n, &res, rn->why, rn->whylen);
    if (k == EVL_BAD) {
        rn->bad = 1;
    } else if (k != EVL_BLANK && rn->have_result) {
        snprintf(rn->why, rn->whylen, "the evaluator printed more after its "
                 "result");
        rn->bad = 1;
    } else if (k == EVL_RESULT) {
        jb_reset(rn->result);
        jb_raw(rn->result, res.p, res.len);
        rn->have_result = 1;
    } else if (k == EVL_PROGRESS && rn->hooks && rn->hooks->progress) {
        /* Without the line end, and without a CR before it. */
        while (n > 0 && p[n - 1] == '\r')
            n--;
        if (rn->hooks->progress(rn->hooks->ctx, p, n) != 0)
            rn->stopped = 1;
    }
    jb_free(&res);
}

/* Splits what was read into lines. */
static void on_output(struct run *rn, const char *p, size_t n)
{
    while (n > 0 && !rn->bad && !rn->stopped) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (rn->line.len + take > EV_LINE_MAX) {
            snprintf(rn->why, rn->whylen, "the evaluator printed a line "
                     "longer than %d bytes", EV_LINE_MAX);
            rn->bad = 1;
            return;
        }
        jb_raw(&rn->line, p, take);
        if (nl == NULL)
            return;
        on_line(rn, rn->line.p, rn->line.len);
        jb_reset(&rn->line);
        p += take + 1;
        n -= take + 1;
    }
}

/* SIGKILL to the child's group, or to the child if the group is not
 * formed yet. Only ever the pid we forked, before it is reaped. */
static void kill_child(pid_t pid)
{
    if (kill(-pid, SIGKILL) != 0)
        (void)kill(pid, SIGKILL);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

ev_status ev_run(const ev_spec *spec, const char *input, size_t len,
                 const ev_hooks *hooks, jbuf *result, char *why,
                 size_t whylen)
{
    int in[2], out[2];
    struct run rn = {.hooks = hooks, .result = result, .why = why,
                     .whylen = whylen};
    why[0] = '\0';
    jb_reset(result);
    if (pipe2(in, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return EV_FAILED;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return EV_FAILED;
    }
    if (spec->sandbox != NULL &&
        sandbox_prepare(spec->sandbox, why, whylen) != 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return EV_FAILED;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child(spec, parent, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(in[1]);
        close(out[0]);
        if (spec->sandbox != NULL)
            sandbox_cleanup(spec->sandbox);
        return EV_FAILED;
    }
    /* Also here, so that a kill right after the fork finds the group. */
    (void)setpgid(pid, pid);
    int infd = in[1], outfd = out[0];
    /* The child's exit ends the run even while something it started in
     * the background still holds the output pipe (and would keep us from
     * ever seeing EOF). -1 without pidfds: then only EOF ends it. */
    int exitfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int exited = 0;
    if (fcntl(infd, F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(outfd, F_SETFL, O_NONBLOCK) != 0) {
        snprintf(why, whylen, "fcntl: %s", strerror(errno));
        rn.bad = 1;
    }
    jb_init(&rn.line);

    long long start = now_ms(), deadline = start + spec->timeout_ms;
    int tick_ms = hooks ? hooks->tick_ms : 0;
    long long next_tick = tick_ms > 0 ? start + tick_ms : -1;
    size_t in_off = 0;
    int timed_out = 0, killed = 0;
    char *buf = malloc(READ_CHUNK);
    if (buf == NULL)
        abort();
    if (len == 0)
        close_fd(&infd); /* nothing to send: EOF at once */

    while (outfd >= 0 && !exited && !rn.bad && !rn.stopped) {
        long long now = now_ms();
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        if (next_tick >= 0 && now >= next_tick) {
            if (hooks->tick != NULL && hooks->tick(hooks->ctx) != 0) {
                rn.stopped = 1;
                break;
            }
            while (next_tick <= now)
                next_tick += tick_ms;
        }
        long long until = deadline;
        if (next_tick >= 0 && next_tick < until)
            until = next_tick;
        struct pollfd p[3] = {{.fd = outfd, .events = POLLIN},
                              {.fd = infd, .events = POLLOUT},
                              {.fd = exitfd, .events = POLLIN}};
        int np = infd >= 0 ? 2 : 1;
        int n = poll(p, 3, (int)(until - now)); /* -1 fds are skipped */
        if (n < 0 && errno != EINTR) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            rn.bad = 1;
            break;
        }
        if (n <= 0)
            continue;
        if (np == 2 && p[1].revents) {
            /* The child may never read its input (or not all of it): a
             * full pipe or EPIPE just ends the writing, never blocks. */
            ssize_t w = write(infd, input + in_off, len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
                in_off == len)
                close_fd(&infd);
        }
        if (p[0].revents) {
            ssize_t r = read(outfd, buf, READ_CHUNK);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close_fd(&outfd); /* EOF (or an error: the same to us) */
                break;
            }
            on_output(&rn, buf, (size_t)r);
        }
        if (p[2].revents) {
            /* Exited: what it wrote before is in the pipe (at most the
             * pipe's capacity); take that, not what others write on. */
            for (size_t got = 0; got <= EV_LINE_MAX && !rn.bad;) {
                ssize_t r = read(outfd, buf, READ_CHUNK);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                got += (size_t)r;
                on_output(&rn, buf, (size_t)r);
            }
            exited = 1;
        }
    }
    /* A last line without its line end still counts. */
    if ((outfd < 0 || exited) && !rn.bad && !rn.stopped && rn.line.len > 0)
        on_line(&rn, rn.line.p, rn.line.len);
    close_fd(&infd);
    close_fd(&outfd);
    close_fd(&exitfd);
    free(buf);
    jb_free(&rn.line);

    /* Reap. After its output ended the child gets what is left of the
     * time limit to exit; a child we gave up on is killed first. */
    int st = 0;
    if (timed_out || rn.bad || rn.stopped) {
        kill_child(pid);
        killed = 1;
    }
    for (;;) {
        /* WNOWAIT: exited but not reaped, a zombie still owns the group's
         * id, so the kill below cannot reach a stranger's group. */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int w = waitid(P_PID, (id_t)pid, &si,
                       WEXITED | WNOWAIT | (killed ? 0 : WNOHANG));
        if (w == 0 && si.si_pid == pid)
            break;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(why, whylen, "waitid: %s", strerror(errno));
            kill_child(pid);
            (void)waitpid(pid, &st, 0);
            if (spec->sandbox != NULL)
                sandbox_cleanup(spec->sandbox);
            return EV_FAILED;
        }
        if (now_ms() >= deadline) {
            timed_out = 1;
            kill_child(pid);
            killed = 1;
            continue;
        }
        sleep_ms(WAIT_STEP_MS);
    }
    /* Whatever it left running: its group, and what escaped the group. */
    (void)sandbox_kill_group(pid, NULL, 0);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (spec->sandbox != NULL)
        sandbox_cleanup(spec->sandbox);

    if (timed_out) {
        snprintf(why, whylen, "the evaluator ran longer than %d ms; killed",
                 spec->timeout_ms);
        return EV_TIMEOUT;
    }
    if (rn.stopped) {
        snprintf(why, whylen, "the run was stopped: its claim was lost");
        return EV_STOPPED;
    }
    if (rn.bad)
        return EV_FAILED; /* why is set */
    if (WIFSIGNALED(st)) {
        snprintf(why, whylen, "the evaluator was killed by signal %d",
                 WTERMSIG(st));
        return EV_FAILED;
    }
    if (WEXITSTATUS(st) != 0) {
        snprintf(why, whylen, "the evaluator exited with status %d",
                 WEXITSTATUS(st));
        return EV_FAILED;
    }
    if (!rn.have_result) {
        snprintf(why, whylen, "the evaluator ended without a result");
        return EV_FAILED;
    }
    return EV_OK;
}
