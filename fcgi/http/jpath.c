/*
 * jpath.c -- the PATCH ops on a json-c document (see jpath.h for the
 * grammar and the reasons); the paths' grammar is jppath.c.
 *
 * Everything that can be checked without the document is checked by
 * jp_ops_parse(), before the route opens a transaction; jp_ops_apply()
 * then only meets errors that depend on the document (a missing target,
 * an index out of range, a step through the wrong type).
 */
#include "jpath.h"
#include "jpath_internal.h"

#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 80 /* bytes of a client's text quoted in a message */

void jp_say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* How many bytes of s[0..n) to quote: at most QUOTE_MAX, cut before a
 * UTF-8 continuation byte so the message stays valid UTF-8. */
int jp_quote_len(const char *s, size_t n)
{
    if (n <= QUOTE_MAX)
        return (int)n;
    n = QUOTE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* ---- depth --------------------------------------------------------------- */

int jp_depth(json_object *v)
{
    int deepest = 0;
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, member)
        {
            (void)key;
            int d = jp_depth(member);
            if (d > deepest)
                deepest = d;
        }
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            int d = jp_depth(json_object_array_get_idx(v, i));
            if (d > deepest)
                deepest = d;
        }
    } else {
        return 0; /* a scalar is not a level of its own */
    }
    return deepest + 1;
}

/* ---- parsing ops ----------------------------------------------------------
 */

static const char *const op_names[] = {"set", "remove", "append", "merge"};

int jp_ops_parse(json_object *ops, jp_ops *out, char *why, size_t whylen)
{
    char msg[200];
    memset(out, 0, sizeof *out);
    if (!json_object_is_type(ops, json_type_array)) {
        jp_say(why, whylen, "\"ops\" must be an array of ops");
        return -1;
    }
    size_t n = json_object_array_length(ops);
    if (n == 0 || n > JP_MAX_OPS) {
        jp_say(why, whylen, "\"ops\" must hold 1 to %d ops", JP_MAX_OPS);
        return -1;
    }
    out->ops = xcalloc(n, sizeof *out->ops);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(ops, i), *f = NULL;
        jp_op *op = &out->ops[i];
        if (!json_object_is_type(o, json_type_object)) {
            jp_say(why, whylen, "ops[%zu]: an op must be an object", i);
            goto fail;
        }
        if (!json_object_object_get_ex(o, "op", &f) ||
            !json_object_is_type(f, json_type_string)) {
            jp_say(why, whylen,
                   "ops[%zu]: \"op\" must be a string: set, "
                   "remove, append or merge",
                   i);
            goto fail;
        }
        const char *name = json_object_get_string(f);
        size_t name_len = (size_t)json_object_get_string_len(f);
        size_t k = 0;
        while (k < 4 && !(strlen(op_names[k]) == name_len &&
                          memcmp(op_names[k], name, name_len) == 0))
            k++;
        if (k == 4) {
            jp_say(why, whylen,
                   "ops[%zu]: unknown op \"%.*s\": set, remove, "
                   "append or merge",
                   i, jp_quote_len(name, name_len), name);
            goto fail;
        }
        op->kind = (jp_kind)k;
        out->n = i + 1; /* from here on op is ours to free */

        if (op->kind != JP_MERGE) {
            if (!json_object_object_get_ex(o, "path", &f) ||
                !json_object_is_type(f, json_type_string)) {
                jp_say(why, whylen, "ops[%zu] (%s): \"path\" must be a string",
                       i, op_names[k]);
                goto fail;
            }
            if (jp_path_parse(json_object_get_string(f),
                              (size_t)json_object_get_string_len(f), &op->path,
                              msg, sizeof msg) != 0) {
                jp_say(why, whylen, "ops[%zu] (%s): %s", i, op_names[k], msg);
                goto fail;
            }
        }
        if (op->kind == JP_REMOVE) {
            if (op->path.n == 0) {
                jp_say(why, whylen,
                       "ops[%zu] (remove): $ is the whole config "
                       "and cannot be removed",
                       i);
                goto fail;
            }
            continue;
        }
        /* json-c gives JSON null as NULL: presence is get_ex's answer. */
        if (!json_object_object_get_ex(o, "value", &op->value)) {
            jp_say(why, whylen, "ops[%zu] (%s): \"value\" is missing", i,
                   op_names[k]);
            goto fail;
        }
        int depth = jp_depth(op->value);
        if (op->kind == JP_MERGE) {
            if (!json_object_is_type(op->value, json_type_object)) {
                jp_say(why, whylen,
                       "ops[%zu] (merge): \"value\" must be an "
                       "object (a merge patch of the whole config)",
                       i);
                goto fail;
            }
            if (depth > JP_MAX_DEPTH) {
                jp_say(why, whylen,
                       "ops[%zu] (merge): the config would be "
                       "nested deeper than %d levels",
                       i, JP_MAX_DEPTH);
                goto fail;
            }
            continue;
        }
        if (op->kind == JP_SET && op->path.n == 0 &&
            !json_object_is_type(op->value, json_type_object)) {
            jp_say(why, whylen,
                   "ops[%zu] (set): the config must stay an "
                   "object",
                   i);
            goto fail;
        }
        /* The config is level 1, so a value k steps down starts at level
         * k + 1 (an appended element one deeper) and reaches k + depth. */
        size_t reach = op->path.n + (op->kind == JP_APPEND) + (size_t)depth;
        if (reach > JP_MAX_DEPTH) {
            jp_say(why, whylen,
                   "ops[%zu] (%s): the config would be nested "
                   "deeper than %d levels",
                   i, op_names[k], JP_MAX_DEPTH);
            goto fail;
        }
    }
    return 0;
fail:
    jp_ops_free(out);
    return -1;
}

void jp_ops_free(jp_ops *ops)
{
    if (ops == NULL)
        return;
    for (size_t i = 0; i < ops->n; i++)
        jp_path_free(&ops->ops[i].path);
    free(ops->ops);
    ops->ops = NULL;
    ops->n = 0;
}

/* ---- applying ops ----------------------------------------------------------
 */

/* Why a walk stopped. */
enum miss {
    MISS_MEMBER,     /* the object has no such member */
    MISS_INDEX,      /* the array is shorter */
    MISS_NOT_OBJECT, /* a name step on something that is not an object */
    MISS_NOT_ARRAY   /* an index step on something that is not an array */
};

/* Follows the first n steps of p from root. Returns 0 with *node (NULL
 * is JSON null), or -1 with the failing step in *at and the reason. */
static int walk(json_object *root, const jp_path *p, size_t n,
                json_object **node, size_t *at, enum miss *why)
{
    json_object *cur = root;
    for (size_t i = 0; i < n; i++) {
        const jp_step *s = &p->steps[i];
        *at = i;
        if (s->name != NULL) {
            if (!json_object_is_type(cur, json_type_object)) {
                *why = MISS_NOT_OBJECT;
                return -1;
            }
            if (!json_object_object_get_ex(cur, s->name, &cur)) {
                *why = MISS_MEMBER;
                return -1;
            }
        } else {
            if (!json_object_is_type(cur, json_type_array)) {
                *why = MISS_NOT_ARRAY;
                return -1;
            }
            if (s->index >= json_object_array_length(cur)) {
                *why = MISS_INDEX;
                return -1;
            }
            cur = json_object_array_get_idx(cur, s->index);
        }
    }
    *node = cur;
    return 0;
}

/* The path's text up to (not including) step k: "$" for k == 0. */
static size_t prefix_end(const jp_path *p, size_t k)
{
    return k == 0 ? 1 : p->steps[k - 1].end;
}

/* Explains a failed walk: "<op>: $.a.b does not exist". `container` is
 * the node the failing step was taken on (for its length). */
static void explain(char *why, size_t whylen, const char *head,
                    const jp_path *p, size_t at, enum miss m,
                    json_object *container)
{
    size_t before = prefix_end(p, at), through = p->steps[at].end;
    switch (m) {
    case MISS_MEMBER:
        jp_say(why, whylen, "%s: %.*s does not exist", head,
               jp_quote_len(p->text, through), p->text);
        return;
    case MISS_INDEX:
        jp_say(why, whylen,
               "%s: index %zu is out of range: %.*s has %zu "
               "elements",
               head, p->steps[at].index, jp_quote_len(p->text, before), p->text,
               json_object_array_length(container));
        return;
    case MISS_NOT_OBJECT:
        jp_say(why, whylen, "%s: %.*s is not an object", head,
               jp_quote_len(p->text, before), p->text);
        return;
    case MISS_NOT_ARRAY:
        jp_say(why, whylen, "%s: %.*s is not an array", head,
               jp_quote_len(p->text, before), p->text);
        return;
    }
}

/* Walks and explains a failure in one go; the container of the failing
 * step is found by walking again up to it (only on the error path). */
static int walk_or_explain(json_object *root, const jp_path *p, size_t n,
                           json_object **node, char *why, size_t whylen,
                           const char *head)
{
    size_t at = 0;
    enum miss m = MISS_MEMBER;
    if (walk(root, p, n, node, &at, &m) == 0)
        return 0;
    json_object *container = NULL;
    size_t at2;
    enum miss m2;
    if (walk(root, p, at, &container, &at2, &m2) != 0)
        container = NULL; /* cannot happen: the first walk got past it */
    explain(why, whylen, head, p, at, m, container);
    return -1;
}

/* A copy of v that the document owns; NULL (JSON null) stays NULL. */
static json_object *copy_of(json_object *v)
{
    json_object *c = NULL;
    if (v == NULL)
        return NULL;
    xok(json_object_deep_copy(v, &c, NULL), "json_object_deep_copy");
    xnonnull(c, "json_object_deep_copy");
    return c;
}

static void add_member(json_object *obj, const char *key, json_object *val)
{
    /* Replaces (and frees) a member of the same name. */
    xok(json_object_object_add(obj, key, val), "json_object_object_add");
}

/* RFC 7396 in place: target (an object) merged with patch (an object).
 * A member whose patch value is an object is merged into the target's
 * member if that is an object, else into a new empty one, so that nulls
 * inside the patch are never stored. */
static void merge_into(json_object *target, json_object *patch)
{
    json_object_object_foreach(patch, key, pv)
    {
        if (pv == NULL) {
            json_object_object_del(target, key);
        } else if (json_object_is_type(pv, json_type_object)) {
            json_object *tv = NULL;
            if (!json_object_object_get_ex(target, key, &tv) ||
                !json_object_is_type(tv, json_type_object)) {
                tv = xnonnull(json_object_new_object(), "json_object");
                add_member(target, key, tv);
            }
            merge_into(tv, pv);
        } else {
            add_member(target, key, copy_of(pv));
        }
    }
}

static int apply_one(const jp_op *op, size_t i, json_object **doc, char *why,
                     size_t whylen)
{
    char head[48];
    const jp_path *p = &op->path;
    json_object *parent = NULL, *target = NULL;
    snprintf(head, sizeof head, "ops[%zu] (%s)", i, op_names[op->kind]);

    switch (op->kind) {
    case JP_MERGE:
        merge_into(*doc, op->value);
        return 0;
    case JP_APPEND:
        if (walk_or_explain(*doc, p, p->n, &target, why, whylen, head) != 0)
            return -1;
        if (!json_object_is_type(target, json_type_array)) {
            jp_say(why, whylen, "%s: %.*s is not an array", head,
                   jp_quote_len(p->text, prefix_end(p, p->n)), p->text);
            return -1;
        }
        xok(json_object_array_add(target, copy_of(op->value)),
            "json_object_array_add");
        return 0;
    case JP_SET:
    case JP_REMOVE:
        break;
    }

    if (p->n == 0) { /* set $: checked to be an object by jp_ops_parse */
        json_object_put(*doc);
        *doc = copy_of(op->value);
        return 0;
    }
    /* The parent must exist for both; then the last step decides. */
    if (walk_or_explain(*doc, p, p->n - 1, &parent, why, whylen, head) != 0)
        return -1;
    const jp_step *last = &p->steps[p->n - 1];
    size_t before = prefix_end(p, p->n - 1);
    if (last->name != NULL) {
        if (!json_object_is_type(parent, json_type_object)) {
            jp_say(why, whylen, "%s: %.*s is not an object", head,
                   jp_quote_len(p->text, before), p->text);
            return -1;
        }
        if (op->kind == JP_SET) {
            add_member(parent, last->name, copy_of(op->value));
            return 0;
        }
        if (!json_object_object_get_ex(parent, last->name, &target)) {
            jp_say(why, whylen, "%s: %.*s does not exist", head,
                   jp_quote_len(p->text, last->end), p->text);
            return -1;
        }
        json_object_object_del(parent, last->name);
        return 0;
    }
    if (!json_object_is_type(parent, json_type_array)) {
        jp_say(why, whylen, "%s: %.*s is not an array", head,
               jp_quote_len(p->text, before), p->text);
        return -1;
    }
    size_t len = json_object_array_length(parent);
    if (last->index >= len) {
        jp_say(why, whylen,
               "%s: index %zu is out of range: %.*s has %zu "
               "elements%s",
               head, last->index, jp_quote_len(p->text, before), p->text, len,
               op->kind == JP_SET ? " (append adds one)" : "");
        return -1;
    }
    if (op->kind == JP_SET) {
        /* Replaces (and frees) the element there. */
        xok(json_object_array_put_idx(parent, last->index, copy_of(op->value)),
            "json_object_array_put_idx");
        return 0;
    }
    /* The index was checked: only memory can make it fail. */
    xok(json_object_array_del_idx(parent, last->index, 1),
        "json_object_array_del_idx");
    return 0;
}

int jp_ops_apply(const jp_ops *ops, json_object **doc, char *why, size_t whylen)
{
    if (!json_object_is_type(*doc, json_type_object)) {
        jp_say(why, whylen, "the stored config is not an object");
        return -1;
    }
    for (size_t i = 0; i < ops->n; i++)
        if (apply_one(&ops->ops[i], i, doc, why, whylen) != 0)
            return -1;
    return 0;
}
