/*
 * json_check.h -- a strict RFC 8259 syntax check, run before json-c parses
 * a body: json-c's STRICT mode still lets NaN, Infinity, single quotes,
 * raw control characters in strings, "1." and "00" through, and a value it
 * accepts that way could be written out again as invalid JSON.
 */
#ifndef OPTIMIST_JSON_CHECK_H
#define OPTIMIST_JSON_CHECK_H

#include <stddef.h>

typedef enum jcheck_result {
    JCHECK_OK = 0,   /* one valid JSON text, optional whitespace around */
    JCHECK_SYNTAX,   /* not JSON */
    JCHECK_TOO_DEEP, /* valid so far, but nested deeper than allowed */
    JCHECK_RANGE,    /* an integer beyond 64 bits: json-c would clamp it
                        silently, so it is refused rather than changed */
    JCHECK_NUL       /* a \u0000 escape, in a key or a string: json-c
                        keeps it, but every C string after it (keys,
                        titles, the JSON we write) would end there */
} jcheck_result;

/* Checks buf[0..len). `max_depth` counts the outer value as level 1.
 * *where (may be NULL) gets the offset of the first bad byte. The bytes
 * must already be valid UTF-8 (checked separately). */
jcheck_result jcheck(const char *buf, size_t len, int max_depth, size_t *where);

#endif
