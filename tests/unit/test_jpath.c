/*
 * test_jpath.c -- fcgi/http/jpath.c, jppath.c: the path grammar, the checks on
 * the ops before any document is read, and the ops on a document (set, remove,
 * append, RFC 7396 merge), with the messages that name the op.
 *
 * Contract (Storefront draft): P is "$" then ".name" and "[index]" steps;
 * a missing target (for set, a missing parent), an index out of range or
 * an unknown op is 400 naming the op, and the ops apply all or none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"

static json_object *parse(const char *text)
{
    json_tokener *tok = json_tokener_new_ex(200);
    /* The NUL ends the text: a lone number is complete. */
    json_object *v = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
    if (json_tokener_get_error(tok) != json_tokener_success)
        fail_msg("test JSON does not parse: %s", text);
    json_tokener_free(tok);
    return v;
}

/* ---- paths ----------------------------------------------------------------
 */

static void assert_path_ok(const char *text, size_t nsteps)
{
    jp_path p;
    char why[200] = "";
    if (jp_path_parse(text, strlen(text), &p, why, sizeof why) != 0)
        fail_msg("path %s refused: %s", text, why);
    assert_int_equal(p.n, nsteps);
    assert_ptr_equal(p.text, text);
    jp_path_free(&p);
}

static void assert_path_bad(const char *text, size_t len, const char *needle)
{
    jp_path p;
    char why[200] = "";
    if (jp_path_parse(text, len, &p, why, sizeof why) == 0) {
        jp_path_free(&p);
        fail_msg("path %.*s accepted", (int)len, text);
    }
    assert_int_equal(p.n, 0);
    assert_null(p.steps);
    if (strstr(why, needle) == NULL)
        fail_msg("path %.*s: message \"%s\" lacks \"%s\"", (int)len, text, why,
                 needle);
}

#define BAD(text, needle) assert_path_bad(text, strlen(text), needle)

static void test_path_valid(void **state)
{
    (void)state;
    assert_path_ok("$", 0);
    assert_path_ok("$.a", 1);
    assert_path_ok("$._", 1);
    assert_path_ok("$.a_b9.C[0][12]", 4);
    assert_path_ok("$[0]", 1);
    assert_path_ok("$[999999999]", 1);
    assert_path_ok("$[\"a b\"]", 1);
    assert_path_ok("$[\"\"]", 1);
    assert_path_ok("$[\"a.b\"].c[\"]\"]", 3);
}

static void test_path_steps_and_names(void **state)
{
    (void)state;
    const char *text = "$.hero[3][\"x \\\"y\\\\ \\u00e9\\ud83c\\udf89\"].z";
    jp_path p;
    char why[200];
    assert_int_equal(jp_path_parse(text, strlen(text), &p, why, sizeof why), 0);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.steps[0].name, "hero");
    assert_int_equal(p.steps[0].end, 6);
    assert_null(p.steps[1].name);
    assert_int_equal(p.steps[1].index, 3);
    assert_int_equal(p.steps[1].end, 9);
    assert_string_equal(p.steps[2].name, "x \"y\\ \xc3\xa9\xf0\x9f\x8e\x89");
    assert_string_equal(p.steps[3].name, "z");
    assert_int_equal(p.steps[3].end, strlen(text));
    jp_path_free(&p);
    jp_path_free(&p); /* freeing twice is harmless */
}

static void test_path_invalid(void **state)
{
    (void)state;
    BAD("", "must start with $");
    BAD("a", "must start with $");
    BAD(".a", "must start with $");
    BAD("$.", "letter or '_' at byte 2");
    BAD("$..a", "letter or '_'");
    BAD("$.1a", "letter or '_'");
    BAD("$.a-b", "expected '.' or '['");
    BAD("$.a b", "expected '.' or '['");
    BAD("$ .a", "expected '.' or '[' at byte 1");
    BAD("$.a ", "expected '.' or '['");
    BAD("$a", "expected '.' or '['");
    BAD("$*", "expected '.' or '['");
    BAD("$[", "index or a quoted name");
    BAD("$[]", "index or a quoted name");
    BAD("$[*]", "index or a quoted name");
    BAD("$[-1]", "index or a quoted name");
    BAD("$['a']", "index or a quoted name");
    BAD("$[ 1]", "index or a quoted name");
    BAD("$[01]", "leading zeros");
    BAD("$[00]", "leading zeros");
    BAD("$[1", "expected ']'");
    BAD("$[1a]", "expected ']'");
    BAD("$[1.5]", "expected ']'");
    BAD("$[1 ]", "expected ']'");
    BAD("$[1000000000]", "index too large");
    BAD("$[99999999999999999999999999]", "index too large");
    BAD("$[\"a]", "unterminated string");
    BAD("$[\"a\"", "expected ']'");
    BAD("$[\"a\\", "unterminated string");
    BAD("$[\"\\x\"]", "unknown escape");
    BAD("$[\"\\u00\"]", "four hex digits");
    BAD("$[\"\\u00g0\"]", "four hex digits");
    BAD("$[\"\\ud800\"]", "lone high surrogate");
    BAD("$[\"\\ud800\\u0041\"]", "lone high surrogate");
    BAD("$[\"\\udc00\"]", "lone low surrogate");
    BAD("$[\"\\u0000\"]", "\\u0000");
    BAD("$[\"a\tb\"]", "control character");
    assert_path_bad("$[\"a\0b\"]", 7, "control character");
    assert_path_bad("$.a\0", 4, "expected '.' or '['");
    BAD("$[\"\xff\"]", "not valid UTF-8");
    BAD("$.\xc3\xa9", "letter or '_'");
}

static void test_path_limits(void **state)
{
    (void)state;
    char buf[JP_MAX_PATH + 16];
    /* 64 steps pass, 65 fail. */
    strcpy(buf, "$");
    for (int i = 0; i < JP_MAX_STEPS; i++)
        strcat(buf, ".a");
    assert_path_ok(buf, JP_MAX_STEPS);
    strcat(buf, ".a");
    BAD(buf, "too many steps");
    /* JP_MAX_PATH bytes pass, one more fails. */
    memset(buf, 0, sizeof buf);
    buf[0] = '$';
    buf[1] = '.';
    memset(buf + 2, 'x', JP_MAX_PATH - 2);
    assert_path_ok(buf, 1);
    buf[JP_MAX_PATH] = 'x';
    BAD(buf, "longer than");
}

/* ---- ops: what is checked before the document ------------------------- */

/* Parses ops text; returns 0 or -1 with the message in why. */
static int ops_parse_text(const char *text, char *why, size_t whylen)
{
    json_object *ops_json = parse(text);
    jp_ops ops;
    int rc = jp_ops_parse(ops_json, &ops, why, whylen);
    if (rc == 0)
        jp_ops_free(&ops);
    else
        assert_null(ops.ops);
    json_object_put(ops_json);
    return rc;
}

static void assert_ops_bad(const char *text, const char *needle)
{
    char why[300] = "";
    if (ops_parse_text(text, why, sizeof why) == 0)
        fail_msg("ops %s accepted", text);
    if (strstr(why, needle) == NULL)
        fail_msg("ops %s: message \"%s\" lacks \"%s\"", text, why, needle);
}

static void assert_ops_ok(const char *text)
{
    char why[300] = "";
    if (ops_parse_text(text, why, sizeof why) != 0)
        fail_msg("ops %s refused: %s", text, why);
}

static void test_ops_shape(void **state)
{
    (void)state;
    assert_ops_bad("null", "\"ops\" must be an array");
    assert_ops_bad("{\"op\":\"set\"}", "\"ops\" must be an array");
    assert_ops_bad("\"set\"", "\"ops\" must be an array");
    assert_ops_bad("[]", "1 to 1000 ops");
    assert_ops_bad("[1]", "ops[0]: an op must be an object");
    assert_ops_bad("[{\"op\":\"merge\",\"value\":{}}, null]",
                   "ops[1]: an op must be an object");
    assert_ops_bad("[{}]", "ops[0]: \"op\" must be a string");
    assert_ops_bad("[{\"op\":1}]", "ops[0]: \"op\" must be a string");
    assert_ops_bad("[{\"op\":null}]", "ops[0]: \"op\" must be a string");
    assert_ops_bad("[{\"op\":\"move\",\"path\":\"$\"}]",
                   "ops[0]: unknown op \"move\"");
    assert_ops_bad("[{\"op\":\"SET\",\"path\":\"$.a\",\"value\":1}]",
                   "unknown op \"SET\"");
    assert_ops_bad("[{\"op\":\"set \",\"path\":\"$.a\",\"value\":1}]",
                   "unknown op \"set \"");
    assert_ops_bad("[{\"op\":\"\"}]", "unknown op \"\"");
}

static void test_ops_fields(void **state)
{
    (void)state;
    assert_ops_bad("[{\"op\":\"set\",\"value\":1}]",
                   "ops[0] (set): \"path\" must be a string");
    assert_ops_bad("[{\"op\":\"remove\",\"path\":[\"a\"]}]",
                   "ops[0] (remove): \"path\" must be a string");
    assert_ops_bad("[{\"op\":\"append\",\"path\":null,\"value\":1}]",
                   "ops[0] (append): \"path\" must be a string");
    assert_ops_bad("[{\"op\":\"set\",\"path\":\"$.a[x]\",\"value\":1}]",
                   "ops[0] (set): bad path: ");
    assert_ops_bad("[{\"op\":\"set\",\"path\":\"$.a\"}]",
                   "ops[0] (set): \"value\" is missing");
    assert_ops_bad("[{\"op\":\"append\",\"path\":\"$.a\"}]",
                   "ops[0] (append): \"value\" is missing");
    assert_ops_bad("[{\"op\":\"remove\",\"path\":\"$\"}]",
                   "ops[0] (remove): $ is the whole config");
    assert_ops_bad("[{\"op\":\"set\",\"path\":\"$\",\"value\":[1]}]",
                   "ops[0] (set): the config must stay an object");
    assert_ops_bad("[{\"op\":\"set\",\"path\":\"$\",\"value\":null}]",
                   "the config must stay an object");
    assert_ops_bad("[{\"op\":\"merge\"}]",
                   "ops[0] (merge): \"value\" is missing");
    assert_ops_bad("[{\"op\":\"merge\",\"value\":null}]", "(merge)");
    assert_ops_bad("[{\"op\":\"merge\",\"value\":[1]}]", "(merge)");
    assert_ops_bad("[{\"op\":\"merge\",\"value\":\"x\"}]", "(merge)");
    /* Later ops are named by their index. */
    assert_ops_bad("[{\"op\":\"set\",\"path\":\"$.a\",\"value\":1},"
                   "{\"op\":\"remove\",\"path\":\"$.a\"},"
                   "{\"op\":\"append\",\"path\":\"$..b\",\"value\":1}]",
                   "ops[2] (append): bad path");

    assert_ops_ok("[{\"op\":\"set\",\"path\":\"$.a\",\"value\":null}]");
    assert_ops_ok("[{\"op\":\"set\",\"path\":\"$\",\"value\":{}}]");
    assert_ops_ok("[{\"op\":\"remove\",\"path\":\"$.a\",\"value\":1}]");
    /* Unknown members are ignored, a merge's "path" too. */
    assert_ops_ok("[{\"op\":\"merge\",\"value\":{},\"path\":\"nonsense\","
                  "\"x\":1}]");
}

static void test_ops_count_limit(void **state)
{
    (void)state;
    size_t cap = 64 * (JP_MAX_OPS + 2);
    char *buf = malloc(cap);
    assert_non_null(buf);
    strcpy(buf, "[");
    for (int i = 0; i < JP_MAX_OPS; i++)
        strcat(buf, i ? ",{\"op\":\"merge\",\"value\":{}}"
                      : "{\"op\":\"merge\",\"value\":{}}");
    strcat(buf, "]");
    assert_ops_ok(buf);
    buf[strlen(buf) - 1] = '\0';
    strcat(buf, ",{\"op\":\"merge\",\"value\":{}}]");
    assert_ops_bad(buf, "1 to 1000 ops");
    free(buf);
}

/* "[[...[1]...]]" with `levels` arrays. */
static char *nested(int levels)
{
    char *s = malloc((size_t)levels * 2 + 2);
    assert_non_null(s);
    memset(s, '[', (size_t)levels);
    s[levels] = '1';
    memset(s + levels + 1, ']', (size_t)levels);
    s[2 * levels + 1] = '\0';
    return s;
}

static void test_ops_depth(void **state)
{
    (void)state;
    char buf[512];
    const int max = JP_MAX_DEPTH;
    /* $.a is level 2: a value of max - 1 levels reaches max, one more
     * passes it. An appended element sits one level deeper; a merge
     * patch is the config's own level. */
    char *v1 = nested(max - 2), *v2 = nested(max - 1), *v3 = nested(max);
    snprintf(buf, sizeof buf,
             "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":%s}]", v2);
    assert_ops_ok(buf);
    snprintf(buf, sizeof buf,
             "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":%s}]", v3);
    assert_ops_bad(buf, "ops[0] (set): the config would be nested deeper");
    snprintf(buf, sizeof buf,
             "[{\"op\":\"append\",\"path\":\"$.a\",\"value\":%s}]", v1);
    assert_ops_ok(buf);
    snprintf(buf, sizeof buf,
             "[{\"op\":\"append\",\"path\":\"$.a\",\"value\":%s}]", v2);
    assert_ops_bad(buf, "ops[0] (append): the config would be nested");
    snprintf(buf, sizeof buf, "[{\"op\":\"merge\",\"value\":{\"a\":%s}}]", v2);
    assert_ops_ok(buf);
    snprintf(buf, sizeof buf, "[{\"op\":\"merge\",\"value\":{\"a\":%s}}]", v3);
    assert_ops_bad(buf, "ops[0] (merge): the config would be nested");
    /* A scalar adds no level: set at max - 1 steps is fine. */
    strcpy(buf, "[{\"op\":\"set\",\"path\":\"$");
    for (int i = 0; i < max - 1; i++)
        strcat(buf, ".a");
    strcat(buf, "\",\"value\":1}]");
    assert_ops_ok(buf);
    free(v1);
    free(v2);
    free(v3);

    json_object *v;
    const char *texts[] = {"1",
                           "null",
                           "{}",
                           "[]",
                           "[[1]]",
                           "{\"a\":[1]}",
                           "{\"a\":{\"b\":[{}]},\"c\":1}"};
    int want[] = {0, 0, 1, 1, 2, 2, 4};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        v = parse(texts[i]);
        if (jp_depth(v) != want[i])
            fail_msg("depth of %s: %d, want %d", texts[i], jp_depth(v),
                     want[i]);
        json_object_put(v);
    }
}

/* ---- ops on a document --------------------------------------------------- */

/* Applies ops (text) to doc (text). Returns the resulting document as
 * text in out, or the message in out and -1. The ops' JSON is freed
 * before the document is printed: the document must own its values. */
static int run(const char *doc_text, const char *ops_text, char *out,
               size_t outlen)
{
    json_object *doc = parse(doc_text), *ops_json = parse(ops_text);
    jp_ops ops;
    char why[300];
    if (jp_ops_parse(ops_json, &ops, why, sizeof why) != 0)
        fail_msg("ops %s refused: %s", ops_text, why);
    int rc = jp_ops_apply(&ops, &doc, why, sizeof why);
    jp_ops_free(&ops);
    json_object_put(ops_json);
    if (rc == 0)
        snprintf(out, outlen, "%s",
                 json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
    else
        snprintf(out, outlen, "%s", why);
    json_object_put(doc);
    return rc;
}

static void expect_doc(const char *doc, const char *ops, const char *want)
{
    char out[1024];
    if (run(doc, ops, out, sizeof out) != 0)
        fail_msg("%s on %s failed: %s", ops, doc, out);
    if (strcmp(out, want) != 0)
        fail_msg("%s on %s gave %s, want %s", ops, doc, out, want);
}

static void expect_fail(const char *doc, const char *ops, const char *msg)
{
    char out[1024];
    if (run(doc, ops, out, sizeof out) == 0)
        fail_msg("%s on %s succeeded: %s", ops, doc, out);
    if (strcmp(out, msg) != 0)
        fail_msg("%s on %s: message \"%s\", want \"%s\"", ops, doc, out, msg);
}

static void test_set(void **state)
{
    (void)state;
    expect_doc("{}", "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":1}]",
               "{\"a\":1}");
    expect_doc("{\"a\":1,\"b\":2}",
               "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":{\"x\":[true]}}]",
               "{\"a\":{\"x\":[true]},\"b\":2}");
    expect_doc("{\"a\":{\"b\":{}}}",
               "[{\"op\":\"set\",\"path\":\"$.a.b.c\",\"value\":null}]",
               "{\"a\":{\"b\":{\"c\":null}}}");
    expect_doc("{\"l\":[1,2,3]}",
               "[{\"op\":\"set\",\"path\":\"$.l[1]\",\"value\":\"two\"}]",
               "{\"l\":[1,\"two\",3]}");
    expect_doc("{\"l\":[{\"n\":1}]}",
               "[{\"op\":\"set\",\"path\":\"$.l[0].n\",\"value\":2}]",
               "{\"l\":[{\"n\":2}]}");
    expect_doc("{\"a\":1}",
               "[{\"op\":\"set\",\"path\":\"$\",\"value\":{\"b\":2}}]",
               "{\"b\":2}");
    expect_doc("{}",
               "[{\"op\":\"set\",\"path\":\"$[\\\"a b.c\\\"]\",\"value\":1}]",
               "{\"a b.c\":1}");
    expect_fail("{}", "[{\"op\":\"set\",\"path\":\"$.a.b\",\"value\":1}]",
                "ops[0] (set): $.a does not exist");
    expect_fail("{\"a\":{}}",
                "[{\"op\":\"set\",\"path\":\"$.a.b.c.d\",\"value\":1}]",
                "ops[0] (set): $.a.b does not exist");
    expect_fail("{\"a\":5}",
                "[{\"op\":\"set\",\"path\":\"$.a.b\",\"value\":1}]",
                "ops[0] (set): $.a is not an object");
    expect_fail("{\"a\":null}",
                "[{\"op\":\"set\",\"path\":\"$.a.b\",\"value\":1}]",
                "ops[0] (set): $.a is not an object");
    expect_fail("{\"a\":[1]}",
                "[{\"op\":\"set\",\"path\":\"$.a.b\",\"value\":1}]",
                "ops[0] (set): $.a is not an object");
    expect_fail("{\"a\":{}}",
                "[{\"op\":\"set\",\"path\":\"$.a[0]\",\"value\":1}]",
                "ops[0] (set): $.a is not an array");
    expect_fail("{\"l\":[1,2]}",
                "[{\"op\":\"set\",\"path\":\"$.l[2]\",\"value\":1}]",
                "ops[0] (set): index 2 is out of range: $.l has 2 elements "
                "(append adds one)");
    expect_fail("{\"l\":[]}",
                "[{\"op\":\"set\",\"path\":\"$.l[999999999].x\",\"value\":1}]",
                "ops[0] (set): index 999999999 is out of range: $.l has 0 "
                "elements");
    expect_fail("{}", "[{\"op\":\"set\",\"path\":\"$[0]\",\"value\":1}]",
                "ops[0] (set): $ is not an array");
}

static void test_remove(void **state)
{
    (void)state;
    expect_doc("{\"a\":1,\"b\":2}", "[{\"op\":\"remove\",\"path\":\"$.a\"}]",
               "{\"b\":2}");
    expect_doc("{\"a\":null}", "[{\"op\":\"remove\",\"path\":\"$.a\"}]", "{}");
    expect_doc("{\"l\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"$.l[0]\"}]",
               "{\"l\":[2,3]}");
    expect_doc("{\"l\":[1,2,3]}",
               "[{\"op\":\"remove\",\"path\":\"$.l[2]\"},"
               "{\"op\":\"remove\",\"path\":\"$.l[1]\"}]",
               "{\"l\":[1]}");
    expect_fail("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"$.b\"}]",
                "ops[0] (remove): $.b does not exist");
    expect_fail("{\"a\":{}}", "[{\"op\":\"remove\",\"path\":\"$.a.b\"}]",
                "ops[0] (remove): $.a.b does not exist");
    expect_fail("{}", "[{\"op\":\"remove\",\"path\":\"$.a.b\"}]",
                "ops[0] (remove): $.a does not exist");
    expect_fail("{\"l\":[1]}", "[{\"op\":\"remove\",\"path\":\"$.l[1]\"}]",
                "ops[0] (remove): index 1 is out of range: $.l has 1 "
                "elements");
    expect_fail("{\"l\":[1]}", "[{\"op\":\"remove\",\"path\":\"$.l.x\"}]",
                "ops[0] (remove): $.l is not an object");
    /* Removing the same member twice: the second has nothing to remove. */
    expect_fail("{\"a\":1}",
                "[{\"op\":\"remove\",\"path\":\"$.a\"},"
                "{\"op\":\"remove\",\"path\":\"$.a\"}]",
                "ops[1] (remove): $.a does not exist");
}

static void test_append(void **state)
{
    (void)state;
    expect_doc("{\"items\":[]}",
               "[{\"op\":\"append\",\"path\":\"$.items\",\"value\":\"x\"},"
               "{\"op\":\"append\",\"path\":\"$.items\",\"value\":{\"y\":[1]}},"
               "{\"op\":\"append\",\"path\":\"$.items\",\"value\":null}]",
               "{\"items\":[\"x\",{\"y\":[1]},null]}");
    expect_doc("{\"m\":[[1]]}",
               "[{\"op\":\"append\",\"path\":\"$.m[0]\",\"value\":2}]",
               "{\"m\":[[1,2]]}");
    expect_fail("{}", "[{\"op\":\"append\",\"path\":\"$.items\",\"value\":1}]",
                "ops[0] (append): $.items does not exist");
    expect_fail("{\"items\":{}}",
                "[{\"op\":\"append\",\"path\":\"$.items\",\"value\":1}]",
                "ops[0] (append): $.items is not an array");
    expect_fail("{\"items\":\"[]\"}",
                "[{\"op\":\"append\",\"path\":\"$.items\",\"value\":1}]",
                "ops[0] (append): $.items is not an array");
    expect_fail("{}", "[{\"op\":\"append\",\"path\":\"$\",\"value\":1}]",
                "ops[0] (append): $ is not an array");
}

/* RFC 7396, appendix A, for the cases whose patch is an object (the op
 * takes nothing else), plus nulls nested under a new member. */
static void test_merge_rfc7396(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
         "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
        {"{\"a\":1}", "{\"a\":{\"b\":null,\"c\":2}}", "{\"a\":{\"c\":2}}"},
        {"{\"a\":1}", "{}", "{\"a\":1}"},
        {"{\"a\":1}", "{\"b\":null}", "{\"a\":1}"},
    };
    char ops[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(ops, sizeof ops, "[{\"op\":\"merge\",\"value\":%s}]",
                 cases[i][1]);
        expect_doc(cases[i][0], ops, cases[i][2]);
    }
}

static void test_ops_apply_in_order_and_name_the_failing_one(void **state)
{
    (void)state;
    /* Later ops see what earlier ones made. */
    expect_doc("{}",
               "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":{}},"
               "{\"op\":\"set\",\"path\":\"$.a.list\",\"value\":[]},"
               "{\"op\":\"append\",\"path\":\"$.a.list\",\"value\":1},"
               "{\"op\":\"merge\",\"value\":{\"a\":{\"x\":true}}},"
               "{\"op\":\"remove\",\"path\":\"$.a.list[0]\"}]",
               "{\"a\":{\"list\":[],\"x\":true}}");
    expect_fail("{}",
                "[{\"op\":\"set\",\"path\":\"$.a\",\"value\":1},"
                "{\"op\":\"merge\",\"value\":{\"b\":2}},"
                "{\"op\":\"append\",\"path\":\"$.a\",\"value\":1}]",
                "ops[2] (append): $.a is not an array");
    /* A quoted path is quoted back as written. */
    expect_fail("{}", "[{\"op\":\"remove\",\"path\":\"$[\\\"x y\\\"].z\"}]",
                "ops[0] (remove): $[\"x y\"] does not exist");
}

static void test_long_paths_are_cut_in_messages(void **state)
{
    (void)state;
    /* A long name of two-byte characters: the message stays valid UTF-8
     * and short. */
    char ops[1024], doc[16] = "{}", out[1024];
    char name[401];
    for (int i = 0; i < 200; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[400] = '\0';
    snprintf(ops, sizeof ops,
             "[{\"op\":\"remove\",\"path\":\"$[\\\"%s\\\"]\"}]", name);
    assert_int_equal(run(doc, ops, out, sizeof out), -1);
    assert_true(strlen(out) < 160);
    /* Cut on a character boundary: no lone lead or continuation byte. */
    size_t n = strlen(out);
    size_t i = strlen("ops[0] (remove): $[\"");
    for (; i + 1 < n && (unsigned char)out[i] >= 0x80; i += 2)
        assert_true((unsigned char)out[i] == 0xc3 &&
                    (unsigned char)out[i + 1] == 0xa9);
    assert_string_equal(out + i, " does not exist");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_valid),
        cmocka_unit_test(test_path_steps_and_names),
        cmocka_unit_test(test_path_invalid),
        cmocka_unit_test(test_path_limits),
        cmocka_unit_test(test_ops_shape),
        cmocka_unit_test(test_ops_fields),
        cmocka_unit_test(test_ops_count_limit),
        cmocka_unit_test(test_ops_depth),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_merge_rfc7396),
        cmocka_unit_test(test_ops_apply_in_order_and_name_the_failing_one),
        cmocka_unit_test(test_long_paths_are_cut_in_messages),
    };
    return cmocka_run_group_tests_name("jpath", tests, NULL, NULL);
}
