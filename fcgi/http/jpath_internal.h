/*
 * jpath_internal.h -- what jpath.c (the ops) and jppath.c (the paths'
 * grammar) share: the error message helpers. Not for other modules.
 */
#ifndef OPTIMIST_JPATH_INTERNAL_H
#define OPTIMIST_JPATH_INTERNAL_H

#include <stddef.h>

/* vsnprintf into why[whylen]. */
void jp_say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How many bytes of s[0..n) to quote in a message (see jpath.c). */
int jp_quote_len(const char *s, size_t n);

#endif
