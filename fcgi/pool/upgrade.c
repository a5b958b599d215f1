/*
 * upgrade.c -- re-executing the master in place (see upgrade.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* also set by the Makefile */
#endif
#include "upgrade.h"

#include "log.h"
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENV_FD      "OPTIMIST_INHERIT_FD"
#define ENV_PIDS    "OPTIMIST_INHERIT_PIDS"
#define MAX_INHERIT 520 /* master.c's MAX_SLOTS */

static char exe_path[PATH_MAX]; /* "" if /proc/self/exe was unreadable */
static dev_t exe_dev;
static ino_t exe_ino;
static int inherited_fd = -1;
static pid_t inherited[MAX_INHERIT];
static int ninherited;

/* A decimal number in 1..max, all of s; 0 if not. */
static long parse_pos(const char *s, size_t n, long max)
{
    long v = 0;
    if (n == 0 || n > 10)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : 0;
}

void upgrade_init(void)
{
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    if (exe_path[0] && stat(exe_path, &st) == 0) {
        exe_dev = st.st_dev;
        exe_ino = st.st_ino;
    } else {
        exe_path[0] = '\0';
    }

    const char *fd = getenv(ENV_FD), *pids = getenv(ENV_PIDS);
    if (fd != NULL) {
        int v = (int)parse_pos(fd, strlen(fd), INT_MAX);
        int type = 0;
        socklen_t len = sizeof type;
        /* Only a listening stream socket is taken over; anything else
         * (a variable set by hand) is ignored and the socket bound anew. */
        if (v > 2 && getsockopt(v, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
            type == SOCK_STREAM) {
            inherited_fd = v;
            fcntl(v, F_SETFD, FD_CLOEXEC);
        }
    }
    for (const char *p = pids; p != NULL && *p && inherited_fd >= 0;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long v = parse_pos(p, len, INT_MAX);
        if (v > 0 && ninherited < MAX_INHERIT)
            inherited[ninherited++] = (pid_t)v;
        p = comma ? comma + 1 : p + len;
    }
    unsetenv(ENV_FD);
    unsetenv(ENV_PIDS);
}

int upgrade_inherited_fd(void)
{
    return inherited_fd;
}

int upgrade_inherited_pids(pid_t *pids, int max)
{
    int n = ninherited < max ? ninherited : max;
    memcpy(pids, inherited, (size_t)n * sizeof *pids);
    ninherited = 0; /* adopted once */
    return n;
}

int upgrade_binary_changed(void)
{
    struct stat st;
    if (exe_path[0] == '\0' || stat(exe_path, &st) != 0)
        return 0; /* nothing (readable) to switch to */
    return st.st_dev != exe_dev || st.st_ino != exe_ino;
}

int upgrade_check_new(void)
{
    sigset_t old;
    sig_block_all(&old);
    pid_t pid = fork();
    if (pid == 0) {
        sig_child_reset();
        char *const argv[] = {exe_path, "--check", NULL};
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO); /* "configuration ok" */
        execv(exe_path, argv);
        _exit(127);
    }
    int err = errno;
    sig_restore(&old);
    if (pid < 0) {
        LOG(LOG_ERROR, "upgrade: fork: %s", strerror(err));
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    LOG(LOG_ERROR,
        "upgrade: %s --check failed (status %d); keeping the "
        "running binary",
        exe_path, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return -1;
}

int upgrade_exec(int listen_fd, const pid_t *pids, int n)
{
    char fdbuf[16], *list;
    size_t cap = (size_t)n * 12 + 1, len = 0;
    sigset_t old;

    list = malloc(cap);
    if (list == NULL)
        return -1;
    list[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, cap - len, "%s%d", i ? "," : "",
                                (int)pids[i]);
    snprintf(fdbuf, sizeof fdbuf, "%d", listen_fd);
    if (setenv(ENV_FD, fdbuf, 1) != 0 || setenv(ENV_PIDS, list, 1) != 0) {
        free(list);
        return -1;
    }
    free(list);
    LOG(LOG_INFO, "upgrade: re-executing %s with %d workers", exe_path, n);
    /* Signals stay blocked across the exec (the mask is inherited): one
     * that arrives meanwhile waits for the new master's handlers. */
    sig_block_all(&old);
    int flags = fcntl(listen_fd, F_GETFD);
    if (flags >= 0 && fcntl(listen_fd, F_SETFD, flags & ~FD_CLOEXEC) == 0) {
        char *const argv[] = {exe_path, NULL};
        execv(exe_path, argv);
    }
    int err = errno;
    fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
    sig_restore(&old);
    unsetenv(ENV_FD);
    unsetenv(ENV_PIDS);
    errno = err;
    return -1;
}
