/*
 * oracle.h -- jansson, the fuzzers' second JSON parser, behind a plain C
 * tree: jansson's header and json-c's cannot meet in one file (both name
 * a type json_object), so oracle_jansson.c alone includes jansson.
 */
#ifndef OPTIMIST_FUZZ_ORACLE_H
#define OPTIMIST_FUZZ_ORACLE_H

#include <stddef.h>

enum ov_type {
    OV_NULL,
    OV_TRUE,
    OV_FALSE,
    OV_INT,
    OV_REAL,
    OV_STRING,
    OV_ARRAY,
    OV_OBJECT
};

typedef struct ov {
    enum ov_type type;
    long long i;
    double d;
    char *s; /* OV_STRING: the bytes (NUL-terminated copy) */
    size_t len;
    size_t n;        /* OV_ARRAY, OV_OBJECT: members */
    struct ov *kids; /* n values */
    char **keys;     /* OV_OBJECT: n names (NUL-terminated copies) */
    size_t *keylens;
} ov;

/* Parses buf[0..len) as one JSON text, any value, \u0000 allowed. NULL
 * with jansson's message in err when it refuses. Free with ov_free. */
ov *oracle_parse(const char *buf, size_t len, char *err, size_t errlen);
void ov_free(ov *v);

/* 1 if a string or a member name holds a NUL. */
int ov_has_nul(const ov *v);

/* Levels as the contract counts them: containers only ("[[1]]" is 2). */
int ov_depth(const ov *v);

#endif
