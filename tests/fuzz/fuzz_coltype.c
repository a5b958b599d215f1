/*
 * fuzz_coltype.c -- the value converters of declared tables
 * (lib/colconv.c, lib/coltype.c). The first byte picks a column type
 * from the table below; the second the way in:
 *   even: the rest is a request body's value, taken only when the body
 *         checker (fcgi/body.c) takes it, for col_from_json;
 *   odd:  the rest is a filter's text for col_from_text.
 * Rules: a refusal comes with a message; a value taken is one the column
 * holds as sent (integers in range, a DECIMAL's digits within precision
 * and scale in plain notation, text within its length and character set,
 * an ENUM member, dates in the server's notation, a JSON column's text
 * valid JSON for jansson); and the value rendered back as the server
 * would print it is JSON that jansson reads.
 */
#include "fuzz.h"

#include "body.h"
#include "coltype.h"
#include "utf8.h"

#include "oracle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const col_info infos[] = {
    {"tinyint", "tinyint(4)", NULL, NULL, NULL, "3", "0", NULL, 1, 0},
    {"tinyint", "tinyint(3) unsigned", NULL, NULL, NULL, "3", "0", NULL, 0, 0},
    {"mediumint", "mediumint(9)", NULL, NULL, NULL, "7", "0", NULL, 1, 0},
    {"bigint", "bigint(20)", NULL, NULL, NULL, "19", "0", NULL, 1, 0},
    {"bigint", "bigint(20) unsigned", NULL, NULL, NULL, "20", "0", NULL, 0, 0},
    {"tinyint", "tinyint(1)", NULL, NULL, NULL, "3", "0", NULL, 1, 0},
    {"decimal", "decimal(10,2)", NULL, NULL, NULL, "10", "2", NULL, 1, 0},
    {"decimal", "decimal(65,30) unsigned", NULL, NULL, NULL, "65", "30", NULL,
     0, 0},
    {"decimal", "decimal(3,0)", NULL, NULL, NULL, "3", "0", NULL, 1, 0},
    {"float", "float", NULL, NULL, NULL, "12", NULL, NULL, 1, 0},
    {"double", "double unsigned", NULL, NULL, NULL, "22", NULL, NULL, 1, 0},
    {"varchar", "varchar(5)", "utf8mb4", "5", "20", NULL, NULL, NULL, 1, 0},
    {"char", "char(3)", "latin1", "3", "3", NULL, NULL, NULL, 0, 0},
    {"varchar", "varchar(4)", "utf8mb3", "4", "12", NULL, NULL, NULL, 1, 0},
    {"tinytext", "tinytext", "utf8mb4", "255", "255", NULL, NULL, NULL, 1, 0},
    {"varchar", "varchar(9)", "ascii", "9", "9", NULL, NULL, NULL, 1, 0},
    {"enum", "enum('a','it''s','x,y','')", "utf8mb4", "4", "16", NULL, NULL,
     NULL, 1, 0},
    {"set", "set('a','b','c')", "utf8mb4", "5", "20", NULL, NULL, NULL, 1, 0},
    {"date", "date", NULL, NULL, NULL, NULL, NULL, NULL, 1, 0},
    {"datetime", "datetime(3)", NULL, NULL, NULL, NULL, NULL, "3", 1, 0},
    {"datetime", "datetime", NULL, NULL, NULL, NULL, NULL, "0", 0, 0},
    {"timestamp", "timestamp(6)", NULL, NULL, NULL, NULL, NULL, "6", 1, 0},
    {"longtext", "longtext", "utf8mb4", "4294967295", "64", NULL, NULL, NULL, 1,
     1},
    {"blob", "blob", NULL, "65535", "65535", NULL, NULL, NULL, 1, 0},
};
#define NTYPES (sizeof infos / sizeof infos[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* jansson stops at long long and at the double range; a number past
 * them is JSON all the same (the body checker takes it, and so does
 * MariaDB's JSON_VALID). */
static int jansson_range(const char *err)
{
    return strstr(err, "too big integer") != NULL ||
           strstr(err, "real number overflow") != NULL;
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* What col_render must accept: the text the server would print. */
static void check_render(const uint8_t *data, size_t size, const col_type *t,
                         const char *s, size_t n)
{
    jbuf b;
    char err[256];
    jb_init(&b);
    col_render(t, s, n, &b);
    ov *v = oracle_parse(b.p, b.len, err, sizeof err);
    if (v == NULL && !jansson_range(err))
        fuzz_fail(data, size, "rendered as %s: not JSON (%s)", b.p, err);
    ov_free(v);
    jb_free(&b);
}

static void check_taken(const uint8_t *data, size_t size, const col_type *t,
                        const col_value *cv)
{
    const rec_param *p = &cv->p;
    char num[32];
    if (p->type == REC_T_NULL) {
        if (!t->nullable)
            fuzz_fail(data, size, "NULL taken for a NOT NULL column");
        check_render(data, size, t, NULL, 0);
        return;
    }
    if (p->type == REC_T_INT || p->type == REC_T_UINT) {
        if (t->kind != COL_INT && t->kind != COL_BOOL)
            fuzz_fail(data, size, "an integer for a %s column",
                      col_kind_name(t->kind));
        unsigned bits = t->int_bytes * 8;
        if (t->kind == COL_BOOL && p->i != 0 && p->i != 1)
            fuzz_fail(data, size, "boolean %lld", (long long)p->i);
        if (p->type == REC_T_INT && t->kind == COL_INT &&
            (p->i >= 0 || t->is_unsigned ||
             (bits < 64 && p->i < -(INT64_C(1) << (bits - 1)))))
            fuzz_fail(data, size, "signed %lld for %u bits", (long long)p->i,
                      bits);
        if (p->type == REC_T_UINT && t->kind == COL_INT && bits < 64 &&
            p->u > (t->is_unsigned ? (UINT64_C(1) << bits) - 1
                                   : (UINT64_C(1) << (bits - 1)) - 1))
            fuzz_fail(data, size, "%llu for %u bits", (unsigned long long)p->u,
                      bits);
        if (p->type == REC_T_UINT && bits == 64 && !t->is_unsigned &&
            p->u > (uint64_t)INT64_MAX)
            fuzz_fail(data, size, "%llu for BIGINT", (unsigned long long)p->u);
        int w =
            p->type == REC_T_INT
                ? snprintf(num, sizeof num, "%lld", (long long)p->i)
                : snprintf(num, sizeof num, "%llu", (unsigned long long)p->u);
        check_render(data, size, t, num, (size_t)w);
        return;
    }
    const char *s = p->s;
    size_t n = p->len;
    switch (t->kind) {
    case COL_DECIMAL: {
        size_t i = n > 0 && s[0] == '-';
        const char *dot = memchr(s, '.', n);
        size_t ib = dot ? (size_t)(dot - s) : n;
        size_t fd = dot ? n - ib - 1 : 0;
        if (ib == i || !digits(s + i, ib - i) || (dot && fd == 0) ||
            (dot && !digits(dot + 1, fd)) || (ib - i > 1 && s[i] == '0') ||
            ib - i - (s[i] == '0') > t->precision - t->scale || fd > t->scale ||
            (i && t->is_unsigned) || (fd > 0 && dot[fd] == '0') ||
            (i && ib - i == 1 && s[i] == '0' && fd == 0))
            fuzz_fail(data, size, "DECIMAL(%u,%u) sent as %.*s", t->precision,
                      t->scale, (int)n, s);
        break;
    }
    case COL_FLOAT:
    case COL_DOUBLE: {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s", (int)n, s);
        double d = strtod(tmp, NULL);
        if (!isfinite(d) || (t->kind == COL_FLOAT && fabs(d) > 3.5e38) ||
            (t->is_unsigned && d < 0))
            fuzz_fail(data, size, "%s sent as %s", col_kind_name(t->kind), tmp);
        break;
    }
    case COL_TEXT:
        if (!utf8_valid(s, n) ||
            (t->max_chars && utf8_length(s, n) > t->max_chars))
            fuzz_fail(data, size, "text of %zu characters taken for %llu",
                      utf8_length(s, n), (unsigned long long)t->max_chars);
        for (size_t i = 0; i < n; i++)
            if (t->charset == CS_ASCII && (unsigned char)s[i] >= 0x80)
                fuzz_fail(data, size, "non-ASCII text taken for ascii");
        break;
    case COL_ENUM: {
        int found = 0;
        for (size_t i = 0; i < t->nmembers; i++)
            found |=
                strlen(t->members[i]) == n && memcmp(t->members[i], s, n) == 0;
        if (!found)
            fuzz_fail(data, size, "ENUM value %.*s", (int)n, s);
        break;
    }
    case COL_DATE:
        if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4))
            fuzz_fail(data, size, "DATE sent as %.*s", (int)n, s);
        break;
    case COL_DATETIME:
    case COL_TIMESTAMP:
        if (n < 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
            (n > 19 && (s[19] != '.' || n - 20 > t->fsp || n == 20)))
            fuzz_fail(data, size, "DATETIME(%u) sent as %.*s", t->fsp, (int)n,
                      s);
        break;
    case COL_JSON: {
        char err[256];
        ov *v = oracle_parse(s, n, err, sizeof err);
        if ((v == NULL && !jansson_range(err)) || n > t->max_bytes)
            fuzz_fail(data, size, "JSON column text %.*s (%s)", (int)n, s,
                      v ? "too long" : err);
        ov_free(v);
        break;
    }
    default:
        break;
    }
    check_render(data, size, t, s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    col_type t;
    col_type_parse(&infos[data[0] % NTYPES], &t);
    const char *rest = (const char *)data + 2;
    size_t len = size - 2;
    col_value v;
    char why[COL_WHY_MAX] = "";
    int rc;
    json_object *o = NULL;
    if (data[1] % 2 == 0) {
        char msg[256];
        o = body_parse(rest, len, msg, sizeof msg);
        if (o == NULL) {
            col_type_free(&t);
            return 0;
        }
        rc = col_from_json(&t, o, &v, why);
    } else {
        rc = col_from_text(&t, rest, len, &v, why);
    }
    if (rc != 0) {
        if (why[0] == '\0' || memchr(why, '\0', COL_WHY_MAX) == NULL)
            fuzz_fail(data, size, "refused without a message");
    } else {
        if (t.kind == COL_UNSERVABLE)
            fuzz_fail(data, size, "a value taken for an unservable column");
        check_taken(data, size, &t, &v);
    }
    json_object_put(o);
    col_type_free(&t);
    return 0;
}
