/*
 * fuzz_body.c -- the body checker (fcgi/http/body.c: UTF-8,
 * fcgi/http/json_check.c, then json-c) against jansson, a second strict parser,
 * as the oracle:
 *   - what jansson refuses, body_parse refuses (but for the number ranges
 *     where the two may differ by design: jansson refuses integers beyond
 *     int64 and reals beyond double; body_parse takes uint64);
 *   - what jansson accepts within BODY_MAX_DEPTH levels, body_parse
 *     accepts, as the same value: same types, same numbers, strings and
 *     member names byte for byte (a NUL or a bad escape cutting a string
 *     short shows here), JSON null top-level excepted (no object);
 *   - deeper than BODY_MAX_DEPTH: refused;
 *   - \u0000 anywhere: refused (API.md, Limits). While body_parse still
 *     takes it (a build from before the NUL rule), inputs with
 *     a NUL are not compared: the start says so once.
 */
#include "fuzz.h"

#include "body.h"
#include "oracle.h"

#include <stdio.h>
#include <string.h>

static int nul_defect; /* body_parse accepts \u0000 (no NUL rule yet) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char probe[] = "{\"a\\u0000b\":1}";
    char msg[256];
    json_object *o = body_parse(probe, sizeof probe - 1, msg, sizeof msg);
    if (o != NULL) {
        nul_defect = 1;
        json_object_put(o);
        fprintf(stderr, "fuzz_body: body_parse accepts \\u0000 (no NUL "
                        "rule yet): inputs with a NUL are not compared\n");
    }
    return 0;
}

/* NULL if j and o are the same value, else what differs. */
static const char *same(const ov *j, json_object *o)
{
    switch (j->type) {
    case OV_NULL:
        return o == NULL ? NULL : "null became something";
    case OV_TRUE:
    case OV_FALSE:
        if (!json_object_is_type(o, json_type_boolean) ||
            json_object_get_boolean(o) != (j->type == OV_TRUE))
            return "a boolean differs";
        return NULL;
    case OV_INT:
        if (!json_object_is_type(o, json_type_int) ||
            json_object_get_int64(o) != j->i)
            return "an integer differs";
        return NULL;
    case OV_REAL:
        if (!json_object_is_type(o, json_type_double) ||
            json_object_get_double(o) != j->d)
            return "a real differs";
        return NULL;
    case OV_STRING:
        if (!json_object_is_type(o, json_type_string) ||
            (size_t)json_object_get_string_len(o) != j->len ||
            memcmp(json_object_get_string(o), j->s, j->len) != 0)
            return "a string differs";
        return NULL;
    case OV_ARRAY:
        if (!json_object_is_type(o, json_type_array) ||
            json_object_array_length(o) != j->n)
            return "an array differs in length";
        for (size_t i = 0; i < j->n; i++) {
            const char *why =
                same(&j->kids[i], json_object_array_get_idx(o, i));
            if (why)
                return why;
        }
        return NULL;
    case OV_OBJECT:
        if (!json_object_is_type(o, json_type_object) ||
            (size_t)json_object_object_length(o) != j->n)
            return "an object differs in its members";
        for (size_t i = 0; i < j->n; i++) {
            json_object *v;
            if (!json_object_object_get_ex(o, j->keys[i], &v))
                return "a member name differs";
            const char *why = same(&j->kids[i], v);
            if (why)
                return why;
        }
        return NULL;
    }
    return "unknown type";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char msg[256] = "";
    json_object *o = body_parse(buf, size, msg, sizeof msg);
    char err[256] = "";
    ov *j = oracle_parse(buf, size, err, sizeof err);

    if (j == NULL) {
        /* Refused by jansson for a number's range: body_parse may take
         * it (uint64, or a real json-c rounds to infinity). */
        int range =
            strstr(err, "too big") != NULL || strstr(err, "overflow") != NULL;
        /* jansson refuses a \u0000 in a member name even when it takes
         * one in a string: the contract's rule too, so the NUL rule again. */
        int key_nul = strstr(err, "NUL byte in object key") != NULL;
        if (o != NULL && !range && !(key_nul && nul_defect))
            fuzz_fail(data, size,
                      "body_parse accepts what jansson refuses "
                      "(%s)",
                      err);
    } else if (nul_defect && ov_has_nul(j)) {
        /* no NUL rule yet: not compared */
    } else if (ov_has_nul(j)) {
        if (o != NULL)
            fuzz_fail(data, size, "body_parse accepts \\u0000");
    } else if (ov_depth(j) > BODY_MAX_DEPTH) {
        if (o != NULL)
            fuzz_fail(data, size, "body_parse accepts %d levels", ov_depth(j));
    } else if (j->type == OV_NULL) {
        if (o != NULL)
            fuzz_fail(data, size, "body_parse gives a value for null");
    } else if (o == NULL) {
        fuzz_fail(data, size, "body_parse refuses valid JSON: %s", msg);
    } else {
        const char *why = same(j, o);
        if (why)
            fuzz_fail(data, size, "body_parse's value differs: %s", why);
    }
    ov_free(j);
    json_object_put(o);
    return 0;
}
