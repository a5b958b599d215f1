/*
 * test_jmerge.c -- fcgi/jmerge.c: every example of RFC 7396 appendix A,
 * and the patches MariaDB 10.11's JSON_MERGE_PATCH gets wrong (the reason
 * the merge is ours). Run under ASan, the reference counting is checked
 * too: a leak or a double put fails `make asan`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <json.h>

#include "../../fcgi/jmerge.h"

static json_object *parse(const char *text)
{
    json_tokener *tok = json_tokener_new();
    json_object *v = json_tokener_parse_ex(tok, text, (int)strlen(text));
    if (v == NULL && json_tokener_get_error(tok) == json_tokener_continue)
        v = json_tokener_parse_ex(tok, "", 1); /* a lone number */
    enum json_tokener_error e = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success)
        fail_msg("bad test JSON: %s", text);
    return v;
}

/* merge(target, patch) must equal `want` (compared as values). */
static void check(const char *target, const char *patch, const char *want)
{
    json_object *t = parse(target), *p = parse(patch), *w = parse(want);
    json_object *got = jmerge_patch(t, p);
    if (!json_object_equal(got, w))
        fail_msg("merge(%s, %s) = %s, want %s", target, patch,
                 got ? json_object_to_json_string(got) : "null", want);
    json_object_put(got);
    json_object_put(p);
    json_object_put(w);
}

static void test_rfc7396_appendix_a(void **state)
{
    (void)state;
    check("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    check("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    check("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    check("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    check("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
          "{\"a\":{\"b\":\"d\"}}");
    check("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    check("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    check("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    check("{\"a\":\"foo\"}", "null", "null");
    check("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    check("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    check("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    check("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

/* Regression: the patches MariaDB 10.11.19's JSON_MERGE_PATCH answered
 * wrongly (found by comparing it with this merge on random documents). */
static void test_mariadb_merge_patch_bugs(void **state)
{
    (void)state;
    check("{\"a\":1,\"b\":2}", "{\"b\":3,\"a\":null}", "{\"b\":3}");
    check("{\"title\":\"roof\",\"amount\":1200}",
          "{\"amount\":1500,\"title\":null}", "{\"amount\":1500}");
    check("{\"c\":\"s0\",\"d\":{\"b\":[6]},\"e\":\"s5\"}",
          "{\"d\":null,\"c\":null}", "{\"e\":\"s5\"}");
    check("{\"c\":\"s9\",\"a\":9,\"d\":{}}",
          "{\"a\":null,\"c\":null,\"e\":8,\"d\":{}}", "{\"d\":{},\"e\":8}");
}

static void test_nested_and_absent(void **state)
{
    (void)state;
    check("{}", "{\"a\":{\"b\":{\"c\":1}}}", "{\"a\":{\"b\":{\"c\":1}}}");
    check("{\"a\":5}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}");
    check("{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"y\":null,\"z\":[{}]}}",
          "{\"a\":{\"x\":1,\"z\":[{}]}}");
    check("{\"a\":1}", "{}", "{\"a\":1}");
    check("{\"a\":1}", "{\"missing\":null}", "{\"a\":1}");
    /* absent target */
    json_object *p = parse("{\"a\":{\"b\":null,\"c\":2}}");
    json_object *got = jmerge_patch(NULL, p);
    json_object *w = parse("{\"a\":{\"c\":2}}");
    assert_true(json_object_equal(got, w));
    json_object_put(got);
    json_object_put(w);
    json_object_put(p);
}

/* A value shared from the patch lives on after the patch is put. */
static void test_result_outlives_patch(void **state)
{
    (void)state;
    json_object *t = parse("{\"a\":1}");
    json_object *p = parse("{\"list\":[1,{\"k\":\"v\"}],\"s\":\"x\"}");
    json_object *got = jmerge_patch(t, p);
    json_object_put(p);
    assert_string_equal(
        json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN),
        "{\"a\":1,\"list\":[1,{\"k\":\"v\"}],\"s\":\"x\"}");
    json_object_put(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7396_appendix_a),
        cmocka_unit_test(test_mariadb_merge_patch_bugs),
        cmocka_unit_test(test_nested_and_absent),
        cmocka_unit_test(test_result_outlives_patch),
    };
    return cmocka_run_group_tests_name("jmerge", tests, NULL, NULL);
}
