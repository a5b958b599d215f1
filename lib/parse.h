/*
 * parse.h -- decimal numbers in text (ids in paths, query parameters,
 * versions in If-Match, numbers the database prints): one checked loop
 * instead of one per caller. No allocation, no locale, no errno.
 */
#ifndef OPTIMIST_PARSE_H
#define OPTIMIST_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Reads the decimal digits at the start of `s` (NUL-terminated): *out gets
 * their value, or `max` when the value is larger than max (all the digits
 * are read either way, so nothing wraps around). Returns how many digits
 * there were: 0 when s does not start with one (*out = 0). A sign, a space
 * or any other character ends the number: the caller checks s[n] when the
 * whole string must be the number. */
size_t parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
