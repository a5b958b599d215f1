/*
 * test_decl.c -- lib/decl.c: the declaration files of declared tables.
 * Every key, the defaults, comments and blanks, and each refusal with
 * the line it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *text, decl *d, char *why)
{
    return decl_parse("orders", text, strlen(text), d, why);
}

static void test_defaults(void **state)
{
    (void)state;
    decl d;
    char why[DECL_WHY_MAX] = "";
    assert_int_equal(parse("table = orders\ntenant = 7\n", &d, why), 0);
    assert_string_equal(d.name, "orders");
    assert_string_equal(d.schema, "");
    assert_string_equal(d.table, "orders");
    assert_string_equal(d.key, "id");
    assert_string_equal(d.version, "version");
    assert_string_equal(d.tenant_column, "");
    assert_int_equal(d.tenant, 7);
    assert_int_equal(d.all_columns, 1);
    assert_int_equal(d.ncolumns, 0);
    assert_int_equal(d.nread_only, 0);
}

static void test_every_key(void **state)
{
    (void)state;
    decl d;
    char why[DECL_WHY_MAX] = "";
    const char *text = "# the shop's orders\r\n"
                       "\n"
                       "  table\t=\tshop.orders   # database.table\r\n"
                       "key = order_id\n"
                       "version=rev\n"
                       "tenant_column = shop_id\n"
                       "columns = qty ,price,\tnote , $odd, caf\xc3\xa9\n"
                       "read_only = note\n"
                       "# done";
    assert_int_equal(parse(text, &d, why), 0);
    assert_string_equal(d.schema, "shop");
    assert_string_equal(d.table, "orders");
    assert_string_equal(d.key, "order_id");
    assert_string_equal(d.version, "rev");
    assert_string_equal(d.tenant_column, "shop_id");
    assert_int_equal(d.tenant, 0);
    assert_int_equal(d.all_columns, 0);
    assert_int_equal(d.ncolumns, 5);
    assert_string_equal(d.columns[0], "qty");
    assert_string_equal(d.columns[1], "price");
    assert_string_equal(d.columns[2], "note");
    assert_string_equal(d.columns[3], "$odd");
    assert_string_equal(d.columns[4], "caf\xc3\xa9");
    assert_int_equal(d.nread_only, 1);
    assert_string_equal(d.read_only[0], "note");
}

static void test_refusals_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "no table = line"},
        {"# only a comment\n", "no table = line"},
        {"tenant = 1\n", "no table = line"},
        {"table = t\n", "exactly one of tenant_column and tenant"},
        {"table = t\ntenant = 1\ntenant_column = s\n",
         "exactly one of tenant_column and tenant"},
        {"table = t\ntenant = 1\ncolums = a\n",
         "line 3: unknown key \"colums\""},
        {"table = t\ntenant = 1\ntable = u\n", "line 3: table is given twice"},
        {"table = t\ntenant = 1\nkey\n", "line 3: not KEY = value"},
        {"table = t\ntenant = 0\n", "line 2: tenant: \"0\" is not a tenant id"},
        {"table = t\ntenant = -1\n", "is not a tenant id"},
        {"table = t\ntenant = 1x\n", "is not a tenant id"},
        {"table = t\ntenant = 18446744073709551615\n", "is not a tenant id"},
        {"table = t\ntenant = 99999999999999999999999\n", "is not a tenant id"},
        {"table = t\ntenant =\n", "is not a tenant id"},
        {"table = t`x\ntenant = 1\n", "line 1: table: \"t`x\" is not a table"},
        {"table = a.b.c\ntenant = 1\n", "is not a table or database.table"},
        {"table = .t\ntenant = 1\n", "is not a table or database.table"},
        {"table = t.\ntenant = 1\n", "is not a table or database.table"},
        {"table = my table\ntenant = 1\n", "is not a table"},
        {"table = t\ntenant = 1\nkey = a'b\n", "line 3: key: \"a'b\" is not a "
                                               "column name"},
        {"table = t\ntenant = 1\nversion =\n", "version: \"\" is not a column"},
        {"table = t\ntenant_column = a b\n", "tenant_column: \"a b\""},
        {"table = t\ntenant = 1\ncolumns = a,,b\n",
         "line 3: columns: \"\" is not a column name"},
        {"table = t\ntenant = 1\ncolumns = a, b, a\n",
         "line 3: columns names a twice"},
        {"table = t\ntenant = 1\nread_only = a,\n",
         "read_only: \"\" is not a column name"},
        {"table = "
         "t12345678901234567890123456789012345678901234567890123456789012345\n"
         "tenant = 1\n",
         "is not a table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        decl d;
        char why[DECL_WHY_MAX] = "";
        if (parse(cases[i].text, &d, why) != -1 ||
            strstr(why, cases[i].why) == NULL)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].text, why,
                     cases[i].why);
    }
}

static void test_too_many_columns_and_nul(void **state)
{
    (void)state;
    char text[2048] = "table = t\ntenant = 1\ncolumns = c0";
    for (int i = 1; i <= DECL_MAX_COLS; i++) {
        char c[16];
        snprintf(c, sizeof c, ", c%d", i);
        strcat(text, c);
    }
    decl d;
    char why[DECL_WHY_MAX] = "";
    assert_int_equal(parse(text, &d, why), -1);
    assert_non_null(strstr(why, "more than 60 columns"));
    /* 60 is fine */
    char *last = strrchr(text, ',');
    *last = '\0';
    assert_int_equal(parse(text, &d, why), 0);
    assert_int_equal(d.ncolumns, DECL_MAX_COLS);
    static const char nul[] = "table = t\0x\ntenant = 1\n";
    assert_int_equal(decl_parse("t", nul, sizeof nul - 1, &d, why), -1);
    assert_non_null(strstr(why, "NUL"));
}

static void test_names(void **state)
{
    (void)state;
    char name[DECL_NAME_MAX + 1];
    assert_int_equal(decl_name_ok("orders"), 1);
    assert_int_equal(decl_name_ok("o"), 1);
    assert_int_equal(decl_name_ok("order_items_2"), 1);
    assert_int_equal(decl_name_ok(""), 0);
    assert_int_equal(decl_name_ok("1orders"), 0);
    assert_int_equal(decl_name_ok("_orders"), 0);
    assert_int_equal(decl_name_ok("Orders"), 0);
    assert_int_equal(decl_name_ok("or-ders"), 0);
    assert_int_equal(decl_name_ok("caf\xc3\xa9"), 0);
    char long_name[70];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_int_equal(decl_name_ok(long_name), 1);
    long_name[64] = 'a';
    long_name[65] = '\0';
    assert_int_equal(decl_name_ok(long_name), 0);
    assert_int_equal(decl_file_name("orders.conf", name), 1);
    assert_string_equal(name, "orders");
    assert_int_equal(decl_file_name(".conf", name), 0);
    assert_int_equal(decl_file_name("orders.conf~", name), 0);
    assert_int_equal(decl_file_name("Orders.conf", name), 0);
    assert_int_equal(decl_file_name("orders.cnf", name), 0);
    decl d;
    char why[DECL_WHY_MAX] = "";
    assert_int_equal(decl_parse("Bad", "table = t\ntenant = 1\n", 21, &d, why),
                     -1);
    assert_non_null(strstr(why, "the name must be"));
}

static void test_load_names_the_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/optimist-decl.XXXXXX", path[64], why[DECL_WHY_MAX];
    decl d;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(decl_load(dir, "nope", &d, why), -1);
    assert_non_null(strstr(why, "/nope.conf: cannot be opened"));
    snprintf(path, sizeof path, "%s/bad.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("table = t\nfrob = 1\n", f);
    fclose(f);
    assert_int_equal(decl_load(dir, "bad", &d, why), -1);
    assert_non_null(strstr(why, "/bad.conf: line 2: unknown key \"frob\""));
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < DECL_MAX_BYTES / 10 + 1; i++)
        fputs("# comment\n", f);
    fclose(f);
    assert_int_equal(decl_load(dir, "bad", &d, why), -1);
    assert_non_null(strstr(why, "larger than 64 KiB"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("table = db.t\ntenant_column = shop\n", f);
    fclose(f);
    assert_int_equal(decl_load(dir, "bad", &d, why), 0);
    assert_string_equal(d.name, "bad");
    assert_string_equal(d.tenant_column, "shop");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_refusals_name_the_line),
        cmocka_unit_test(test_too_many_columns_and_nul),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_load_names_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
