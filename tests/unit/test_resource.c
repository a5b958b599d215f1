/*
 * test_resource.c -- fcgi/core/resource.c: the registry of resource
 * descriptors. Built-in descriptors register once; a run-time set is
 * swapped whole (a reload), names keep their ids across swaps, a bad set
 * keeps the one before, and the hub's poll statement is generated from
 * the table and columns of a plain resource.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "resource.h"

static const struct resource builtin = {.name = "widgets",
                                        .table = "widgets",
                                        .id_col = "id",
                                        .tenant_col = "tenant_id",
                                        .feed = RES_FEED_RECORD};

static void test_builtin_registers_once(void **state)
{
    (void)state;
    int id = resource_register(&builtin);
    assert_true(id > 0);
    assert_int_equal(resource_register(&builtin), id); /* a no-op */
    assert_ptr_equal(resource_find("widgets"), &builtin);
    assert_ptr_equal(resource_by_id(id), &builtin);
    assert_int_equal(resource_id("widgets"), id);
    assert_null(resource_find("nothing"));
    assert_int_equal(resource_id("nothing"), 0);
    assert_string_equal(resource_poll_sql(id),
                        "SELECT `id`, `version` FROM `widgets` WHERE `id` "
                        "IN " RESOURCE_IN_LIST);
    /* Another descriptor cannot take the name. */
    struct resource other = builtin;
    assert_int_equal(resource_register(&other), -1);
}

static void test_bad_identifiers_are_refused(void **state)
{
    (void)state;
    struct resource bad = builtin;
    bad.name = "evil";
    bad.table = "t; DROP TABLE x";
    assert_int_equal(resource_register(&bad), -1);
    assert_null(resource_find("evil"));
    bad.table = "t";
    bad.poll_col = "version`";
    assert_int_equal(resource_register(&bad), -1);
}

/* The hub binds RESOURCE_POLL_IN keys to every poll: a poll statement
 * with another number of them is refused when registered, not at each
 * poll. */
static void test_poll_sql_binds_every_key(void **state)
{
    (void)state;
    struct resource r = builtin;
    r.name = "short_poll";
    r.poll_sql = "SELECT id, version FROM t WHERE id IN (?,?,?)";
    assert_int_equal(resource_register(&r), -1);
    r.poll_sql = "SELECT id, version FROM t WHERE id IN " RESOURCE_IN_LIST;
    assert_true(resource_register(&r) > 0);
}

static void test_per_tenant_polls_by_tenant(void **state)
{
    (void)state;
    static const struct resource one = {.name = "prefs",
                                        .table = "prefs",
                                        .tenant_col = "tenant_id",
                                        .per_tenant = 1,
                                        .feed = RES_FEED_RECORD,
                                        .poll_col = "rev"};
    int id = resource_register(&one);
    assert_true(id > 0);
    assert_non_null(strstr(resource_poll_sql(id),
                           "SELECT `tenant_id`, `rev` FROM `prefs` "
                           "WHERE `tenant_id` IN (?,"));
    assert_int_equal(resource_key(&one, 7, 99), 7);
    assert_int_equal(resource_key(&builtin, 7, 99), 99);
}

/* A reload swaps the run-time set: ids survive, dropped names answer
 * NULL, and come back under the same id. */
static void test_runtime_sets_swap_and_keep_ids(void **state)
{
    (void)state;
    struct resource a = {.name = "orders",
                         .table = "orders",
                         .id_col = "order_id",
                         .tenant_col = "shop",
                         .feed = RES_FEED_RECORD};
    struct resource b = {.name = "items",
                         .table = "items",
                         .id_col = "id",
                         .tenant_col = "tenant_id",
                         .feed = RES_FEED_RECORD};
    char why[128] = "";
    const struct resource *first[] = {&a, &b};
    assert_int_equal(resource_set_runtime(first, 2, why, sizeof why), 0);
    int ida = resource_id("orders"), idb = resource_id("items");
    assert_true(ida > 0 && idb > 0 && ida != idb);
    assert_ptr_equal(resource_by_id(ida), &a);
    assert_non_null(strstr(resource_poll_sql(ida), "FROM `orders` WHERE "
                                                   "`order_id` IN"));

    /* The reload drops "items" and brings a new "orders". */
    struct resource a2 = a;
    a2.poll_col = "rev";
    const struct resource *second[] = {&a2};
    assert_int_equal(resource_set_runtime(second, 1, why, sizeof why), 0);
    assert_int_equal(resource_id("orders"), ida);
    assert_ptr_equal(resource_by_id(ida), &a2);
    assert_null(resource_by_id(idb));
    assert_null(resource_find("items"));
    assert_non_null(strstr(resource_poll_sql(ida), "`rev`"));

    const struct resource *third[] = {&a2, &b};
    assert_int_equal(resource_set_runtime(third, 2, why, sizeof why), 0);
    assert_int_equal(resource_id("items"), idb);
    assert_ptr_equal(resource_by_id(idb), &b);
    /* The built-in ones were never touched. */
    assert_ptr_equal(resource_find("widgets"), &builtin);
}

/* A bad set changes nothing: the tables served before stay served. */
static void test_bad_runtime_set_keeps_the_old(void **state)
{
    (void)state;
    struct resource ok = {.name = "notes",
                          .table = "notes",
                          .id_col = "id",
                          .tenant_col = "tenant_id",
                          .feed = RES_FEED_RECORD};
    char why[128] = "";
    const struct resource *good[] = {&ok};
    assert_int_equal(resource_set_runtime(good, 1, why, sizeof why), 0);

    struct resource clash = ok;
    clash.name = "widgets"; /* a built-in name */
    const struct resource *bad1[] = {&clash};
    assert_int_equal(resource_set_runtime(bad1, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "built-in"));
    struct resource twin = ok;
    const struct resource *bad2[] = {&ok, &twin};
    assert_int_equal(resource_set_runtime(bad2, 2, why, sizeof why), -1);
    assert_non_null(strstr(why, "twice"));
    assert_ptr_equal(resource_find("notes"), &ok);
    assert_ptr_equal(resource_find("widgets"), &builtin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_registers_once),
        cmocka_unit_test(test_bad_identifiers_are_refused),
        cmocka_unit_test(test_poll_sql_binds_every_key),
        cmocka_unit_test(test_per_tenant_polls_by_tenant),
        cmocka_unit_test(test_runtime_sets_swap_and_keep_ids),
        cmocka_unit_test(test_bad_runtime_set_keeps_the_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
