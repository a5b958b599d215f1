/*
 * master.h -- the master process: forks the workers, reaps and replaces
 * them, rolls them on SIGHUP and stops them on SIGTERM/SIGINT/SIGQUIT
 * (php-fpm's fpm_children.c and fpm_process_ctl.c in one small module).
 */
#ifndef OPTIMIST_MASTER_H
#define OPTIMIST_MASTER_H

#include "conf.h"

/* Runs the pool until it is told to stop, then returns the process exit
 * code (0 after a graceful or a fast stop, 1 if the loop itself failed).
 *
 * `c` is the configuration the workers get; a reload (SIGHUP) overwrites it
 * in place with the new values, so it must stay valid for the whole call.
 * `listen_fd` is the bound, listening, non-blocking socket; it stays open
 * in the master for the whole run, so that connections queue in its
 * backlog while workers are being replaced. The caller closes it.
 *
 * Call metrics_init() and sig_master_install() before (master_run installs
 * the signals itself if that was not done, but then a signal that arrives
 * before the call has its default action). Only ever signals the pids it
 * forked itself. */
int master_run(conf *c, int listen_fd);

#endif
