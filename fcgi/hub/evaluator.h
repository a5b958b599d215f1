/*
 * evaluator.h -- running a bid's evaluator: a program (OPTIMIST_EVALUATOR)
 * or the built-in demo, in a child process with the bid as JSON on its
 * standard input, printing one JSON object a line on its standard output:
 *
 *     {"progress": any}     zero or more, each passed to the caller now
 *     {"result": object}    exactly one, last
 *
 * Anything else (a line that is not a JSON object with one of those
 * members, a second result, a line after the result), a non-zero exit, a
 * death by signal, or a run over the time limit fails the run. With a
 * sandbox (sandbox.h) a program runs in bubblewrap, in namespaces of its
 * own: killing the child (bwrap) ends every process of the run, and so
 * does the program's own exit. Without one (and for the built-in demo) the
 * child leads a process group of its own, killed (SIGKILL) when the run
 * fails or is stopped. It dies with its worker (PR_SET_PDEATHSIG). The
 * child is reaped without blocking (a pidfd says when), no descriptor of
 * the worker reaches it, and its stderr is a pipe logged with the run's id.
 */
#ifndef OPTIMIST_EVALUATOR_H
#define OPTIMIST_EVALUATOR_H

#include "jbuf.h"

#include <stddef.h>
#include <stdint.h>

struct sandbox_conf;

#define EV_LINE_MAX (1024 * 1024) /* a longer output line fails the run */

/* How a run ended. */
typedef enum ev_status {
    EV_OK,      /* a result; it is in *result */
    EV_FAILED,  /* bad output, non-zero exit, killed, or no result */
    EV_TIMEOUT, /* ran past the time limit: killed */
    EV_STOPPED  /* a hook asked to stop (the claim was lost): killed */
} ev_status;

/* What to run. Strings are borrowed for the call. */
typedef struct ev_spec {
    const char *program;    /* path of the program; NULL or "": the demo */
    int timeout_ms;         /* the whole run; killed beyond it */
    int demo_steps;         /* the demo's progress lines ("full") */
    int demo_delay_ms;      /* the demo's pause before each line */
    const char *kind;       /* "quick_scan" or "full": OPTIMIST_EVAL_KIND */
    uint64_t evaluation_id; /* OPTIMIST_EVALUATION_ID */
    uint64_t bid_id;        /* OPTIMIST_BID_ID */
    struct sandbox_conf *sandbox; /* NULL: none (the child inherits the
                                     worker's environment and limits) */
} ev_spec;

/* The caller's side of a run. Either function may be NULL. */
typedef struct ev_hooks {
    void *ctx;
    /* One {"progress": ...} line, without its line end, as printed.
     * Return 0 to go on, -1 to stop the run. */
    int (*progress)(void *ctx, const char *line, size_t len);
    /* Every tick_ms of the run (the event stream's ping). Return 0 to go
     * on, -1 to stop the run. */
    int (*tick)(void *ctx);
    int tick_ms; /* 0: no ticks */
} ev_hooks;

/* Runs the evaluator with input[0..len) on its standard input. On EV_OK,
 * *result (the caller's jbuf, reset first) holds the result object as
 * JSON text. Otherwise `why` gets a sentence for the run's record (never
 * the program's output). */
ev_status ev_run(const ev_spec *spec, const char *input, size_t len,
                 const ev_hooks *hooks, jbuf *result, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* ---- the same, driven by the caller's event loop (the hub) ----------------
 *
 * ev_start forks the child; the caller waits on ev_in_fd (writable) and
 * ev_out_fd (readable) -- either is -1 once closed -- and calls
 * ev_pump_in / ev_pump_out when they are ready (both non-blocking), and
 * ev_poll_end at every wake-up and at least every few ms once the output
 * has ended: it enforces the time limit (SIGKILL to the child),
 * kills a run that failed or was stopped, and reaps the child without
 * waiting. Once it returned 1, ev_outcome says how the run ended. */
typedef struct ev_proc ev_proc;

/* NULL (with `why`) if the child could not be started. */
ev_proc *ev_start(const ev_spec *spec, const char *input, size_t len, char *why,
                  size_t whylen);
int ev_in_fd(const ev_proc *p);
int ev_out_fd(const ev_proc *p);
/* Readable once the child exited (a pidfd; -1 when none or done): then
 * call ev_on_exit, which takes what it wrote before and ends its output,
 * even if something it started still holds the pipe. */
int ev_exit_fd(const ev_proc *p);
void ev_on_exit(ev_proc *p, const ev_hooks *hooks);
long long ev_deadline(const ev_proc *p); /* CLOCK_MONOTONIC ms */
/* Its stderr (-1 once closed): readable -> ev_pump_err, which logs it line
 * by line with the run's id, control bytes replaced, at most 16 KiB a run
 * (the rest is counted and dropped). */
int ev_err_fd(const ev_proc *p);
void ev_pump_err(ev_proc *p);
void ev_pump_in(ev_proc *p);
void ev_pump_out(ev_proc *p, const ev_hooks *hooks);
/* Asks for the run to stop (the claim was lost): killed at the next
 * ev_poll_end. */
void ev_stop(ev_proc *p);
/* 1 once the child is reaped. */
int ev_poll_end(ev_proc *p, long long now_ms);
/* After ev_poll_end returned 1: as ev_run's answer. */
ev_status ev_outcome(ev_proc *p, jbuf *result, char *why, size_t whylen);
/* Frees it; a child not yet reaped is killed and reaped first. */
void ev_free(ev_proc *p);

/* What one output line is. */
typedef enum ev_line {
    EVL_BLANK,    /* empty or only spaces: ignored */
    EVL_PROGRESS, /* a JSON object with "progress" */
    EVL_RESULT,   /* a JSON object whose "result" is an object (nested
                     at most JP_MAX_DEPTH levels: what MariaDB stores) */
    EVL_BAD       /* anything else */
} ev_line;

/* Classifies one line (without its end). For EVL_RESULT, *result gets
 * the result object's JSON text; for EVL_BAD, `why` says what is wrong.
 * Pure: no I/O. */
ev_line ev_classify(const char *line, size_t len, jbuf *result, char *why,
                    size_t whylen);

#endif
