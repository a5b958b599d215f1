/*
 * coltype.c -- column types from information_schema, and column values
 * as JSON (the other way, JSON to a bound value, is colconv.c).
 *
 * The server renders every value as text (stmt.c binds results as
 * strings); here that text becomes the contract's JSON: integers and
 * JSON documents as they are, DECIMALs as strings with their digits,
 * times in RFC 3339 with milliseconds (the session runs in UTC: db.c).
 */
#include "coltype.h"
#include "xalloc.h"

#include "parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t num(const char *s)
{
    uint64_t v = 0;
    if (s != NULL)
        (void)parse_u64(s, UINT64_MAX, &v);
    return v;
}

static col_charset charset_of(const char *cs)
{
    if (cs == NULL)
        return CS_OTHER;
    if (strcmp(cs, "utf8mb4") == 0)
        return CS_UTF8MB4;
    if (strcmp(cs, "utf8mb3") == 0 || strcmp(cs, "utf8") == 0)
        return CS_UTF8MB3;
    if (strcmp(cs, "latin1") == 0)
        return CS_LATIN1;
    if (strcmp(cs, "ascii") == 0)
        return CS_ASCII;
    return CS_OTHER;
}

/* The members of "enum('a','b''c')" or "set(...)": quoted values, a quote
 * inside doubled (information_schema's rendering). -1 if malformed. */
static int parse_members(const char *ct, col_type *t)
{
    const char *p = strchr(ct, '(');
    size_t cap = 8;
    if (p == NULL)
        return -1;
    p++;
    t->members = xcalloc(cap, sizeof *t->members);
    while (*p == '\'') {
        const char *start = ++p;
        size_t n = 0;
        char *v = xmalloc(strlen(start) + 1);
        for (;;) {
            if (*p == '\0') {
                free(v);
                return -1;
            }
            if (*p == '\'' && p[1] == '\'') {
                v[n++] = '\'';
                p += 2;
            } else if (*p == '\'') {
                p++;
                break;
            } else {
                v[n++] = *p++;
            }
        }
        v[n] = '\0';
        if (t->nmembers + 1 >= cap) {
            cap *= 2;
            t->members = xrealloc(t->members, cap * sizeof *t->members);
        }
        t->members[t->nmembers++] = v;
        if (*p == ',')
            p++;
    }
    return *p == ')' ? 0 : -1;
}

static void unservable(col_type *t, const char *what)
{
    t->kind = COL_UNSERVABLE;
    snprintf(t->why, sizeof t->why, "type %s cannot be served", what);
}

void col_type_parse(const col_info *in, col_type *t)
{
    static const struct {
        const char *name;
        unsigned bytes;
    } ints[] = {{"tinyint", 1}, {"smallint", 2}, {"mediumint", 3},
                {"int", 4},     {"integer", 4},  {"bigint", 8}};
    const char *dt = in->data_type ? in->data_type : "";
    const char *ct = in->column_type ? in->column_type : "";

    memset(t, 0, sizeof *t);
    t->nullable = in->nullable;
    t->is_unsigned = strstr(ct, " unsigned") != NULL;
    t->charset = charset_of(in->charset);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(dt, ints[i].name) == 0) {
            t->kind = strncmp(ct, "tinyint(1)", 10) == 0 ? COL_BOOL : COL_INT;
            t->int_bytes = ints[i].bytes;
            return;
        }
    if (strcmp(dt, "decimal") == 0 || strcmp(dt, "numeric") == 0) {
        t->kind = COL_DECIMAL;
        t->precision = (unsigned)num(in->num_precision);
        t->scale = (unsigned)num(in->num_scale);
        if (t->precision == 0 || t->precision > 65 || t->scale > t->precision)
            unservable(t, ct);
    } else if (strcmp(dt, "float") == 0) {
        t->kind = COL_FLOAT;
    } else if (strcmp(dt, "double") == 0 || strcmp(dt, "real") == 0) {
        t->kind = COL_DOUBLE;
    } else if (strcmp(dt, "char") == 0 || strcmp(dt, "varchar") == 0) {
        t->kind = COL_TEXT;
        t->max_chars = num(in->char_max);
    } else if (strcmp(dt, "tinytext") == 0 || strcmp(dt, "text") == 0 ||
               strcmp(dt, "mediumtext") == 0 || strcmp(dt, "longtext") == 0) {
        t->kind = in->is_json ? COL_JSON : COL_TEXT;
        t->max_bytes = num(in->octet_max);
    } else if (strcmp(dt, "enum") == 0 || strcmp(dt, "set") == 0) {
        t->kind = dt[0] == 'e' ? COL_ENUM : COL_SET;
        if (parse_members(ct, t) != 0) {
            col_type_free(t);
            unservable(t, ct);
        }
    } else if (strcmp(dt, "date") == 0) {
        t->kind = COL_DATE;
    } else if (strcmp(dt, "datetime") == 0 || strcmp(dt, "timestamp") == 0) {
        t->kind = dt[0] == 'd' ? COL_DATETIME : COL_TIMESTAMP;
        t->fsp = (unsigned)num(in->dt_precision);
        if (t->fsp > 6)
            unservable(t, ct);
    } else {
        unservable(t, dt[0] ? dt : "(unknown)");
    }
    /* Text in the binary character set is bytes, not characters. */
    if ((t->kind == COL_TEXT || t->kind == COL_JSON || t->kind == COL_ENUM ||
         t->kind == COL_SET) &&
        in->charset != NULL && strcmp(in->charset, "binary") == 0) {
        col_type_free(t);
        unservable(t, ct);
    }
}

void col_type_free(col_type *t)
{
    for (size_t i = 0; i < t->nmembers; i++)
        free(t->members[i]);
    free(t->members);
    t->members = NULL;
    t->nmembers = 0;
}

const char *col_kind_name(col_kind k)
{
    static const char *const names[] = {
        "unservable", "integer",   "boolean", "decimal", "float",
        "double",     "text",      "enum",    "set",     "date",
        "datetime",   "timestamp", "json"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* ---- rendering ---------------------------------------------------------- */

/* 1 if s[0..n) is a JSON number (what the client library prints for a
 * FLOAT or DOUBLE should be; anything else is printed again below). */
static int json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i == n || s[i] < '0' || s[i] > '9')
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        if (++i == n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i == n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" -> "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void render_time(const char *s, size_t n, jbuf *out)
{
    char o[32];
    if (n < 19 || memcmp(s, "0000-00-00", 10) == 0) {
        jb_raw(out, "null", 4);
        return;
    }
    memcpy(o, s, 19);
    o[10] = 'T';
    o[19] = '.';
    for (size_t k = 0; k < 3; k++)
        o[20 + k] = n > 20 + k && s[19] == '.' ? s[20 + k] : '0';
    o[23] = 'Z';
    jb_str(out, o, 24);
}

void col_render(const col_type *t, const char *s, size_t n, jbuf *out)
{
    if (s == NULL) {
        jb_raw(out, "null", 4);
        return;
    }
    switch (t->kind) {
    case COL_INT:
    case COL_JSON:
        jb_raw(out, s, n);
        return;
    case COL_BOOL:
        if (n == 1 && s[0] == '0')
            jb_raw(out, "false", 5);
        else
            jb_raw(out, "true", 4);
        return;
    case COL_FLOAT: {
        /* The shortest text that reads back as the same FLOAT (s is its
         * exact value as a DOUBLE: table.c selects it so). */
        char tmp[40];
        float f = strtof(s, NULL);
        int w = 0;
        for (int prec = 1; prec <= 9; prec++) {
            w = snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
            if (strtof(tmp, NULL) == f)
                break;
        }
        if (isfinite(f) && json_number(tmp, (size_t)w))
            jb_raw(out, tmp, (size_t)w);
        else
            jb_raw(out, s, n);
        return;
    }
    case COL_DOUBLE:
        if (json_number(s, n)) {
            jb_raw(out, s, n);
        } else {
            char tmp[40];
            double d = strtod(s, NULL);
            int w = snprintf(tmp, sizeof tmp, "%.17g", isfinite(d) ? d : 0.0);
            jb_raw(out, tmp, (size_t)w);
        }
        return;
    case COL_DATE:
        if (n != 10 || memcmp(s, "0000-00-00", 10) == 0)
            jb_raw(out, "null", 4);
        else
            jb_str(out, s, n);
        return;
    case COL_DATETIME:
    case COL_TIMESTAMP:
        render_time(s, n, out);
        return;
    default:
        jb_str(out, s, n);
        return;
    }
}
