/*
 * test_precond.c -- fcgi/http/precond.c: the version a write expects.
 *
 * Contract ("Details that clients rely on"): versions are integers from 1
 * to 4294967295; 0, negative, fractional, null or a string is 400. If-Match
 * takes "N" or *; W/"N" never matches (412); anything else is 400.
 * If-None-Match compares weakly and takes lists and *.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "precond.h"

/* ---- precond_version_value --------------------------------------------- */

/* Parses text with json-c and runs precond_version_value on it. */
static int version_of(const char *text, uint32_t *out)
{
    enum json_tokener_error jerr;
    json_object *v = json_tokener_parse_verbose(text, &jerr);
    /* "null" parses to NULL without an error; anything else must parse */
    if (v == NULL && strcmp(text, "null") != 0)
        fail_msg("json-c could not parse %s: %s", text,
                 json_tokener_error_desc(jerr));
    *out = 0xAAAAAAAAu;
    int rc = precond_version_value(v, out);
    json_object_put(v);
    return rc;
}

static void assert_version(const char *text, uint32_t want)
{
    uint32_t got;
    if (version_of(text, &got) != 0)
        fail_msg("%s refused as a version", text);
    assert_int_equal(got, want);
}

static void assert_not_version(const char *text)
{
    uint32_t got;
    if (version_of(text, &got) != -1)
        fail_msg("%s accepted as a version (%u)", text, (unsigned)got);
    assert_int_equal(got, 0xAAAAAAAAu); /* *out untouched on failure */
}

static void test_version_valid(void **state)
{
    (void)state;
    assert_version("1", 1);
    assert_version("2", 2);
    assert_version("65536", 65536);
    assert_version("2147483647", 2147483647u);
    assert_version("2147483648", 2147483648u);
    assert_version("4294967294", 4294967294u);
    assert_version("4294967295", 4294967295u);
}

static void test_version_invalid(void **state)
{
    (void)state;
    assert_not_version("0");
    assert_not_version("-0");
    assert_not_version("-1");
    assert_not_version("-4294967295");
    assert_not_version("-9223372036854775808");
    assert_not_version("1.0");
    assert_not_version("1.5");
    assert_not_version("1e0");
    assert_not_version("5e2");
    assert_not_version("null");
    assert_not_version("\"5\"");
    assert_not_version("\"\"");
    assert_not_version("true");
    assert_not_version("false");
    assert_not_version("[5]");
    assert_not_version("{\"v\":5}");
    assert_not_version("4294967296");
    assert_not_version("8589934593"); /* 2^33 + 1: low 32 bits are 1 */
    assert_not_version("9223372036854775807");
    assert_not_version("9223372036854775808");
    assert_not_version("18446744073709551615");
    assert_not_version("18446744073709551617");
    assert_not_version("99999999999999999999");
}

static void test_version_null_pointer(void **state)
{
    (void)state;
    uint32_t out = 7;
    assert_int_equal(precond_version_value(NULL, &out), -1);
    assert_int_equal(out, 7);
}

/* Values built directly, not parsed. */
static void test_version_constructed(void **state)
{
    (void)state;
    uint32_t out;
    json_object *v = json_object_new_int64(3);
    assert_int_equal(precond_version_value(v, &out), 0);
    assert_int_equal(out, 3);
    json_object_put(v);

    v = json_object_new_uint64(4294967295ULL);
    assert_int_equal(precond_version_value(v, &out), 0);
    assert_int_equal(out, 4294967295u);
    json_object_put(v);

    v = json_object_new_uint64(UINT64_MAX);
    assert_int_equal(precond_version_value(v, &out), -1);
    json_object_put(v);

    v = json_object_new_double(2.0);
    assert_int_equal(precond_version_value(v, &out), -1);
    json_object_put(v);

    v = json_object_new_string("2");
    assert_int_equal(precond_version_value(v, &out), -1);
    json_object_put(v);
}

/* ---- precond_parse_if_match --------------------------------------------- */

static void assert_if_match(const char *h, enum if_match_kind kind,
                            uint32_t version)
{
    enum if_match_kind k = (enum if_match_kind)99;
    uint32_t v = 99;
    if (precond_parse_if_match(h, &k, &v) != 0)
        fail_msg("If-Match [%s] refused", h ? h : "(null)");
    assert_int_equal(k, kind);
    assert_int_equal(v, version);
}

static void assert_if_match_bad(const char *h)
{
    enum if_match_kind k;
    uint32_t v;
    if (precond_parse_if_match(h, &k, &v) != -1)
        fail_msg("If-Match [%s] accepted (kind %d, version %u)", h, (int)k,
                 (unsigned)v);
}

static void test_if_match_valid(void **state)
{
    (void)state;
    assert_if_match(NULL, IM_NONE, 0);
    assert_if_match("\"5\"", IM_TAG, 5);
    assert_if_match("\"1\"", IM_TAG, 1);
    assert_if_match("\"10\"", IM_TAG, 10);
    assert_if_match("\"4294967295\"", IM_TAG, 4294967295u);
    assert_if_match(" \"7\" ", IM_TAG, 7);
    assert_if_match("\t\"7\"\t", IM_TAG, 7);
    assert_if_match("*", IM_ANY, 0);
    assert_if_match(" * ", IM_ANY, 0);
    assert_if_match("W/\"5\"", IM_WEAK, 5);
    assert_if_match(" W/\"9\" ", IM_WEAK, 9);
}

static void test_if_match_malformed(void **state)
{
    (void)state;
    assert_if_match_bad("5");
    assert_if_match_bad("\"abc\"");
    assert_if_match_bad("\"0\"");
    assert_if_match_bad("\"05\"");
    assert_if_match_bad("\"-5\"");
    assert_if_match_bad("\"+5\"");
    assert_if_match_bad("\" 5\"");
    assert_if_match_bad("\"5 \"");
    assert_if_match_bad("\"5.0\"");
    assert_if_match_bad("\"5\", \"6\"");
    assert_if_match_bad("\"5\",\"6\"");
    assert_if_match_bad("\"5\" \"6\"");
    assert_if_match_bad("");
    assert_if_match_bad("   ");
    assert_if_match_bad("\"\"");
    assert_if_match_bad("\"");
    assert_if_match_bad("\"5");
    assert_if_match_bad("5\"");
    assert_if_match_bad("'5'");
    assert_if_match_bad("\"4294967296\"");
    assert_if_match_bad("\"99999999999999999999999999\"");
    assert_if_match_bad("**");
    assert_if_match_bad("* \"5\"");
    assert_if_match_bad("*, \"5\"");
    assert_if_match_bad("\"5\", *");
    assert_if_match_bad("W/");
    assert_if_match_bad("W/5");
    assert_if_match_bad("w/\"5\"");
    assert_if_match_bad("W/ \"5\"");
    assert_if_match_bad("W/*");
    assert_if_match_bad("W/\"0\"");
    assert_if_match_bad("\"5\"x");
}

static void test_if_match_resets_outputs(void **state)
{
    (void)state;
    enum if_match_kind k = IM_TAG;
    uint32_t v = 42;
    assert_int_equal(precond_parse_if_match("junk", &k, &v), -1);
    assert_int_equal(k, IM_NONE);
}

/* ---- precond_none_match -------------------------------------------------- */

static void test_none_match(void **state)
{
    (void)state;
    assert_int_equal(precond_none_match("\"3\"", 3), 1);
    assert_int_equal(precond_none_match("\"3\"", 4), 0);
    assert_int_equal(precond_none_match("\"3\"", 2), 0);
    assert_int_equal(precond_none_match("\"4294967295\"", 4294967295u), 1);
    assert_int_equal(precond_none_match("*", 3), 1);
    assert_int_equal(precond_none_match(" *", 1), 1);
    assert_int_equal(precond_none_match("\"1\", \"3\"", 3), 1);
    assert_int_equal(precond_none_match("\"1\", \"3\"", 1), 1);
    assert_int_equal(precond_none_match("\"1\", \"3\"", 2), 0);
    assert_int_equal(precond_none_match("\"1\",\"2\",\"3\"", 3), 1);
    assert_int_equal(precond_none_match("\"1\" ,\t\"3\"", 3), 1);
    assert_int_equal(precond_none_match(" \"3\" ", 3), 1);
    assert_int_equal(precond_none_match("W/\"3\"", 3), 1);
    assert_int_equal(precond_none_match("W/\"3\"", 4), 0);
    assert_int_equal(precond_none_match("\"1\", W/\"3\"", 3), 1);
    assert_int_equal(precond_none_match("W/\"1\", \"3\"", 3), 1);
    /* Tags that are not ours (a cache's, a number past the range) match
     * nothing, and the tags after them still count (found by
     * tests/fuzz/precond: it answered 200 instead of 304). */
    assert_int_equal(precond_none_match("\"7091840737091\", \"1\"", 1), 1);
    assert_int_equal(precond_none_match("\"abc\", W/\"5\"", 5), 1);
    assert_int_equal(precond_none_match("\"03\", \"3\"", 3), 1);
    assert_int_equal(precond_none_match("\"abc\", \"4\"", 5), 0);
}

static void test_none_match_garbage(void **state)
{
    (void)state;
    assert_int_equal(precond_none_match(NULL, 3), 0);
    assert_int_equal(precond_none_match("", 3), 0);
    assert_int_equal(precond_none_match("   ", 3), 0);
    assert_int_equal(precond_none_match("garbage", 3), 0);
    assert_int_equal(precond_none_match("3", 3), 0);
    assert_int_equal(precond_none_match("\"03\"", 3), 0);
    assert_int_equal(precond_none_match("\"0\"", 0), 0);
    assert_int_equal(precond_none_match("\"abc\"", 3), 0);
    assert_int_equal(precond_none_match("\"3", 3), 0);
    assert_int_equal(precond_none_match("\"1\" \"3\"", 3), 0);
    assert_int_equal(precond_none_match("\"1\"; \"3\"", 3), 0);
    assert_int_equal(precond_none_match("\"1\", garbage, \"3\"", 3), 0);
    assert_int_equal(precond_none_match("\"4294967299\"", 3), 0);
    assert_int_equal(precond_none_match("w/\"3\"", 3), 0);
}

/* ---- precond_parse_or_reply ------------------------------------------------
 */

static void req_init(http_req *r, const char *if_match)
{
    memset(r, 0, sizeof *r);
    jb_init(&r->out);
    strcpy(r->request_id, "req-precond");
    r->if_match = if_match;
}

static void assert_bad_request(http_req *r)
{
    assert_int_equal(r->status, 400);
    json_object *o = json_tokener_parse(r->out.p);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "error", &v));
    assert_string_equal(json_object_get_string(v), "bad_request");
    json_object_put(o);
}

/* Runs precond_parse_or_reply on a body text (NULL: no body). */
static int run(const char *body_text, const char *if_match, precond *pc,
               http_req *r)
{
    req_init(r, if_match);
    json_object *body = body_text ? json_tokener_parse(body_text) : NULL;
    if (body_text != NULL)
        assert_non_null(body);
    int rc = precond_parse_or_reply(r, body, pc);
    json_object_put(body);
    return rc;
}

static void test_parse_or_reply(void **state)
{
    (void)state;
    http_req r;
    precond pc;

    /* neither: no error here (the route answers 428) */
    assert_int_equal(run("{}", NULL, &pc, &r), 0);
    assert_int_equal(pc.has_body, 0);
    assert_int_equal(pc.im, IM_NONE);
    assert_int_equal(r.status, 0);
    jb_free(&r.out);

    assert_int_equal(run(NULL, NULL, &pc, &r), 0);
    assert_int_equal(pc.has_body, 0);
    jb_free(&r.out);

    assert_int_equal(run("{\"version\":4}", NULL, &pc, &r), 0);
    assert_int_equal(pc.has_body, 1);
    assert_int_equal(pc.body_version, 4);
    assert_int_equal(pc.im, IM_NONE);
    jb_free(&r.out);

    assert_int_equal(run("{}", "\"4\"", &pc, &r), 0);
    assert_int_equal(pc.im, IM_TAG);
    assert_int_equal(pc.im_version, 4);
    jb_free(&r.out);

    /* both, and equal */
    assert_int_equal(run("{\"version\":4}", "\"4\"", &pc, &r), 0);
    assert_int_equal(pc.has_body, 1);
    assert_int_equal(pc.im, IM_TAG);
    assert_int_equal(r.status, 0);
    jb_free(&r.out);

    /* If-Match: * with a body version: both kept, the body decides */
    assert_int_equal(run("{\"version\":4}", "*", &pc, &r), 0);
    assert_int_equal(pc.has_body, 1);
    assert_int_equal(pc.body_version, 4);
    assert_int_equal(pc.im, IM_ANY);
    jb_free(&r.out);

    assert_int_equal(run("{}", "W/\"4\"", &pc, &r), 0);
    assert_int_equal(pc.im, IM_WEAK);
    jb_free(&r.out);
}

static void test_parse_or_reply_errors(void **state)
{
    (void)state;
    http_req r;
    precond pc;
    const char *bad_bodies[] = {
        "{\"version\":0}",    "{\"version\":-1}",         "{\"version\":1.5}",
        "{\"version\":1.0}",  "{\"version\":null}",       "{\"version\":\"3\"}",
        "{\"version\":true}", "{\"version\":4294967296}",
    };
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        if (run(bad_bodies[i], NULL, &pc, &r) != -1)
            fail_msg("%s accepted", bad_bodies[i]);
        assert_bad_request(&r);
        jb_free(&r.out);
    }

    assert_int_equal(run("{}", "5", &pc, &r), -1);
    assert_bad_request(&r);
    jb_free(&r.out);

    assert_int_equal(run("{\"version\":4}", "\"5\"", &pc, &r), -1);
    assert_bad_request(&r);
    jb_free(&r.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_valid),
        cmocka_unit_test(test_version_invalid),
        cmocka_unit_test(test_version_null_pointer),
        cmocka_unit_test(test_version_constructed),
        cmocka_unit_test(test_if_match_valid),
        cmocka_unit_test(test_if_match_malformed),
        cmocka_unit_test(test_if_match_resets_outputs),
        cmocka_unit_test(test_none_match),
        cmocka_unit_test(test_none_match_garbage),
        cmocka_unit_test(test_parse_or_reply),
        cmocka_unit_test(test_parse_or_reply_errors),
    };
    return cmocka_run_group_tests_name("precond", tests, NULL, NULL);
}
