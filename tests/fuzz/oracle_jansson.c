/*
 * oracle_jansson.c -- see oracle.h. jansson and json-c both export
 * json_object_get and json_object_iter_next; a call from here would be
 * bound to whichever library the linker meets first, so those two are
 * not called by name: json_object_getn is not needed, and iter_next is
 * looked up in libjansson with its version (dlvsym).
 */
#include "oracle.h"

#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *(*iter_next_fn)(json_t *, void *);

static iter_next_fn iter_next(void)
{
    static iter_next_fn fn;
    if (fn == NULL) {
        void *h = dlopen("libjansson.so.4", RTLD_NOW | RTLD_NOLOAD);
        if (h != NULL)
            fn = (iter_next_fn)dlvsym(h, "json_object_iter_next",
                                      "libjansson.so.4");
        if (fn == NULL) {
            fprintf(stderr, "oracle: no json_object_iter_next in jansson\n");
            abort();
        }
    }
    return fn;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static char *copy(const char *s, size_t len)
{
    char *c = xcalloc(len + 1, 1);
    memcpy(c, s, len);
    return c;
}

static void fill(ov *o, json_t *j)
{
    memset(o, 0, sizeof *o);
    switch (json_typeof(j)) {
    case JSON_NULL:
        o->type = OV_NULL;
        break;
    case JSON_TRUE:
        o->type = OV_TRUE;
        break;
    case JSON_FALSE:
        o->type = OV_FALSE;
        break;
    case JSON_INTEGER:
        o->type = OV_INT;
        o->i = json_integer_value(j);
        break;
    case JSON_REAL:
        o->type = OV_REAL;
        o->d = json_real_value(j);
        break;
    case JSON_STRING:
        o->type = OV_STRING;
        o->len = json_string_length(j);
        o->s = copy(json_string_value(j), o->len);
        break;
    case JSON_ARRAY:
        o->type = OV_ARRAY;
        o->n = json_array_size(j);
        o->kids = xcalloc(o->n, sizeof *o->kids);
        for (size_t i = 0; i < o->n; i++)
            fill(&o->kids[i], json_array_get(j, i));
        break;
    case JSON_OBJECT: {
        o->type = OV_OBJECT;
        o->n = json_object_size(j);
        o->kids = xcalloc(o->n, sizeof *o->kids);
        o->keys = xcalloc(o->n, sizeof *o->keys);
        o->keylens = xcalloc(o->n, sizeof *o->keylens);
        size_t i = 0;
        for (void *it = json_object_iter(j); it != NULL && i < o->n;
             it = iter_next()(j, it), i++) {
            o->keylens[i] = json_object_iter_key_len(it);
            o->keys[i] = copy(json_object_iter_key(it), o->keylens[i]);
            fill(&o->kids[i], json_object_iter_value(it));
        }
        break;
    }
    }
}

ov *oracle_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    /* jansson stops at a raw NUL byte as at the end of the text ("2\0"
     * reads as 2); a raw NUL is never JSON (a control character). */
    if (memchr(buf, 0, len) != NULL) {
        snprintf(err, errlen, "a raw NUL byte");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (j == NULL) {
        snprintf(err, errlen, "%s", e.text);
        return NULL;
    }
    ov *o = xcalloc(1, sizeof *o);
    fill(o, j);
    json_decref(j);
    return o;
}

static void clear(ov *o)
{
    for (size_t i = 0; i < o->n; i++) {
        clear(&o->kids[i]);
        if (o->keys)
            free(o->keys[i]);
    }
    free(o->kids);
    free(o->keys);
    free(o->keylens);
    free(o->s);
}

void ov_free(ov *v)
{
    if (v == NULL)
        return;
    clear(v);
    free(v);
}

int ov_has_nul(const ov *v)
{
    if (v->type == OV_STRING)
        return memchr(v->s, 0, v->len) != NULL;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys && memchr(v->keys[i], 0, v->keylens[i]) != NULL)
            return 1;
        if (ov_has_nul(&v->kids[i]))
            return 1;
    }
    return 0;
}

int ov_depth(const ov *v)
{
    int d = 0;
    if (v->type != OV_ARRAY && v->type != OV_OBJECT)
        return 0;
    for (size_t i = 0; i < v->n; i++) {
        int x = ov_depth(&v->kids[i]);
        if (x > d)
            d = x;
    }
    return d + 1;
}
