/*
 * test_sse.c -- fcgi/hub/sse.c's formatting: an event is "event:", one
 * "data:" line per line of data, and an empty line; a line break inside
 * the data must never end the event early.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sse.h"

static void expect_event(const char *event, const char *data, const char *want)
{
    jbuf b;
    jb_init(&b);
    sse_format_event(&b, event, data, strlen(data));
    assert_string_equal(b.p, want);
    jb_free(&b);
}

static void test_one_line(void **state)
{
    (void)state;
    expect_event("progress", "{\"step\":1}",
                 "event: progress\ndata: {\"step\":1}\n\n");
    expect_event("x", "", "event: x\ndata: \n\n");
}

static void test_line_breaks_become_data_lines(void **state)
{
    (void)state;
    expect_event("e", "a\nb", "event: e\ndata: a\ndata: b\n\n");
    expect_event("e", "a\r\nb", "event: e\ndata: a\ndata: b\n\n");
    expect_event("e", "a\rb\n", "event: e\ndata: a\ndata: b\ndata: \n\n");
    expect_event("e", "\n\n", "event: e\ndata: \ndata: \ndata: \n\n");
}

static void test_comment_and_append(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    sse_format_comment(&b, "ping");
    sse_format_event(&b, "result", "{}", 2);
    assert_string_equal(b.p, ": ping\n\nevent: result\ndata: {}\n\n");
    jb_free(&b);
}

static void test_numbered_event(void **state)
{
    (void)state;
    jbuf b;
    jb_init(&b);
    sse_format_event_id(&b, "version", 42, "{\"a\":1}", 7);
    assert_string_equal(b.p, "event: version\nid: 42\ndata: {\"a\":1}\n\n");
    jb_reset(&b);
    sse_format_event_id(&b, "deleted", 0, "{}", 2); /* 0: no id line */
    assert_string_equal(b.p, "event: deleted\ndata: {}\n\n");
    jb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_line_breaks_become_data_lines),
        cmocka_unit_test(test_comment_and_append),
        cmocka_unit_test(test_numbered_event),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
