/*
 * router.h -- the route table: method and path pattern to a handler.
 *
 * Patterns are literal segments and "{id}", which matches decimal digits
 * (an id of 1 to 19 digits); anything else in an id's place is no route.
 */
#ifndef OPTIMIST_ROUTER_H
#define OPTIMIST_ROUTER_H

#include "http.h"
#include "resource.h"

typedef void (*route_fn)(http_req *r);

enum {
    ROUTE_AUTH = 1,  /* needs a valid bearer token */
    ROUTE_STREAM = 2 /* an event stream: a ticket may stand in for the
                        token (routes_streams.c) */
};

struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
    unsigned flags;
    /* The resource the route reads or writes (NULL: none): a write
     * through it tells the hub (hublink_notify), generic routes
     * (route_feed_record) serve it from r->res. */
    const struct resource *res;
};

/* One file's rows: `const struct route_set x_routes = ROUTE_SET(rows);`
 * with a static array `rows`, named in router.c's ROUTE_SETS. */
struct route_set {
    const struct route *rows;
    size_t n;
};

#define ROUTE_SET(rows)                                                        \
    {                                                                          \
        (rows), sizeof(rows) / sizeof((rows)[0])                               \
    }

#define ROUTER_NO_PATH   -1 /* no pattern matches the path: 404 */
#define ROUTER_NO_METHOD -2 /* the path exists, the method not: 405 */

/* Matches method and path. Returns the route index (ids[] and *nids get
 * the {id} values), ROUTER_NO_PATH, or ROUTER_NO_METHOD with `allow`
 * receiving the comma-separated methods the path has. */
int router_match(const char *method, const char *path,
                 uint64_t ids[HTTP_MAX_IDS], int *nids, char *allow,
                 size_t allowlen);

const struct route *router_get(int index);
/* Registers every resource a row names (resource_register), once at
 * start, before the processes fork. 0, or -1 (a descriptor refused). */
int router_register_resources(void);
int router_count(void);
/* "GET /v1/sessions/{id}", for metrics labels; "unmatched" for -1. */
const char *router_name(int index);

#endif
