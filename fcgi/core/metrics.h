/*
 * metrics.h -- counters shared by the master and every worker, rendered in
 * Prometheus text format by GET /metrics. They live in one anonymous shared
 * mapping made by the master before it forks, so any worker can answer for
 * the whole pool; updates are atomic adds.
 */
#ifndef OPTIMIST_METRICS_H
#define OPTIMIST_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Maps the shared counters. Call once in the master, before any fork.
 * Returns 0, or -1 (errno set). Without it the counters are per process. */
int metrics_init(void);

/* The master counts a worker it had to replace (died, killed). */
void metrics_worker_restart(void);

/* One finished request: route index (router's table, -1 = no route), HTTP
 * status and duration in seconds. */
void metrics_request(int route, int status, double seconds);

/* One 409/412 for a version or state conflict, by resource name. */
void metrics_conflict(const char *resource);

/* Database errors and transaction retries, as deltas. */
void metrics_db(uint64_t errors, uint64_t retries);

/* Renders everything; `route_name(i)` names route index i, `nroutes` of
 * them. Returns a malloc'd NUL-terminated text the caller frees, or NULL. */
char *metrics_render(const char *(*route_name)(int), int nroutes);

#endif
