/*
 * idem_render.h -- stored idempotent answers that do not grow with their
 * resource (sql/0006_idempotency_render.sql).
 *
 * The rule: an answer is stored whole (status, headers, body) unless its
 * body is over IDEM_BODY_INLINE bytes and holds the resource as its GET
 * renders it at the answer's ETag: the whole body of a 2xx, or the
 * "current" member of a refusal (409, 412, ...). Then the stored body is
 * the answer with those bytes replaced by `null`, plus the GET's path and
 * where the bytes were, once a GET run inside the write's own transaction
 * has rendered exactly those bytes (else the body is stored whole: nothing
 * relies on an untested assumption). A replay runs that GET again and
 * puts its bytes back: while the resource is still at the stored ETag,
 * that is the first answer byte for byte; after later writes a 2xx is the
 * current representation with its own ETag, and a refusal keeps its
 * members with "current" and "current_version" of now.
 */
#ifndef OPTIMIST_IDEM_RENDER_H
#define OPTIMIST_IDEM_RENDER_H

#include "http.h"

#define IDEM_BODY_INLINE 16384 /* bodies up to this are stored whole */

/* After the route, before the answer is stored: if r's answer may be kept
 * without its resource, copies the path of the GET that renders it into
 * path[0..pathlen), sets *at and *len to where the GET's bytes are in
 * r->out, and returns 1; else returns 0 (store the body). Runs a GET route
 * on r->db (inside the held transaction, which sees the write). */
int idem_render_split(http_req *r, char *path, size_t pathlen, size_t *at,
                      size_t *len);

/* On replay of an answer kept that way: `body` is the stored body with
 * `null` at `at`. Renders `path` (GET) and sets r's status, headers and
 * body as said above; the GET's own answer (404, 503) if the resource
 * cannot be rendered any more. `headers` is the stored header block. */
void idem_render_replay(http_req *r, int status, const char *headers,
                        size_t headers_len, const char *body, size_t body_len,
                        size_t at, const char *path, size_t path_len);

#endif
