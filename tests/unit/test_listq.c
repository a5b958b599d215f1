/*
 * test_listq.c -- fcgi/listq.c: ?limit= and ?after= of list routes, per
 * the contract's "Lists": 1..500, default 50; anything else is a 400.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "../../fcgi/listq.h"

static int parse(const char *query, unsigned *limit, uint64_t *after)
{
    http_req r;
    char msg[96] = "";
    memset(&r, 0, sizeof r);
    r.query = query;
    int rc = listq_parse(&r, limit, after, msg, sizeof msg);
    if (rc != 0)
        assert_true(msg[0] != '\0');
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    unsigned limit = 0;
    uint64_t after = 9;
    assert_int_equal(parse("", &limit, &after), 0);
    assert_int_equal(limit, 50);
    assert_int_equal(after, 0);
    assert_int_equal(parse("status=open&x=1", &limit, &after), 0);
    assert_int_equal(limit, 50);
}

static void test_good_values(void **state)
{
    (void)state;
    unsigned limit;
    uint64_t after;
    assert_int_equal(parse("limit=1&after=0", &limit, &after), 0);
    assert_int_equal(limit, 1);
    assert_int_equal(after, 0);
    assert_int_equal(parse("after=18446744073709551615&limit=500", &limit,
                           &after), 0);
    assert_int_equal(limit, 500);
    assert_true(after == UINT64_MAX);
    assert_int_equal(parse("limit=007", &limit, &after), 0);
    assert_int_equal(limit, 7);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "limit=0", "limit=501", "limit=", "limit", "limit=-1", "limit=+5",
        "limit=1.5", "limit=abc", "limit= 5", "limit=99999999999999999999",
        "after=", "after=-1", "after=x", "after=1e3",
        "after=18446744073709551616", "limit=5&after=%31"};
    unsigned limit;
    uint64_t after;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &limit, &after) != -1)
            fail_msg("accepted %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_values),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests_name("listq", tests, NULL, NULL);
}
