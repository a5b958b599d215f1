/*
 * test_http.c -- fcgi/http/http.c: the rendered answer (http_render).
 *
 * The contract's "whole answers": every answer that is not a stream carries
 * Content-Length equal to its body, so a cut answer is visible; 204 and 304
 * carry neither a body nor a length; HEAD gets the GET answer's length and
 * no body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static void req_init(http_req *r, const char *method, int status,
                     const char *body)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    strcpy(r->request_id, "rid-1");
    r->method = method;
    r->status = status;
    if (body != NULL)
        jb_lit(&r->out, body);
}

/* Renders r; returns the text (caller frees). */
static char *render(const http_req *r)
{
    jbuf b;
    jb_init(&b);
    http_render(r, &b);
    char *s = strdup(b.p ? b.p : "");
    assert_non_null(s);
    assert_int_equal(strlen(s), b.len); /* no NUL inside */
    jb_free(&b);
    return s;
}

static void test_200_has_length_and_body(void **state)
{
    (void)state;
    http_req r;
    req_init(&r, "GET", 200, "{\"id\":1}");
    http_header(&r, "ETag", "\"3\"");
    char *s = render(&r);
    assert_string_equal(s, "Status: 200 OK\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 8\r\n"
                           "X-Request-Id: rid-1\r\n"
                           "ETag: \"3\"\r\n"
                           "\r\n"
                           "{\"id\":1}");
    free(s);
    jb_free(&r.out);
}

static void test_errors_and_empty_bodies_have_length(void **state)
{
    (void)state;
    static const int statuses[] = {201, 400, 404, 409, 412, 413,
                                   415, 422, 428, 500, 503};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        http_req r;
        req_init(&r, "POST", statuses[i], "{\"error\":\"x\"}");
        char *s = render(&r);
        assert_non_null(strstr(s, "\r\nContent-Length: 13\r\n"));
        const char *end = strstr(s, "\r\n\r\n");
        assert_non_null(end);
        assert_string_equal(end + 4, "{\"error\":\"x\"}");
        free(s);
        jb_free(&r.out);
    }
    /* a 200 with no body says so: 0, not nothing */
    http_req r;
    req_init(&r, "POST", 200, NULL);
    char *s = render(&r);
    assert_non_null(strstr(s, "\r\nContent-Length: 0\r\n"));
    free(s);
    jb_free(&r.out);
}

static void test_204_and_304_have_no_body_and_no_length(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        http_req r;
        req_init(&r, k ? "GET" : "DELETE", k ? 304 : 204, "ignored");
        char *s = render(&r);
        assert_null(strstr(s, "Content-Length"));
        assert_null(strstr(s, "Content-Type"));
        size_t n = strlen(s);
        assert_true(n >= 4);
        assert_string_equal(s + n - 4, "\r\n\r\n");
        assert_null(strstr(s, "ignored"));
        free(s);
        jb_free(&r.out);
    }
}

static void test_head_has_the_get_length_and_no_body(void **state)
{
    (void)state;
    http_req r;
    req_init(&r, "HEAD", 200, "{\"status\":\"ok\",\"db\":\"ok\"}");
    char *s = render(&r);
    assert_non_null(strstr(s, "\r\nContent-Length: 25\r\n"));
    size_t n = strlen(s);
    assert_string_equal(s + n - 4, "\r\n\r\n");
    assert_null(strstr(s, "status\""));
    free(s);
    jb_free(&r.out);
}

static void test_content_type_of_the_route(void **state)
{
    (void)state;
    http_req r;
    req_init(&r, "GET", 200, "a 1\n");
    r.content_type_out = "text/plain; version=0.0.4";
    char *s = render(&r);
    assert_non_null(strstr(s, "Content-Type: text/plain; version=0.0.4\r\n"
                              "Content-Length: 4\r\n"));
    free(s);
    jb_free(&r.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_has_length_and_body),
        cmocka_unit_test(test_errors_and_empty_bodies_have_length),
        cmocka_unit_test(test_204_and_304_have_no_body_and_no_length),
        cmocka_unit_test(test_head_has_the_get_length_and_no_body),
        cmocka_unit_test(test_content_type_of_the_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
