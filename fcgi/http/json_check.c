/*
 * json_check.c -- the RFC 8259 grammar as an iterative scanner with an
 * explicit stack (so nesting never recurses on the C stack). It only
 * says yes or no; json-c builds the value afterwards.
 */
#include "json_check.h"

#include <string.h>

#define MAX_STACK 1024

struct scan {
    const char *s;
    size_t n, i;
};

static void ws(struct scan *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
                           c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int hexdigit(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

/* The value of the \\uXXXX escape at s[at], or 0x10000 if malformed. */
static unsigned hex4(const struct scan *c, size_t at)
{
    unsigned v = 0;
    if (at + 6 > c->n)
        return 0x10000;
    for (size_t k = 2; k < 6; k++) {
        char ch = c->s[at + k];
        if (!hexdigit(ch))
            return 0x10000;
        v = v * 16 + (unsigned)(ch <= '9'   ? ch - '0'
                                : ch <= 'F' ? ch - 'A' + 10
                                            : ch - 'a' + 10);
    }
    return v;
}

/* 1 if the string at c->i is well-formed, 0 if not, -1 if it holds a
 * \u0000 escape (c->i then points at the backslash). */
static int string(struct scan *c)
{
    c->i++; /* the opening quote */
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') {
            c->i++;
            return 1;
        }
        if (ch < 0x20)
            return 0; /* control characters must be escaped */
        if (ch == '\\') {
            if (c->i + 1 >= c->n)
                return 0;
            char e = c->s[c->i + 1];
            if (e == 'u') {
                unsigned u = hex4(c, c->i);
                if (u > 0xFFFF)
                    return 0;
                if (u == 0)
                    return -1; /* the contract: a NUL is never accepted */
                c->i += 6;
                /* UTF-16 escapes must pair: a high surrogate followed by
                 * a low one. json-c would turn a lone one into U+FFFD
                 * without a word: not valid Unicode, so not accepted. */
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return 0;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (c->i + 1 >= c->n || c->s[c->i] != '\\' ||
                        c->s[c->i + 1] != 'u')
                        return 0;
                    unsigned lo = hex4(c, c->i);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return 0;
                    c->i += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return 0;
            c->i += 2;
            continue;
        }
        c->i++;
    }
    return 0;
}

static int digits(struct scan *c)
{
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
        c->i++;
    return c->i > start;
}

/* 1 if the integer literal s[0..n) (optional '-', digits) fits json-c's
 * int64 (negative) or uint64 (positive) without clamping. */
static int integer_fits(const char *s, size_t n)
{
    int neg = s[0] == '-';
    const char *limit = neg ? "9223372036854775808" : "18446744073709551615";
    size_t digits = n - (size_t)neg, llen = strlen(limit);
    if (digits != llen)
        return digits < llen;
    return memcmp(s + neg, limit, llen) <= 0;
}

static int number(struct scan *c)
{
    size_t start = c->i;
    if (c->s[c->i] == '-')
        c->i++;
    if (c->i >= c->n)
        return 0;
    if (c->s[c->i] == '0')
        c->i++; /* no leading zeros: "0" alone, then '.', 'e' or the end */
    else if (!digits(c))
        return 0;
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (!digits(c))
            return 0;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            c->i++;
        if (!digits(c))
            return 0;
    }
    return 1 + (c->i - start > 19 &&
                memchr(c->s + start, '.', c->i - start) == NULL &&
                memchr(c->s + start, 'e', c->i - start) == NULL &&
                memchr(c->s + start, 'E', c->i - start) == NULL &&
                !integer_fits(c->s + start, c->i - start));
}

static int literal(struct scan *c, const char *word)
{
    size_t len = strlen(word);
    if (c->n - c->i < len || memcmp(c->s + c->i, word, len) != 0)
        return 0;
    c->i += len;
    return 1;
}

/* A member's name and its ':', the cursor at the name's opening quote
 * (after '{' or ','): JCHECK_OK with the cursor at the value, else what
 * is wrong there. */
static jcheck_result member_name(struct scan *c)
{
    if (c->i >= c->n || c->s[c->i] != '"')
        return JCHECK_SYNTAX;
    int sr = string(c);
    if (sr <= 0)
        return sr < 0 ? JCHECK_NUL : JCHECK_SYNTAX;
    ws(c);
    if (c->i >= c->n || c->s[c->i] != ':')
        return JCHECK_SYNTAX;
    c->i++;
    ws(c);
    return JCHECK_OK;
}

jcheck_result jcheck(const char *buf, size_t len, int max_depth, size_t *where)
{
    struct scan c = {buf, len, 0};
    char stack[MAX_STACK]; /* '{' or '[' per open container */
    int depth = 0, sr;
    jcheck_result res = JCHECK_SYNTAX, mr;

    if (max_depth > MAX_STACK)
        max_depth = MAX_STACK;
    ws(&c);
    for (;;) {
        /* Expect a value. */
        if (c.i >= c.n)
            goto out;
        char ch = c.s[c.i];
        if (ch == '{' || ch == '[') {
            if (depth + 1 > max_depth) {
                res = JCHECK_TOO_DEEP;
                goto out;
            }
            stack[depth++] = ch;
            c.i++;
            ws(&c);
            if (c.i < c.n && c.s[c.i] == (ch == '{' ? '}' : ']')) {
                c.i++;
                depth--;
                goto after_value;
            }
            if (ch == '{' && (mr = member_name(&c)) != JCHECK_OK) {
                res = mr;
                goto out;
            }
            continue;
        }
        if (ch == '"') {
            if ((sr = string(&c)) <= 0) {
                res = sr < 0 ? JCHECK_NUL : JCHECK_SYNTAX;
                goto out;
            }
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t at = c.i;
            int n = number(&c);
            if (n == 0)
                goto out;
            if (n == 2) {
                c.i = at;
                res = JCHECK_RANGE;
                goto out;
            }
        } else if (!literal(&c, "true") && !literal(&c, "false") &&
                   !literal(&c, "null")) {
            goto out;
        }
    after_value:
        ws(&c);
        if (depth == 0)
            break;
        if (c.i >= c.n)
            goto out;
        char open = stack[depth - 1];
        if (c.s[c.i] == ',') {
            c.i++;
            ws(&c);
            if (open == '{' && (mr = member_name(&c)) != JCHECK_OK) {
                res = mr;
                goto out;
            }
            continue;
        }
        if (c.s[c.i] == (open == '{' ? '}' : ']')) {
            c.i++;
            depth--;
            goto after_value;
        }
        goto out;
    }
    if (c.i == c.n)
        res = JCHECK_OK;
out:
    if (where)
        *where = c.i;
    return res;
}
