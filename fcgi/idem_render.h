/*
 * idem_render.h -- stored idempotent answers that do not grow with their
 * resource (issue 11, defect 4; sql/0006_idempotency_render.sql).
 *
 * The rule: an answer is stored whole (status, headers, body) unless it
 * is a 2xx whose body is over IDEM_BODY_INLINE bytes. Such a body is the
 * resource as its GET renders it at the version the write made; it is
 * stored as the GET's path instead, once a GET run inside the write's own
 * transaction has rendered exactly the same bytes (else the body is stored
 * whole, so nothing relies on an untested assumption). A replay runs that
 * GET again: while the resource is still at the stored ETag the bytes are
 * the first answer's; after later writes they are the current
 * representation, sent with its own ETag.
 */
#ifndef OPTIMIST_IDEM_RENDER_H
#define OPTIMIST_IDEM_RENDER_H

#include "http.h"

#define IDEM_BODY_INLINE 16384 /* bodies up to this are stored whole */

/* After the route, before the answer is stored: if r's answer may be kept
 * without its body, copies the path of the GET that renders it into
 * path[0..pathlen) and returns 1; else returns 0 (store the body). Runs a
 * GET route on r->db (inside the held transaction, which sees the write). */
int idem_render_path(http_req *r, char *path, size_t pathlen);

/* On replay of an answer kept without its body: renders `path` (GET) into
 * r's body and sets r's status and headers: the stored status and headers
 * when the resource still carries the stored ETag; the stored status and
 * headers with the current ETag otherwise; the GET's own answer (404, 503)
 * if the resource cannot be rendered any more. `headers` is the stored
 * header block. */
void idem_render_replay(http_req *r, int status, const char *headers,
                        size_t headers_len, const char *path,
                        size_t path_len);

#endif
