/*
 * body.h -- request bodies: media type, size, UTF-8, JSON syntax and depth,
 * and typed access to the fields routes read. About JSON, so json-c's
 * json_object appears here.
 */
#ifndef OPTIMIST_BODY_H
#define OPTIMIST_BODY_H

#include "http.h"

#include <json.h>

/* The contract: 32 levels pass, 33 fail (MariaDB's JSON functions stop at
 * 32; the outer value is level 1). */
#define BODY_MAX_DEPTH 32

/* 1 if a Content-Type names JSON (application/json or a +json type, any
 * parameters), else 0. */
int body_is_json_type(const char *content_type);

/* Parses buf[0..len) as strict JSON: valid UTF-8, at most BODY_MAX_DEPTH
 * levels, no \u0000 anywhere, nothing after the value. Returns the value
 * (caller puts it), or NULL with a message for the client in msg. */
json_object *body_parse(const char *buf, size_t len, char *msg, size_t msglen);

/* The request body as a JSON object, or NULL after answering 415 or 400.
 * An empty body is an empty object. The object belongs to the request
 * (freed after it). */
json_object *body_object_or_reply(http_req *r);

/* Reads an optional string member: absent or null gives *out = NULL.
 * Anything else but a string answers 400. Returns 0, or -1 if answered.
 * max_chars bounds the length in characters (0: no bound). */
int body_opt_string_or_reply(http_req *r, json_object *obj, const char *key,
                             size_t max_chars, const char **out, size_t *len);

#endif
