/*
 * test_reply.c -- fcgi/http/reply.c: the one mapping from a library status to
 * an HTTP answer, the contract's error body and the conflict body.
 *
 * Database error text must reach the log and never the client: the tests
 * capture stderr (the log) around each call to check both sides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "metrics.h"
#include "reply.h"
#include "router.h"

#define SECRET_MSG   "Table 'optimist.secret_tbl' doesn't exist"
#define SECRET_STATE "42S02"

/* ---- fixtures ------------------------------------------------------------ */

static void req_init(http_req *r)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    strcpy(r->request_id, "req-7f3a");
}

static void secret_err(rec_err *e)
{
    memset(e, 0, sizeof *e);
    e->code = 1146;
    strcpy(e->sqlstate, SECRET_STATE);
    strcpy(e->msg, SECRET_MSG);
}

/* stderr capture: the log writes with write(2) to fd 2. */
typedef struct capture {
    int saved;
    FILE *f;
} capture;

static void capture_start(capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* Restores stderr; returns what was written (caller frees). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    assert_int_equal(fseek(c->f, 0, SEEK_END), 0);
    long n = ftell(c->f);
    assert_true(n >= 0);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    rewind(c->f);
    size_t got = fread(text, 1, (size_t)n, c->f);
    text[got] = '\0';
    fclose(c->f);
    return text;
}

/* Parses r->out as a JSON object (caller puts it). */
static json_object *body_json(const http_req *r)
{
    assert_non_null(r->out.p);
    assert_int_equal(strlen(r->out.p), r->out.len);
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(r->out.p, &jerr);
    if (o == NULL)
        fail_msg("body is not JSON (%s): %s", json_tokener_error_desc(jerr),
                 r->out.p);
    assert_true(json_object_is_type(o, json_type_object));
    return o;
}

static const char *member_string(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" member", key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is not a string", key);
    return json_object_get_string(v);
}

/* The standard members: error == code, a non-empty message, request_id. */
static void assert_error_body(const http_req *r, const char *code)
{
    json_object *o = body_json(r);
    assert_string_equal(member_string(o, "error"), code);
    assert_true(strlen(member_string(o, "message")) > 0);
    assert_string_equal(member_string(o, "request_id"), r->request_id);
    json_object_put(o);
}

/* ---- reply_rec
 * --------------------------------------------------------------- */

struct rec_case {
    rec_status st;
    int status;
    const char *code;
    int retry_after; /* 1: a "Retry-After: 1" header */
    int logged;      /* 1: the database text goes to the log */
};

static const struct rec_case rec_cases[] = {
    {REC_NOT_FOUND, 404, "not_found", 0, 0},
    {REC_INVALID, 400, "bad_request", 0, 1},
    {REC_UNAVAILABLE, 503, "unavailable", 1, 1},
    {REC_RETRY, 503, "unavailable", 1, 1},
    {REC_ERROR, 500, "internal", 0, 1},
    {REC_DUPLICATE, 500, "internal", 0, 1},
    {REC_CONFLICT, 500, "internal", 0, 1},
    {REC_INVALID_STATE, 500, "internal", 0, 1},
};

static void run_rec_case(const struct rec_case *c)
{
    http_req r;
    rec_err e;
    capture cap;

    req_init(&r);
    secret_err(&e);
    capture_start(&cap);
    reply_rec(&r, c->st, &e);
    char *log = capture_end(&cap);

    if (r.status != c->status)
        fail_msg("%s: status %d, expected %d", rec_status_name(c->st), r.status,
                 c->status);
    assert_error_body(&r, c->code);

    /* the database's words stay out of the answer */
    assert_null(strstr(r.out.p, "secret_tbl"));
    assert_null(strstr(r.out.p, SECRET_STATE));
    assert_null(strstr(r.out.p, "1146"));
    assert_null(strstr(r.headers, "secret_tbl"));

    if (c->retry_after) {
        assert_non_null(strstr(r.headers, "Retry-After: 1\r\n"));
    } else {
        assert_null(strstr(r.headers, "Retry-After"));
        assert_int_equal(r.headers_len, 0);
    }
    if (c->logged && strstr(log, "secret_tbl") == NULL)
        fail_msg("%s: the log lacks the database text: [%s]",
                 rec_status_name(c->st), log);
    free(log);
    jb_free(&r.out);
}

static void test_rec_not_found(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[0]);
}

static void test_rec_invalid(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[1]);
}

static void test_rec_unavailable(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[2]);
}

static void test_rec_retry(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[3]);
}

static void test_rec_error(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[4]);
}

static void test_rec_duplicate(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[5]);
}

/* Conflicts are the route's to answer; passed here they are a 500. */
static void test_rec_conflict_states(void **state)
{
    (void)state;
    run_rec_case(&rec_cases[6]);
    run_rec_case(&rec_cases[7]);
}

/* The body is replaced, not appended to, when a request is answered twice
 * (e.g. a helper answered and then the route mapped a failure). */
static void test_rec_replaces_body(void **state)
{
    (void)state;
    http_req r;
    rec_err e;
    capture cap;
    req_init(&r);
    secret_err(&e);
    reply_error(&r, 400, "bad_request", "first", NULL);
    capture_start(&cap);
    reply_rec(&r, REC_ERROR, &e);
    free(capture_end(&cap));
    assert_int_equal(r.status, 500);
    assert_error_body(&r, "internal");
    assert_null(strstr(r.out.p, "first"));
    jb_free(&r.out);
}

/* ---- reply_error
 * ------------------------------------------------------------- */

static void test_error_plain(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    reply_error(&r, 404, "not_found", "no such route", NULL);
    assert_int_equal(r.status, 404);
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "error"), "not_found");
    assert_string_equal(member_string(o, "message"), "no such route");
    assert_string_equal(member_string(o, "request_id"), "req-7f3a");
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);

    /* an empty extra adds nothing */
    reply_error(&r, 400, "bad_request", "m", "");
    o = body_json(&r);
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);
    jb_free(&r.out);
}

static void test_error_extra(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    reply_error(&r, 428, "precondition_required", "send a version",
                "\"current_version\":3");
    assert_int_equal(r.status, 428);
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "error"), "precondition_required");
    json_object *v;
    assert_true(json_object_object_get_ex(o, "current_version", &v));
    assert_true(json_object_is_type(v, json_type_int));
    assert_int_equal(json_object_get_int64(v), 3);
    assert_int_equal(json_object_object_length(o), 4);
    json_object_put(o);

    reply_error(&r, 409, "invalid_state", "not pending",
                "\"status\":\"executed\",\"current_version\":2,"
                "\"current\":{\"id\":9}");
    o = body_json(&r);
    assert_string_equal(member_string(o, "status"), "executed");
    assert_true(json_object_object_get_ex(o, "current", &v));
    assert_true(json_object_is_type(v, json_type_object));
    assert_int_equal(json_object_object_length(o), 6);
    json_object_put(o);
    jb_free(&r.out);
}

/* Messages and request ids are escaped, whatever they hold. */
static void test_error_escaping(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    strcpy(r.request_id, "id\"with\\odd\x01 bytes");
    const char *msg = "a \"quoted\" \\ back\nslash\ttab \x1f caf\xC3\xA9 "
                      "\xF0\x9F\x98\x80";
    reply_error(&r, 400, "bad_request", msg, NULL);
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "message"), msg);
    assert_string_equal(member_string(o, "request_id"),
                        "id\"with\\odd\x01 bytes");
    json_object_put(o);
    jb_free(&r.out);
}

static void test_error_empty_request_id(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    r.request_id[0] = '\0';
    reply_error(&r, 401, "unauthorized", "token", NULL);
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "request_id"), "");
    json_object_put(o);
    jb_free(&r.out);
}

static void test_errorf(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    reply_errorf(&r, 405, "method_not_allowed", "use %s or %s (%d)", "GET",
                 "DELETE", 2);
    assert_int_equal(r.status, 405);
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "message"), "use GET or DELETE (2)");
    json_object_put(o);

    /* a long message is cut, and the body is still JSON */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    reply_errorf(&r, 400, "bad_request", "%s", big);
    o = body_json(&r);
    size_t n = strlen(member_string(o, "message"));
    assert_true(n > 0 && n < sizeof big - 1);
    json_object_put(o);
    jb_free(&r.out);
}

/* ---- reply_conflict
 * ------------------------------------------------------------ */

/* The counter optimist_conflicts_total{resource="<res>"} now. */
static unsigned long long conflicts_of(const char *res)
{
    char *text = metrics_render(router_name, router_count());
    assert_non_null(text);
    char key[128];
    snprintf(key, sizeof key, "optimist_conflicts_total{resource=\"%s\"} ",
             res);
    const char *p = strstr(text, key);
    if (p == NULL)
        fail_msg("no %s in the metrics", key);
    unsigned long long v = strtoull(p + strlen(key), NULL, 10);
    free(text);
    return v;
}

static void check_conflict(int use_412)
{
    http_req r;
    jbuf cur;
    req_init(&r);
    jb_init(&cur);
    jb_lit(&cur, "{\"id\":12,\"version\":3,\"title\":\"t\",\"messages\":[]}");

    unsigned long long before = conflicts_of("sessions");
    reply_conflict(&r, use_412, "sessions", 3, &cur);
    assert_int_equal(conflicts_of("sessions"), before + 1);

    assert_int_equal(r.status, use_412 ? 412 : 409);
    assert_non_null(strstr(r.headers, "ETag: \"3\"\r\n"));
    json_object *o = body_json(&r);
    assert_string_equal(member_string(o, "error"),
                        use_412 ? "precondition_failed" : "version_conflict");
    assert_true(strlen(member_string(o, "message")) > 0);
    assert_string_equal(member_string(o, "request_id"), "req-7f3a");
    json_object *v;
    assert_true(json_object_object_get_ex(o, "current_version", &v));
    assert_true(json_object_is_type(v, json_type_int));
    assert_int_equal(json_object_get_int64(v), 3);
    assert_true(json_object_object_get_ex(o, "current", &v));
    assert_true(json_object_is_type(v, json_type_object));
    json_object *id;
    assert_true(json_object_object_get_ex(v, "id", &id));
    assert_int_equal(json_object_get_int64(id), 12);
    json_object *ver;
    assert_true(json_object_object_get_ex(v, "version", &ver));
    assert_int_equal(json_object_get_int64(ver), 3);
    json_object_put(o);
    jb_free(&cur);
    jb_free(&r.out);
}

static void test_conflict_409(void **state)
{
    (void)state;
    check_conflict(0);
}

static void test_conflict_412(void **state)
{
    (void)state;
    check_conflict(1);
}

static void test_conflict_extremes(void **state)
{
    (void)state;
    http_req r;
    jbuf cur;
    req_init(&r);
    jb_init(&cur); /* never written: current is null */

    unsigned long long before = conflicts_of("other");
    reply_conflict(&r, 0, "no-such-resource", 4294967295u, &cur);
    assert_int_equal(conflicts_of("other"), before + 1);

    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.headers, "ETag: \"4294967295\"\r\n"));
    json_object *o = body_json(&r);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "current_version", &v));
    assert_int_equal(json_object_get_int64(v), 4294967295LL);
    assert_true(json_object_object_get_ex(o, "current", &v));
    assert_null(v);
    json_object_put(o);
    jb_free(&r.out);
}

/* ---- reply_etag, reply_body, reply_json ------------------------------------
 */

static void test_etag_and_json(void **state)
{
    (void)state;
    http_req r;
    req_init(&r);
    reply_etag(&r, 1);
    assert_string_equal(r.headers, "ETag: \"1\"\r\n");
    assert_int_equal(r.headers_len, strlen(r.headers));

    jbuf *b = reply_body(&r);
    assert_ptr_equal(b, &r.out);
    jb_lit(b, "{\"id\":1}");
    reply_json(&r, 201);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.out.p, "{\"id\":1}");

    /* reply_body empties what was written */
    b = reply_body(&r);
    assert_int_equal(b->len, 0);
    assert_string_equal(b->p, "");
    jb_free(&r.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rec_not_found),
        cmocka_unit_test(test_rec_invalid),
        cmocka_unit_test(test_rec_unavailable),
        cmocka_unit_test(test_rec_retry),
        cmocka_unit_test(test_rec_error),
        cmocka_unit_test(test_rec_duplicate),
        cmocka_unit_test(test_rec_conflict_states),
        cmocka_unit_test(test_rec_replaces_body),
        cmocka_unit_test(test_error_plain),
        cmocka_unit_test(test_error_extra),
        cmocka_unit_test(test_error_escaping),
        cmocka_unit_test(test_error_empty_request_id),
        cmocka_unit_test(test_errorf),
        cmocka_unit_test(test_conflict_409),
        cmocka_unit_test(test_conflict_412),
        cmocka_unit_test(test_conflict_extremes),
        cmocka_unit_test(test_etag_and_json),
    };
    return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
