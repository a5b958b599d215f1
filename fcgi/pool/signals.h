/*
 * signals.h -- the master's self-pipe. A signal handler may do almost
 * nothing safely, so ours only writes the signal's number into a pipe; the
 * master's poll() loop reads it back and acts (php-fpm's fpm_signals.c).
 */
#ifndef OPTIMIST_SIGNALS_H
#define OPTIMIST_SIGNALS_H

#include <signal.h>

/* Creates the pipe (non-blocking, close-on-exec) and installs the handlers
 * for SIGTERM, SIGINT (graceful stop), SIGQUIT (fast stop), SIGHUP (reload)
 * and SIGCHLD (reap), without SA_RESTART so that a blocking call returns
 * EINTR; ignores SIGPIPE. Call once, in the master. Returns 0, or -1 with
 * errno set. A second call is a no-op. */
int sig_master_install(void);

/* The pipe's read end, to poll() for POLLIN; -1 before sig_master_install. */
int sig_fd(void);

/* Reads up to `max` pending signal numbers, in arrival order, into
 * sigs[] (OUT). Returns how many were read: 0 when the pipe is empty. Call
 * it until it returns 0 to drain the pipe. Never blocks. */
int sig_read_pending(int *sigs, int max);

/* Blocks every signal and stores the previous mask in *old (OUT). The
 * master calls it around fork() so that a signal arriving in the child
 * before sig_child_reset() cannot run the master's handler there and write
 * into the master's pipe. Restore with sig_restore(old). */
void sig_block_all(sigset_t *old);
void sig_restore(const sigset_t *old);

/* In a freshly forked child: puts the signals above back to their default
 * action (SIGPIPE stays ignored: a worker must survive a client that hangs
 * up), closes both ends of the pipe and unblocks every signal. */
void sig_child_reset(void);

#endif
