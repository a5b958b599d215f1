/*
 * evaluator.c -- the evaluator's child process, the parent's side: one
 * poll() loop for its input, its output, the ticks and the time limit,
 * then the reaping. The start (pipes, fork, the child's set-up) is
 * evchild.c. The built-in demo runs in the same kind of child (forked, not
 * exec'd), so it goes through the same pipes, limits and checks as a real
 * program.
 */
#include "evaluator.h"

#include "evchild.h"

#include "body.h"
#include "jpath.h"
#include "log.h"
#include "sandbox.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK     65536
#define WAIT_STEP_MS   10 /* polling for the exit after the output ended */
#define EV_STDERR_MAX  (16 * 1024) /* stderr bytes logged per run */
#define EV_STDERR_LINE 400         /* of one stderr line, the rest cut */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
        snprintf(why, whylen,
                 "the evaluator printed a line that is not "
                 "JSON (%s)",
                 msg);
        return EVL_BAD;
    }
    ev_line kind = EVL_BAD;
    json_object *v = NULL;
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(why, whylen,
                 "the evaluator printed a line that is not a "
                 "JSON object");
    } else if (json_object_object_get_ex(obj, "result", &v)) {
        if (v != NULL && json_object_is_type(v, json_type_object) &&
            jp_depth(v) > JP_MAX_DEPTH) {
            snprintf(why, whylen,
                     "the evaluator's \"result\" is nested "
                     "deeper than %d levels, the most the database stores",
                     JP_MAX_DEPTH);
        } else if (v != NULL && json_object_is_type(v, json_type_object)) {
            jb_reset(result);
            jb_lit(result, json_object_to_json_string_ext(
                               v, JSON_C_TO_STRING_PLAIN |
                                      JSON_C_TO_STRING_NOSLASHESCAPE));
            kind = EVL_RESULT;
        } else {
            snprintf(why, whylen,
                     "the evaluator's \"result\" is not an "
                     "object");
        }
    } else if (json_object_object_get_ex(obj, "progress", &v)) {
        kind = EVL_PROGRESS;
    } else {
        snprintf(why, whylen,
                 "the evaluator printed an object with "
                 "neither \"progress\" nor \"result\"");
    }
    json_object_put(obj);
    return kind;
}

/* ---- the parent ------------------------------------------------------------
 */

struct ev_proc {
    pid_t pid;          /* the child, leader of its process group */
    int infd, outfd;    /* -1 once closed */
    int exitfd;         /* a pidfd: readable once the child exited (-1
                           without pidfds: then only EOF ends the run) */
    int errfd;          /* its stderr, -1 once closed */
    size_t err_logged;  /* bytes of stderr logged (EV_STDERR_MAX at most) */
    size_t err_dropped; /* and beyond that, dropped */
    jbuf errline;       /* the stderr line being read */
    int exited;         /* the child exited (not reaped yet) */
    int has_sandbox;
    struct sandbox_conf sb;
    uint64_t evaluation_id; /* for the log */
    char *input;            /* our copy of the input */
    size_t len, in_off;
    long long deadline; /* monotonic ms */
    int timeout_ms;
    jbuf result;
    jbuf line; /* the line being read */
    int have_result, bad, stopped, timed_out, killed, reaped;
    int status; /* waitpid's, once reaped */
    char why[256];
};

static void on_line(ev_proc *p, const ev_hooks *hooks, const char *s, size_t n)
{
    jbuf res;
    jb_init(&res);
    ev_line k = ev_classify(s, n, &res, p->why, sizeof p->why);
    if (k == EVL_BAD) {
        p->bad = 1;
    } else if (k != EVL_BLANK && p->have_result) {
        snprintf(p->why, sizeof p->why,
                 "the evaluator printed more after "
                 "its result");
        p->bad = 1;
    } else if (k == EVL_RESULT) {
        jb_reset(&p->result);
        jb_raw(&p->result, res.p, res.len);
        p->have_result = 1;
    } else if (k == EVL_PROGRESS && hooks && hooks->progress) {
        /* Without the line end, and without a CR before it. */
        while (n > 0 && s[n - 1] == '\r')
            n--;
        if (hooks->progress(hooks->ctx, s, n) != 0)
            p->stopped = 1;
    }
    jb_free(&res);
}

/* Splits what was read into lines. */
static void on_output(ev_proc *p, const ev_hooks *hooks, const char *s,
                      size_t n)
{
    while (n > 0 && !p->bad && !p->stopped) {
        const char *nl = memchr(s, '\n', n);
        size_t take = nl ? (size_t)(nl - s) : n;
        if (p->line.len + take > EV_LINE_MAX) {
            snprintf(p->why, sizeof p->why,
                     "the evaluator printed a line "
                     "longer than %d bytes",
                     EV_LINE_MAX);
            p->bad = 1;
            return;
        }
        jb_raw(&p->line, s, take);
        if (nl == NULL)
            return;
        on_line(p, hooks, p->line.p, p->line.len);
        jb_reset(&p->line);
        s += take + 1;
        n -= take + 1;
    }
}

/* SIGKILL to the child: with a sandbox the child is bwrap's outer process,
 * and its death takes the namespace's pid 1 and so every process of the
 * run with it (sandbox.h); the demo's process group too. Only ever the pid
 * we forked, before it is reaped, and of our own user: a failure here is a
 * bug, logged loudly. */
static void kill_child(ev_proc *p)
{
    if (p->killed || p->reaped)
        return;
    (void)kill(-p->pid, SIGKILL); /* ESRCH once the group is empty */
    if (kill(p->pid, SIGKILL) != 0 && errno != ESRCH)
        LOG(LOG_ERROR, "evaluation %llu: cannot kill the evaluator %d: %s",
            (unsigned long long)p->evaluation_id, (int)p->pid, strerror(errno));
    p->killed = 1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- its stderr: logged line by line with the run's id, bounded --------- */

static void err_flush(ev_proc *p)
{
    if (p->errline.len > 0)
        LOG(LOG_WARN, "evaluation %llu: evaluator stderr: %.*s",
            (unsigned long long)p->evaluation_id, (int)p->errline.len,
            p->errline.p);
    jb_reset(&p->errline);
}

static void on_err(ev_proc *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p->err_logged >= EV_STDERR_MAX) {
            p->err_dropped += n - i;
            return;
        }
        p->err_logged++;
        if (s[i] == '\n') {
            err_flush(p);
            continue;
        }
        /* Control bytes would forge lines or colours in the log. */
        char c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        if (p->errline.len < EV_STDERR_LINE)
            jb_raw(&p->errline, &c, 1);
    }
}

int ev_err_fd(const ev_proc *p)
{
    return p->errfd;
}

void ev_pump_err(ev_proc *p)
{
    char buf[READ_CHUNK];
    if (p->errfd < 0)
        return;
    ssize_t r = read(p->errfd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        close_fd(&p->errfd);
        return;
    }
    on_err(p, buf, (size_t)r);
}

/* At the end: what is in the pipe now, then the partial line and the
 * count of what was dropped. */
static void ev_drain_err(ev_proc *p)
{
    for (int i = 0; i < 64 && p->errfd >= 0; i++) {
        char buf[READ_CHUNK];
        ssize_t r = read(p->errfd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        on_err(p, buf, (size_t)r);
    }
    err_flush(p);
    if (p->err_dropped > 0)
        LOG(LOG_WARN,
            "evaluation %llu: evaluator stderr: %zu more bytes "
            "dropped (%d logged at most)",
            (unsigned long long)p->evaluation_id, p->err_dropped,
            EV_STDERR_MAX);
    p->err_dropped = 0;
}

/* The child has exited (waitid said so): the demo's group is killed (a
 * sandboxed run's processes died with its namespace), then the child is
 * reaped, without waiting. */
static void finish_child(ev_proc *p)
{
    (void)kill(-p->pid, SIGKILL); /* the zombie still owns the group id */
    int st = 0;
    pid_t w;
    while ((w = waitpid(p->pid, &st, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (w != p->pid)
        LOG(LOG_ERROR, "evaluation %llu: reaping %d: %s",
            (unsigned long long)p->evaluation_id, (int)p->pid,
            w < 0 ? strerror(errno) : "not exited");
    p->reaped = 1;
    p->status = st;
    close_fd(&p->exitfd);
    ev_drain_err(p);
    close_fd(&p->errfd);
}

ev_proc *ev_start(const ev_spec *spec, const char *input, size_t len, char *why,
                  size_t whylen)
{
    ev_proc *p = xcalloc(1, sizeof *p);
    why[0] = '\0';
    p->infd = p->outfd = p->exitfd = p->errfd = -1;
    p->evaluation_id = spec->evaluation_id;
    ev_spec sp = *spec;
    if (spec->sandbox != NULL) {
        p->sb = *spec->sandbox;
        if (sandbox_prepare(&p->sb, why, whylen) != 0) {
            free(p);
            return NULL;
        }
        p->has_sandbox = 1;
        sp.sandbox = &p->sb;
    }
    p->pid = evchild_spawn(&sp, &p->infd, &p->outfd, &p->errfd, why, whylen);
    if (p->pid < 0) {
        free(p);
        return NULL;
    }
    /* The child's exit ends the run even while something it started in
     * the background still holds the output pipe. (glibc may lack the
     * wrapper: the system call itself, Linux 5.3.) */
    p->exitfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    jb_init(&p->result);
    jb_init(&p->line);
    jb_init(&p->errline);
    if (p->errfd >= 0)
        (void)fcntl(p->errfd, F_SETFL, O_NONBLOCK);
    p->timeout_ms = spec->timeout_ms;
    p->deadline = now_ms() + spec->timeout_ms;
    if (fcntl(p->infd, F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(p->outfd, F_SETFL, O_NONBLOCK) != 0) {
        snprintf(p->why, sizeof p->why, "fcntl: %s", strerror(errno));
        p->bad = 1;
    }
    if (len > 0) {
        p->input = xmalloc(len);
        memcpy(p->input, input, len);
        p->len = len;
    } else {
        close_fd(&p->infd); /* nothing to send: EOF at once */
    }
    return p;
}

int ev_in_fd(const ev_proc *p)
{
    return p->infd;
}

int ev_out_fd(const ev_proc *p)
{
    return p->outfd;
}

int ev_exit_fd(const ev_proc *p)
{
    return p->exited ? -1 : p->exitfd;
}

void ev_on_exit(ev_proc *p, const ev_hooks *hooks)
{
    if (p->exited)
        return;
    p->exited = 1;
    /* What it wrote before it exited is in the pipe (at most the pipe's
     * capacity); take that, not what others write on. */
    char buf[READ_CHUNK];
    for (size_t got = 0; p->outfd >= 0 && got <= EV_LINE_MAX && !p->bad;) {
        ssize_t r = read(p->outfd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        on_output(p, hooks, buf, (size_t)r);
    }
    if (!p->bad && !p->stopped && p->line.len > 0)
        on_line(p, hooks, p->line.p, p->line.len);
    jb_reset(&p->line);
    close_fd(&p->outfd);
}

long long ev_deadline(const ev_proc *p)
{
    return p->deadline;
}

void ev_pump_in(ev_proc *p)
{
    if (p->infd < 0)
        return;
    /* The child may never read its input (or not all of it): a full pipe
     * or EPIPE just ends the writing, never blocks. */
    ssize_t w = write(p->infd, p->input + p->in_off, p->len - p->in_off);
    if (w > 0)
        p->in_off += (size_t)w;
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || p->in_off == p->len)
        close_fd(&p->infd);
}

void ev_pump_out(ev_proc *p, const ev_hooks *hooks)
{
    char buf[READ_CHUNK];
    if (p->outfd < 0)
        return;
    ssize_t r = read(p->outfd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        close_fd(&p->outfd); /* EOF (or an error: the same to us) */
        /* A last line without its line end still counts. */
        if (!p->bad && !p->stopped && p->line.len > 0)
            on_line(p, hooks, p->line.p, p->line.len);
        jb_reset(&p->line);
        return;
    }
    on_output(p, hooks, buf, (size_t)r);
}

void ev_stop(ev_proc *p)
{
    p->stopped = 1;
}

int ev_poll_end(ev_proc *p, long long now)
{
    if (p->reaped)
        return 1;
    if (!p->killed && now >= p->deadline) {
        p->timed_out = 1;
        kill_child(p);
    }
    if (p->bad || p->stopped)
        kill_child(p);
    if (p->killed) {
        close_fd(&p->infd);
        close_fd(&p->outfd);
    }
    if (p->outfd >= 0)
        return 0; /* still talking: its output's end comes first */
    close_fd(&p->infd);
    /* After its output ended the child gets what is left of the time
     * limit to exit. WNOWAIT: exited but not reaped, a zombie still owns
     * the group's id, so the kill below cannot reach a stranger's group. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int w = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT | WNOHANG);
    if (w < 0 && errno == EINTR)
        return 0;
    if (w < 0) {
        snprintf(p->why, sizeof p->why, "waitid: %s", strerror(errno));
        p->bad = 1;
    } else if (si.si_pid != p->pid) {
        return 0; /* not yet */
    }
    finish_child(p);
    return 1;
}

ev_status ev_outcome(ev_proc *p, jbuf *result, char *why, size_t whylen)
{
    jb_reset(result);
    int st = p->status;
    if (p->timed_out) {
        snprintf(why, whylen, "the evaluator ran longer than %d ms; killed",
                 p->timeout_ms);
        return EV_TIMEOUT;
    }
    if (p->stopped) {
        snprintf(why, whylen, "the run was stopped: its claim was lost");
        return EV_STOPPED;
    }
    if (p->bad) {
        snprintf(why, whylen, "%s", p->why);
        return EV_FAILED;
    }
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
    if (!p->have_result) {
        snprintf(why, whylen, "the evaluator ended without a result");
        return EV_FAILED;
    }
    why[0] = '\0';
    jb_raw(result, p->result.p, p->result.len);
    return EV_OK;
}

void ev_free(ev_proc *p)
{
    if (p == NULL)
        return;
    if (!p->reaped) { /* never leave a child behind: kill and reap it */
        kill_child(p);
        /* A SIGKILLed child of our own user is gone at once; the wait is
         * bounded all the same (its pidfd), never a blocking waitpid. */
        if (p->exitfd >= 0) {
            struct pollfd pf = {.fd = p->exitfd, .events = POLLIN};
            while (poll(&pf, 1, 5000) < 0 && errno == EINTR)
                ;
        } else {
            siginfo_t si;
            for (int i = 0; i < 500; i++) {
                memset(&si, 0, sizeof si);
                if (waitid(P_PID, (id_t)p->pid, &si,
                           WEXITED | WNOWAIT | WNOHANG) == 0 &&
                    si.si_pid == p->pid)
                    break;
                evchild_sleep_ms(10);
            }
        }
        finish_child(p);
    }
    close_fd(&p->exitfd);
    close_fd(&p->errfd);
    jb_free(&p->errline);
    close_fd(&p->infd);
    close_fd(&p->outfd);
    free(p->input);
    jb_free(&p->result);
    jb_free(&p->line);
    free(p);
}

ev_status ev_run(const ev_spec *spec, const char *input, size_t len,
                 const ev_hooks *hooks, jbuf *result, char *why, size_t whylen)
{
    jb_reset(result);
    ev_proc *p = ev_start(spec, input, len, why, whylen);
    if (p == NULL)
        return EV_FAILED;
    long long start = now_ms();
    int tick_ms = hooks ? hooks->tick_ms : 0;
    long long next_tick = tick_ms > 0 ? start + tick_ms : -1;
    while (!ev_poll_end(p, now_ms())) {
        long long now = now_ms();
        if (next_tick >= 0 && now >= next_tick) {
            if (hooks->tick != NULL && hooks->tick(hooks->ctx) != 0) {
                ev_stop(p);
                continue;
            }
            while (next_tick <= now)
                next_tick += tick_ms;
        }
        long long until = p->deadline;
        if (next_tick >= 0 && next_tick < until)
            until = next_tick;
        if (p->outfd < 0 && now + WAIT_STEP_MS < until)
            until = now + WAIT_STEP_MS; /* waiting for its exit */
        struct pollfd pf[4] = {{.fd = p->outfd, .events = POLLIN},
                               {.fd = p->infd, .events = POLLOUT},
                               {.fd = ev_exit_fd(p), .events = POLLIN},
                               {.fd = p->errfd, .events = POLLIN}};
        int n = poll(pf, 4, until > now ? (int)(until - now) : 0);
        if (n <= 0)
            continue;
        if (pf[1].revents)
            ev_pump_in(p);
        if (pf[0].revents)
            ev_pump_out(p, hooks);
        if (pf[2].revents)
            ev_on_exit(p, hooks);
        if (pf[3].revents)
            ev_pump_err(p);
    }
    ev_status st = ev_outcome(p, result, why, whylen);
    ev_free(p);
    return st;
}
