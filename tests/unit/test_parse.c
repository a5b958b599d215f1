/*
 * test_parse.c -- lib/parse.c: the one decimal parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parse.h"

static void test_digits_and_where_they_end(void **state)
{
    uint64_t v = 7;
    (void)state;
    assert_int_equal(parse_u64("0", UINT64_MAX, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("007", UINT64_MAX, &v), 3);
    assert_int_equal(v, 7);
    assert_int_equal(parse_u64("123/x", UINT64_MAX, &v), 3);
    assert_int_equal(v, 123);
    assert_int_equal(parse_u64("42\"", UINT64_MAX, &v), 2);
    assert_int_equal(v, 42);
}

static void test_no_digits_is_zero_digits(void **state)
{
    const char *bad[] = {"", "-1", "+1", " 1", "x", "\xd9\xa1"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t v = 7;
        assert_int_equal(parse_u64(bad[i], UINT64_MAX, &v), 0);
        assert_int_equal(v, 0);
    }
}

static void test_largest_and_past_it(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 20);
    assert_true(v == UINT64_MAX);
    /* One more does not wrap around: it stays at max. */
    assert_int_equal(parse_u64("18446744073709551616", UINT64_MAX, &v), 20);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_u64("99999999999999999999999999", UINT64_MAX, &v),
                     26);
    assert_true(v == UINT64_MAX);
}

static void test_a_cap_saturates(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(parse_u64("1000", 1000, &v), 4);
    assert_int_equal(v, 1000);
    assert_int_equal(parse_u64("1001", 1000, &v), 4);
    assert_int_equal(v, 1000);
    assert_int_equal(parse_u64("5", 3, &v), 1);
    assert_int_equal(v, 3);
    assert_int_equal(parse_u64("0", 0, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("4294967296", 4294967295u, &v), 10);
    assert_int_equal(v, 4294967295u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits_and_where_they_end),
        cmocka_unit_test(test_no_digits_is_zero_digits),
        cmocka_unit_test(test_largest_and_past_it),
        cmocka_unit_test(test_a_cap_saturates),
    };
    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
