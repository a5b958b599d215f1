/*
 * fuzz_jpath.c -- the storefront's JSON paths and PATCH ops
 * (fcgi/http/jpath.c, jppath.c). The first byte chooses:
 *   even: the rest is a path for jp_path_parse; a path it takes has
 *         1..JP_MAX_STEPS steps whose ends grow and stop at the text's
 *         end, and each name or index is what that step's text says;
 *   odd:  the rest is "<document>\n<ops>", two JSON texts; when the
 *         body checker (fcgi/http/body.c) takes both, as a request's body
 *         would be, and jp_ops_parse takes the ops, jp_ops_apply runs on
 *         the document, and what it leaves (on success) must be JSON that
 *         jansson reads back, within JP_MAX_DEPTH levels: what the route
 *         would write to the database.
 */
#include "fuzz.h"

#include "body.h"
#include "jpath.h"

#include "oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_path(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    jp_path p;
    char why[256];
    if (jp_path_parse(text, len, &p, why, sizeof why) != 0) {
        if (why[0] == '\0')
            fuzz_fail(data, size, "a refused path without a message");
        return;
    }
    if (len == 0 || text[0] != '$' || p.n > JP_MAX_STEPS)
        fuzz_fail(data, size, "a path taken that is not $...");
    size_t prev = 1;
    for (size_t i = 0; i < p.n; i++) {
        const jp_step *s = &p.steps[i];
        if (s->end <= prev || s->end > len)
            fuzz_fail(data, size, "step %zu ends at %zu (after %zu, of %zu)", i,
                      s->end, prev, len);
        char c = text[prev];
        if (s->name == NULL) {
            if (c != '[' || text[prev + 1] < '0' || text[prev + 1] > '9' ||
                strtoull(text + prev + 1, NULL, 10) != s->index)
                fuzz_fail(data, size, "step %zu: index %zu", i, s->index);
        } else if (c == '.') {
            size_t n = s->end - prev - 1;
            if (strlen(s->name) != n || memcmp(s->name, text + prev + 1, n))
                fuzz_fail(data, size, "step %zu: name '%s'", i, s->name);
        } else if (c != '[' || text[prev + 1] != '"') {
            fuzz_fail(data, size, "step %zu: a name from '%c'", i, c);
        }
        prev = s->end;
    }
    if (prev != len)
        fuzz_fail(data, size, "the steps end at %zu of %zu", prev, len);
    jp_path_free(&p);
}

/* As the route gets it: through the body checker (UTF-8, strict JSON,
 * depth), so that only what a request can carry reaches jpath. */
static json_object *parse(const char *s, size_t n)
{
    char msg[256];
    return body_parse(s, n, msg, sizeof msg);
}

static void check_ops(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *nl = memchr(text, '\n', len);
    if (nl == NULL)
        return;
    json_object *doc = parse(text, (size_t)(nl - text));
    json_object *ops = parse(nl + 1, len - (size_t)(nl + 1 - text));
    if (doc == NULL || ops == NULL ||
        !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        json_object_put(ops);
        return;
    }
    jp_ops parsed;
    char why[256];
    if (jp_ops_parse(ops, &parsed, why, sizeof why) == 0) {
        if (jp_ops_apply(&parsed, &doc, why, sizeof why) == 0) {
            const char *out =
                json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
            char err[256];
            ov *back = oracle_parse(out, strlen(out), err, sizeof err);
            /* Numbers past a double's or an int64's range pass the body
             * checker as they are written (fuzz_body: the contract says
             * nothing of them); jansson refuses them. Not jpath's doing. */
            if (back == NULL && strstr(err, "overflow") == NULL &&
                strstr(err, "too big") == NULL)
                fuzz_fail(data, size, "the result is not JSON (%s): %s", err,
                          out);
            ov_free(back);
            if (!json_object_is_type(doc, json_type_object))
                fuzz_fail(data, size, "the result is not an object: %s", out);
            if (jp_depth(doc) > JP_MAX_DEPTH)
                fuzz_fail(data, size, "the result has %d levels",
                          jp_depth(doc));
        } else if (why[0] == '\0') {
            fuzz_fail(data, size, "an op failed without a message");
        }
        jp_ops_free(&parsed);
    } else if (why[0] == '\0') {
        fuzz_fail(data, size, "ops refused without a message");
    }
    json_object_put(doc);
    json_object_put(ops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > JP_MAX_PATH + 1 + 60000)
        return 0;
    if ((data[0] & 1) == 0)
        check_path(data, size);
    else
        check_ops(data, size);
    return 0;
}
