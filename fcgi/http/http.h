/*
 * http.h -- one request as the routes see it, and its response.
 *
 * The worker fills the request from the FastCGI parameters, a route fills
 * the response (status, extra headers, body), and the worker sends it in
 * one place: so every response is logged, counted and could be stored
 * (idempotency) the same way.
 */
#ifndef OPTIMIST_HTTP_H
#define OPTIMIST_HTTP_H

#include "jbuf.h"
#include "rec.h"
#include "conf.h"

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct resource;

#define HTTP_MAX_BODY (1024 * 1024) /* 1 MiB exactly is allowed */
#define HTTP_MAX_IDS  4

typedef struct http_req {
    /* ---- the request (strings owned by libfcgi or by this struct) ---- */
    const char *method;          /* "GET", ... */
    char path[1024];             /* REQUEST_URI before '?'; "" if too long */
    const char *query;           /* QUERY_STRING, never NULL */
    const char *content_type;    /* NULL if absent */
    const char *authorization;   /* NULL if absent */
    const char *if_match;        /* NULL if absent */
    const char *if_none_match;   /* NULL if absent */
    const char *idempotency_key; /* NULL if absent */
    const char *accept;          /* NULL if absent */
    char request_id[64];         /* nginx's $request_id, or generated */
    char *body;                  /* malloc'd, NUL-terminated; NULL if none */
    size_t body_len;

    /* ---- set by the router and the auth step ---- */
    int route;                  /* index in the route table, -1 if none */
    const struct resource *res; /* the resource its row names, or NULL */
    uint64_t ids[HTTP_MAX_IDS]; /* the {id} segments of the path */
    int nids;
    uint64_t tenant_id; /* 0 before authentication */
    char token_key[17]; /* the public key of the token that
                           authenticated (directly or through a
                           stream ticket), "" if none */
    int check_only;     /* a stream route only checks (404,
                           400) and hands nothing over: the
                           ticket route asks "could it open?" */

    /* ---- context ---- */
    rec_db *db; /* the worker's connection */
    const conf *conf;
    struct json_object *json; /* parsed body, freed after the request */

    /* ---- the response ---- */
    int status;         /* 0 until a route answers */
    char headers[1024]; /* extra "Name: value\r\n" lines */
    size_t headers_len;
    const char *content_type_out; /* default application/json */
    jbuf out;                     /* the body */

    /* ---- streamed responses (SSE, sse.c) ---- */
    struct FCGX_Stream *stream; /* the FastCGI output, for a route that
                                   writes as it goes */
    int streamed;               /* 1: the route sent headers and body
                                   itself; the worker sends nothing */
    struct FCGX_Request *fcgi;  /* the request's connection, for a route
                                   that hands it to the hub (hublink.c) */
} http_req;

/* Adds a response header line. Values must not contain CR or LF. */
void http_header(http_req *r, const char *name, const char *value);

/* Writes the whole answer into `out` (appended): the CGI header block
 * (Status, Content-Type, Content-Length, X-Request-Id, the route's
 * headers, a blank line) and the body. Every answer with a body carries
 * Content-Length, so that nginx and the client can tell a whole answer
 * from one cut short by a crash (the contract's "whole answers"); 204 and
 * 304 carry neither a body nor a length. A HEAD answer carries the length
 * of the GET body but not the body. The caller owns `out`. */
void http_render(const http_req *r, jbuf *out);

/* The reason phrase for a status ("Conflict"). */
const char *http_reason(int status);

/* Finds `name` in the query string and copies its (undecoded) value to
 * out. Returns 1 if present, 0 if not, -1 if longer than outlen-1. */
int http_query_param(const http_req *r, const char *name, char *out,
                     size_t outlen);

#endif
