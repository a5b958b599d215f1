/*
 * xalloc.h -- allocation that cannot fail: on failure one line goes to
 * stderr (the log: log.c puts the log file on descriptor 2) and the
 * process aborts. Why not recover: a worker or the hub out of memory is
 * in no state to answer correctly, and the master replaces a worker that
 * died; every caller would otherwise need an error path it cannot test.
 */
#ifndef OPTIMIST_XALLOC_H
#define OPTIMIST_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* For allocators of other libraries (json-c, libmysqlclient) that return
 * NULL only when out of memory: returns p, or logs `what` and aborts. */
void *xnonnull(void *p, const char *what);

/* The same for calls that report an allocation failure as a non-zero
 * return code: aborts unless rc == 0. */
void xok(int rc, const char *what);

/* Logs "out of memory (what)" and aborts. */
_Noreturn void xalloc_fail(const char *what, size_t n);

#endif
