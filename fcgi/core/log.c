/*
 * log.c -- the log line writer. Each line is built in one buffer and written
 * with a single write(2), so lines from several workers sharing stderr do
 * not interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;

static char current_request[64] = "-";

static char log_path[4096]; /* "" while logging to the inherited stderr */

static int to_journal; /* 1: stderr is the journal (see log.h) */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static int open_onto_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    /* dup2 is atomic: no line is ever written to a closed descriptor 2. */
    if (fd != STDERR_FILENO) {
        if (dup2(fd, STDERR_FILENO) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        close(fd);
    }
    return 0;
}

int log_open_file(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (strlen(path) >= sizeof log_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (open_onto_stderr(path) != 0)
        return -1;
    memcpy(log_path, path, strlen(path) + 1);
    return 0;
}

int log_reopen(void)
{
    if (log_path[0] == '\0')
        return 0;
    return open_onto_stderr(log_path);
}

void log_detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = 0;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
        fstat(STDERR_FILENO, &st) != 0)
        return;
    to_journal = (unsigned long long)st.st_dev == dev &&
                 (unsigned long long)st.st_ino == ino;
}

void log_set_request(const char *request_id)
{
    if (request_id == NULL || request_id[0] == '\0') {
        strcpy(current_request, "-");
        return;
    }
    snprintf(current_request, sizeof current_request, "%s", request_id);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;
    int w;

    if (to_journal) {
        /* sd-daemon(3) priorities: err 3, warning 4, info 6, debug 7. */
        static const int prio[] = {3, 4, 6, 7};
        n = 0;
        w = snprintf(line, sizeof line, "<%d>%s pid=%d req=%s ", prio[level],
                     level_names[level], (int)getpid(), current_request);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        w = snprintf(line + n, sizeof line - n, ".%03ldZ %s pid=%d req=%s ",
                     ts.tv_nsec / 1000000L, level_names[level], (int)getpid(),
                     current_request);
    }
    if (w > 0)
        n += (size_t)w;
    va_start(ap, fmt);
    w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (w > 0)
        n += (size_t)w;
    if (n > sizeof line - 2)
        n = sizeof line - 2; /* truncated: keep it one line */
    /* Embedded newlines would break "one line per event". */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r; /* nowhere to report a failed log write */
}
