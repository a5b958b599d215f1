/*
 * test_chat.c -- the pure parts of lib/chat.c: message ids, roles, the
 * content limits and the query counts of a chat read. (Appends and reads
 * against a database are in tests/integration/test_chat_db.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chat.h"

static int id_ok(const char *s)
{
    return chat_id_valid(s, strlen(s));
}

static void test_id_accepts_exactly_the_set(void **state)
{
    (void)state;
    /* Every single byte: in the set or not, by a list written apart from
     * the code. */
    static const char set[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-";
    for (int c = 0; c < 256; c++) {
        char s[1] = {(char)c};
        int want = c != 0 && strchr(set, c) != NULL;
        if (chat_id_valid(s, 1) != want)
            fail_msg("byte 0x%02x: got %d, want %d", c, !want, want);
    }
}

static void test_id_lengths_1_to_64(void **state)
{
    (void)state;
    char buf[66];
    memset(buf, 'a', sizeof buf);
    assert_false(chat_id_valid(buf, 0));
    assert_true(chat_id_valid(buf, 1));
    assert_true(chat_id_valid(buf, 64));
    assert_false(chat_id_valid(buf, 65));
    assert_false(chat_id_valid(buf, 66));
}

static void test_ids_that_look_like_numbers_are_ids(void **state)
{
    (void)state;
    assert_true(id_ok("1"));
    assert_true(id_ok("01"));
    assert_true(id_ok("1.0"));
    assert_true(id_ok("1e3"));
    assert_true(id_ok("-1"));
    assert_true(id_ok("msg:2026-11-23T10:00:00.123"));
    assert_false(id_ok("+1"));
    assert_false(id_ok("1 "));
    assert_false(id_ok("a/b"));
    assert_false(id_ok("\xc3\xa9")); /* é */
    /* A NUL inside the length is a byte outside the set. */
    assert_false(chat_id_valid("a\0b", 3));
}

static void test_roles(void **state)
{
    (void)state;
    assert_true(chat_role_valid("user", 4));
    assert_true(chat_role_valid("assistant", 9));
    assert_true(chat_role_valid("system", 6));
    assert_false(chat_role_valid("User", 4));
    assert_false(chat_role_valid("use", 3));
    assert_false(chat_role_valid("users", 5));
    assert_false(chat_role_valid("user\0", 5));
    assert_false(chat_role_valid("", 0));
    assert_false(chat_role_valid("admin", 5));
}

static chat_msg make(const char *id, const char *role, const char *content,
                     size_t content_len)
{
    chat_msg m = {.id = id,
                  .id_len = id ? strlen(id) : 0,
                  .role = role,
                  .role_len = role ? strlen(role) : 0,
                  .content = content,
                  .content_len = content_len};
    return m;
}

static void test_check_names_each_fault(void **state)
{
    (void)state;
    chat_msg m = make("a", "user", "hi", 2);
    assert_int_equal(chat_check(&m), CHAT_FAULT_NONE);
    m = make(NULL, "user", "hi", 2);
    assert_int_equal(chat_check(&m), CHAT_FAULT_ID);
    m = make("a b", "user", "hi", 2);
    assert_int_equal(chat_check(&m), CHAT_FAULT_ID);
    m = make("a", NULL, "hi", 2);
    assert_int_equal(chat_check(&m), CHAT_FAULT_ROLE);
    m = make("a", "root", "hi", 2);
    assert_int_equal(chat_check(&m), CHAT_FAULT_ROLE);
    m = make("a", "user", NULL, 0);
    assert_int_equal(chat_check(&m), CHAT_FAULT_ENCODING);
    m = make("a", "user", "\xed\xa0\x80", 3); /* a surrogate */
    assert_int_equal(chat_check(&m), CHAT_FAULT_ENCODING);
    m = make("a", "user", "\xc3", 1); /* cut short */
    assert_int_equal(chat_check(&m), CHAT_FAULT_ENCODING);
    m = make("a", "user", "", 0); /* empty is content */
    assert_int_equal(chat_check(&m), CHAT_FAULT_NONE);
    m = make("a", "user", "a\0b", 3); /* so is a NUL */
    assert_int_equal(chat_check(&m), CHAT_FAULT_NONE);
    for (int f = CHAT_FAULT_NONE; f <= CHAT_FAULT_ENCODING; f++)
        assert_true(strlen(chat_fault_text((chat_fault)f)) > 0);
}

static void test_content_limit_counts_bytes(void **state)
{
    (void)state;
    size_t n = CHAT_MAX_CONTENT + 2;
    char *buf = malloc(n);
    assert_non_null(buf);
    /* "é" is two bytes: 32,768 of them are exactly the limit. */
    for (size_t i = 0; i + 1 < n; i += 2) {
        buf[i] = (char)0xC3;
        buf[i + 1] = (char)0xA9;
    }
    chat_msg m = make("a", "user", buf, CHAT_MAX_CONTENT);
    assert_int_equal(chat_check(&m), CHAT_FAULT_NONE);
    buf[CHAT_MAX_CONTENT] = 'a';
    m.content_len = CHAT_MAX_CONTENT + 1;
    assert_int_equal(chat_check(&m), CHAT_FAULT_TOO_LONG);
    free(buf);
}

static void test_parse_count(void **state)
{
    (void)state;
    uint64_t v = 99;
    assert_int_equal(chat_parse_count("0", 1000, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(chat_parse_count("007", 1000, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(chat_parse_count("1000", 1000, &v), 0);
    assert_int_equal(v, 1000);
    /* Above the cap: the cap, however long the number. */
    assert_int_equal(chat_parse_count("1001", 1000, &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(
        chat_parse_count("99999999999999999999999999999999", 1000, &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(
        chat_parse_count("18446744073709551616", UINT64_MAX - 1, &v), 0);
    assert_int_equal(v, UINT64_MAX - 1);
    v = 99;
    static const char *const bad[] = {"",    "-1",  "+1",  " 1",  "1 ",
                                      "1.5", "1e3", "0x1", "abc", "%31"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (chat_parse_count(bad[i], 1000, &v) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
    assert_int_equal(chat_parse_count(NULL, 1000, &v), -1);
    assert_int_equal(v, 99); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_accepts_exactly_the_set),
        cmocka_unit_test(test_id_lengths_1_to_64),
        cmocka_unit_test(test_ids_that_look_like_numbers_are_ids),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_check_names_each_fault),
        cmocka_unit_test(test_content_limit_counts_bytes),
        cmocka_unit_test(test_parse_count),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
