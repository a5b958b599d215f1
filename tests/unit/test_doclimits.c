/*
 * test_doclimits.c -- the Prefer header (RFC 7240) as doclimits.c reads it:
 * return=minimal anywhere in the list, any case, spaces around '=', a
 * quoted value, parameters after ';'; nothing else counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "doclimits.h"

static void test_prefer(void **state)
{
    (void)state;
    static const char *const yes[] = {"return=minimal",
                                      "RETURN=Minimal",
                                      "return = minimal",
                                      "return=\"minimal\"",
                                      "respond-async, return=minimal",
                                      "return=minimal; foo=bar",
                                      "wait=5,return=minimal ,handling=strict",
                                      " return=minimal "};
    static const char *const no[] = {"",
                                     "return=representation",
                                     "return",
                                     "return=",
                                     "return=minimalx",
                                     "xreturn=minimal",
                                     "returns=minimal",
                                     "return=mini",
                                     "minimal",
                                     "foo=return=minimal",
                                     "return=\"minimal"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!limits_prefers_minimal(yes[i]))
            fail_msg("not minimal: [%s]", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (limits_prefers_minimal(no[i]))
            fail_msg("minimal: [%s]", no[i]);
    assert_false(limits_prefers_minimal(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_prefer)};
    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
