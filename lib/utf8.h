/*
 * utf8.h -- strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
#ifndef OPTIMIST_UTF8_H
#define OPTIMIST_UTF8_H

#include <stddef.h>

/* 1 if s[0..n) is valid UTF-8, else 0. */
int utf8_valid(const char *s, size_t n);

/* The number of code points in valid UTF-8 s[0..n). */
size_t utf8_length(const char *s, size_t n);

#endif
