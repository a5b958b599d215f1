/*
 * jppath.c -- the JSON path grammar (see jpath.h): a path's text parsed
 * into steps, names decoded from JSON strings. The ops on a document are
 * jpath.c.
 */
#include "jpath.h"
#include "jpath_internal.h"

#include "utf8.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAX_DIGITS 9 /* indexes below 10^9: no array is that long */

static int is_alpha_(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the JSON string whose opening quote is at s[*i] into *o (at
 * most as many bytes as the string takes in s: escapes only shrink).
 * Leaves *i after the closing quote. Returns NULL, or what went wrong. */
static const char *decode_string(const char *s, size_t len, size_t *i, char **o)
{
    size_t k = *i + 1;
    char *out = *o;
    for (;;) {
        if (k >= len)
            return "unterminated string";
        unsigned char c = (unsigned char)s[k];
        if (c == '"')
            break;
        if (c < 0x20)
            return "control character in a name";
        if (c != '\\') {
            *out++ = (char)c;
            k++;
            continue;
        }
        if (k + 1 >= len)
            return "unterminated string";
        char e = s[k + 1];
        k += 2;
        switch (e) {
        case '"':
            *out++ = '"';
            continue;
        case '\\':
            *out++ = '\\';
            continue;
        case '/':
            *out++ = '/';
            continue;
        case 'b':
            *out++ = '\b';
            continue;
        case 'f':
            *out++ = '\f';
            continue;
        case 'n':
            *out++ = '\n';
            continue;
        case 'r':
            *out++ = '\r';
            continue;
        case 't':
            *out++ = '\t';
            continue;
        case 'u':
            break;
        default:
            return "unknown escape";
        }
        unsigned cp, lo;
        if (k + 4 > len || hex4(s + k, &cp) != 0)
            return "\\u needs four hex digits";
        k += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return "lone low surrogate";
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (k + 6 > len || s[k] != '\\' || s[k + 1] != 'u' ||
                hex4(s + k + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return "lone high surrogate";
            k += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return "\\u0000 in a name";
        out += put_utf8(out, cp);
    }
    *i = k + 1;
    *o = out;
    return NULL;
}

int jp_path_parse(const char *text, size_t len, jp_path *out, char *why,
                  size_t whylen)
{
    jp_step steps[JP_MAX_STEPS];
    size_t n = 0, i = 1;
    const char *err = NULL;

    memset(out, 0, sizeof *out);
    if (len > JP_MAX_PATH) {
        jp_say(why, whylen, "bad path: longer than %d bytes", JP_MAX_PATH);
        return -1;
    }
    if (!utf8_valid(text, len)) {
        jp_say(why, whylen, "bad path: not valid UTF-8");
        return -1;
    }
    if (len == 0 || text[0] != '$') {
        jp_say(why, whylen, "bad path: it must start with $");
        return -1;
    }
    /* Decoded names never take more bytes than the path's text, plus one
     * NUL each: one block holds the steps and then the names. */
    size_t names_cap = len + JP_MAX_STEPS;
    char *names = xmalloc(names_cap);
    char *o = names;

    while (i < len && err == NULL) {
        if (n == JP_MAX_STEPS) {
            err = "too many steps";
            break;
        }
        jp_step *st = &steps[n];
        if (text[i] == '.') {
            i++;
            if (i >= len || !is_alpha_(text[i])) {
                err = "a name after '.' must start with a letter or '_'";
                break;
            }
            st->name = o;
            while (i < len && (is_alpha_(text[i]) || is_digit(text[i])))
                *o++ = text[i++];
            *o++ = '\0';
        } else if (text[i] == '[') {
            i++;
            if (i < len && text[i] == '"') {
                st->name = o;
                err = decode_string(text, len, &i, &o);
                if (err != NULL)
                    break;
                *o++ = '\0';
            } else if (i < len && is_digit(text[i])) {
                size_t v = 0, digits = 0;
                if (text[i] == '0' && i + 1 < len && is_digit(text[i + 1])) {
                    err = "an index has no leading zeros";
                    break;
                }
                while (i < len && is_digit(text[i])) {
                    if (++digits > INDEX_MAX_DIGITS) {
                        err = "index too large";
                        break;
                    }
                    v = v * 10 + (size_t)(text[i++] - '0');
                }
                if (err != NULL)
                    break;
                st->name = NULL;
                st->index = v;
            } else {
                err = "'[' must be followed by an index or a quoted name";
                break;
            }
            if (i >= len || text[i] != ']') {
                err = "expected ']'";
                break;
            }
            i++;
        } else {
            err = "expected '.' or '['";
            break;
        }
        st->end = i;
        n++;
    }
    if (err != NULL) {
        free(names);
        jp_say(why, whylen, "bad path: %s at byte %zu", err, i);
        return -1;
    }
    /* One block: the steps, then the names they point into. */
    size_t names_len = (size_t)(o - names);
    size_t steps_size = n * sizeof(jp_step);
    char *block = xmalloc(steps_size + names_len + 1);
    memcpy(block + steps_size, names, names_len);
    for (size_t k = 0; k < n; k++)
        if (steps[k].name != NULL)
            steps[k].name = block + steps_size + (steps[k].name - names);
    memcpy(block, steps, steps_size);
    free(names);
    out->steps = (jp_step *)(void *)block;
    out->n = n;
    out->text = text;
    return 0;
}

void jp_path_free(jp_path *p)
{
    if (p == NULL)
        return;
    free(p->steps);
    p->steps = NULL;
    p->n = 0;
}
