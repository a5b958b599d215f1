/*
 * body.c -- request body checks, in the order a client would want them
 * reported: media type (415), then encoding and syntax (400).
 *
 * A \u0000 escape is refused here too, in keys and values alike: json-c
 * would keep it, and the first C string made of it would end there
 * ("price\u0000_note" overwriting "price").
 *
 * UTF-8 is checked on the raw bytes before json-c sees them, so invalid
 * bytes anywhere, in a string or not, are refused the same way; json-c's
 * own check (JSON_TOKENER_VALIDATE_UTF8) would accept what it escapes.
 */
#include "body.h"

#include "utf8.h"
#include "json_check.h"
#include "reply.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int body_is_json_type(const char *ct)
{
    if (ct == NULL)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return 1;
    /* application/merge-patch+json and friends */
    if (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
        strncasecmp(ct + n - 5, "+json", 5) == 0)
        return 1;
    return 0;
}

json_object *body_parse(const char *buf, size_t len, char *msg, size_t msglen)
{
    if (!utf8_valid(buf, len)) {
        snprintf(msg, msglen, "the body is not valid UTF-8");
        return NULL;
    }
    /* Our own grammar check first: json-c, even in STRICT mode, accepts
     * NaN, single quotes, raw control characters, "1." and "00". */
    size_t where = 0;
    jcheck_result jc = jcheck(buf, len, BODY_MAX_DEPTH, &where);
    if (jc == JCHECK_TOO_DEEP) {
        snprintf(msg, msglen,
                 "JSON nested deeper than %d levels (the body is level 1: "
                 "an object stored from it holds at most 31 levels)",
                 BODY_MAX_DEPTH);
        return NULL;
    }
    if (jc == JCHECK_RANGE) {
        snprintf(msg, msglen,
                 "integer at byte %zu does not fit in 64 bits (send it as a "
                 "string or a decimal)",
                 where);
        return NULL;
    }
    if (jc == JCHECK_NUL) {
        snprintf(msg, msglen,
                 "\\u0000 at byte %zu: a NUL is not allowed in a key or a "
                 "string",
                 where);
        return NULL;
    }
    if (jc != JCHECK_OK) {
        snprintf(msg, msglen, "malformed JSON at byte %zu", where);
        return NULL;
    }
    /* The text is valid and within the limit: json-c builds the value.
     * json-c also counts a scalar leaf as a level ("[[1]]" is 3 to it, 2
     * containers to the contract), so it gets one level more than ours. */
    json_tokener *tok = xnonnull(json_tokener_new_ex(BODY_MAX_DEPTH + 1),
                                 "json_tokener_new_ex");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (obj == NULL && jerr == json_tokener_continue) {
        /* A lone top-level number ("12") waits for more input: tell the
         * tokener the text has ended. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (obj == NULL) {
        /* json-c gives JSON null as NULL: valid, but not an object. */
        if (jerr == json_tokener_success)
            snprintf(msg, msglen, "the body must be a JSON object");
        else
            snprintf(msg, msglen, "malformed JSON: %s",
                     json_tokener_error_desc(jerr));
        return NULL;
    }
    for (size_t i = end; i < len; i++) {
        char c = buf[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            json_object_put(obj);
            snprintf(msg, msglen, "malformed JSON: text after the value");
            return NULL;
        }
    }
    return obj;
}

json_object *body_object_or_reply(http_req *r)
{
    char msg[160];
    if (r->json != NULL)
        return r->json;
    if (r->body_len == 0) {
        r->json = json_object_new_object();
        return r->json;
    }
    if (!body_is_json_type(r->content_type)) {
        reply_error(r, 415, "unsupported_media_type",
                    "the body must be JSON (Content-Type: application/json)",
                    NULL);
        return NULL;
    }
    json_object *obj = body_parse(r->body, r->body_len, msg, sizeof msg);
    if (obj == NULL) {
        reply_error(r, 400, "bad_request", msg, NULL);
        return NULL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        reply_error(r, 400, "bad_request", "the body must be a JSON object",
                    NULL);
        return NULL;
    }
    r->json = obj;
    return obj;
}

int body_opt_string_or_reply(http_req *r, json_object *obj, const char *key,
                             size_t max_chars, const char **out, size_t *len)
{
    json_object *v = NULL;
    *out = NULL;
    *len = 0;
    if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string)) {
        reply_errorf(r, 400, "bad_request", "\"%s\" must be a string or null",
                     key);
        return -1;
    }
    *out = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    if (max_chars > 0 && utf8_length(*out, *len) > max_chars) {
        reply_errorf(r, 400, "bad_request",
                     "\"%s\" is longer than %zu characters", key, max_chars);
        return -1;
    }
    return 0;
}
