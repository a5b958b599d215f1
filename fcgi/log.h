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

/* Writes one line. Use the LOG macro, which checks the level first. */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG(level, ...)                                                        \
    do {                                                                       \
        if ((level) <= log_threshold)                                          \
            log_write((level), __VA_ARGS__);                                   \
    } while (0)

#endif
