/*
 * xalloc.c -- allocation that aborts with a log line when memory runs out
 * (why: xalloc.h).
 */
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void xalloc_fail(const char *what, size_t n)
{
    /* No allocation here: a stack buffer and one write(2), so that the
     * line is whole in a log shared with other processes. */
    char line[160];
    int len = snprintf(line, sizeof line,
                       "error pid=%ld out of memory: %s (%zu bytes), "
                       "aborting\n",
                       (long)getpid(), what, n);
    if (len > 0) {
        size_t m = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
        ssize_t w = write(STDERR_FILENO, line, m);
        (void)w; /* about to abort: nothing to do if stderr is gone */
    }
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        xalloc_fail("malloc", n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb, size);
    if (p == NULL)
        xalloc_fail("calloc", nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL)
        xalloc_fail("realloc", n);
    return q;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        xalloc_fail("strdup", strlen(s) + 1);
    return p;
}

void *xnonnull(void *p, const char *what)
{
    if (p == NULL)
        xalloc_fail(what, 0);
    return p;
}

void xok(int rc, const char *what)
{
    if (rc != 0)
        xalloc_fail(what, 0);
}
