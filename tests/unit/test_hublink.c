/*
 * test_hublink.c -- what a write tells the hub it changed: the resource
 * its router row names, by the name both processes resolve.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "followed.h"
#include "hublink.h"
#include "resource.h"
#include "router.h"

/* What a write of `method path` tells the hub: the resource its router
 * row names (by name, as the message carries it) and the key; "" when
 * nothing followed changed. */
static const char *changed(const char *method, const char *path,
                           uint64_t tenant, uint64_t *key)
{
    uint64_t ids[HTTP_MAX_IDS];
    int nids = 0;
    char allow[128];
    int idx = router_match(method, path, ids, &nids, allow, sizeof allow);
    assert_true(idx >= 0);
    const struct resource *res = router_get(idx)->res;
    if (!hublink_changed(res, ids, nids, tenant, key))
        return "";
    hub_msg m;
    memset(&m, 0, sizeof m);
    hub_msg_resource(&m, res);
    /* The hub resolves the name to the same descriptor. */
    assert_ptr_equal(resource_find(m.resource), res);
    static char name[RESOURCE_NAME_MAX];
    snprintf(name, sizeof name, "%s", m.resource);
    return name;
}

static void test_writes_name_their_resource(void **state)
{
    (void)state;
    uint64_t key = 0;
    assert_string_equal(changed("PATCH", "/v1/bids/7", 3, &key), "bids");
    assert_int_equal(key, 7);
    assert_string_equal(changed("POST", "/v1/bids/7/evaluate", 3, &key),
                        "bids");
    assert_string_equal(changed("POST", "/v1/sessions/5/messages", 3, &key),
                        "sessions");
    assert_int_equal(key, 5);
    assert_string_equal(changed("POST", "/v1/reports/9/chat", 3, &key), "chat");
    assert_string_equal(changed("PATCH", "/v1/reports/9", 3, &key), "reports");
    assert_string_equal(changed("POST", "/v1/approvals/4/approve", 3, &key),
                        "approvals");
    assert_string_equal(changed("PUT", "/v1/storefront/draft", 3, &key),
                        "storefront");
    assert_int_equal(key, 3); /* the tenant's draft */
    assert_string_equal(changed("POST", "/v1/storefront/publish", 8, &key),
                        "storefront");
    assert_int_equal(key, 8);
    /* Creates and anything else: nobody follows them. */
    assert_string_equal(changed("POST", "/v1/bids", 3, &key), "");
    assert_string_equal(changed("POST", "/v1/stream-tickets", 3, &key), "");
}

/* The writes that change another feed too say so in their descriptor. */
static void test_also_names_registered_resources(void **state)
{
    (void)state;
    const struct resource *rep = resource_find("reports");
    assert_non_null(rep);
    assert_string_equal(rep->also[0], "chat");
    assert_non_null(resource_find("chat"));
    const struct resource *ap = resource_find("approvals");
    assert_non_null(ap);
    assert_non_null(resource_find(ap->also[0]));
    assert_true(resource_find(ap->also[0])->per_tenant);
}

/* A worker tells the hub only about rows a stream follows: the row
 * itself, or the per-tenant feed its descriptor names in `also`. */
static void test_notifies_only_what_is_followed(void **state)
{
    (void)state;
    const struct resource *bids = resource_find("bids");
    const struct resource *ap = resource_find("approvals");
    assert_non_null(bids);
    assert_non_null(ap);
    assert_true(hublink_followed(bids, 3, 7)); /* not shared: always */
    assert_int_equal(followed_init(), 0);
    assert_false(hublink_followed(bids, 3, 7));
    size_t s = followed_add("bids", 3, 7);
    assert_true(hublink_followed(bids, 3, 7));
    assert_false(hublink_followed(bids, 4, 7)); /* another tenant's */
    followed_remove(s);
    assert_false(hublink_followed(ap, 3, 5));
    /* The tenant's outbox feed, keyed by the tenant. */
    s = followed_add(ap->also[0], 3, 3);
    assert_true(hublink_followed(ap, 3, 5));
    assert_false(hublink_followed(ap, 4, 5));
    followed_remove(s);
    assert_false(hublink_followed(ap, 3, 5));
}

static int setup(void **state)
{
    (void)state;
    return router_register_resources();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_name_their_resource),
        cmocka_unit_test(test_also_names_registered_resources),
        cmocka_unit_test(test_notifies_only_what_is_followed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
