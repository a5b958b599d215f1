/*
 * test_utf8.c -- lib/utf8.c: strict UTF-8 (RFC 3629, Unicode table 3-7).
 *
 * Hand-picked boundaries first, then every sequence of one, two and three
 * bytes and a sweep of four-byte ones against an independent reference
 * (decode, then refuse overlong forms, surrogates and > U+10FFFF).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* ---- a reference written differently from lib/utf8.c ------------------- */

/* Length of the sequence a lead byte announces, 0 for a non-lead byte. */
static size_t ref_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

static int ref_valid(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        size_t len = ref_seq_len(s[i]);
        if (len == 0 || len > n - i)
            return 0;
        uint32_t cp = len == 1   ? s[i]
                      : len == 2 ? (uint32_t)(s[i] & 0x1F)
                      : len == 3 ? (uint32_t)(s[i] & 0x0F)
                                 : (uint32_t)(s[i] & 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (uint32_t)(s[i + k] & 0x3F);
        }
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* Encodes cp (any value up to 0x1FFFFF, surrogates included) the plain
 * way; returns the length. */
static size_t encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- helpers ---------------------------------------------------------------
 */

static void assert_valid_n(const char *s, size_t n, size_t chars)
{
    if (!utf8_valid(s, n)) {
        char hex[64] = "";
        for (size_t i = 0; i < n && i < 16; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02X ",
                     (unsigned char)s[i]);
        fail_msg("refused valid bytes %s", hex);
    }
    assert_int_equal(utf8_length(s, n), chars);
}

static void assert_invalid_n(const char *s, size_t n)
{
    if (utf8_valid(s, n)) {
        char hex[64] = "";
        for (size_t i = 0; i < n && i < 16; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02X ",
                     (unsigned char)s[i]);
        fail_msg("accepted invalid bytes %s", hex);
    }
}

#define VALID(lit, chars) assert_valid_n(lit, sizeof(lit) - 1, chars)
#define INVALID(lit)      assert_invalid_n(lit, sizeof(lit) - 1)

/* ---- boundaries ------------------------------------------------------------
 */

static void test_empty_and_ascii(void **state)
{
    (void)state;
    VALID("", 0);
    assert_int_equal(utf8_valid(NULL, 0), 1);
    assert_int_equal(utf8_length(NULL, 0), 0);
    VALID("a", 1);
    VALID("hello, world", 12);
    VALID("\x01\x1F\x20\x7E", 4);
    VALID("\0", 1); /* NUL is a code point; the length is explicit */
    VALID("a\0b", 3);
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    assert_valid_n(all, sizeof all, 128);
}

static void test_boundaries_valid(void **state)
{
    (void)state;
    VALID("\x7F", 1);             /* U+007F */
    VALID("\xC2\x80", 1);         /* U+0080 */
    VALID("\xDF\xBF", 1);         /* U+07FF */
    VALID("\xE0\xA0\x80", 1);     /* U+0800 */
    VALID("\xE0\xBF\xBF", 1);     /* U+0FFF */
    VALID("\xE1\x80\x80", 1);     /* U+1000 */
    VALID("\xEC\xBF\xBF", 1);     /* U+CFFF */
    VALID("\xED\x80\x80", 1);     /* U+D000 */
    VALID("\xED\x9F\xBF", 1);     /* U+D7FF, before the surrogates */
    VALID("\xEE\x80\x80", 1);     /* U+E000, after them */
    VALID("\xEF\xBF\xBD", 1);     /* U+FFFD */
    VALID("\xEF\xBF\xBF", 1);     /* U+FFFF */
    VALID("\xF0\x90\x80\x80", 1); /* U+10000 */
    VALID("\xF0\xBF\xBF\xBF", 1); /* U+3FFFF */
    VALID("\xF1\x80\x80\x80", 1); /* U+40000 */
    VALID("\xF3\xBF\xBF\xBF", 1); /* U+FFFFF */
    VALID("\xF4\x80\x80\x80", 1); /* U+100000 */
    VALID("\xF4\x8F\xBF\xBF", 1); /* U+10FFFF */
    VALID("\xEF\xBB\xBF", 1);     /* a BOM is a valid character */
}

static void test_mixed_strings(void **state)
{
    (void)state;
    VALID("caf\xC3\xA9", 4);
    VALID("\xE2\x82\xAC"
          "10",
          3);
    VALID("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 2);
    VALID("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z", 5);
    VALID("\xE4\xB8\xAD\xE6\x96\x87", 2);
}

static void test_truncated(void **state)
{
    (void)state;
    INVALID("\xC2");
    INVALID("\xDF");
    INVALID("\xE0\xA0");
    INVALID("\xE1");
    INVALID("\xE1\x80");
    INVALID("\xEF\xBF");
    INVALID("\xF0\x90\x80");
    INVALID("\xF0\x90");
    INVALID("\xF1");
    INVALID("\xF4\x8F\xBF");
    INVALID("abc\xC3");
    INVALID("abc\xF0\x9F\x98");
    /* truncated, then ASCII where a continuation should be */
    INVALID("\xC2"
            "a");
    INVALID("\xE1\x80"
            "a");
    INVALID("\xF1\x80\x80"
            "a");
    /* the length given cuts a valid sequence short */
    assert_invalid_n("\xC3\xA9", 1);
    assert_invalid_n("\xE2\x82\xAC", 2);
    assert_invalid_n("\xF0\x9F\x98\x80", 3);
    assert_invalid_n("\xF0\x9F\x98\x80", 1);
    assert_valid_n("\xF0\x9F\x98\x80", 0, 0);
}

static void test_stray_continuations(void **state)
{
    (void)state;
    INVALID("\x80");
    INVALID("\xBF");
    INVALID("a\x80");
    INVALID("\x80\x80");
    INVALID("\xC3\xA9\xA9"); /* one too many */
    INVALID("\xE2\x82\xAC\x80");
    INVALID("\xF0\x9F\x98\x80\x80");
    for (int c = 0x80; c <= 0xBF; c++) {
        char b = (char)c;
        assert_invalid_n(&b, 1);
    }
}

static void test_bad_lead_bytes(void **state)
{
    (void)state;
    INVALID("\xC0\x80"); /* overlong NUL */
    INVALID("\xC0\xAF"); /* overlong '/' */
    INVALID("\xC1\xBF"); /* overlong U+007F */
    INVALID("\xF5\x80\x80\x80");
    INVALID("\xF7\xBF\xBF\xBF");
    INVALID("\xF8\x88\x80\x80\x80"); /* old 5-byte form */
    INVALID("\xFC\x84\x80\x80\x80\x80");
    INVALID("\xFE");
    INVALID("\xFF");
    INVALID("\xFE\xFF");
    INVALID("\xFF\xFE");
    INVALID("a\xFF"
            "b");
}

static void test_overlong_and_out_of_range(void **state)
{
    (void)state;
    INVALID("\xE0\x80\x80");     /* overlong NUL, 3 bytes */
    INVALID("\xE0\x80\xAF");     /* overlong '/' */
    INVALID("\xE0\x9F\xBF");     /* overlong U+07FF */
    INVALID("\xF0\x80\x80\x80"); /* overlong NUL, 4 bytes */
    INVALID("\xF0\x8F\xBF\xBF"); /* overlong U+FFFF */
    INVALID("\xF4\x90\x80\x80"); /* U+110000 */
    INVALID("\xF4\xBF\xBF\xBF"); /* U+13FFFF */
}

static void test_surrogates(void **state)
{
    (void)state;
    INVALID("\xED\xA0\x80");             /* U+D800 */
    INVALID("\xED\xAD\xBF");             /* U+DB7F */
    INVALID("\xED\xAE\x80");             /* U+DB80 */
    INVALID("\xED\xB0\x80");             /* U+DC00 */
    INVALID("\xED\xBF\xBF");             /* U+DFFF */
    INVALID("\xED\xA0\xBD\xED\xB8\x80"); /* CESU-8 pair for U+1F600 */
}

static void test_bad_continuation_values(void **state)
{
    (void)state;
    INVALID("\xC3\x28");
    INVALID("\xC3\xC3");
    INVALID("\xC3\xFF");
    INVALID("\xE2\x28\xA1");
    INVALID("\xE2\x82\x28");
    INVALID("\xF0\x28\x8C\xBC");
    INVALID("\xF0\x90\x28\xBC");
    INVALID("\xF0\x28\x8C\x28");
    INVALID("\xF1\x80\x80\xC0");
}

/* ---- sweeps against the reference ---------------------------------------- */

/* Every code point encodes to bytes utf8_valid accepts as one character,
 * except the surrogates (which the plain encoder still produces). */
static void test_every_code_point(void **state)
{
    (void)state;
    unsigned char buf[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        size_t n = encode(cp, buf);
        int want = !(cp >= 0xD800 && cp <= 0xDFFF);
        if (utf8_valid((const char *)buf, n) != want)
            fail_msg("U+%04X: utf8_valid should be %d", (unsigned)cp, want);
        if (want && utf8_length((const char *)buf, n) != 1)
            fail_msg("U+%04X: length not 1", (unsigned)cp);
    }
    /* the plain encoder's output above U+10FFFF is refused */
    for (uint32_t cp = 0x110000; cp <= 0x1FFFFF; cp += 0x3FF) {
        size_t n = encode(cp, buf);
        assert_int_equal(n, 4);
        if (utf8_valid((const char *)buf, n))
            fail_msg("U+%X accepted", (unsigned)cp);
    }
}

static void test_all_one_and_two_byte_sequences(void **state)
{
    (void)state;
    unsigned char b[2];
    for (int x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        assert_int_equal(utf8_valid((const char *)b, 1), ref_valid(b, 1));
        for (int y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            if (utf8_valid((const char *)b, 2) != ref_valid(b, 2))
                fail_msg("%02X %02X: utf8_valid %d, reference %d", x, y,
                         utf8_valid((const char *)b, 2), ref_valid(b, 2));
        }
    }
}

static void test_all_three_byte_sequences(void **state)
{
    (void)state;
    unsigned char b[3];
    for (int x = 0; x < 256; x++)
        for (int y = 0; y < 256; y++)
            for (int z = 0; z < 256; z++) {
                b[0] = (unsigned char)x;
                b[1] = (unsigned char)y;
                b[2] = (unsigned char)z;
                if (utf8_valid((const char *)b, 3) != ref_valid(b, 3))
                    fail_msg("%02X %02X %02X: utf8_valid %d, reference %d", x,
                             y, z, utf8_valid((const char *)b, 3),
                             ref_valid(b, 3));
            }
}

/* Four-byte sequences: every lead byte 0xF0..0xFF, every second byte, and
 * a handful of third and fourth bytes around the continuation range. */
static void test_four_byte_sweep(void **state)
{
    (void)state;
    static const unsigned char tail[] = {0x00, 0x41, 0x7F, 0x80, 0x81,
                                         0x8F, 0x90, 0xA0, 0xBF, 0xC0,
                                         0xC2, 0xF0, 0xFF};
    unsigned char b[4];
    for (int x = 0xF0; x < 256; x++)
        for (int y = 0; y < 256; y++)
            for (size_t i = 0; i < sizeof tail; i++)
                for (size_t k = 0; k < sizeof tail; k++) {
                    b[0] = (unsigned char)x;
                    b[1] = (unsigned char)y;
                    b[2] = tail[i];
                    b[3] = tail[k];
                    if (utf8_valid((const char *)b, 4) != ref_valid(b, 4))
                        fail_msg("%02X %02X %02X %02X: utf8_valid %d", x, y,
                                 b[2], b[3], utf8_valid((const char *)b, 4));
                }
}

/* ---- utf8_length ------------------------------------------------------------
 */

static void test_length(void **state)
{
    (void)state;
    assert_int_equal(utf8_length("", 0), 0);
    assert_int_equal(utf8_length("abc", 3), 3);
    assert_int_equal(utf8_length("abc", 2), 2);
    assert_int_equal(utf8_length("\xC3\xA9", 2), 1);
    assert_int_equal(utf8_length("\xE2\x82\xAC", 3), 1);
    assert_int_equal(utf8_length("\xF0\x9F\x98\x80", 4), 1);
    assert_int_equal(utf8_length("h\xC3\xA9llo w\xC3\xB6rld", 13), 11);
    /* a long string of mixed widths: count = code points written */
    unsigned char buf[4 * 1000];
    size_t n = 0, cps = 0;
    for (uint32_t cp = 0x20; n + 4 <= sizeof buf; cp = cp * 7 % 0x10FFFF + 1) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        n += encode(cp, buf + n);
        cps++;
    }
    assert_true(utf8_valid((const char *)buf, n));
    assert_int_equal(utf8_length((const char *)buf, n), cps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_ascii),
        cmocka_unit_test(test_boundaries_valid),
        cmocka_unit_test(test_mixed_strings),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_stray_continuations),
        cmocka_unit_test(test_bad_lead_bytes),
        cmocka_unit_test(test_overlong_and_out_of_range),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_bad_continuation_values),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_all_one_and_two_byte_sequences),
        cmocka_unit_test(test_all_three_byte_sequences),
        cmocka_unit_test(test_four_byte_sweep),
        cmocka_unit_test(test_length),
    };
    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
