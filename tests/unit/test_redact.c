/*
 * test_redact.c -- a stream ticket never reaches the access log whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tickets.h"

static void test_ticket_is_cut(void **state)
{
    (void)state;
    char out[256];
    feeds_redact_query("ticket=0123456789abcdef", out, sizeof out);
    assert_string_equal(out, "ticket=012345...");
    feeds_redact_query("last_event_id=4&ticket=abcdefghij&x=1", out,
                       sizeof out);
    assert_string_equal(out, "last_event_id=4&ticket=abcdef...&x=1");
    feeds_redact_query("myticket=keep&limit=5", out, sizeof out);
    assert_string_equal(out, "myticket=keep&limit=5");
    feeds_redact_query("ticket=ab", out, sizeof out); /* short: nothing */
    assert_string_equal(out, "ticket=...");
    feeds_redact_query("", out, sizeof out);
    assert_string_equal(out, "");
    feeds_redact_query("after=123456789", out, 6); /* truncated, ended */
    assert_string_equal(out, "after");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticket_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
