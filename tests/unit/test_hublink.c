/*
 * test_hublink.c -- what a write's path tells the hub it changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hublink.h"

static void test_paths_name_their_feed(void **state)
{
    (void)state;
    uint64_t key = 0;
    assert_int_equal(hublink_changed("/v1/bids/7", 7, 3, &key), FEED_BID);
    assert_int_equal(key, 7);
    assert_int_equal(hublink_changed("/v1/bids/7/evaluate", 7, 3, &key),
                     FEED_BID);
    assert_int_equal(hublink_changed("/v1/sessions/5/messages", 5, 3, &key),
                     FEED_SESSION);
    assert_int_equal(hublink_changed("/v1/reports/9/chat", 9, 3, &key),
                     FEED_CHAT);
    assert_int_equal(hublink_changed("/v1/reports/9", 9, 3, &key), FEED_REPORT);
    assert_int_equal(hublink_changed("/v1/approvals/4/approve", 4, 3, &key),
                     FEED_APPROVAL);
    assert_int_equal(hublink_changed("/v1/storefront/draft", 0, 3, &key),
                     FEED_DRAFT);
    assert_int_equal(key, 3); /* the tenant's draft */
    /* Creates and anything else: nobody follows them. */
    assert_int_equal(hublink_changed("/v1/bids", 0, 3, &key), 0);
    assert_int_equal(hublink_changed("/v1/stream-tickets", 0, 3, &key), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_name_their_feed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
