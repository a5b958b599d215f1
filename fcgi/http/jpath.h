/*
 * jpath.h -- JSON paths and the storefront's PATCH ops (set, remove,
 * append, merge), applied to a json-c document in C.
 *
 * The ops run here rather than as MariaDB JSON functions because the
 * contract wants errors that the server's functions hide: JSON_SET under
 * a missing parent and JSON_REMOVE of a missing path both return the
 * document unchanged, without an error. Here every op checks its target
 * and says which op failed and why. The route applies the ops to the
 * config it read under the draft row's lock, and writes the result with
 * the versioned UPDATE; nothing here touches the database.
 *
 * Path grammar (no whitespace anywhere):
 *
 *   path  = "$" *step
 *   step  = "." name / "[" index "]" / "[" string "]"
 *   name  = (ALPHA / "_") *(ALPHA / DIGIT / "_")
 *   index = "0" / %x31-39 *DIGIT        ; decimal, no leading zeros
 *   string = a JSON string: any member name, escapes as in JSON,
 *            without control characters or \u0000
 *
 * At most JP_MAX_STEPS steps and JP_MAX_PATH bytes; indexes below 10^9.
 */
#ifndef OPTIMIST_JPATH_H
#define OPTIMIST_JPATH_H

#include <json.h>
#include <stddef.h>

#define JP_MAX_STEPS 64
#define JP_MAX_PATH  4096
#define JP_MAX_OPS   1000
/* The deepest a config may be, counting the config as level 1. MariaDB's
 * JSON_VALID (the CHECK of a JSON column) refuses documents nested 32 or
 * more levels deep (10.11: JSON_DEPTH_LIMIT); checking it here names the
 * op instead of answering "the database refused a value". */
#define JP_MAX_DEPTH 31

typedef struct jp_step {
    const char *name; /* member name (NUL-terminated), or NULL: an index */
    size_t index;     /* the array index when name is NULL */
    size_t end;       /* offset just past this step in the path's text */
} jp_step;

/* A parsed path. Owns one block (steps and decoded names): free it with
 * jp_path_free(). */
typedef struct jp_path {
    jp_step *steps; /* n steps, then the names: one block */
    size_t n;
    const char *text; /* the path as written (borrowed; for messages) */
} jp_path;

typedef enum jp_kind { JP_SET, JP_REMOVE, JP_APPEND, JP_MERGE } jp_kind;

typedef struct jp_op {
    jp_kind kind;
    jp_path path;       /* unused by merge */
    json_object *value; /* borrowed from the parsed body; NULL is JSON null */
} jp_op;

/* The ops of one PATCH. Free with jp_ops_free(). */
typedef struct jp_ops {
    jp_op *ops;
    size_t n;
} jp_ops;

/* Parses text[0..len) (which must stay alive as long as *out: messages
 * quote it). Returns 0, or -1 with a message in why. */
int jp_path_parse(const char *text, size_t len, jp_path *out, char *why,
                  size_t whylen);

/* Frees a path's block. A zeroed path is a no-op. */
void jp_path_free(jp_path *p);

/* Reads the "ops" member of a PATCH body: an array of 1..JP_MAX_OPS ops,
 * each checked on its own (known op, path grammar, value present and of
 * the right type, depth). Returns 0, or -1 with a message naming the op
 * ("ops[2]: ...") in why and nothing left to free. On success free *out
 * with jp_ops_free(); it borrows from `ops`, which must outlive it. */
int jp_ops_parse(json_object *ops, jp_ops *out, char *why, size_t whylen);

void jp_ops_free(jp_ops *ops);

/* Applies the ops in order to *doc (an object, owned by the caller; set
 * at "$" replaces it). Values are copied into the document. Returns 0, or
 * -1 with a message naming the failing op in why: then *doc is partly
 * changed and must be thrown away (the caller applies all or none). */
int jp_ops_apply(const jp_ops *ops, json_object **doc, char *why,
                 size_t whylen);

/* Levels of a value, counted as the contract counts nesting: an object
 * or array is one level more than its deepest member, a scalar none
 * ("[[1]]" is 2). */
int jp_depth(json_object *v);

#endif
