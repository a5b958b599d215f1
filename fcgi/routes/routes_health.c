/*
 * routes_health.c -- /healthz (is the database reachable from this
 * worker) and /metrics (the pool's shared counters).
 */
#include "log.h"
#include "metrics.h"
#include "metrics_access.h"
#include "reply.h"
#include "router.h"
#include "routes.h"
#include "streams.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char SQL_PING[] = "SELECT 1";

/* The node's Galera state, for a cluster's /healthz only. */
static void cluster_json(jbuf *b, const rec_cluster_state *cs)
{
    jb_lit(b, ",\"cluster\":{\"node\":");
    jb_cstr(b, cs->node);
    jb_lit(b, ",\"ready\":");
    jb_cstr(b, cs->ready);
    jb_lit(b, ",\"status\":");
    jb_cstr(b, cs->status);
    jb_lit(b, ",\"state\":");
    jb_cstr(b, cs->state_comment);
    jb_lit(b, ",\"size\":");
    jb_u64(b, cs->cluster_size);
    jb_lit(b, "}");
}

static void route_healthz(http_req *r)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_cluster_state cs;
    memset(&cs, 0, sizeof cs);
    /* A statement, not mysql_ping: it also proves the worker can run its
     * prepared statements, and reconnects after a restart. On a Galera
     * node, also its state: one that left the Primary component, or is
     * not Synced, cannot serve, and the worker moves to the next host of
     * OPTIMIST_DB_HOSTS that can (503 when none can, so that nginx sends
     * the request to another pool). */
    rec_status st = rec_exec(r->db, SQL_PING, NULL, 0, &rows, NULL, NULL, &err);
    rec_rows_free(rows);
    if (st == REC_OK)
        st = rec_cluster_state_get(r->db, &cs, &err);
    jbuf *b = reply_body(r);
    if (st == REC_OK) {
        jb_lit(b, "{\"status\":\"ok\",\"db\":\"ok\"");
        if (cs.wsrep)
            cluster_json(b, &cs);
        jb_lit(b, "}");
        reply_json(r, 200);
        return;
    }
    LOG(LOG_WARN, "healthz: database cannot serve: %s", err.msg);
    jb_lit(b, "{\"status\":\"degraded\",\"db\":\"down\"}");
    http_header(r, "Retry-After", "1");
    reply_json(r, 503);
}

static void route_metrics(http_req *r)
{
    if (metrics_access_or_reply(r) != 0)
        return;
    char *text =
        xnonnull(metrics_render(router_name, router_count()), "metrics");
    jbuf *b = reply_body(r);
    jb_lit(b, text);
    free(text);
    /* The evaluation slots (streams.c): how many runs hold a worker now. */
    jb_lit(b, "# HELP optimist_evaluations_running Bid evaluations running "
              "now, each holding a worker.\n"
              "# TYPE optimist_evaluations_running gauge\n"
              "optimist_evaluations_running ");
    jb_u64(b, (uint64_t)streams_running());
    jb_lit(b, "\n# HELP optimist_evaluations_max Evaluations the pool runs "
              "at once; beyond, evaluate answers 503.\n"
              "# TYPE optimist_evaluations_max gauge\n"
              "optimist_evaluations_max ");
    jb_u64(b,
           (uint64_t)streams_cap(r->conf->workers, r->conf->max_evaluations));
    jb_lit(b, "\n");
    r->content_type_out = "text/plain; version=0.0.4";
    reply_json(r, 200);
}

/* This file's rows of the route table (router.c). */
static const struct route rows[] = {
    {"GET", "/healthz", route_healthz, 0, NULL},
    {"GET", "/metrics", route_metrics, 0, NULL},
};

const struct route_set health_routes = ROUTE_SET(rows);
