/*
 * router.c -- the route table and its matcher. The table is small, so a
 * linear scan over pre-split patterns is as fast as anything cleverer and
 * keeps the table readable in one place.
 */
#include "router.h"

#include "routes.h"

#include "parse.h"

#include <stdio.h>
#include <string.h>

/* A stream route: a token, or a ticket for it (routes_streams.c). */
#define STREAM (ROUTE_AUTH | ROUTE_STREAM)

static const struct route table[] = {
    {"GET", "/healthz", route_healthz, 0, NULL},
    {"GET", "/metrics", route_metrics, 0, NULL},
    {"POST", "/v1/sessions", route_session_create, ROUTE_AUTH, &res_sessions},
    {"GET", "/v1/sessions/{id}", route_session_get, ROUTE_AUTH, &res_sessions},
    {"DELETE", "/v1/sessions/{id}", route_session_delete, ROUTE_AUTH,
     &res_sessions},
    {"POST", "/v1/sessions/{id}/messages", route_session_append, ROUTE_AUTH,
     &res_sessions},
    {"POST", "/v1/approvals", route_approval_create, ROUTE_AUTH,
     &res_approvals},
    {"GET", "/v1/approvals", route_approval_list, ROUTE_AUTH, &res_approvals},
    {"GET", "/v1/approvals/events", route_approval_events,
     ROUTE_AUTH | ROUTE_STREAM, &res_outbox},
    {"GET", "/v1/approvals/{id}", route_approval_get, ROUTE_AUTH,
     &res_approvals},
    {"POST", "/v1/approvals/{id}/approve", route_approval_approve, ROUTE_AUTH,
     &res_approvals},
    {"POST", "/v1/approvals/{id}/reject", route_approval_reject, ROUTE_AUTH,
     &res_approvals},
    {"GET", "/v1/storefront", route_storefront_get, ROUTE_AUTH, &res_draft},
    {"GET", "/v1/storefront/draft", route_storefront_draft_get, ROUTE_AUTH,
     &res_draft},
    {"PUT", "/v1/storefront/draft", route_storefront_draft_put, ROUTE_AUTH,
     &res_draft},
    {"PATCH", "/v1/storefront/draft", route_storefront_draft_patch, ROUTE_AUTH,
     &res_draft},
    {"POST", "/v1/storefront/publish", route_storefront_publish, ROUTE_AUTH,
     &res_draft},
    {"POST", "/v1/storefront/discard", route_storefront_discard, ROUTE_AUTH,
     &res_draft},
    {"GET", "/v1/storefront/draft/versions", route_storefront_versions,
     ROUTE_AUTH, &res_draft},
    {"GET", "/v1/storefront/draft/versions/{id}", route_storefront_version_get,
     ROUTE_AUTH, &res_draft},
    {"POST", "/v1/reports", route_report_create, ROUTE_AUTH, &res_reports},
    {"GET", "/v1/reports/{id}", route_report_get, ROUTE_AUTH, &res_reports},
    {"PATCH", "/v1/reports/{id}", route_report_patch, ROUTE_AUTH, &res_reports},
    {"POST", "/v1/reports/{id}/chat", route_report_chat_append, ROUTE_AUTH,
     &res_chat},
    {"GET", "/v1/reports/{id}/chat", route_report_chat_read, ROUTE_AUTH,
     &res_chat},
    {"POST", "/v1/bids", route_bid_create, ROUTE_AUTH, &res_bids},
    {"GET", "/v1/bids", route_bid_list, ROUTE_AUTH, &res_bids},
    {"GET", "/v1/bids/{id}", route_bid_get, ROUTE_AUTH, &res_bids},
    {"PATCH", "/v1/bids/{id}", route_bid_patch, ROUTE_AUTH, &res_bids},
    {"POST", "/v1/bids/{id}/archive", route_bid_archive, ROUTE_AUTH, &res_bids},
    {"POST", "/v1/bids/{id}/evaluate", route_bid_evaluate, ROUTE_AUTH,
     &res_bids},
    {"GET", "/v1/bids/{id}/evaluations", route_bid_evaluations, ROUTE_AUTH,
     &res_bids},
    /* Event streams (routes_streams.c; held by the hub, hub/). */
    {"GET", "/v1/sessions/{id}/events", route_feed_record, STREAM,
     &res_sessions},
    {"GET", "/v1/storefront/draft/events", route_feed_record, STREAM,
     &res_draft},
    {"GET", "/v1/bids/{id}/events", route_feed_record, STREAM, &res_bids},
    {"GET", "/v1/reports/{id}/events", route_feed_record, STREAM, &res_reports},
    {"GET", "/v1/reports/{id}/chat/events", route_feed_chat, STREAM, &res_chat},
    {"GET", "/v1/approvals/{id}/events", route_feed_record, STREAM,
     &res_approvals},
    {"GET", "/v1/evaluations/{id}", route_evaluation_get, ROUTE_AUTH,
     &res_evaluations},
    {"GET", "/v1/evaluations/{id}/events", route_evaluation_events, STREAM,
     &res_evaluations},
    {"POST", "/v1/stream-tickets", route_stream_ticket_create, ROUTE_AUTH,
     NULL},
    /* Declared tables (routes_tables.c): {name} is a declared name; each
     * route finds its table's descriptor and sets r->res itself. */
    {"POST", "/v1/tables/{name}", route_table_create, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}", route_table_list, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}/events", route_table_feed_changes, STREAM, NULL},
    {"GET", "/v1/tables/{name}/{id}", route_table_get, ROUTE_AUTH, NULL},
    {"PATCH", "/v1/tables/{name}/{id}", route_table_patch, ROUTE_AUTH, NULL},
    {"DELETE", "/v1/tables/{name}/{id}", route_table_delete, ROUTE_AUTH, NULL},
    {"GET", "/v1/tables/{name}/{id}/events", route_table_feed_record, STREAM,
     NULL},
};

#define NROUTES ((int)(sizeof table / sizeof table[0]))

static char names[NROUTES][96];

int router_register_resources(void)
{
    for (int i = 0; i < NROUTES; i++)
        if (table[i].res != NULL && resource_register(table[i].res) < 0)
            return -1;
    /* A write's `also` names must be known. */
    for (int i = 0; i < NROUTES; i++)
        for (const char *const *a = table[i].res ? table[i].res->also : NULL;
             a && *a; a++)
            if (resource_find(*a) == NULL)
                return -1;
    return 0;
}

int router_count(void)
{
    return NROUTES;
}

const struct route *router_get(int index)
{
    return index >= 0 && index < NROUTES ? &table[index] : NULL;
}

const char *router_name(int index)
{
    if (index < 0 || index >= NROUTES)
        return "unmatched";
    if (names[index][0] == '\0')
        snprintf(names[index], sizeof names[index], "%s %s",
                 table[index].method, table[index].pattern);
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
    for (int i = 0; i < NROUTES; i++) {
        uint64_t tmp[HTTP_MAX_IDS];
        int tn = 0;
        if (!match_path(table[i].pattern, path, tmp, &tn))
            continue;
        /* HEAD is GET without the body (RFC 9110 9.3.2): it runs the GET
         * route, and the worker sends the headers only. */
        if (strcmp(table[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 &&
             strcmp(table[i].method, "GET") == 0)) {
            memcpy(ids, tmp, sizeof tmp);
            *nids = tn;
            return i;
        }
        path_found = 1;
        int w = snprintf(allow + alen, allowlen - alen, "%s%s",
                         alen ? ", " : "", table[i].method);
        if (w > 0 && (size_t)w < allowlen - alen)
            alen += (size_t)w;
    }
    return path_found ? ROUTER_NO_METHOD : ROUTER_NO_PATH;
}
