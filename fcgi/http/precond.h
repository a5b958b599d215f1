/*
 * precond.h -- the version a write expects: the body's "version" or the
 * If-Match header, per the contract's "Preconditions" and "Details".
 */
#ifndef OPTIMIST_PRECOND_H
#define OPTIMIST_PRECOND_H

#include "http.h"

#include <json.h>

enum if_match_kind {
    IM_NONE = 0, /* no If-Match header */
    IM_ANY,      /* If-Match: *  */
    IM_TAG,      /* If-Match: "N" */
    IM_WEAK      /* If-Match: W/"N": never matches (412) */
};

typedef struct precond {
    int has_body; /* the body carried "version" */
    uint32_t body_version;
    enum if_match_kind im;
    uint32_t im_version; /* for IM_TAG and IM_WEAK */
} precond;

/* A version value: an integer 1..4294967295. Returns 0, or -1 for 0,
 * negative, fractional, null, string, out of range. */
int precond_version_value(json_object *v, uint32_t *out);

/* Parses an If-Match header. Returns 0, or -1 when malformed (400). */
int precond_parse_if_match(const char *h, enum if_match_kind *kind,
                           uint32_t *version);

/* 1 if an If-None-Match header matches `current` (weak comparison, lists
 * and * allowed): the GET answers 304. */
int precond_none_match(const char *h, uint32_t current);

/* Reads both sources into *pc; answers 400 (malformed, or both given and
 * different) and returns -1 when they cannot be used. */
int precond_parse_or_reply(http_req *r, json_object *body, precond *pc);

#endif
