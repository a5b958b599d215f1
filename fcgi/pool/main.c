/*
 * main.c -- optimist-fcgi's entry point: reads the configuration, binds the
 * listening socket once (workers inherit it; a reload never rebinds it),
 * writes the pidfile, then hands over to the master loop (master.c) and
 * cleans up after it. Exit codes: 0 after a requested stop, 1 when the
 * service could not start, 2 for a bad command line or configuration.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SOCK_NONBLOCK; the Makefile sets it too */
#endif
#include "conf.h"
#include "log.h"
#include "master.h"
#include "router.h"
#include "followed.h"
#include "tableset.h"
#include "metrics.h"
#include "signals.h"
#include "hublink.h"
#include "streams.h"
#include "sandbox.h"
#include "upgrade.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* nginx opens connections in bursts (a crowd opening streams: each is a
 * connection to the pool until a worker hands it to the hub); the backlog
 * is where they wait while every worker is busy or being replaced. The
 * kernel caps it at net.core.somaxconn (4096 on current kernels). */
#define LISTEN_BACKLOG 4096

static void usage(FILE *f)
{
    fprintf(f, "usage: optimist-fcgi [--check] [--help]\n"
               "  --check  validate the configuration and exit\n"
               "  --help   this text, and the options\n");
}

static void help_line(const char *line)
{
    printf("  %s\n", line);
}

static void debug_line(const char *line)
{
    LOG(LOG_DEBUG, "conf %s", line);
}

/* host:port is TCP; anything else (a path, even one with a ':' in it if it
 * starts with '/' or '.') is a unix socket. */
static int is_tcp(const char *spec)
{
    return strchr(spec, ':') != NULL && spec[0] != '/' && spec[0] != '.';
}

/* Splits "host:port", "[v6]:port", "*:port" or ":port" into host (OUT, ""
 * for any address) and port (OUT). Returns 0, or -1 if malformed. */
static int split_host_port(const char *spec, char *host, size_t hlen,
                           char *port, size_t plen)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    char *end;
    long p = strtol(colon + 1, &end, 10);

    if (colon[1] == '\0' || *end != '\0' || p < 1 || p > 65535)
        return -1;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 1 && h[0] == '*')
        n = 0;
    if (n >= hlen || strlen(colon + 1) >= plen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

/* Checks the form of OPTIMIST_LISTEN (for --check and before binding).
 * Returns 0, or -1 with a message naming the option in errbuf. */
static int check_listen(const char *spec, char *errbuf, size_t errlen)
{
    char host[256], port[16];
    struct sockaddr_un sa;

    if (spec[0] == '\0') {
        snprintf(errbuf, errlen, "OPTIMIST_LISTEN: empty");
        return -1;
    }
    if (is_tcp(spec)) {
        if (split_host_port(spec, host, sizeof host, port, sizeof port) == 0)
            return 0;
        snprintf(errbuf, errlen,
                 "OPTIMIST_LISTEN: '%s' is not host:port "
                 "with a port in 1..65535",
                 spec);
        return -1;
    }
    if (strlen(spec) >= sizeof sa.sun_path) {
        snprintf(errbuf, errlen,
                 "OPTIMIST_LISTEN: socket path longer than "
                 "%zu bytes",
                 sizeof sa.sun_path - 1);
        return -1;
    }
    return 0;
}

static int bind_tcp(const char *spec)
{
    char host[256], port[16];
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc, one = 1;

    if (split_host_port(spec, host, sizeof host, port, sizeof port) != 0)
        return -1; /* check_listen said so already */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        LOG(LOG_ERROR, "OPTIMIST_LISTEN %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        /* Non-blocking: workers poll() it and take EAGAIN from accept()
         * when another worker won the race. Close-on-exec: nothing we
         * might exec should hold the port. */
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        /* A restart must not wait out TIME_WAIT from the last run. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, LISTEN_BACKLOG) == 0)
            break;
        LOG(LOG_ERROR, "OPTIMIST_LISTEN %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Is a process accepting on the unix socket at `path`? 1 yes, 0 no (the
 * file is stale: connect says ECONNREFUSED), -1 cannot tell (errno). */
static int unix_socket_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc, err;

    if (fd < 0)
        return -1;
    rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN) /* EAGAIN: live, its backlog is full */
        return 1;
    if (err == ECONNREFUSED)
        return 0;
    errno = err;
    return -1;
}

/* An EADDRINUSE path is a socket left behind by a master that died without
 * cleaning up -- or the socket of one that is running. Removes it only in
 * the first case. Returns 0 if removed (bind again), -1 if not (logged). */
static int remove_stale(const struct sockaddr_un *sa, const char *path)
{
    struct stat st;
    int live = unix_socket_live(sa);

    if (live > 0) {
        LOG(LOG_ERROR,
            "OPTIMIST_LISTEN %s: another process is accepting "
            "on it; not starting",
            path);
        return -1;
    }
    if (live < 0 && errno == ENOENT)
        return 0; /* gone since bind() failed: just bind again */
    if (live < 0) {
        LOG(LOG_ERROR,
            "OPTIMIST_LISTEN %s: in use, and probing it failed: "
            "%s",
            path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        LOG(LOG_ERROR, "OPTIMIST_LISTEN %s: exists and is not a socket", path);
        return -1;
    }
    LOG(LOG_INFO, "removing stale socket %s", path);
    if (unlink(path) != 0 && errno != ENOENT) {
        LOG(LOG_ERROR, "unlink %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int bind_unix(const char *path, const char *group)
{
    struct sockaddr_un sa;
    int fd;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked */
    /* Non-blocking and close-on-exec, as in bind_tcp(). */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        LOG(LOG_ERROR, "socket: %s", strerror(errno));
        return -1;
    }
    /* Born 0660 (connecting takes write permission): no moment when
     * another local user could speak FastCGI to the pool directly and
     * bypass nginx's rules (the loopback-only /metrics, the body limit). */
    mode_t old_mask = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old_mask);
    if (rc != 0) {
        int bound = 0;
        if (errno == EADDRINUSE) {
            if (remove_stale(&sa, path) != 0) { /* it said why */
                close(fd);
                return -1;
            }
            old_mask = umask(0117);
            bound = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
            umask(old_mask);
        }
        if (!bound) {
            LOG(LOG_ERROR, "OPTIMIST_LISTEN %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        LOG(LOG_ERROR, "OPTIMIST_LISTEN %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    /* The pool's user and group only: nginx's workers run as the same
     * user, or in OPTIMIST_LISTEN_GROUP. */
    if (chmod(path, 0660) != 0)
        LOG(LOG_WARN, "chmod %s: %s", path, strerror(errno));
    if (group[0] != '\0') {
        struct group *gr = getgrnam(group);
        if (gr == NULL || chown(path, (uid_t)-1, gr->gr_gid) != 0) {
            LOG(LOG_ERROR, "OPTIMIST_LISTEN_GROUP %s: %s", group,
                gr == NULL ? "no such group" : strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
    }
    return fd;
}

static int write_pidfile(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());

    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        LOG(LOG_ERROR, "OPTIMIST_PIDFILE %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return close(fd);
}

int main(int argc, char **argv)
{
    conf c;
    char err[512];
    int check = 0, fd, rc;

    upgrade_init();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0 || strcmp(argv[i], "-t") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            printf("\nOptions, from the environment or the KEY=VALUE file "
                   "named by OPTIMIST_CONFIG\n(name, default, meaning):\n");
            conf_help(help_line);
            return 0;
        } else {
            fprintf(stderr, "optimist-fcgi: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    if (conf_load(&c, err, sizeof err) != 0 ||
        check_listen(c.listen, err, sizeof err) != 0) {
        fprintf(stderr, "optimist-fcgi: %s\n", err);
        return 2;
    }
    /* The resources the routes name, known to every process it forks. */
    if (router_register_resources() != 0) {
        fprintf(stderr, "optimist-fcgi: a resource descriptor was refused\n");
        return 2;
    }
    if (check) {
        /* The declared tables against the database, as a start would
         * read them: each refusal names its file and the reason. */
        if (tset_check(&c) != 0)
            return 1;
        printf("configuration ok\n");
        return 0;
    }
    log_threshold = (enum log_level)c.log_level;
    if (log_open_file(c.log_file) != 0) {
        fprintf(stderr, "optimist-fcgi: OPTIMIST_LOG_FILE %s: %s\n", c.log_file,
                strerror(errno));
        return 1;
    }
    log_detect_journal();
    conf_dump(&c, debug_line);
    if (c.evaluator[0] != '\0') {
        /* A host where the sandbox cannot work refuses to start, with a
         * sentence, rather than fail every run. */
        char mode[512], why[512];
        if (sandbox_check(&c, mode, sizeof mode, why, sizeof why) != 0) {
            LOG(LOG_ERROR, "%s", why);
            return 1;
        }
        LOG(LOG_INFO, "%s", mode);
    } else {
        LOG(LOG_INFO, "evaluator: the built-in demo (forked, rlimits only)");
    }

    /* Before anything that a signal should not interrupt half-way: from
     * here a SIGTERM is queued for the master loop instead of killing us
     * with the socket and pidfile left behind. */
    if (sig_master_install() != 0) {
        LOG(LOG_ERROR, "signals: %s", strerror(errno));
        return 1;
    }
    /* An upgrading master exec'd us with every signal blocked; what came
     * meanwhile is delivered now, to the handlers just installed. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fd = upgrade_inherited_fd();
    if (fd < 0)
        fd = is_tcp(c.listen) ? bind_tcp(c.listen)
                              : bind_unix(c.listen, c.listen_group);
    if (fd < 0)
        return 1;
    if (c.pidfile[0] && write_pidfile(c.pidfile) != 0) {
        close(fd);
        if (!is_tcp(c.listen))
            unlink(c.listen);
        return 1;
    }
    /* Before the first fork: the counters must be one shared mapping. */
    if (metrics_init() != 0)
        LOG(LOG_WARN,
            "metrics: shared counters unavailable (%s); each "
            "process counts alone",
            strerror(errno));
    /* Also before the first fork: the evaluation slots are pool-wide. */
    if (hublink_init() != 0) {
        LOG(LOG_ERROR, "the hub's channel: %s", strerror(errno));
        return 1;
    }
    if (followed_init() != 0)
        LOG(LOG_WARN,
            "followed rows: shared mapping unavailable (%s); every "
            "change is sent to the hub",
            strerror(errno));
    if (streams_init() != 0)
        LOG(LOG_WARN,
            "evaluation slots: shared mapping unavailable (%s); "
            "each worker caps alone",
            strerror(errno));

    rc = master_run(&c, fd);

    close(fd);
    if (!is_tcp(c.listen))
        unlink(c.listen);
    if (c.pidfile[0])
        unlink(c.pidfile);
    return rc;
}
