/*
 * test_idempotency.c -- the pure parts of fcgi/routes/idempotency.c (which keys
 * are well-formed, which routes honour them, what "the same request"
 * hashes to) and fcgi/http/paging.c (?after= and ?limit=), and the two options
 * the feature adds to conf.c.
 *
 * Contract: a key is 1 to 255 printable ASCII characters, else 400; it is
 * honoured on POST, PUT, PATCH and DELETE but /evaluate; "the same
 * request" means the same method, path and body bytes. Lists take limit
 * 1..500 (default 50) and after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "idempotency.h"
#include "paging.h"

/* ---- idem_key_valid ------------------------------------------------------ */

static void test_key_lengths(void **state)
{
    (void)state;
    char k[300];
    assert_int_equal(idem_key_valid(NULL), 0);
    assert_int_equal(idem_key_valid(""), 0);
    assert_int_equal(idem_key_valid("a"), 1);
    memset(k, 'k', sizeof k);
    k[255] = '\0';
    assert_int_equal(idem_key_valid(k), 1); /* exactly 255 */
    k[255] = 'k';
    k[256] = '\0';
    assert_int_equal(idem_key_valid(k), 0); /* 256 */
    k[299] = '\0';
    assert_int_equal(idem_key_valid(k), 0);
}

static void test_key_characters(void **state)
{
    (void)state;
    /* Every printable ASCII character, space and tilde included. */
    char all[96];
    for (int c = 0x20; c <= 0x7E; c++)
        all[c - 0x20] = (char)c;
    all[0x7E - 0x20 + 1] = '\0';
    assert_int_equal(idem_key_valid(all), 1);
    assert_int_equal(idem_key_valid("550e8400-e29b-41d4-a716-446655440000"), 1);
    const char *bad[] = {"a\tb",  "a\nb",       "a\rb", "\x1f",
                         "a\x7f", "cl\xc3\xa9", "\xff", "ok\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (idem_key_valid(bad[i]))
            fail_msg("key %zu accepted", i);
}

/* ---- idem_applies ----------------------------------------------------------
 */

static void test_applies_to_writes_only(void **state)
{
    (void)state;
    assert_int_equal(idem_applies("POST", "/v1/approvals"), 1);
    assert_int_equal(idem_applies("PUT", "/v1/storefront/draft"), 1);
    assert_int_equal(idem_applies("PATCH", "/v1/bids/{id}"), 1);
    assert_int_equal(idem_applies("DELETE", "/v1/sessions/{id}"), 1);
    assert_int_equal(idem_applies("GET", "/v1/approvals"), 0);
    assert_int_equal(idem_applies("HEAD", "/v1/approvals"), 0);
    assert_int_equal(idem_applies("OPTIONS", "/v1/approvals"), 0);
    assert_int_equal(idem_applies("post", "/v1/approvals"), 0);
    assert_int_equal(idem_applies(NULL, "/v1/approvals"), 0);
    assert_int_equal(idem_applies("POST", NULL), 0);
}

static void test_evaluate_is_excluded(void **state)
{
    (void)state;
    assert_int_equal(idem_applies("POST", "/v1/bids/{id}/evaluate"), 0);
    assert_int_equal(idem_applies("POST", "/v1/bids/{id}/evaluations"), 1);
    assert_int_equal(idem_applies("POST", "/v1/bids/{id}/archive"), 1);
    assert_int_equal(idem_applies("POST", "/evaluate"), 0);
}

/* ---- idem_request_hash ------------------------------------------------------
 */

static void hex(const uint8_t *h, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_hash_known_values(void **state)
{
    (void)state;
    uint8_t h[32];
    char x[65];
    /* From Python: sha256(m + b"\0" + p + b"\0" + sha256(body).digest()) */
    const char *body = "{\"action\":{\"type\":\"x\"}}";
    idem_request_hash("POST", "/v1/approvals", body, strlen(body), h);
    hex(h, x);
    assert_string_equal(
        x, "5a64a247d502f092cf6bbaab7abba3d937e8cedff9294cf4e8f508b2c8fb4214");
    idem_request_hash("DELETE", "/v1/sessions/7", NULL, 0, h);
    hex(h, x);
    assert_string_equal(
        x, "9f04101bd94d69f72c9ee6dceffaa55fa5097e0f5ac7ab55e03e381d09e26785");
}

static void test_hash_tells_requests_apart(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    /* Bytes moved between path and body, or method and path. */
    idem_request_hash("POST", "/v1/a", "b", 1, a);
    idem_request_hash("POST", "/v1/ab", "", 0, b);
    assert_memory_not_equal(a, b, 32);
    idem_request_hash("POST", "/x", "", 0, a);
    idem_request_hash("POS", "T/x", "", 0, b);
    assert_memory_not_equal(a, b, 32);
    /* Same path and body, other method. */
    idem_request_hash("PUT", "/x", "{}", 2, a);
    idem_request_hash("PATCH", "/x", "{}", 2, b);
    assert_memory_not_equal(a, b, 32);
    /* One byte of body, even whitespace. */
    idem_request_hash("POST", "/x", "{} ", 3, a);
    idem_request_hash("POST", "/x", "{}", 2, b);
    assert_memory_not_equal(a, b, 32);
    /* Bytes after a NUL in the body count. */
    idem_request_hash("POST", "/x", "a\0b", 3, a);
    idem_request_hash("POST", "/x", "a\0c", 3, b);
    assert_memory_not_equal(a, b, 32);
    /* No body and an empty body are the same request. */
    idem_request_hash("POST", "/x", NULL, 0, a);
    idem_request_hash("POST", "/x", "", 0, b);
    assert_memory_equal(a, b, 32);
}

static void test_hash_of_a_1_mib_body(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'a', n);
    uint8_t a[32], b[32];
    idem_request_hash("POST", "/v1/approvals", body, n, a);
    idem_request_hash("POST", "/v1/approvals", body, n, b);
    assert_memory_equal(a, b, 32);
    body[n - 1] = 'b';
    idem_request_hash("POST", "/v1/approvals", body, n, b);
    assert_memory_not_equal(a, b, 32);
    free(body);
}

/* ---- paging_parse
 * ------------------------------------------------------------- */

static void test_paging_defaults_and_bounds(void **state)
{
    (void)state;
    uint64_t after = 99;
    unsigned limit = 99;
    assert_int_equal(paging_parse(NULL, NULL, &after, &limit), 0);
    assert_int_equal(after, 0);
    assert_int_equal(limit, 50);
    assert_int_equal(paging_parse("0", "1", &after, &limit), 0);
    assert_int_equal(after, 0);
    assert_int_equal(limit, 1);
    assert_int_equal(paging_parse("9999999999999999999", "500", &after, &limit),
                     0);
    assert_true(after == 9999999999999999999ull);
    assert_int_equal(limit, 500);
    assert_int_equal(paging_parse("42", "0050", &after, &limit), 0);
    assert_int_equal(after, 42);
    assert_int_equal(limit, 50);
}

static void test_paging_refusals(void **state)
{
    (void)state;
    const char *bad_limits[] = {"0",
                                "501",
                                "-1",
                                "",
                                "abc",
                                "1.5",
                                "+5",
                                "1e2",
                                " 5",
                                "5 ",
                                "99999999999999999999"};
    const char *bad_afters[] = {
        "", "-1", "x", "1e3", "+1", "1.0", "10000000000000000000"};
    uint64_t after = 7;
    unsigned limit = 7;
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++)
        if (paging_parse(NULL, bad_limits[i], &after, &limit) != -1)
            fail_msg("limit '%s' accepted", bad_limits[i]);
    for (size_t i = 0; i < sizeof bad_afters / sizeof bad_afters[0]; i++)
        if (paging_parse(bad_afters[i], NULL, &after, &limit) != -1)
            fail_msg("after '%s' accepted", bad_afters[i]);
    assert_int_equal(after, 7); /* untouched on failure */
    assert_int_equal(limit, 7);
}

/* ---- the options
 * ---------------------------------------------------------------- */

static void test_options_defaults_and_bounds(void **state)
{
    (void)state;
    conf c;
    char err[512] = "";
    unsetenv("OPTIMIST_CONFIG");
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_int_equal(c.idempotency_ttl, 86400);
    assert_int_equal(c.idempotency_claim, 30);
    setenv("OPTIMIST_IDEMPOTENCY_TTL", "2", 1);
    setenv("OPTIMIST_IDEMPOTENCY_CLAIM", "1", 1);
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_int_equal(c.idempotency_ttl, 2);
    assert_int_equal(c.idempotency_claim, 1);
    setenv("OPTIMIST_IDEMPOTENCY_TTL", "0", 1);
    assert_int_equal(conf_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "OPTIMIST_IDEMPOTENCY_TTL"));
    unsetenv("OPTIMIST_IDEMPOTENCY_TTL");
    setenv("OPTIMIST_IDEMPOTENCY_CLAIM", "soon", 1);
    assert_int_equal(conf_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "OPTIMIST_IDEMPOTENCY_CLAIM"));
    unsetenv("OPTIMIST_IDEMPOTENCY_CLAIM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_lengths),
        cmocka_unit_test(test_key_characters),
        cmocka_unit_test(test_applies_to_writes_only),
        cmocka_unit_test(test_evaluate_is_excluded),
        cmocka_unit_test(test_hash_known_values),
        cmocka_unit_test(test_hash_tells_requests_apart),
        cmocka_unit_test(test_hash_of_a_1_mib_body),
        cmocka_unit_test(test_paging_defaults_and_bounds),
        cmocka_unit_test(test_paging_refusals),
        cmocka_unit_test(test_options_defaults_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
