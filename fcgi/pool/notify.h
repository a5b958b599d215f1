/*
 * notify.h -- tells systemd (Type=notify) where the master is in its life:
 * ready, reloading, stopping. Through libsystemd's sd_notify(); a no-op
 * when the pool is not run by systemd (no NOTIFY_SOCKET) or was built
 * without libsystemd.
 */
#ifndef OPTIMIST_NOTIFY_H
#define OPTIMIST_NOTIFY_H

/* READY=1 with a status line: the socket is bound and a worker is ready. */
void notify_ready(int workers);

/* RELOADING=1: a SIGHUP roll began; notify_ready() again when it ends. */
void notify_reloading(void);

/* STOPPING=1: a graceful or fast stop began. */
void notify_stopping(void);

#endif
