/*
 * test_body.c -- fcgi/http/body.c: media type, UTF-8, JSON syntax and depth.
 *
 * The contract: a body without a JSON Content-Type is 415; malformed JSON,
 * bad UTF-8, a \u0000 anywhere and nesting beyond 32 levels (the outer
 * value is level 1) are 400. body_parse itself accepts any JSON value;
 * body_object_or_reply then insists on an object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

/* ---- body_is_json_type ------------------------------------------------- */

static void test_json_types(void **state)
{
    (void)state;
    assert_int_equal(body_is_json_type("application/json"), 1);
    assert_int_equal(body_is_json_type("application/json; charset=utf-8"), 1);
    assert_int_equal(body_is_json_type("application/json;charset=UTF-8"), 1);
    assert_int_equal(body_is_json_type("application/json ; charset=utf-8"), 1);
    assert_int_equal(body_is_json_type("application/json\t;x=y"), 1);
    assert_int_equal(body_is_json_type(" application/json"), 1);
    assert_int_equal(body_is_json_type("APPLICATION/JSON"), 1);
    assert_int_equal(body_is_json_type("Application/Json"), 1);
    assert_int_equal(body_is_json_type("application/merge-patch+json"), 1);
    assert_int_equal(
        body_is_json_type("application/merge-patch+json; charset=utf-8"), 1);
    assert_int_equal(body_is_json_type("application/problem+json"), 1);
    assert_int_equal(body_is_json_type("APPLICATION/VND.API+JSON"), 1);
}

static void test_not_json_types(void **state)
{
    (void)state;
    assert_int_equal(body_is_json_type(NULL), 0);
    assert_int_equal(body_is_json_type(""), 0);
    assert_int_equal(body_is_json_type(" "), 0);
    assert_int_equal(body_is_json_type("text/plain"), 0);
    assert_int_equal(body_is_json_type("text/json"), 0);
    assert_int_equal(body_is_json_type("text/plain+json"), 0);
    assert_int_equal(body_is_json_type("application/jsonx"), 0);
    assert_int_equal(body_is_json_type("application/json-seq"), 0);
    assert_int_equal(body_is_json_type("application/jso"), 0);
    assert_int_equal(body_is_json_type("application/x-www-form-urlencoded"), 0);
    assert_int_equal(body_is_json_type("application/+json"), 0);
    assert_int_equal(body_is_json_type("application/json+xml"), 0);
    assert_int_equal(body_is_json_type("multipart/form-data; x=+json"), 0);
    assert_int_equal(body_is_json_type("json"), 0);
    assert_int_equal(body_is_json_type("; application/json"), 0);
}

/* ---- body_parse ---------------------------------------------------------- */

/* Parses n bytes; on failure msg gets the message. */
static json_object *parse_n(const char *s, size_t n, char *msg, size_t mlen)
{
    msg[0] = '\0';
    json_object *o = body_parse(s, n, msg, mlen);
    if (o == NULL)
        assert_true(msg[0] != '\0'); /* a failure always says why */
    return o;
}

/* Parses a C string (without its NUL). */
static json_object *parse(const char *s, char *msg, size_t mlen)
{
    return parse_n(s, strlen(s), msg, mlen);
}

static void assert_fails_n(const char *s, size_t n, const char *msg_part)
{
    char msg[160];
    json_object *o = parse_n(s, n, msg, sizeof msg);
    if (o != NULL) {
        fail_msg("accepted %zu bytes \"%.*s\" as %s", n, (int)n, s,
                 json_object_to_json_string(o));
    }
    if (msg_part != NULL && strstr(msg, msg_part) == NULL)
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)n, s, msg,
                 msg_part);
}

static void assert_fails(const char *s, const char *msg_part)
{
    assert_fails_n(s, strlen(s), msg_part);
}

static void test_parse_object(void **state)
{
    (void)state;
    char msg[160];
    const char *text = "{\"a\":1,\"b\":[true,false,null,\"x\",-2.5e3],"
                       "\"c\":{\"d\":{}}}";
    json_object *o = parse(text, msg, sizeof msg);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_object));
    json_object *v;
    assert_true(json_object_object_get_ex(o, "a", &v));
    assert_int_equal(json_object_get_int64(v), 1);
    assert_true(json_object_object_get_ex(o, "b", &v));
    assert_int_equal(json_object_array_length(v), 5);
    assert_true(json_object_object_get_ex(o, "c", &v));
    assert_true(json_object_is_type(v, json_type_object));
    json_object_put(o);

    o = parse("{}", msg, sizeof msg);
    assert_non_null(o);
    assert_int_equal(json_object_object_length(o), 0);
    json_object_put(o);

    o = parse(" \t\r\n{ \"k\" : \"v\" }", msg, sizeof msg);
    assert_non_null(o);
    json_object_put(o);
}

static void test_parse_escapes(void **state)
{
    (void)state;
    char msg[160];
    json_object *o =
        parse("{\"s\":\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\"}", msg,
              sizeof msg);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "s", &v));
    assert_string_equal(json_object_get_string(v),
                        "q\"b\\s/n\nt\tu\xC3\xA9\xF0\x9F\x98\x80");
    json_object_put(o);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    assert_fails("{", "malformed JSON");
    assert_fails("}", "malformed JSON");
    assert_fails("[1", "malformed JSON");
    assert_fails("{\"a\":}", "malformed JSON");
    assert_fails("{\"a\" 1}", "malformed JSON");
    assert_fails("{\"a\":1,}", "malformed JSON");
    assert_fails("[1,]", "malformed JSON");
    assert_fails("[1,,2]", "malformed JSON");
    assert_fails("[1 2]", "malformed JSON");
    assert_fails("{a:1}", "malformed JSON");
    assert_fails("\"abc", "malformed JSON");
    assert_fails("\"\\x41\"", "malformed JSON");
    assert_fails("tru", "malformed JSON");
    assert_fails("TRUE", "malformed JSON");
    assert_fails("nul", "malformed JSON");
    assert_fails("01", "malformed JSON");
    assert_fails("{\"v\":01}", "malformed JSON");
    assert_fails("+1", "malformed JSON");
    assert_fails(".5", "malformed JSON");
    assert_fails("-", "malformed JSON");
    assert_fails("1e", "malformed JSON");
    assert_fails("0x10", "malformed JSON");
    assert_fails("'x'", "malformed JSON");
    assert_fails("/*c*/{}", "malformed JSON");
    assert_fails("{}//c", "malformed JSON");
    assert_fails("", "malformed JSON");
    assert_fails("   ", "malformed JSON");
    assert_fails("\xEF\xBB\xBF{}", "malformed JSON"); /* a BOM */
}

static void test_parse_trailing(void **state)
{
    (void)state;
    char msg[160];
    assert_fails("{} x", NULL);
    assert_fails("{}x", NULL);
    assert_fails("{}}", NULL);
    assert_fails("[1]]", NULL);
    assert_fails("{} {}", NULL);
    assert_fails("12 x", NULL);
    assert_fails("12x", NULL);
    assert_fails("\"a\" \"b\"", NULL);
    assert_fails("true false", NULL);
    /* a NUL after the value is text after the value */
    assert_fails_n("{}\0", 3, NULL);
    assert_fails_n("1\0", 2, NULL);
    assert_fails_n("{}\0 ", 4, NULL);

    /* trailing JSON whitespace is fine */
    const char *ok[] = {"{} ", "{}\n",      "{} \t\r\n ", "[] \n",
                        "12 ", "\"s\"\r\n", "true\t"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        json_object *o = parse(ok[i], msg, sizeof msg);
        if (o == NULL)
            fail_msg("\"%s\" refused: %s", ok[i], msg);
        json_object_put(o);
    }
    /* but not other whitespace-looking bytes */
    assert_fails("{}\v", NULL);
    assert_fails("{}\f", NULL);
}

/* The length given is honoured: bytes past it are never read or judged. */
static void test_parse_uses_len(void **state)
{
    (void)state;
    char msg[160];
    const char buf[] = "{\"a\":1} garbage";
    json_object *o = parse_n(buf, 7, msg, sizeof msg);
    assert_non_null(o);
    json_object_put(o);

    /* a number that ends where the buffer does, followed by more digits */
    const char num[] = "1234";
    o = parse_n(num, 2, msg, sizeof msg);
    assert_non_null(o);
    assert_int_equal(json_object_get_int64(o), 12);
    json_object_put(o);

    /* a buffer that is not NUL-terminated at len */
    char *heap = malloc(2);
    assert_non_null(heap);
    memcpy(heap, "{}", 2);
    o = parse_n(heap, 2, msg, sizeof msg);
    assert_non_null(o);
    json_object_put(o);
    free(heap);
}

/* Builds `levels` nested arrays "[[...]]" or objects {"a":{"a":...{}}}. */
static char *nested(int levels, int objects, size_t *len)
{
    size_t cap = (size_t)levels * 6 + 1;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = 0;
    for (int i = 0; i < levels; i++) {
        if (objects) {
            if (i + 1 < levels) {
                memcpy(s + n, "{\"a\":", 5);
                n += 5;
            } else {
                s[n++] = '{';
            }
        } else {
            s[n++] = '[';
        }
    }
    for (int i = 0; i < levels; i++)
        s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    *len = n;
    return s;
}

static int nested_ok(int levels, int objects, char *msg, size_t mlen)
{
    size_t len;
    char *s = nested(levels, objects, &len);
    json_object *o = parse_n(s, len, msg, mlen);
    free(s);
    if (o == NULL)
        return 0;
    /* the tree really is that deep */
    int depth = 0;
    json_object *cur = o;
    while (cur != NULL) {
        depth++;
        json_object *next = NULL;
        if (json_object_is_type(cur, json_type_array))
            next = json_object_array_length(cur)
                       ? json_object_array_get_idx(cur, 0)
                       : NULL;
        else
            json_object_object_get_ex(cur, "a", &next);
        cur = next;
    }
    assert_int_equal(depth, levels);
    json_object_put(o);
    return 1;
}

static void test_depth_arrays(void **state)
{
    (void)state;
    char msg[160];
    /* The contract: 32 levels pass, 33 fail. */
    assert_int_equal(BODY_MAX_DEPTH, 32);
    assert_true(nested_ok(1, 0, msg, sizeof msg));
    assert_true(nested_ok(31, 0, msg, sizeof msg));
    assert_true(nested_ok(32, 0, msg, sizeof msg));
    assert_false(nested_ok(33, 0, msg, sizeof msg));
    assert_non_null(strstr(msg, "deeper"));
    assert_non_null(strstr(msg, "32"));
    assert_false(nested_ok(34, 0, msg, sizeof msg));
    assert_non_null(strstr(msg, "deeper"));
    assert_false(nested_ok(1000, 0, msg, sizeof msg));
    assert_non_null(strstr(msg, "deeper"));
}

static void test_depth_objects(void **state)
{
    (void)state;
    char msg[160];
    assert_true(nested_ok(1, 1, msg, sizeof msg));
    assert_true(nested_ok(32, 1, msg, sizeof msg));
    assert_false(nested_ok(33, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "deeper"));
    assert_false(nested_ok(500, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "deeper"));
}

/* Regression: "price\u0000_note" was kept by json-c
 * but cut at the NUL by every C string after it, so it overwrote "price";
 * {"x\u0000y":1,"x":2} stored {"x":2}. A \u0000 anywhere, key or value,
 * is refused; other escapes of control characters still pass. */
static void test_nul_escape_is_refused(void **state)
{
    (void)state;
    char msg[160];
    static const char *const bad[] = {
        "{\"version\":1,\"data\":{\"price\\u0000_note\":\"call me\"}}",
        "{\"data\":{\"x\\u0000y\":1,\"x\":2}}",
        "{\"title\":\"ab\\u0000cd\"}",
        "{\"t\":\"\\u0000\"}",
        "[\"\\u0000\"]",
        "\"\\u0000\"",
        "{\"\\u0000\":1}",
        "{\"a\":[1,{\"b\":\"x\\u0000\"}]}",
        "{\"a\":1,\"k\\u0000\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *o = parse_n(bad[i], strlen(bad[i]), msg, sizeof msg);
        if (o != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(msg, "\\u0000"));
    }
    static const char *const good[] = {
        "{\"t\":\"\\u0001\\u001f\\u0010\"}",
        "{\"t\":\"\\\\u0000\"}",
        "{\"t\":\"u0000\"}",
        "{\"t\":\"\\u00000\"}",
    };
    /* "\\u00000" is \u0000 then '0': refused; the others pass. */
    for (size_t i = 0; i < 3; i++) {
        json_object *o = parse_n(good[i], strlen(good[i]), msg, sizeof msg);
        if (o == NULL)
            fail_msg("refused %s: %s", good[i], msg);
        json_object_put(o);
    }
    assert_null(parse_n(good[3], strlen(good[3]), msg, sizeof msg));
}

/* Regression: json-c's STRICT mode accepted these; json_check refuses. */
static void test_json_c_strict_leaks_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"v\":NaN}",
        "{\"v\":Infinity}",
        "{\"v\":-Infinity}",
        "{'v':1}",
        "{\"v\":\"a\tb\"}",
        "{\"v\":\"a\nb\"}",
        "{\"v\":\"\x01\"}",
        "{\"v\":1.}",
        "{\"v\":1.e5}",
        "{\"v\":00}",
        "{\"v\":-01}",
        "{\"v\":-00}",
        "{\"v\":01}",
        "{\"v\":+1}",
        "{\"v\":.5}",
        "{\"v\":\"\\x\"}",
        "{\"v\":\"\\u12\"}",
        "{\"v\":tru}",
        "{\"v\" 1}",
        "{\"v\":1,}",
        "[1,]",
        "[,1]",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "[1 2]",
        "\"unterminated",
    };
    char msg[160];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *o = parse_n(bad[i], strlen(bad[i]), msg, sizeof msg);
        if (o != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(msg, "malformed"));
    }
    static const char *const good[] = {
        "{\"v\":-0}",        "{\"v\":0.5e-3}",
        "{\"v\":1E+2}",      "{\"v\":\"\\u00e9\\n\\/\"}",
        "[true,false,null]", " [ ] ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_object *o = parse_n(good[i], strlen(good[i]), msg, sizeof msg);
        if (o == NULL)
            fail_msg("refused %s: %s", good[i], msg);
        json_object_put(o);
    }
}

/* Regression: json-c clamped integers beyond 64 bits without an error
 * (18446744073709551621 was stored as 18446744073709551615). */
static void test_integers_beyond_64_bits_are_refused(void **state)
{
    (void)state;
    char msg[160];
    static const char *const bad[] = {
        "{\"n\":18446744073709551616}",
        "[18446744073709551621]",
        "[-9223372036854775809]",
        "[100000000000000000000]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_n(bad[i], strlen(bad[i]), msg, sizeof msg) != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(msg, "64 bits"));
    }
    static const char *const good[] = {
        "[18446744073709551615]",
        "[-9223372036854775808]",
        "[1e30]",
        "[123456789012345678901234.5]",
    };
    for (size_t i = 0; i < 4; i++) {
        json_object *o = parse_n(good[i], strlen(good[i]), msg, sizeof msg);
        if (o == NULL)
            fail_msg("refused %s: %s", good[i], msg);
        json_object_put(o);
    }
}

/* Regression: json-c turned a lone surrogate escape into U+FFFD. */
static void test_lone_surrogate_escapes_are_refused(void **state)
{
    (void)state;
    char msg[160];
    static const char *const bad[] = {
        "[\"\\ud800\"]",        "[\"\\udfff\"]",    "[\"\\ud800x\"]",
        "[\"\\ud800\\u0041\"]", "[\"\\ud800\\n\"]", "[\"\\uDBFF\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_n(bad[i], strlen(bad[i]), msg, sizeof msg) != NULL)
            fail_msg("accepted: %s", bad[i]);
    static const char *const good[] = {
        "[\"\\ud83c\\udf89\"]",
        "[\"\\uD83D\\uDE00\"]",
        "[\"\\u00e9\\uffff\"]",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_object *o = parse_n(good[i], strlen(good[i]), msg, sizeof msg);
        if (o == NULL)
            fail_msg("refused %s: %s", good[i], msg);
        json_object_put(o);
    }
}

/* Regression: a body of JSON null was reported as "malformed JSON:
 * success" (json-c returns NULL for null). */
static void test_top_level_null_is_not_an_object(void **state)
{
    (void)state;
    char msg[160];
    assert_null(parse_n("null", 4, msg, sizeof msg));
    assert_non_null(strstr(msg, "must be a JSON object"));
}

static void test_depth_mixed(void **state)
{
    /* The contract counts containers, the outer one as level 1: 32
     * alternating objects and arrays with a scalar inside pass, 33 fail. */
    (void)state;
    char msg[160];
    char buf[1024];
    for (int levels = 31; levels <= 33; levels++) {
        size_t n = 0;
        for (int i = 0; i < levels; i++) {
            if (i % 2 == 0) {
                memcpy(buf + n, "{\"k\":", 5);
                n += 5;
            } else {
                buf[n++] = '[';
            }
        }
        buf[n++] = '0';
        for (int i = levels - 1; i >= 0; i--)
            buf[n++] = i % 2 == 0 ? '}' : ']';
        json_object *o = parse_n(buf, n, msg, sizeof msg);
        if (levels <= 32) {
            if (o == NULL)
                fail_msg("%d containers and a scalar refused: %s", levels, msg);
            json_object_put(o);
        } else {
            if (o != NULL)
                fail_msg("%d containers accepted", levels);
            assert_non_null(strstr(msg, "deeper"));
        }
    }
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    assert_fails("\"\xC3\x28\"", "UTF-8");         /* bad continuation */
    assert_fails("\"\xC0\xAF\"", "UTF-8");         /* overlong '/' */
    assert_fails("\"\xE0\x80\xAF\"", "UTF-8");     /* overlong, 3 bytes */
    assert_fails("\"\xED\xA0\x80\"", "UTF-8");     /* surrogate U+D800 */
    assert_fails("\"\xF4\x90\x80\x80\"", "UTF-8"); /* U+110000 */
    assert_fails("\"\xFF\"", "UTF-8");
    assert_fails("\"\x80\"", "UTF-8");
    assert_fails("\"\xC3\"", "UTF-8");          /* truncated */
    assert_fails("{\"k\xC3\x28\":1}", "UTF-8"); /* in a key */
    assert_fails("{\"k\":1}\xC3", "UTF-8");     /* outside any string */
    assert_fails("[\"ok\", \"\xF0\x9F\x98\"]", "UTF-8");
}

static void test_valid_multibyte(void **state)
{
    (void)state;
    char msg[160];
    const char *strs[] = {
        "\xC3\xA9",         /* é */
        "\xE2\x82\xAC",     /* € */
        "\xF0\x9F\x98\x80", /* 😀 */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF */
        "caf\xC3\xA9 \xF0\x9F\x8D\xB5 \xE4\xB8\xAD\xE6\x96\x87",
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"%s\":\"%s\"}", strs[i], strs[i]);
        json_object *o = parse(text, msg, sizeof msg);
        if (o == NULL)
            fail_msg("%s refused: %s", text, msg);
        json_object *v;
        assert_true(json_object_object_get_ex(o, strs[i], &v));
        assert_string_equal(json_object_get_string(v), strs[i]);
        json_object_put(o);
    }
}

static void test_top_level_scalars(void **state)
{
    (void)state;
    char msg[160];
    json_object *o;

    o = parse("12", msg, sizeof msg);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_int));
    assert_int_equal(json_object_get_int64(o), 12);
    json_object_put(o);

    o = parse("0", msg, sizeof msg);
    assert_non_null(o);
    assert_int_equal(json_object_get_int64(o), 0);
    json_object_put(o);

    o = parse("-3.5", msg, sizeof msg);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_double));
    json_object_put(o);

    o = parse("1e5", msg, sizeof msg);
    assert_non_null(o);
    json_object_put(o);

    o = parse("\"x\"", msg, sizeof msg);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(o), "x");
    json_object_put(o);

    o = parse("true", msg, sizeof msg);
    assert_non_null(o);
    assert_true(json_object_get_boolean(o));
    json_object_put(o);

    o = parse("false", msg, sizeof msg);
    assert_non_null(o);
    assert_false(json_object_get_boolean(o));
    json_object_put(o);

    o = parse("[]", msg, sizeof msg);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_array));
    json_object_put(o);
}

static void test_msg_truncated_safely(void **state)
{
    (void)state;
    char msg[8];
    memset(msg, 'Z', sizeof msg);
    assert_null(body_parse("{", 1, msg, sizeof msg));
    assert_int_equal(strlen(msg), sizeof msg - 1);
}

/* ---- body_object_or_reply and body_opt_string_or_reply ------------------- */

static void req_init(http_req *r, const char *ct, const char *body)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    strcpy(r->request_id, "req-body");
    r->content_type = ct;
    if (body != NULL) {
        r->body = strdup(body);
        assert_non_null(r->body);
        r->body_len = strlen(body);
    }
}

static void req_free(http_req *r)
{
    json_object_put(r->json);
    free(r->body);
    jb_free(&r->out);
}

/* The error code of r's answer; `code` must match. */
static void assert_answer(http_req *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_non_null(r->out.p);
    json_object *o = json_tokener_parse(r->out.p);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "error", &v));
    assert_string_equal(json_object_get_string(v), code);
    json_object_put(o);
}

static void test_object_or_reply(void **state)
{
    (void)state;
    http_req r;

    req_init(&r, "application/json", "{\"a\":1}");
    json_object *o = body_object_or_reply(&r);
    assert_non_null(o);
    assert_ptr_equal(o, r.json);
    assert_ptr_equal(body_object_or_reply(&r), o); /* parsed once */
    assert_int_equal(r.status, 0);
    req_free(&r);

    /* an empty body is an empty object, whatever the type */
    req_init(&r, NULL, NULL);
    o = body_object_or_reply(&r);
    assert_non_null(o);
    assert_int_equal(json_object_object_length(o), 0);
    assert_int_equal(r.status, 0);
    req_free(&r);

    req_init(&r, "text/plain", "{}");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 415, "unsupported_media_type");
    req_free(&r);

    req_init(&r, NULL, "{}");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 415, "unsupported_media_type");
    req_free(&r);

    req_init(&r, "application/json", "{\"a\":");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 400, "bad_request");
    req_free(&r);

    req_init(&r, "application/json", "[1,2]");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 400, "bad_request");
    req_free(&r);

    req_init(&r, "application/json", "12");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 400, "bad_request");
    req_free(&r);

    req_init(&r, "application/json", "{\"s\":\"\xC3\x28\"}");
    assert_null(body_object_or_reply(&r));
    assert_answer(&r, 400, "bad_request");
    req_free(&r);
}

static void test_opt_string_or_reply(void **state)
{
    (void)state;
    http_req r;
    const char *s;
    size_t len;

    req_init(&r, "application/json",
             "{\"t\":\"h\xC3\xA9llo\",\"n\":null,\"i\":3,\"e\":\"\"}");
    json_object *o = body_object_or_reply(&r);
    assert_non_null(o);

    assert_int_equal(body_opt_string_or_reply(&r, o, "t", 0, &s, &len), 0);
    assert_string_equal(s, "h\xC3\xA9llo");
    assert_int_equal(len, 6);
    /* the bound is in characters, not bytes: 5 characters */
    assert_int_equal(body_opt_string_or_reply(&r, o, "t", 5, &s, &len), 0);
    assert_int_equal(r.status, 0);

    assert_int_equal(body_opt_string_or_reply(&r, o, "n", 0, &s, &len), 0);
    assert_null(s);
    assert_int_equal(len, 0);
    assert_int_equal(body_opt_string_or_reply(&r, o, "absent", 0, &s, &len), 0);
    assert_null(s);
    assert_int_equal(body_opt_string_or_reply(&r, o, "e", 1, &s, &len), 0);
    assert_string_equal(s, "");
    assert_int_equal(r.status, 0);

    assert_int_equal(body_opt_string_or_reply(&r, o, "t", 4, &s, &len), -1);
    assert_answer(&r, 400, "bad_request");

    r.status = 0;
    assert_int_equal(body_opt_string_or_reply(&r, o, "i", 0, &s, &len), -1);
    assert_answer(&r, 400, "bad_request");
    req_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_not_json_types),
        cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_parse_escapes),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_trailing),
        cmocka_unit_test(test_parse_uses_len),
        cmocka_unit_test(test_depth_arrays),
        cmocka_unit_test(test_depth_objects),
        cmocka_unit_test(test_depth_mixed),
        cmocka_unit_test(test_json_c_strict_leaks_are_refused),
        cmocka_unit_test(test_top_level_null_is_not_an_object),
        cmocka_unit_test(test_integers_beyond_64_bits_are_refused),
        cmocka_unit_test(test_lone_surrogate_escapes_are_refused),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_valid_multibyte),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_msg_truncated_safely),
        cmocka_unit_test(test_object_or_reply),
        cmocka_unit_test(test_opt_string_or_reply),
        cmocka_unit_test(test_nul_escape_is_refused),
    };
    return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
