/*
 * jbuf.c -- the JSON text writer. Strings are escaped per RFC 8259: quote,
 * backslash and control characters; everything else (valid UTF-8, checked
 * on input) is copied as it is.
 */
#include "jbuf.h"

#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_init(jbuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
}

void jb_free(jbuf *b)
{
    free(b->p);
    jb_init(b);
}

void jb_reset(jbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void grow(jbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = xrealloc(b->p, cap);
    b->p = p;
    b->cap = cap;
}

void jb_raw(jbuf *b, const char *s, size_t n)
{
    grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void jb_lit(jbuf *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

void jb_str(jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    grow(b, n + 2);
    b->p[b->len++] = '"';
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jb_raw(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        jb_raw(b, esc, elen);
    }
    jb_raw(b, s + run, n - run);
    jb_raw(b, "\"", 1);
}

void jb_cstr(jbuf *b, const char *s)
{
    if (s == NULL)
        jb_raw(b, "null", 4);
    else
        jb_str(b, s, strlen(s));
}

size_t jb_fmt_u64(char out[21], uint64_t v)
{
    /* By hand: snprintf's format parsing cost more than the rest of a
     * bid's rendering (callgrind, BENCH.md "The pool's CPU per answer"). */
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

void jb_u64(jbuf *b, uint64_t v)
{
    char tmp[21];
    size_t n = jb_fmt_u64(tmp, v);
    jb_raw(b, tmp, n);
}

void jb_record_head(jbuf *b, uint64_t id, uint64_t version)
{
    jb_lit(b, "{\"id\":");
    jb_u64(b, id);
    jb_lit(b, ",\"version\":");
    jb_u64(b, version);
}

void jb_time(jbuf *b, const char *t)
{
    if (t == NULL) {
        jb_raw(b, "null", 4);
        return;
    }
    /* "2026-11-23 10:00:00.123" -> "2026-11-23T10:00:00.123Z" */
    char out[32];
    size_t n = strlen(t);
    if (n > 23)
        n = 23;
    memcpy(out, t, n);
    if (n > 10 && out[10] == ' ')
        out[10] = 'T';
    if (n == 19) { /* a column without fractions: add them */
        memcpy(out + 19, ".000", 4);
        n = 23;
    }
    out[n++] = 'Z';
    jb_raw(b, "\"", 1);
    jb_raw(b, out, n);
    jb_raw(b, "\"", 1);
}
