/*
 * router.c -- the route table and its matcher. Each file of routes keeps
 * its own rows (a resource's routes beside its handlers); this file lists
 * the files, one row each. The table is small, so a linear scan is as
 * fast as anything cleverer.
 */
#include "router.h"

#include "parse.h"

#include <stdio.h>
#include <string.h>

/* Every file of routes, in the order their rows are matched: one row here
 * per file; its rows are in the file (ROUTE_SET). Within a path, the
 * order of a file's rows is the order of Allow's methods. */
#define ROUTE_SETS(X)                                                          \
    X(health_routes)                                                           \
    X(session_routes)                                                          \
    X(approval_routes)                                                         \
    X(storefront_routes)                                                       \
    X(report_routes)                                                           \
    X(bid_routes)                                                              \
    X(evaluate_routes)                                                         \
    X(stream_routes)                                                           \
    X(table_routes)

#define DECLARE(set) extern const struct route_set set;
ROUTE_SETS(DECLARE)
#define ADDRESS(set) &set,
static const struct route_set *const sets[] = {ROUTE_SETS(ADDRESS)};

#define MAX_ROUTES 256

static const struct route *table[MAX_ROUTES];
static int nroutes = -1; /* -1: not gathered yet */
static char names[MAX_ROUTES][96];

/* The sets' rows, gathered once into one table. */
static int gather(void)
{
    if (nroutes >= 0)
        return nroutes;
    nroutes = 0;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
        for (size_t i = 0; i < sets[s]->n && nroutes < MAX_ROUTES; i++)
            table[nroutes++] = &sets[s]->rows[i];
    return nroutes;
}

int router_register_resources(void)
{
    int n = gather();
    for (int i = 0; i < n; i++)
        if (table[i]->res != NULL && resource_register(table[i]->res) < 0)
            return -1;
    /* A write's `also` names must be known. */
    for (int i = 0; i < n; i++)
        for (const char *const *a = table[i]->res ? table[i]->res->also : NULL;
             a && *a; a++)
            if (resource_find(*a) == NULL)
                return -1;
    return 0;
}

int router_count(void)
{
    return gather();
}

const struct route *router_get(int index)
{
    return index >= 0 && index < gather() ? table[index] : NULL;
}

const char *router_name(int index)
{
    if (index < 0 || index >= gather())
        return "unmatched";
    if (names[index][0] == '\0')
        snprintf(names[index], sizeof names[index], "%s %s",
                 table[index]->method, table[index]->pattern);
    return names[index];
}

/* Matches one pattern against a path; fills ids. */
static int match_path(const char *pat, const char *path,
                      uint64_t ids[HTTP_MAX_IDS], int *nids)
{
    int n = 0;
    while (*pat && *path) {
        if (strncmp(pat, "{name}", 6) == 0) {
            /* A declared table's name: a letter, then up to 63 of a-z,
             * 0-9, _ (whether it is declared is the route's to say). */
            size_t len = 0;
            if (!(*path >= 'a' && *path <= 'z'))
                return 0;
            while ((path[len] >= 'a' && path[len] <= 'z') ||
                   (path[len] >= '0' && path[len] <= '9') || path[len] == '_')
                len++;
            if (len > 64)
                return 0;
            path += len;
            pat += 6;
            continue;
        }
        if (strncmp(pat, "{id}", 4) == 0) {
            uint64_t v = 0;
            size_t digits = parse_u64(path, UINT64_MAX, &v);
            if (digits > 19)
                return 0; /* beyond any id we hand out */
            path += digits;
            if (digits == 0 || n == HTTP_MAX_IDS)
                return 0;
            ids[n++] = v;
            pat += 4;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    if (*pat != '\0' || *path != '\0')
        return 0;
    *nids = n;
    return 1;
}

int router_match(const char *method, const char *path,
                 uint64_t ids[HTTP_MAX_IDS], int *nids, char *allow,
                 size_t allowlen)
{
    int path_found = 0;
    size_t alen = 0;
    if (allowlen > 0)
        allow[0] = '\0';
    *nids = 0;
    for (int i = 0; i < gather(); i++) {
        uint64_t tmp[HTTP_MAX_IDS];
        int tn = 0;
        if (!match_path(table[i]->pattern, path, tmp, &tn))
            continue;
        /* HEAD is GET without the body (RFC 9110 9.3.2): it runs the GET
         * route, and the worker sends the headers only. */
        if (strcmp(table[i]->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 &&
             strcmp(table[i]->method, "GET") == 0)) {
            memcpy(ids, tmp, sizeof tmp);
            *nids = tn;
            return i;
        }
        path_found = 1;
        int w = snprintf(allow + alen, allowlen - alen, "%s%s",
                         alen ? ", " : "", table[i]->method);
        if (w > 0 && (size_t)w < allowlen - alen)
            alen += (size_t)w;
    }
    return path_found ? ROUTER_NO_METHOD : ROUTER_NO_PATH;
}
