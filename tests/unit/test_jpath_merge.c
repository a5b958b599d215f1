/*
 * test_jpath_merge.c -- fcgi/http/jpath.c's merge op (RFC 7396) as PATCH
 * /v1/bids/{id} uses it: on an object, with an object patch. The examples
 * of RFC 7396 appendix A that have that shape, and the patches MariaDB
 * 10.11's JSON_MERGE_PATCH answers wrongly (the reason the merge is done
 * by the service). Under ASan the copies and frees are checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <json.h>

#include "jpath.h"

static json_object *parse(const char *text)
{
    json_object *v = json_tokener_parse(text);
    if (v == NULL && strcmp(text, "null") != 0)
        fail_msg("bad test JSON: %s", text);
    return v;
}

/* merge(target, patch) must equal `want` (compared as values). */
static void check(const char *target, const char *patch, const char *want)
{
    json_object *doc = parse(target), *p = parse(patch), *w = parse(want);
    jp_op op = {.kind = JP_MERGE, .value = p};
    jp_ops ops = {.ops = &op, .n = 1};
    char why[128] = "";
    assert_int_equal(jp_ops_apply(&ops, &doc, why, sizeof why), 0);
    json_object_put(p); /* the document holds copies, not the patch */
    if (!json_object_equal(doc, w))
        fail_msg("merge(%s, %s) = %s, want %s", target, patch,
                 json_object_to_json_string(doc), want);
    json_object_put(doc);
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
    check("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    check("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

/* Regression: MariaDB 10.11.19's JSON_MERGE_PATCH gets these wrong (found
 * by comparing it with a reference merge on random documents): a removal
 * next to another change, or several removals, are partly lost. */
static void test_what_mariadb_gets_wrong(void **state)
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

static void test_nested(void **state)
{
    (void)state;
    check("{}", "{\"a\":{\"b\":{\"c\":1}}}", "{\"a\":{\"b\":{\"c\":1}}}");
    check("{\"a\":5}", "{\"a\":{\"b\":1,\"n\":null}}", "{\"a\":{\"b\":1}}");
    check("{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"y\":null,\"z\":[{}]}}",
          "{\"a\":{\"x\":1,\"z\":[{}]}}");
    check("{\"a\":1}", "{}", "{\"a\":1}");
    check("{\"a\":1}", "{\"missing\":null}", "{\"a\":1}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7396_appendix_a),
        cmocka_unit_test(test_what_mariadb_gets_wrong),
        cmocka_unit_test(test_nested),
    };
    return cmocka_run_group_tests_name("jpath_merge", tests, NULL, NULL);
}
