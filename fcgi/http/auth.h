/*
 * auth.h -- the bearer token of a request to its tenant.
 */
#ifndef OPTIMIST_AUTH_H
#define OPTIMIST_AUTH_H

#include "http.h"

/* Sets r->tenant_id from "Authorization: Bearer <token>", or answers 401
 * (missing, malformed, unknown or revoked token) or 503 (database down)
 * and returns -1. */
int auth_tenant_or_reply(http_req *r);

/* Empties the token cache (a worker starts with none). */
void auth_init(void);

#endif
