/*
 * test_router.c -- fcgi/http/router.c: the route table and its matcher.
 *
 * Every route in the table must be reachable with the ids its path carries;
 * anything that is not a decimal id of 1 to 19 digits is no route (404),
 * and a known path with an unknown method is 405 with the exact Allow text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "router.h"

/* The index of the route `method pattern`, or fails the test. */
static int route_index(const char *method, const char *pattern)
{
    for (int i = 0; i < router_count(); i++) {
        const struct route *rt = router_get(i);
        assert_non_null(rt);
        if (strcmp(rt->method, method) == 0 &&
            strcmp(rt->pattern, pattern) == 0)
            return i;
    }
    fail_msg("route %s %s is not in the table", method, pattern);
    return -1;
}

/* router_match with a fresh allow buffer; ids and nids are poisoned first
 * so that a match has to write them. */
static int match(const char *method, const char *path, uint64_t ids[],
                 int *nids, char *allow, size_t allowlen)
{
    for (int i = 0; i < HTTP_MAX_IDS; i++)
        ids[i] = 0xdeadbeefULL;
    *nids = -7;
    memset(allow, 'Z', allowlen);
    return router_match(method, path, ids, nids, allow, allowlen);
}

static void assert_no_path(const char *method, const char *path)
{
    uint64_t ids[HTTP_MAX_IDS];
    int nids;
    char allow[128];
    int rc = match(method, path, ids, &nids, allow, sizeof allow);
    if (rc != ROUTER_NO_PATH)
        fail_msg("%s \"%s\": expected ROUTER_NO_PATH, got %d", method, path,
                 rc);
    assert_int_equal(nids, 0);
}

static void assert_route(const char *method, const char *path, int want,
                         int want_nids, uint64_t want_id0)
{
    uint64_t ids[HTTP_MAX_IDS];
    int nids;
    char allow[128];
    int rc = match(method, path, ids, &nids, allow, sizeof allow);
    if (rc != want)
        fail_msg("%s \"%s\": expected route %d, got %d", method, path, want,
                 rc);
    assert_int_equal(nids, want_nids);
    if (want_nids > 0)
        assert_int_equal(ids[0], want_id0);
}

static void assert_no_method(const char *method, const char *path,
                             const char *want_allow)
{
    uint64_t ids[HTTP_MAX_IDS];
    int nids;
    char allow[128];
    int rc = match(method, path, ids, &nids, allow, sizeof allow);
    if (rc != ROUTER_NO_METHOD)
        fail_msg("%s \"%s\": expected ROUTER_NO_METHOD, got %d", method, path,
                 rc);
    assert_int_equal(nids, 0);
    assert_string_equal(allow, want_allow);
}

/* ---- the table as it stands ------------------------------------------- */

static void test_healthz_and_metrics(void **state)
{
    (void)state;
    assert_route("GET", "/healthz", route_index("GET", "/healthz"), 0, 0);
    assert_route("GET", "/metrics", route_index("GET", "/metrics"), 0, 0);
    /* HEAD works wherever GET does */
    assert_route("HEAD", "/metrics", route_index("GET", "/metrics"), 0, 0);
    assert_route("HEAD", "/healthz", route_index("GET", "/healthz"), 0, 0);
}

static void test_session_routes(void **state)
{
    (void)state;
    assert_route("POST", "/v1/sessions", route_index("POST", "/v1/sessions"), 0,
                 0);
    assert_route("GET", "/v1/sessions/42",
                 route_index("GET", "/v1/sessions/{id}"), 1, 42);
    assert_route("DELETE", "/v1/sessions/42",
                 route_index("DELETE", "/v1/sessions/{id}"), 1, 42);
    assert_route("POST", "/v1/sessions/7/messages",
                 route_index("POST", "/v1/sessions/{id}/messages"), 1, 7);
}

static void test_report_routes(void **state)
{
    (void)state;
    assert_route("POST", "/v1/reports", route_index("POST", "/v1/reports"), 0,
                 0);
    assert_route("GET", "/v1/reports/42",
                 route_index("GET", "/v1/reports/{id}"), 1, 42);
    assert_route("PATCH", "/v1/reports/42",
                 route_index("PATCH", "/v1/reports/{id}"), 1, 42);
    assert_route("POST", "/v1/reports/7/chat",
                 route_index("POST", "/v1/reports/{id}/chat"), 1, 7);
    assert_route("GET", "/v1/reports/7/chat",
                 route_index("GET", "/v1/reports/{id}/chat"), 1, 7);
    assert_no_method("DELETE", "/v1/reports/7", "GET, PATCH");
    assert_no_method("PUT", "/v1/reports/7/chat", "POST, GET");
    assert_no_path("GET", "/v1/reports/7/chat/");
    assert_no_path("GET", "/v1/reports/x/chat");
}

static void test_session_routes_need_auth(void **state)
{
    (void)state;
    assert_int_equal(
        router_get(route_index("GET", "/healthz"))->flags & ROUTE_AUTH, 0);
    assert_int_equal(
        router_get(route_index("GET", "/metrics"))->flags & ROUTE_AUTH, 0);
    for (int i = 0; i < router_count(); i++) {
        const struct route *rt = router_get(i);
        if (strncmp(rt->pattern, "/v1/", 4) == 0 && !(rt->flags & ROUTE_AUTH))
            fail_msg("%s %s is under /v1 but has no ROUTE_AUTH", rt->method,
                     rt->pattern);
        assert_non_null(rt->fn);
    }
}

/* Each route of the table, whatever it holds, is found by its own method
 * and a path made from its pattern, with {id} segments 11, 12, ... */
/* {name}: a letter, then up to 63 of a-z 0-9 _; anything else is no
 * such path (404), never another route. */
static void test_table_names(void **state)
{
    (void)state;
    uint64_t ids[HTTP_MAX_IDS];
    int nids;
    char allow[128];
    char longest[128] = "/v1/tables/a", toolong[128];
    for (int i = 1; i < 64; i++)
        strcat(longest, "b");
    snprintf(toolong, sizeof toolong, "%sb", longest);
    assert_true(match("GET", longest, ids, &nids, allow, sizeof allow) >= 0);
    assert_int_equal(match("GET", toolong, ids, &nids, allow, sizeof allow),
                     ROUTER_NO_PATH);
    const char *bad[] = {
        "/v1/tables/",   "/v1/tables/9a",  "/v1/tables/Items", "/v1/tables/a-b",
        "/v1/tables/_a", "/v1/tables/a/b", "/v1/tables/a/1/x", NULL};
    for (int i = 0; bad[i]; i++)
        if (match("GET", bad[i], ids, &nids, allow, sizeof allow) !=
            ROUTER_NO_PATH)
            fail_msg("%s matched a route", bad[i]);
    assert_true(match("PATCH", "/v1/tables/items/7", ids, &nids, allow,
                      sizeof allow) >= 0);
    assert_int_equal(nids, 1);
    assert_int_equal(ids[0], 7);
}

static void test_every_route_matches_itself(void **state)
{
    (void)state;
    assert_true(router_count() > 0);
    for (int i = 0; i < router_count(); i++) {
        const struct route *rt = router_get(i);
        char path[512];
        size_t n = 0;
        uint64_t want[HTTP_MAX_IDS];
        int nwant = 0;
        for (const char *p = rt->pattern; *p;) {
            if (strncmp(p, "{id}", 4) == 0) {
                assert_true(nwant < HTTP_MAX_IDS);
                want[nwant] = 11 + (uint64_t)nwant;
                n += (size_t)snprintf(path + n, sizeof path - n, "%llu",
                                      (unsigned long long)want[nwant]);
                nwant++;
                p += 4;
            } else if (strncmp(p, "{name}", 6) == 0) {
                /* A declared table's name. */
                n += (size_t)snprintf(path + n, sizeof path - n, "items_2");
                p += 6;
            } else {
                path[n++] = *p++;
            }
            assert_true(n < sizeof path);
        }
        path[n] = '\0';

        uint64_t ids[HTTP_MAX_IDS];
        int nids;
        char allow[128];
        int rc = match(rt->method, path, ids, &nids, allow, sizeof allow);
        if (rc != i)
            fail_msg("%s %s (path %s): expected index %d, got %d", rt->method,
                     rt->pattern, path, i, rc);
        assert_int_equal(nids, nwant);
        for (int k = 0; k < nwant; k++)
            assert_int_equal(ids[k], want[k]);
    }
}

/* ---- ids ----------------------------------------------------------------- */

static void test_id_bounds(void **state)
{
    (void)state;
    int get = route_index("GET", "/v1/sessions/{id}");
    assert_route("GET", "/v1/sessions/1", get, 1, 1);
    /* 19 digits: the longest id accepted */
    assert_route("GET", "/v1/sessions/9999999999999999999", get, 1,
                 9999999999999999999ULL);
    assert_route("GET", "/v1/sessions/1234567890123456789", get, 1,
                 1234567890123456789ULL);
    /* 20 digits: no route, even below UINT64_MAX */
    assert_no_path("GET", "/v1/sessions/10000000000000000000");
    assert_no_path("GET", "/v1/sessions/18446744073709551615");
    assert_no_path("GET", "/v1/sessions/99999999999999999999");
    assert_no_path("DELETE", "/v1/sessions/12345678901234567890");
    assert_no_path("POST", "/v1/sessions/12345678901234567890/messages");
}

static void test_bad_ids_are_no_path(void **state)
{
    (void)state;
    assert_no_path("GET", "/v1/sessions/abc");
    assert_no_path("GET", "/v1/sessions/");
    assert_no_path("GET", "/v1/sessions/12/");
    assert_no_path("GET", "/v1/sessions/1x");
    assert_no_path("GET", "/v1/sessions/x1");
    assert_no_path("GET", "/v1/sessions/-1");
    assert_no_path("GET", "/v1/sessions/+1");
    assert_no_path("GET", "/v1/sessions/1.5");
    assert_no_path("GET", "/v1/sessions/ 1");
    assert_no_path("GET", "/v1/sessions/1%20");
    assert_no_path("GET", "/v1/sessions/0x10");
    assert_no_path("GET", "/v1/sessions//messages");
    assert_no_path("POST", "/v1/sessions/abc/messages");
    assert_no_path("POST", "/v1/sessions/5/messages/");
    assert_no_path("POST", "/v1/sessions/5/message");
    assert_no_path("POST", "/v1/sessions/5/messagesx");
}

static void test_unknown_paths(void **state)
{
    (void)state;
    assert_no_path("GET", "/v1/nope");
    assert_no_path("GET", "");
    assert_no_path("GET", "/");
    assert_no_path("GET", "/v1");
    assert_no_path("GET", "/v1/");
    assert_no_path("GET", "/healthz/");
    assert_no_path("GET", "/healthzz");
    assert_no_path("GET", "/HEALTHZ");
    assert_no_path("GET", "/v1/Sessions/1");
    assert_no_path("POST", "/v1/sessions/");
    assert_no_path("POST", "/v2/sessions");
    assert_no_path("GET", "//v1/sessions/1");
}

/* ---- 405 and Allow ---------------------------------------------------------
 */

static void test_no_method_allow_text(void **state)
{
    (void)state;
    assert_no_method("PUT", "/v1/sessions/5", "GET, DELETE");
    assert_no_method("PATCH", "/v1/sessions/5", "GET, DELETE");
    assert_no_method("POST", "/v1/sessions/5", "GET, DELETE");
    assert_no_method("GET", "/v1/sessions", "POST");
    assert_no_method("DELETE", "/v1/sessions", "POST");
    assert_no_method("GET", "/v1/sessions/5/messages", "POST");
    assert_no_method("POST", "/healthz", "GET");
    /* HEAD runs the GET route: only other methods are 405 */
    assert_no_method("HEAD", "/v1/sessions", "POST");
    /* methods are case-sensitive (RFC 9110) */
    assert_no_method("get", "/healthz", "GET");
}

static void test_no_method_ignores_the_id_value(void **state)
{
    (void)state;
    assert_no_method("PUT", "/v1/sessions/1", "GET, DELETE");
    assert_no_method("PUT", "/v1/sessions/9999999999999999999", "GET, DELETE");
    /* a bad id is no path, not 405 */
    assert_no_path("PUT", "/v1/sessions/abc");
}

static void test_allow_emptied_on_match(void **state)
{
    (void)state;
    uint64_t ids[HTTP_MAX_IDS];
    int nids;
    char allow[64];
    int rc = match("GET", "/v1/sessions/3", ids, &nids, allow, sizeof allow);
    assert_int_equal(rc, route_index("GET", "/v1/sessions/{id}"));
    /* allow is emptied first, whatever the outcome */
    assert_string_equal(allow, "");
}

static void test_allow_zero_length_buffer(void **state)
{
    (void)state;
    uint64_t ids[HTTP_MAX_IDS];
    int nids = -1;
    char allow[1] = {'Z'};
    /* allowlen 0: nothing may be written, the outcome is still 405 */
    int rc = router_match("PUT", "/v1/sessions/5", ids, &nids, allow, 0);
    assert_int_equal(rc, ROUTER_NO_METHOD);
    assert_int_equal(allow[0], 'Z');
}

/* ---- names and accessors ---------------------------------------------------
 */

static void test_router_name(void **state)
{
    (void)state;
    assert_string_equal(router_name(-1), "unmatched");
    assert_string_equal(router_name(-2), "unmatched");
    assert_string_equal(router_name(router_count()), "unmatched");
    assert_string_equal(router_name(1000), "unmatched");
    assert_string_equal(router_name(route_index("GET", "/v1/sessions/{id}")),
                        "GET /v1/sessions/{id}");
    assert_string_equal(router_name(route_index("POST", "/v1/sessions")),
                        "POST /v1/sessions");
    for (int i = 0; i < router_count(); i++) {
        const struct route *rt = router_get(i);
        char want[256];
        snprintf(want, sizeof want, "%s %s", rt->method, rt->pattern);
        assert_string_equal(router_name(i), want);
        /* stable: the same text a second time */
        assert_ptr_equal(router_name(i), router_name(i));
    }
}

static void test_router_get_bounds(void **state)
{
    (void)state;
    assert_null(router_get(-1));
    assert_null(router_get(router_count()));
    assert_non_null(router_get(0));
    assert_non_null(router_get(router_count() - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_and_metrics),
        cmocka_unit_test(test_session_routes),
        cmocka_unit_test(test_report_routes),
        cmocka_unit_test(test_session_routes_need_auth),
        cmocka_unit_test(test_every_route_matches_itself),
        cmocka_unit_test(test_table_names),
        cmocka_unit_test(test_id_bounds),
        cmocka_unit_test(test_bad_ids_are_no_path),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_no_method_allow_text),
        cmocka_unit_test(test_no_method_ignores_the_id_value),
        cmocka_unit_test(test_allow_emptied_on_match),
        cmocka_unit_test(test_allow_zero_length_buffer),
        cmocka_unit_test(test_router_name),
        cmocka_unit_test(test_router_get_bounds),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
