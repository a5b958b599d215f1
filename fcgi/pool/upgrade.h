/*
 * upgrade.h -- a new binary without a dropped request. A package upgrade
 * replaces /usr/sbin/optimist-fcgi (a new file renamed over the old one);
 * on the next SIGHUP (`systemctl reload`) the master sees that the file at
 * its path is another file, checks that the new binary accepts the
 * configuration, and re-executes it in place: same pid (systemd's MainPID
 * and the pidfile stay right), the listening socket handed over open (the
 * backlog keeps every connection that arrives meanwhile), and the live
 * workers -- still this pid's children -- adopted by the new master, which
 * rolls them over to workers of the new binary one by one, as a reload
 * does. nginx's `-USR2` upgrade and php-fpm's re-exec work the same way.
 */
#ifndef OPTIMIST_UPGRADE_H
#define OPTIMIST_UPGRADE_H

#include <sys/types.h>

/* At start: remembers the binary's path and which file it is, and reads
 * (then removes from the environment) what an upgrading master handed
 * over. Call once, first thing in main(). */
void upgrade_init(void);

/* The listening socket inherited from the master we replaced, or -1. */
int upgrade_inherited_fd(void);

/* The workers inherited from it: fills pids[] (at most max), returns how
 * many. 0 on a normal start. */
int upgrade_inherited_pids(pid_t *pids, int max);

/* 1 if the file at our binary's path is no longer the one we run. */
int upgrade_binary_changed(void);

/* Runs "<path> --check" and waits: 0 if the new binary accepts the
 * configuration, -1 if not (its message is in the log). */
int upgrade_check_new(void);

/* Re-executes the binary at our path with the socket and the worker pids
 * handed over. Returns only on failure: -1 with errno set, the process as
 * it was (the caller goes on with a plain reload). */
int upgrade_exec(int listen_fd, const pid_t *pids, int n);

#endif
