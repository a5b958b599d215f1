/*
 * reply.c -- the answers. Database error text goes to the log with the
 * request id; the client gets the contract's code and a plain message.
 */
#include "reply.h"

#include "log.h"
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>

jbuf *reply_body(http_req *r)
{
    jb_reset(&r->out);
    return &r->out;
}

void reply_json(http_req *r, int status)
{
    r->status = status;
}

void reply_etag(http_req *r, uint32_t version)
{
    char tag[24];
    size_t n = jb_fmt_u64(tag + 1, version);
    tag[0] = '"';
    tag[n + 1] = '"';
    tag[n + 2] = '\0';
    http_header(r, "ETag", tag);
}

void reply_created(http_req *r, const char *collection, uint64_t id,
                   uint32_t version)
{
    char loc[96];
    snprintf(loc, sizeof loc, "%s/%llu", collection, (unsigned long long)id);
    http_header(r, "Location", loc);
    reply_etag(r, version);
    reply_json(r, 201);
}

void reply_error(http_req *r, int status, const char *code, const char *message,
                 const char *extra)
{
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"error\":");
    jb_cstr(b, code);
    jb_lit(b, ",\"message\":");
    jb_cstr(b, message);
    jb_lit(b, ",\"request_id\":");
    jb_cstr(b, r->request_id);
    if (extra != NULL && extra[0] != '\0') {
        jb_lit(b, ",");
        jb_lit(b, extra);
    }
    jb_lit(b, "}");
    r->status = status;
}

void reply_errorf(http_req *r, int status, const char *code, const char *fmt,
                  ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error(r, status, code, msg, NULL);
}

void reply_rec(http_req *r, rec_status st, const rec_err *err)
{
    switch (st) {
    case REC_NOT_FOUND:
        reply_error(r, 404, "not_found", "no such resource", NULL);
        return;
    case REC_INVALID:
        LOG(LOG_INFO, "database refused input: %u %s", err->code, err->msg);
        reply_error(r, 400, "bad_request",
                    "the database refused a value of this request", NULL);
        return;
    case REC_UNAVAILABLE:
    case REC_RETRY:
        LOG(LOG_WARN, "database unavailable (%s): %u %s", rec_status_name(st),
            err->code, err->msg);
        http_header(r, "Retry-After", "1");
        reply_error(r, 503, "unavailable",
                    st == REC_RETRY ? "the database is busy; try again"
                                    : "the database cannot be reached",
                    NULL);
        return;
    default:
        LOG(LOG_ERROR, "database error (%s): %u %s %s", rec_status_name(st),
            err->code, err->sqlstate, err->msg);
        reply_error(r, 500, "internal", "internal error; see the log", NULL);
        return;
    }
}

void reply_conflict(http_req *r, int use_412, const char *resource,
                    uint32_t current_version, const jbuf *current)
{
    jbuf *b;
    metrics_conflict(resource);
    reply_etag(r, current_version);
    b = reply_body(r);
    jb_lit(b, "{\"error\":");
    jb_lit(b, use_412 ? "\"precondition_failed\"" : "\"version_conflict\"");
    jb_lit(b, ",\"message\":");
    jb_lit(b, use_412 ? "\"If-Match does not name the current version\""
                      : "\"the version sent is not the current one\"");
    jb_lit(b, ",\"request_id\":");
    jb_cstr(b, r->request_id);
    jb_lit(b, ",\"current_version\":");
    jb_u64(b, current_version);
    jb_lit(b, ",\"current\":");
    jb_raw(b, current->p ? current->p : "null", current->p ? current->len : 4);
    jb_lit(b, "}");
    r->status = use_412 ? 412 : 409;
}

void reply_invalid_state(http_req *r, const char *resource, const char *status,
                         uint32_t current_version, const jbuf *current)
{
    reply_invalid_state_extra(r, resource, status, current_version, current,
                              NULL);
}

void reply_invalid_state_extra(http_req *r, const char *resource,
                               const char *status, uint32_t current_version,
                               const jbuf *current, const char *extra)
{
    metrics_conflict(resource);
    reply_etag(r, current_version);
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"error\":\"invalid_state\",\"message\":");
    char msg[96];
    snprintf(msg, sizeof msg, "not allowed while the status is %s", status);
    jb_cstr(b, msg);
    jb_lit(b, ",\"request_id\":");
    jb_cstr(b, r->request_id);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, status);
    jb_lit(b, ",\"current_version\":");
    jb_u64(b, current_version);
    jb_lit(b, ",\"current\":");
    jb_raw(b, current->p ? current->p : "null", current->p ? current->len : 4);
    if (extra != NULL && extra[0] != '\0') {
        jb_lit(b, ",");
        jb_lit(b, extra);
    }
    jb_lit(b, "}");
    r->status = 409;
}
