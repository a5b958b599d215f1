/*
 * log.h -- one line per event on stderr: time, level, pid, request id, text.
 *
 * The level is checked before the message is formatted, so a debug line on
 * a hot path costs one comparison when debug is off.
 */
#ifndef OPTIMIST_LOG_H
#define OPTIMIST_LOG_H

enum log_level {
    LOG_ERROR = 0, /* something failed that should not have */
    LOG_WARN = 1,  /* degraded, but handled (a retry, a restart) */
    LOG_INFO = 2,  /* lifecycle and the access log */
    LOG_DEBUG = 3  /* details for a developer */
};

/* The level below which lines are dropped; set once at start. */
extern enum log_level log_threshold;

/* Parses "error"/"warn"/"info"/"debug"; returns -1 on anything else. */
int log_parse_level(const char *name);

/* Sets the request id printed in each line until log_set_request(NULL).
 * The string is copied (at most 63 bytes). */
void log_set_request(const char *request_id);

/* Sends the log to the file at `path` (appending, created 0640) instead of
 * the stderr we were started with: opens it and puts it on descriptor 2, so
 * that children inherit it. An empty path keeps stderr as it is. Returns 0,
 * or -1 with errno set (stderr unchanged). */
int log_open_file(const char *path);

/* Opens the file given to log_open_file() again (logrotate moved it away):
 * the next line goes to a new file of that name. A no-op without a file.
 * Each process holds its own descriptor 2, so every process of the pool
 * calls it (the master forwards SIGUSR1 to its children). Returns 0, or -1
 * with errno set, in which case the old file is kept. */
int log_reopen(void);

/* If stderr is systemd's journal (JOURNAL_STREAM names its device and
 * inode), lines carry the journal's "<N>" priority prefix instead of our
 * own timestamp: the journal stamps each line itself and can filter by
 * level (journalctl -p warning). Call after log_open_file(). */
void log_detect_journal(void);

/* Writes one line. Use the LOG macro, which checks the level first. */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG(level, ...)                                                        \
    do {                                                                       \
        if ((level) <= log_threshold)                                          \
            log_write((level), __VA_ARGS__);                                   \
    } while (0)

#endif
