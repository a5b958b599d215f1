/*
 * metrics_access.h -- who may read /metrics. The shipped nginx config
 * serves it to loopback only, but behind a TLS terminator on the same host
 * every request comes from loopback; OPTIMIST_METRICS_TOKEN then makes the
 * route itself ask for `Authorization: Bearer <token>`.
 */
#ifndef OPTIMIST_METRICS_ACCESS_H
#define OPTIMIST_METRICS_ACCESS_H

#include "http.h"

/* 0: go on (no token configured, or the right one sent). -1: answered
 * 401 with WWW-Authenticate. */
int metrics_access_or_reply(http_req *r);

#endif
