/*
 * notify.c -- sd_notify() for the master. libsystemd is the library every
 * Type=notify service on Debian links; with HAVE_SYSTEMD unset (a build on
 * a machine without libsystemd-dev) each call does nothing, which is also
 * what libsystemd does when NOTIFY_SOCKET is not set.
 */
#include "notify.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void send_state(const char *state)
{
    /* 0 unset environment: a reload's workers are children of the master,
     * and sd_notify only matters for the master's own pid (the unit's
     * MainPID). A negative return is a real error; 0 means "not under
     * systemd". */
    int rc = sd_notify(0, state);
    if (rc < 0)
        LOG(LOG_WARN, "sd_notify: %s", strerror(-rc));
}
#else
static void send_state(const char *state)
{
    (void)state;
}
#endif

void notify_ready(int workers)
{
    char msg[128];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=serving with %d workers",
             workers);
    send_state(msg);
}

void notify_reloading(void)
{
    send_state("RELOADING=1\nSTATUS=reloading");
}

void notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=stopping");
}
