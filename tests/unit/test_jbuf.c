/*
 * test_jbuf.c -- lib/jbuf.c: the JSON text writer.
 *
 * Strings are escaped per RFC 8259 (quote, backslash, control bytes) and
 * everything else is copied as it is; whatever jb_str writes must parse
 * back (json-c) to the very bytes it was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "jbuf.h"

/* jb_str(s, n) into a fresh buffer and compare with `want`. */
static void assert_str_out(const char *s, size_t n, const char *want)
{
    jbuf b;
    jb_init(&b);
    jb_str(&b, s, n);
    assert_non_null(b.p);
    assert_string_equal(b.p, want);
    assert_int_equal(b.len, strlen(want));
    jb_free(&b);
}

/* jb_str(s, n) must parse back to exactly s[0..n). */
static void assert_round_trip(const char *s, size_t n)
{
    jbuf b;
    jb_init(&b);
    jb_str(&b, s, n);
    assert_int_equal(strlen(b.p), b.len); /* no raw NUL in the output */
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.p[i] < 0x20)
            fail_msg("raw control byte 0x%02x in output %s",
                     (unsigned char)b.p[i], b.p);
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(b.p, &jerr);
    if (o == NULL)
        fail_msg("output does not parse (%s): %s",
                 json_tokener_error_desc(jerr), b.p);
    assert_true(json_object_is_type(o, json_type_string));
    assert_int_equal((size_t)json_object_get_string_len(o), n);
    assert_memory_equal(json_object_get_string(o), s, n);
    json_object_put(o);
    jb_free(&b);
}

/* ---- escaping -------------------------------------------------------------
 */

static void test_str_plain(void **state)
{
    (void)state;
    assert_str_out("", 0, "\"\"");
    assert_str_out("abc", 3, "\"abc\"");
    assert_str_out("a/b", 3, "\"a/b\"");    /* '/' needs no escape */
    assert_str_out("\x7f", 1, "\"\x7f\"");  /* DEL is not a control byte */
    assert_str_out("abcdef", 3, "\"abc\""); /* n bytes, not to the NUL */
}

static void test_str_escapes(void **state)
{
    (void)state;
    assert_str_out("\"", 1, "\"\\\"\"");
    assert_str_out("\\", 1, "\"\\\\\"");
    assert_str_out("\n", 1, "\"\\n\"");
    assert_str_out("\r", 1, "\"\\r\"");
    assert_str_out("\t", 1, "\"\\t\"");
    assert_str_out("\b", 1, "\"\\b\"");
    assert_str_out("\f", 1, "\"\\f\"");
    assert_str_out("\0", 1, "\"\\u0000\"");
    assert_str_out("\x01", 1, "\"\\u0001\"");
    assert_str_out("\x0b", 1, "\"\\u000b\"");
    assert_str_out("\x1b", 1, "\"\\u001b\"");
    assert_str_out("\x1f", 1, "\"\\u001f\"");
    assert_str_out("a\"b\\c\nd", 7, "\"a\\\"b\\\\c\\nd\"");
    assert_str_out("\"\"", 2, "\"\\\"\\\"\"");
    assert_str_out("end\\", 4, "\"end\\\\\"");
    assert_str_out("\nstart", 6, "\"\\nstart\"");
}

/* Every byte below 0x80, alone and between other bytes. */
static void test_str_every_ascii_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 0x80; c++) {
        char one[1] = {(char)c};
        assert_round_trip(one, 1);
        char three[3] = {'x', (char)c, 'y'};
        assert_round_trip(three, 3);

        jbuf b;
        jb_init(&b);
        jb_str(&b, one, 1);
        char want[16];
        switch (c) {
        case '"':
            strcpy(want, "\"\\\"\"");
            break;
        case '\\':
            strcpy(want, "\"\\\\\"");
            break;
        case '\n':
            strcpy(want, "\"\\n\"");
            break;
        case '\r':
            strcpy(want, "\"\\r\"");
            break;
        case '\t':
            strcpy(want, "\"\\t\"");
            break;
        case '\b':
            strcpy(want, "\"\\b\"");
            break;
        case '\f':
            strcpy(want, "\"\\f\"");
            break;
        default:
            if (c < 0x20)
                snprintf(want, sizeof want, "\"\\u%04x\"", c);
            else
                snprintf(want, sizeof want, "\"%c\"", c);
        }
        if (strcmp(b.p, want) != 0)
            fail_msg("byte 0x%02x: got %s, want %s", c, b.p, want);
        jb_free(&b);
    }
    /* all 128 in one string */
    char all[0x80];
    for (int c = 0; c < 0x80; c++)
        all[c] = (char)c;
    assert_round_trip(all, sizeof all);
}

/* Bytes 0x80..0xFF are copied as they are (UTF-8 is checked on input, not
 * here): one by one, nothing is escaped. */
static void test_str_high_bytes_copied(void **state)
{
    (void)state;
    for (int c = 0x80; c < 0x100; c++) {
        char one[1] = {(char)c};
        char want[4] = {'"', (char)c, '"', '\0'};
        jbuf b;
        jb_init(&b);
        jb_str(&b, one, 1);
        if (b.len != 3 || memcmp(b.p, want, 4) != 0)
            fail_msg("byte 0x%02x not copied as it is", c);
        jb_free(&b);
    }
}

static void test_str_utf8_untouched(void **state)
{
    (void)state;
    const char *strs[] = {
        "caf\xC3\xA9",
        "\xE2\x82\xAC 10",
        "\xF0\x9F\x98\x80",
        "\xF4\x8F\xBF\xBF",
        "\xE4\xB8\xAD\xE6\x96\x87\n\xF0\x9F\x8D\xB5\"",
        "\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80",
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        assert_round_trip(strs[i], strlen(strs[i]));
    /* copied byte for byte, not escaped as \u */
    assert_str_out("caf\xC3\xA9", 5, "\"caf\xC3\xA9\"");
    assert_str_out("\xF0\x9F\x98\x80", 4, "\"\xF0\x9F\x98\x80\"");
    assert_str_out("\xE2\x80\xA8", 3, "\"\xE2\x80\xA8\""); /* U+2028 */
}

/* A long string with escapes spread through it: the buffer grows across
 * many appends and the result still parses to the input. */
static void test_str_long(void **state)
{
    (void)state;
    static const char pool[] = "ab\"\\\n\x01 \xC3\xA9z\t";
    const size_t plen = sizeof pool - 1;
    /* whole copies of the pool only, so the UTF-8 pair stays whole */
    size_t n = 100000 / plen * plen;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = pool[i % plen];
    assert_round_trip(s, n);
    free(s);
}

/* Appending to a buffer that already holds text. */
static void test_str_appends(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "[");
    jb_str(&b, "a\"", 2);
    jb_lit(&b, ",");
    jb_cstr(&b, "b\n");
    jb_lit(&b, ",");
    jb_cstr(&b, NULL);
    jb_lit(&b, "]");
    assert_string_equal(b.p, "[\"a\\\"\",\"b\\n\",null]");
    json_object *o = json_tokener_parse(b.p);
    assert_non_null(o);
    assert_int_equal(json_object_array_length(o), 3);
    json_object_put(o);
    jb_free(&b);
}

/* ---- numbers, times, keys ------------------------------------------------ */

static void test_numbers(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    jb_u64(&b, UINT64_MAX);
    assert_string_equal(b.p, "18446744073709551615");
    jb_reset(&b);
    jb_u64(&b, 0);
    assert_string_equal(b.p, "0");
    jb_reset(&b);
    jb_u64(&b, 4294967295u);
    assert_string_equal(b.p, "4294967295");
    jb_free(&b);
}

static void assert_time(const char *in, const char *want)
{
    jbuf b;
    jb_init(&b);
    jb_time(&b, in);
    assert_string_equal(b.p, want);
    jb_free(&b);
}

static void test_time(void **state)
{
    (void)state;
    assert_time("2026-11-23 10:00:00.123", "\"2026-11-23T10:00:00.123Z\"");
    assert_time("1970-01-01 00:00:00.000", "\"1970-01-01T00:00:00.000Z\"");
    assert_time("2026-12-31 23:59:59.999", "\"2026-12-31T23:59:59.999Z\"");
    /* a column without fractions gets them */
    assert_time("2026-11-23 10:00:00", "\"2026-11-23T10:00:00.000Z\"");
    /* more precision than milliseconds is cut to milliseconds */
    assert_time("2026-11-23 10:00:00.123456", "\"2026-11-23T10:00:00.123Z\"");
    assert_time(NULL, "null");

    /* in context: still JSON */
    jbuf b;
    jb_init(&b);
    jb_lit(&b, "{");
    jb_lit(&b, "\"at\":");
    jb_time(&b, "2026-11-23 10:00:00.123");
    jb_lit(&b, ",");
    jb_lit(&b, "\"decided_at\":");
    jb_time(&b, NULL);
    jb_lit(&b, "}");
    assert_string_equal(
        b.p, "{\"at\":\"2026-11-23T10:00:00.123Z\",\"decided_at\":null}");
    json_object *o = json_tokener_parse(b.p);
    assert_non_null(o);
    json_object_put(o);
    jb_free(&b);
}

/* ---- the buffer itself -----------------------------------------------------
 */

static void test_buffer_life(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    jb_reset(&b); /* on a fresh buffer: harmless */
    assert_null(b.p);

    jb_raw(&b, "", 0); /* first use allocates and terminates */
    assert_non_null(b.p);
    assert_string_equal(b.p, "");

    jb_raw(&b, "ab\0cd", 5); /* raw bytes, NUL included */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, "ab\0cd", 6);

    char *before = b.p;
    size_t cap = b.cap;
    jb_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.p, before); /* memory kept */
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.p, "");

    /* growth: many appends, content intact */
    for (int i = 0; i < 10000; i++)
        jb_lit(&b, "0123456789");
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] != (char)('0' + i % 10))
            fail_msg("byte %zu corrupted", i);

    jb_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    jb_free(&b); /* twice: harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_plain),
        cmocka_unit_test(test_str_escapes),
        cmocka_unit_test(test_str_every_ascii_byte),
        cmocka_unit_test(test_str_high_bytes_copied),
        cmocka_unit_test(test_str_utf8_untouched),
        cmocka_unit_test(test_str_long),
        cmocka_unit_test(test_str_appends),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_buffer_life),
    };
    return cmocka_run_group_tests_name("jbuf", tests, NULL, NULL);
}
