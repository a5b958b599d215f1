/*
 * test_coltype.c -- lib/coltype.c and colconv.c without a database: the
 * types read from information_schema's columns, the exact text each
 * value is sent as, filters read as the column's type, and rendering.
 * (tests/integration/test_tables.c checks the same against MariaDB.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coltype.h"

#include <json.h>
#include <string.h>

static col_type type(const char *dt, const char *ct, const char *cs,
                     const char *cmax, const char *np, const char *ns,
                     const char *dtp, int is_json)
{
    col_info in = {.data_type = dt,
                   .column_type = ct,
                   .charset = cs,
                   .char_max = cmax,
                   .octet_max = cmax,
                   .num_precision = np,
                   .num_scale = ns,
                   .dt_precision = dtp,
                   .nullable = 1,
                   .is_json = is_json};
    col_type t;
    col_type_parse(&in, &t);
    return t;
}

static void test_types_from_information_schema(void **state)
{
    (void)state;
    col_type t = type("tinyint", "tinyint(1)", NULL, NULL, "3", "0", NULL, 0);
    assert_int_equal(t.kind, COL_BOOL);
    t = type("tinyint", "tinyint(4)", NULL, NULL, "3", "0", NULL, 0);
    assert_int_equal(t.kind, COL_INT);
    assert_int_equal(t.int_bytes, 1);
    t = type("bigint", "bigint(20) unsigned", NULL, NULL, "20", "0", NULL, 0);
    assert_int_equal(t.kind, COL_INT);
    assert_int_equal(t.is_unsigned, 1);
    assert_int_equal(t.int_bytes, 8);
    t = type("decimal", "decimal(10,2)", NULL, NULL, "10", "2", NULL, 0);
    assert_int_equal(t.kind, COL_DECIMAL);
    assert_int_equal(t.precision, 10);
    assert_int_equal(t.scale, 2);
    t = type("longtext", "longtext", "utf8mb4", "4294967295", NULL, NULL, NULL,
             1);
    assert_int_equal(t.kind, COL_JSON);
    t = type("longtext", "longtext", "utf8mb4", "4294967295", NULL, NULL, NULL,
             0);
    assert_int_equal(t.kind, COL_TEXT);
    t = type("varchar", "varchar(10)", "latin1", "10", NULL, NULL, NULL, 0);
    assert_int_equal(t.kind, COL_TEXT);
    assert_int_equal(t.charset, CS_LATIN1);
    assert_int_equal(t.max_chars, 10);
    t = type("datetime", "datetime(3)", NULL, NULL, NULL, NULL, "3", 0);
    assert_int_equal(t.kind, COL_DATETIME);
    assert_int_equal(t.fsp, 3);
    static const char *const refused[][2] = {
        {"blob", "blob"},         {"varbinary", "varbinary(8)"},
        {"binary", "binary(16)"}, {"bit", "bit(1)"},
        {"point", "point"},       {"geometry", "geometry"},
        {"time", "time"},         {"year", "year(4)"},
        {"uuid", "uuid"},         {"inet6", "inet6"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        t = type(refused[i][0], refused[i][1], NULL, NULL, NULL, NULL, NULL, 0);
        assert_int_equal(t.kind, COL_UNSERVABLE);
        assert_non_null(strstr(t.why, "cannot be served"));
    }
    /* text in the binary character set is bytes */
    t = type("varchar", "varbinary(5)", "binary", "5", NULL, NULL, NULL, 0);
    assert_int_equal(t.kind, COL_UNSERVABLE);
}

static void test_enum_members_with_quotes(void **state)
{
    (void)state;
    col_type t = type("enum", "enum('a','it''s','x,y','')", "utf8mb4", "4",
                      NULL, NULL, NULL, 0);
    assert_int_equal(t.kind, COL_ENUM);
    assert_int_equal(t.nmembers, 4);
    assert_string_equal(t.members[1], "it's");
    assert_string_equal(t.members[2], "x,y");
    assert_string_equal(t.members[3], "");
    col_value v;
    char why[COL_WHY_MAX];
    assert_int_equal(col_from_text(&t, "x,y", 3, &v, why), 0);
    assert_int_equal(col_from_text(&t, "it's", 4, &v, why), 0);
    assert_int_equal(col_from_text(&t, "", 0, &v, why), 0);
    assert_int_equal(col_from_text(&t, "b", 1, &v, why), -1);
    col_type_free(&t);
    t = type("enum", "enum('a','b", "utf8mb4", "1", NULL, NULL, NULL, 0);
    assert_int_equal(t.kind, COL_UNSERVABLE);
    col_type_free(&t);
}

/* The text each value reaches the server as. */
static void test_values_as_sent(void **state)
{
    (void)state;
    col_type dec =
        type("decimal", "decimal(12,4)", NULL, NULL, "12", "4", NULL, 0);
    col_type dtm =
        type("datetime", "datetime(6)", NULL, NULL, NULL, NULL, "6", 0);
    col_type d0 = type("datetime", "datetime", NULL, NULL, NULL, NULL, "0", 0);
    const struct {
        const col_type *t;
        const char *in, *sent;
    } cases[] = {
        {&dec, "1.5e2", "150"},
        {&dec, "-0.05E+1", "-0.5"},
        {&dec, "12345678.1234", "12345678.1234"},
        {&dec, "0.00001e4", "0.1"},
        {&dec, "-0.0", "0"},
        {&dec, "100e-2", "1"},
        {&dec, "00000", NULL},
        {&dec, "1e99999999999", NULL},
        {&dec, "1e-99999999999", NULL},
        {&dec, "0e99999999999", "0"},
        {&dtm, "2024-02-29T23:59:59.123456Z", "2024-02-29 23:59:59.123456"},
        {&dtm, "2024-02-29t23:59:59.1z", "2024-02-29 23:59:59.1"},
        {&dtm, "2024-02-29T23:59:59.1234560+00:00",
         "2024-02-29 23:59:59.123456"},
        {&dtm, "2024-02-29T23:59:59.1234561Z", NULL},
        {&d0, "2024-02-29T23:59:59.000Z", "2024-02-29 23:59:59"},
        {&d0, "2100-02-29T00:00:00Z", NULL},
        {&d0, "2000-02-29T00:00:00-00:00", "2000-02-29 00:00:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        col_value v;
        char why[COL_WHY_MAX] = "";
        int rc = col_from_text(cases[i].t, cases[i].in, strlen(cases[i].in), &v,
                               why);
        if (cases[i].sent == NULL) {
            if (rc != -1)
                fail_msg("%s: accepted", cases[i].in);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: refused: %s", cases[i].in, why);
        assert_int_equal(v.p.type, REC_T_TEXT);
        if (v.p.len != strlen(cases[i].sent) ||
            memcmp(v.p.s, cases[i].sent, v.p.len) != 0)
            fail_msg("%s: sent as %.*s", cases[i].in, (int)v.p.len, v.p.s);
    }
}

static void test_filters_read_as_the_type(void **state)
{
    (void)state;
    col_type in = type("int", "int(11)", NULL, NULL, "10", "0", NULL, 0);
    col_type b = type("tinyint", "tinyint(1)", NULL, NULL, "3", "0", NULL, 0);
    col_type j =
        type("longtext", "longtext", "utf8mb4", "9", NULL, NULL, NULL, 1);
    col_value v;
    char why[COL_WHY_MAX];
    assert_int_equal(col_from_text(&in, "-42", 3, &v, why), 0);
    assert_int_equal(v.p.type, REC_T_INT);
    assert_int_equal(v.p.i, -42);
    assert_int_equal(col_from_text(&in, "42", 2, &v, why), 0);
    assert_int_equal(v.p.u, 42);
    static const char *const bad_int[] = {"",   "-",   "+1",         "1.0",
                                          " 1", "1e3", "2147483648", "0x10"};
    for (size_t i = 0; i < sizeof bad_int / sizeof bad_int[0]; i++)
        assert_int_equal(
            col_from_text(&in, bad_int[i], strlen(bad_int[i]), &v, why), -1);
    assert_int_equal(col_from_text(&b, "true", 4, &v, why), 0);
    assert_int_equal(v.p.i, 1);
    assert_int_equal(col_from_text(&b, "0", 1, &v, why), 0);
    assert_int_equal(v.p.i, 0);
    assert_int_equal(col_from_text(&b, "yes", 3, &v, why), -1);
    assert_int_equal(col_from_text(&j, "{}", 2, &v, why), -1);
    assert_non_null(strstr(why, "JSON column"));
}

static void render(const col_type *t, const char *s, const char *want)
{
    jbuf b;
    jb_init(&b);
    col_render(t, s, s ? strlen(s) : 0, &b);
    if (strcmp(b.p, want) != 0)
        fail_msg("%s rendered as %s, not %s", s ? s : "NULL", b.p, want);
    jb_free(&b);
}

static void test_rendering(void **state)
{
    (void)state;
    col_type dt =
        type("datetime", "datetime(6)", NULL, NULL, NULL, NULL, "6", 0);
    col_type d = type("date", "date", NULL, NULL, NULL, NULL, NULL, 0);
    col_type b = type("tinyint", "tinyint(1)", NULL, NULL, "3", "0", NULL, 0);
    col_type f = type("float", "float", NULL, NULL, "12", NULL, NULL, 0);
    col_type dec =
        type("decimal", "decimal(5,2)", NULL, NULL, "5", "2", NULL, 0);
    col_type tx = type("text", "text", "utf8mb4", "65535", NULL, NULL, NULL, 0);
    render(&dt, "2026-11-23 10:00:00.123456", "\"2026-11-23T10:00:00.123Z\"");
    render(&dt, "2026-11-23 10:00:00", "\"2026-11-23T10:00:00.000Z\"");
    render(&dt, "0000-00-00 00:00:00", "null");
    render(&d, "0000-00-00", "null");
    render(&d, "2026-11-23", "\"2026-11-23\"");
    render(&b, "0", "false");
    render(&b, "1", "true");
    render(&b, "-3", "true");
    render(&f, "0.10000000149011612", "0.1");
    render(&f, "16777216", "16777216");
    render(&dec, "-1.50", "\"-1.50\"");
    render(&tx, "a\"b\\c\n", "\"a\\\"b\\\\c\\n\"");
    render(&tx, NULL, "null");
}

static void test_json_values(void **state)
{
    (void)state;
    col_type j =
        type("longtext", "longtext", "utf8mb4", "20", NULL, NULL, NULL, 1);
    col_value v;
    char why[COL_WHY_MAX];
    json_object *o = json_tokener_parse("{\"a\":[1.50,\"x/y\"]}");
    assert_int_equal(col_from_json(&j, o, &v, why), 0);
    assert_int_equal(v.p.len, strlen("{\"a\":[1.50,\"x/y\"]}"));
    assert_memory_equal(v.p.s, "{\"a\":[1.50,\"x/y\"]}", v.p.len);
    json_object_put(o);
    o = json_tokener_parse("\"a string of more than 20 bytes\"");
    assert_int_equal(col_from_json(&j, o, &v, why), -1);
    assert_non_null(strstr(why, "at most 20 bytes"));
    json_object_put(o);
    /* null is SQL NULL, never the JSON text null */
    assert_int_equal(col_from_json(&j, NULL, &v, why), 0);
    assert_int_equal(v.p.type, REC_T_NULL);
    j.nullable = 0;
    assert_int_equal(col_from_json(&j, NULL, &v, why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_from_information_schema),
        cmocka_unit_test(test_enum_members_with_quotes),
        cmocka_unit_test(test_values_as_sent),
        cmocka_unit_test(test_filters_read_as_the_type),
        cmocka_unit_test(test_rendering),
        cmocka_unit_test(test_json_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
