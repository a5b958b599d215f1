/*
 * test_fcgirec.c -- the hub's FastCGI records: header fields, padding to 8,
 * splitting at 65535, and the end of a response.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fcgirec.h"

static unsigned len_of(const unsigned char *h)
{
    return (unsigned)h[4] << 8 | h[5];
}

static void test_one_record_padded(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    fcgirec_stdout(&b, 0x0102, "hello", 5);
    const unsigned char *h = (const unsigned char *)b.p;
    assert_int_equal(b.len, 8 + 5 + 3);
    assert_int_equal(h[0], 1); /* version */
    assert_int_equal(h[1], FCGIREC_STDOUT);
    assert_int_equal(h[2], 0x01); /* request id */
    assert_int_equal(h[3], 0x02);
    assert_int_equal(len_of(h), 5);
    assert_int_equal(h[6], 3); /* padding */
    assert_memory_equal(b.p + 8, "hello", 5);
    jb_reset(&b);
    fcgirec_stdout(&b, 1, "", 0); /* nothing: would end it */
    assert_int_equal(b.len, 0);
    jb_free(&b);
}

static void test_split_at_65535(void **state)
{
    (void)state;
    size_t n = 70000;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    jbuf b;
    jb_init(&b);
    fcgirec_stdout(&b, 7, big, n);
    const unsigned char *h = (const unsigned char *)b.p;
    assert_int_equal(len_of(h), 65535);
    assert_int_equal(h[6], 1); /* 65535 + 1 = 8 x 8192 */
    const unsigned char *h2 = h + 8 + 65535 + 1;
    assert_int_equal(len_of(h2), n - 65535);
    assert_int_equal(b.len,
                     8 + 65536 + 8 + (n - 65535) + (8 - (n - 65535) % 8) % 8);
    free(big);
    jb_free(&b);
}

static void test_end(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    fcgirec_end(&b, 3);
    const unsigned char *h = (const unsigned char *)b.p;
    assert_int_equal(b.len, 8 + 16);
    assert_int_equal(h[1], FCGIREC_STDOUT); /* the empty STDOUT */
    assert_int_equal(len_of(h), 0);
    assert_int_equal(h[8 + 1], FCGIREC_END_REQUEST);
    assert_int_equal(len_of(h + 8), 8);
    assert_int_equal(h[8 + 3], 3);
    assert_int_equal(h[16 + 4], 0); /* REQUEST_COMPLETE */
    jb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_record_padded),
        cmocka_unit_test(test_split_at_65535),
        cmocka_unit_test(test_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
