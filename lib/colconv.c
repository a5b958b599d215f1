/*
 * colconv.c -- the strict converters of declared tables' values: a JSON
 * value, or a filter's text, to what a statement binds (coltype.h).
 *
 * Strict means: what the server would silently change is refused here
 * with a message for the client, so that a value read back is the value
 * written. No number passes through a double on its way to a DECIMAL or
 * an integer column; text is measured as the column's character set
 * counts it; dates are checked against the calendar, not only the
 * pattern. Every value goes to the server as an integer or as text in
 * the server's own notation ("2026-11-23 10:00:00.123", "-19.90").
 */
#include "coltype.h"

#include "parse.h"
#include "utf8.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- integers ----------------------------------------------------------- */

/* The range of an integer column, as a magnitude either side of 0. */
static void int_range(const col_type *t, uint64_t *neg_max, uint64_t *pos_max)
{
    unsigned bits = t->int_bytes * 8;
    if (t->is_unsigned) {
        *neg_max = 0;
        *pos_max = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    } else {
        *neg_max = UINT64_C(1) << (bits - 1);
        *pos_max = *neg_max - 1;
    }
}

static int int_check(const col_type *t, int neg, uint64_t mag, col_value *out,
                     char *why)
{
    uint64_t neg_max, pos_max;
    int_range(t, &neg_max, &pos_max);
    if (neg ? mag > neg_max : mag > pos_max) {
        if (t->is_unsigned)
            snprintf(why, COL_WHY_MAX, "must be an integer from 0 to %llu",
                     (unsigned long long)pos_max);
        else
            snprintf(why, COL_WHY_MAX, "must be an integer from -%llu to %llu",
                     (unsigned long long)neg_max, (unsigned long long)pos_max);
        return -1;
    }
    if (neg && mag > 0)
        out->p = REC_I(mag == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)mag);
    else
        out->p = REC_U(mag);
    return 0;
}

/* "-?[0-9]+" into sign and magnitude; -1 if not that or past 64 bits. */
static int int_text(const char *s, size_t n, int *neg, uint64_t *mag)
{
    char tmp[24];
    *neg = n > 0 && s[0] == '-';
    s += *neg;
    n -= (size_t)*neg;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (parse_u64(tmp, UINT64_MAX, mag) != n)
        return -1;
    /* UINT64_MAX itself, or more digits than fit */
    if (*mag == UINT64_MAX && strcmp(tmp, "18446744073709551615") != 0)
        return -1;
    return 0;
}

/* ---- decimals ----------------------------------------------------------- */

/* A JSON number's text (or the same in a string) as the column's DECIMAL
 * in plain notation ("-1.5e1" -> "-15"), digits counted exactly. */
static int decimal_text(const col_type *t, const char *s, size_t n,
                        col_value *out, char *why)
{
    size_t i = 0, ia, ib, fa, fb;
    int neg = 0;
    long long e = 0;
    if (i < n && s[i] == '-')
        neg = 1, i++;
    ia = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    ib = i;
    fa = fb = i;
    if (i < n && s[i] == '.') {
        fa = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        fb = i;
        if (fb == fa)
            goto bad;
    }
    if (ib == ia || (ib - ia > 1 && s[ia] == '0'))
        goto bad; /* JSON's grammar: no empty or zero-led integer part */
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i == n)
            goto bad;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 1000000)
                e = e * 10 + (s[i] - '0');
        if (eneg)
            e = -e;
    }
    if (i != n)
        goto bad;
    /* The digits, int part then fraction part, the point after P of them. */
    size_t total = (ib - ia) + (fb - fa);
#define DIG(k) ((k) < ib - ia ? s[ia + (k)] : s[fa + (k) - (ib - ia)])
    long long first = -1, last = -1;
    for (size_t k = 0; k < total; k++)
        if (DIG(k) != '0') {
            if (first < 0)
                first = (long long)k;
            last = (long long)k;
        }
    long long point = (long long)(ib - ia) + e;
    long long int_digits = 0, frac_digits = 0;
    if (first >= 0) {
        int_digits = point > first ? point - first : 0;
        frac_digits = last + 1 > point ? last + 1 - point : 0;
    }
    if (int_digits > (long long)(t->precision - t->scale) ||
        frac_digits > (long long)t->scale) {
        snprintf(why, COL_WHY_MAX,
                 "must be a decimal with at most %u digits before the point "
                 "and %u after it",
                 t->precision - t->scale, t->scale);
        return -1;
    }
    if (neg && first >= 0 && t->is_unsigned) {
        snprintf(why, COL_WHY_MAX, "must not be negative");
        return -1;
    }
    char *o = out->buf;
    size_t w = 0;
    if (neg && first >= 0)
        o[w++] = '-';
    if (int_digits == 0)
        o[w++] = '0';
    for (long long k = point - int_digits; k < point; k++)
        o[w++] = k >= 0 && k < (long long)total ? DIG((size_t)k) : '0';
    if (frac_digits > 0) {
        o[w++] = '.';
        for (long long k = point; k < point + frac_digits; k++)
            o[w++] = k >= 0 && k < (long long)total ? DIG((size_t)k) : '0';
    }
#undef DIG
    o[w] = '\0';
    out->p = REC_S(o, w);
    return 0;
bad:
    snprintf(why, COL_WHY_MAX, "must be a decimal number");
    return -1;
}

/* ---- floating point ----------------------------------------------------- */

/* A number's text, checked against the column's range; sent as text: the
 * server reads it as correctly rounded as strtod does. */
static int float_text(const col_type *t, const char *s, size_t n,
                      col_value *out, char *why)
{
    char *end;
    if (n == 0 || n >= sizeof out->buf)
        goto bad;
    memcpy(out->buf, s, n);
    out->buf[n] = '\0';
    if (!(out->buf[0] == '-' || (out->buf[0] >= '0' && out->buf[0] <= '9')))
        goto bad; /* no "inf", "nan", " 1", "+1", ".5" */
    double d = strtod(out->buf, &end);
    if (*end != '\0')
        goto bad;
    double max = t->kind == COL_FLOAT ? FLT_MAX : DBL_MAX;
    if (!isfinite(d) || fabs(d) > max || (t->is_unsigned && d < 0)) {
        snprintf(why, COL_WHY_MAX, "must be a number from %s to %s",
                 t->is_unsigned         ? "0"
                 : t->kind == COL_FLOAT ? "-3.40282e38"
                                        : "-1.79769e308",
                 t->kind == COL_FLOAT ? "3.40282e38" : "1.79769e308");
        return -1;
    }
    out->p = REC_S(out->buf, n);
    return 0;
bad:
    snprintf(why, COL_WHY_MAX, "must be a number");
    return -1;
}

/* ---- text --------------------------------------------------------------- */

static int in_latin1(uint32_t c)
{
    /* MariaDB's latin1 is Windows-1252: its 0x80..0x9F hold these, and
     * the five bytes cp1252 leaves undefined map to themselves. */
    static const uint16_t cp1252[] = {
        0x20AC, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6,
        0x2030, 0x0160, 0x2039, 0x0152, 0x017D, 0x2018, 0x2019, 0x201C,
        0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0x017E, 0x0178, 0x0081, 0x008D, 0x008F, 0x0090, 0x009D};
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF))
        return 1;
    for (size_t i = 0; i < sizeof cp1252 / sizeof cp1252[0]; i++)
        if (cp1252[i] == c)
            return 1;
    return 0;
}

/* The next code point of valid UTF-8 at s[*i], advancing *i. */
static uint32_t next_cp(const char *s, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    if (u[0] < 0x80) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xE0) {
        *i += 2;
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if (u[0] < 0xF0) {
        *i += 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) |
               ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    *i += 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
           ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

/* Text for a CHAR/VARCHAR/TEXT column: every character must exist in the
 * column's character set, and it must fit (characters for CHAR/VARCHAR,
 * bytes as stored for the TEXT types). */
static int text_check(const col_type *t, const char *s, size_t n, char *why)
{
    if (!utf8_valid(s, n)) {
        snprintf(why, COL_WHY_MAX, "must be valid UTF-8");
        return -1;
    }
    uint64_t chars = 0, bytes = 0;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t c = next_cp(s, &i);
        chars++;
        if ((t->charset == CS_UTF8MB3 && c > 0xFFFF) ||
            (t->charset == CS_ASCII && c > 0x7F) ||
            (t->charset == CS_LATIN1 && !in_latin1(c))) {
            snprintf(why, COL_WHY_MAX,
                     "holds a character (at byte %zu) that the column's "
                     "character set cannot store",
                     at);
            return -1;
        }
        bytes += t->charset == CS_LATIN1 || t->charset == CS_ASCII
                     ? 1
                     : (uint64_t)(i - at);
    }
    if (t->max_chars > 0 && chars > t->max_chars) {
        snprintf(why, COL_WHY_MAX, "must be at most %llu characters long",
                 (unsigned long long)t->max_chars);
        return -1;
    }
    if (t->max_bytes > 0 && bytes > t->max_bytes) {
        snprintf(why, COL_WHY_MAX, "must be at most %llu bytes long",
                 (unsigned long long)t->max_bytes);
        return -1;
    }
    return 0;
}

static int member_of(const col_type *t, const char *s, size_t n)
{
    for (size_t i = 0; i < t->nmembers; i++)
        if (strlen(t->members[i]) == n && memcmp(t->members[i], s, n) == 0)
            return (int)i;
    return -1;
}

static int enum_check(const col_type *t, const char *s, size_t n, char *why)
{
    if (t->kind == COL_ENUM) {
        if (member_of(t, s, n) >= 0)
            return 0;
        snprintf(why, COL_WHY_MAX, "must be one of the column's values");
        return -1;
    }
    /* SET: members joined by commas, each at most once; "" is no member. */
    uint64_t seen = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && s[b] != ',')
            b++;
        int m = member_of(t, s + a, b - a);
        if (m < 0 || m >= 64 || (seen & (UINT64_C(1) << m))) {
            snprintf(why, COL_WHY_MAX,
                     m >= 0 ? "names a value twice"
                            : "must be values of the column joined by commas");
            return -1;
        }
        seen |= UINT64_C(1) << m;
        a = b + 1;
        if (b < n && a == n) { /* a trailing comma */
            snprintf(why, COL_WHY_MAX,
                     "must be values of the column joined by commas");
            return -1;
        }
    }
    return 0;
}

/* ---- dates -------------------------------------------------------------- */

static int digits(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return 0;
}

static unsigned days_in(unsigned y, unsigned m)
{
    static const unsigned d[] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* "YYYY-MM-DD", a real day of years 1000 to 9999. */
static int date_parse(const char *s, size_t n, unsigned *y, unsigned *m,
                      unsigned *d)
{
    if (n < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, y) ||
        digits(s + 5, 2, m) || digits(s + 8, 2, d))
        return -1;
    if (*y < 1000 || *m < 1 || *m > 12 || *d < 1 || *d > days_in(*y, *m))
        return -1;
    return 0;
}

static int date_text(const char *s, size_t n, col_value *out, char *why)
{
    unsigned y, m, d;
    if (n != 10 || date_parse(s, n, &y, &m, &d) != 0) {
        snprintf(why, COL_WHY_MAX,
                 "must be a date \"YYYY-MM-DD\" from 1000-01-01 to 9999-12-31");
        return -1;
    }
    memcpy(out->buf, s, 10);
    out->p = REC_S(out->buf, 10);
    return 0;
}

/* RFC 3339 in UTC: "YYYY-MM-DDTHH:MM:SS[.f]Z" (or +00:00). Fraction
 * digits the column does not keep must be zeros: nothing is rounded. */
static int datetime_text(const col_type *t, const char *s, size_t n,
                         col_value *out, char *why)
{
    unsigned y, mo, d, h, mi, sec;
    size_t i = 19, fa, fb;
    if (n < 20 || date_parse(s, n, &y, &mo, &d) != 0 ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        goto bad;
    fa = fb = i;
    if (s[i] == '.') {
        fa = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        fb = i;
        if (fb == fa)
            goto bad;
    }
    if (!((n - i == 1 && (s[i] == 'Z' || s[i] == 'z')) ||
          (n - i == 6 && (memcmp(s + i, "+00:00", 6) == 0 ||
                          memcmp(s + i, "-00:00", 6) == 0)))) {
        snprintf(why, COL_WHY_MAX,
                 "must be an RFC 3339 time in UTC (ending in Z)");
        return -1;
    }
    for (size_t k = fa + t->fsp; k < fb; k++)
        if (s[k] != '0') {
            snprintf(why, COL_WHY_MAX,
                     "has more fractional digits than the column keeps (%u)",
                     t->fsp);
            return -1;
        }
    if (t->kind == COL_TIMESTAMP) {
        /* '1970-01-01 00:00:01' .. '2038-01-19 03:14:07.999999' UTC */
        char lo[] = "1970-01-01T00:00:01", hi[] = "2038-01-19T03:14:07";
        char v[20];
        memcpy(v, s, 19);
        v[10] = 'T';
        v[19] = '\0';
        if (strcmp(v, lo) < 0 || strcmp(v, hi) > 0) {
            snprintf(why, COL_WHY_MAX,
                     "must be a time from 1970-01-01T00:00:01Z to "
                     "2038-01-19T03:14:07Z");
            return -1;
        }
    }
    memcpy(out->buf, s, 19);
    out->buf[10] = ' ';
    size_t w = 19, keep = fb - fa < t->fsp ? fb - fa : t->fsp;
    if (keep > 0) {
        out->buf[w++] = '.';
        memcpy(out->buf + w, s + fa, keep);
        w += keep;
    }
    out->p = REC_S(out->buf, w);
    return 0;
bad:
    snprintf(why, COL_WHY_MAX,
             "must be a time \"YYYY-MM-DDTHH:MM:SS.mmmZ\" (RFC 3339, UTC)");
    return -1;
}

/* ---- the converters ----------------------------------------------------- */

static const char *kind_wants(col_kind k)
{
    switch (k) {
    case COL_INT:
        return "must be an integer";
    case COL_BOOL:
        return "must be true or false";
    case COL_DECIMAL:
        return "must be a decimal (a string or a number)";
    case COL_FLOAT:
    case COL_DOUBLE:
        return "must be a number";
    default:
        return "must be a string";
    }
}

/* A string value for every kind that takes one. */
static int from_string(const col_type *t, const char *s, size_t n,
                       col_value *out, char *why)
{
    switch (t->kind) {
    case COL_TEXT:
        if (text_check(t, s, n, why) != 0)
            return -1;
        break;
    case COL_ENUM:
    case COL_SET:
        if (enum_check(t, s, n, why) != 0)
            return -1;
        break;
    case COL_DATE:
        return date_text(s, n, out, why);
    case COL_DATETIME:
    case COL_TIMESTAMP:
        return datetime_text(t, s, n, out, why);
    case COL_DECIMAL:
        return decimal_text(t, s, n, out, why);
    default:
        snprintf(why, COL_WHY_MAX, "%s", kind_wants(t->kind));
        return -1;
    }
    out->p = REC_S(s, n);
    return 0;
}

int col_from_json(const col_type *t, json_object *v, col_value *out, char *why)
{
    memset(&out->p, 0, sizeof out->p);
    if (t->kind == COL_UNSERVABLE) {
        snprintf(why, COL_WHY_MAX, "cannot be served");
        return -1;
    }
    if (v == NULL || json_object_is_type(v, json_type_null)) {
        if (!t->nullable) {
            snprintf(why, COL_WHY_MAX, "must not be null");
            return -1;
        }
        out->p = REC_NULLP;
        return 0;
    }
    if (t->kind == COL_JSON) {
        size_t n = 0;
        const char *s = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (t->max_bytes > 0 && n > t->max_bytes) {
            snprintf(why, COL_WHY_MAX, "must be at most %llu bytes long",
                     (unsigned long long)t->max_bytes);
            return -1;
        }
        out->p = REC_S(s, n);
        return 0;
    }
    json_type jt = json_object_get_type(v);
    if (t->kind == COL_BOOL) {
        if (jt != json_type_boolean)
            goto wrong;
        out->p = REC_I(json_object_get_boolean(v) ? 1 : 0);
        return 0;
    }
    if (jt == json_type_string)
        return from_string(t, json_object_get_string(v),
                           (size_t)json_object_get_string_len(v), out, why);
    if (jt == json_type_int) {
        int64_t i = json_object_get_int64(v);
        int neg = i < 0;
        uint64_t mag = neg              ? (uint64_t)0 - (uint64_t)i
                       : i == INT64_MAX ? json_object_get_uint64(v)
                                        : (uint64_t)i;
        if (t->kind == COL_INT)
            return int_check(t, neg, mag, out, why);
        if (t->kind == COL_DECIMAL || t->kind == COL_FLOAT ||
            t->kind == COL_DOUBLE) {
            char tmp[24];
            int n = snprintf(tmp, sizeof tmp, "%s%llu", neg ? "-" : "",
                             (unsigned long long)mag);
            return t->kind == COL_DECIMAL
                       ? decimal_text(t, tmp, (size_t)n, out, why)
                       : float_text(t, tmp, (size_t)n, out, why);
        }
        goto wrong;
    }
    if (jt == json_type_double &&
        (t->kind == COL_DECIMAL || t->kind == COL_FLOAT ||
         t->kind == COL_DOUBLE || t->kind == COL_INT)) {
        /* json-c keeps a parsed number's own text: the digits as sent. */
        size_t n = 0;
        const char *s =
            json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &n);
        if (t->kind == COL_DECIMAL)
            return decimal_text(t, s, n, out, why);
        if (t->kind == COL_INT)
            goto wrong; /* 3.0 or 1e2: send integers as integers */
        return float_text(t, s, n, out, why);
    }
wrong:
    snprintf(why, COL_WHY_MAX, "%s", kind_wants(t->kind));
    return -1;
}

int col_from_text(const col_type *t, const char *s, size_t n, col_value *out,
                  char *why)
{
    memset(&out->p, 0, sizeof out->p);
    switch (t->kind) {
    case COL_UNSERVABLE:
        snprintf(why, COL_WHY_MAX, "cannot be served");
        return -1;
    case COL_JSON:
        snprintf(why, COL_WHY_MAX, "a JSON column cannot be filtered on");
        return -1;
    case COL_INT: {
        int neg;
        uint64_t mag;
        if (int_text(s, n, &neg, &mag) != 0) {
            snprintf(why, COL_WHY_MAX, "must be an integer");
            return -1;
        }
        return int_check(t, neg, mag, out, why);
    }
    case COL_BOOL:
        if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1')) {
            out->p = REC_I(1);
            return 0;
        }
        if ((n == 5 && memcmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0')) {
            out->p = REC_I(0);
            return 0;
        }
        snprintf(why, COL_WHY_MAX, "must be true or false");
        return -1;
    case COL_FLOAT:
    case COL_DOUBLE:
        return float_text(t, s, n, out, why);
    default:
        return from_string(t, s, n, out, why);
    }
}
