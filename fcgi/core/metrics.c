/*
 * metrics.c -- the pool's counters in one shared anonymous mapping, so any
 * worker can render the whole pool's numbers. Updates are relaxed atomic
 * adds: counters only grow, and a scrape needs no exact snapshot.
 */
#include "metrics.h"

#include "jbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define M_ROUTES 64 /* route indexes 0..62; the last one is "unmatched" */

static const int statuses[] = {200, 201, 204, 304, 400, 401, 404, 405,
                               409, 412, 413, 415, 422, 428, 500, 503};
#define M_STATUSES ((int)(sizeof statuses / sizeof statuses[0]) + 1)

/* Latency buckets, seconds (Prometheus "le"). */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   10};
#define M_BUCKETS ((int)(sizeof buckets / sizeof buckets[0]))

static const char *const resources[] = {"sessions", "storefront", "approvals",
                                        "bids",     "reports",    "other"};
#define M_RESOURCES ((int)(sizeof resources / sizeof resources[0]))

struct shared {
    uint64_t requests[M_ROUTES][M_STATUSES];
    uint64_t latency[M_ROUTES][M_BUCKETS]; /* per bucket, not cumulative */
    uint64_t latency_count[M_ROUTES];
    uint64_t latency_sum_us[M_ROUTES];
    uint64_t conflicts[M_RESOURCES];
    uint64_t db_errors, db_retries, worker_restarts;
};

static struct shared local; /* until metrics_init maps the shared one */
static struct shared *m = &local;

#define ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

int metrics_init(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    memset(p, 0, sizeof(struct shared));
    m = p;
    return 0;
}

void metrics_worker_restart(void)
{
    ADD(m->worker_restarts, 1);
}

static int status_index(int status)
{
    for (int i = 0; i < M_STATUSES - 1; i++)
        if (statuses[i] == status)
            return i;
    return M_STATUSES - 1;
}

void metrics_request(int route, int status, double seconds)
{
    int ri = route < 0 || route >= M_ROUTES - 1 ? M_ROUTES - 1 : route;
    ADD(m->requests[ri][status_index(status)], 1);
    int b = 0;
    while (b < M_BUCKETS && seconds > buckets[b])
        b++;
    if (b < M_BUCKETS)
        ADD(m->latency[ri][b], 1);
    ADD(m->latency_count[ri], 1);
    ADD(m->latency_sum_us[ri], (uint64_t)(seconds * 1e6));
}

void metrics_conflict(const char *resource)
{
    int i = 0;
    while (i < M_RESOURCES - 1 && strcmp(resources[i], resource) != 0)
        i++;
    ADD(m->conflicts[i], 1);
}

void metrics_db(uint64_t errors, uint64_t retries)
{
    if (errors)
        ADD(m->db_errors, errors);
    if (retries)
        ADD(m->db_retries, retries);
}

static void line_u64(jbuf *b, const char *name, const char *labels, uint64_t v)
{
    jb_lit(b, name);
    jb_lit(b, labels);
    jb_lit(b, " ");
    jb_u64(b, v);
    jb_lit(b, "\n");
}

/* The route label of counter row r: the last row counts requests no
 * route matched; rows past the table's routes are unused (NULL). */
static const char *route_label(int r, const char *(*route_name)(int),
                               int nroutes)
{
    if (r == M_ROUTES - 1)
        return "unmatched";
    return r < nroutes ? route_name(r) : NULL;
}

char *metrics_render(const char *(*route_name)(int), int nroutes)
{
    jbuf b;
    char labels[256];
    jb_init(&b);

    jb_lit(&b, "# HELP optimist_http_requests_total Requests answered, by "
               "route and status.\n"
               "# TYPE optimist_http_requests_total counter\n");
    for (int r = 0; r < M_ROUTES; r++) {
        const char *name = route_label(r, route_name, nroutes);
        if (name == NULL)
            continue;
        for (int s = 0; s < M_STATUSES; s++) {
            uint64_t v = GET(m->requests[r][s]);
            if (v == 0)
                continue;
            if (s == M_STATUSES - 1)
                snprintf(labels, sizeof labels,
                         "{route=\"%s\",status=\"other\"}", name);
            else
                snprintf(labels, sizeof labels, "{route=\"%s\",status=\"%d\"}",
                         name, statuses[s]);
            line_u64(&b, "optimist_http_requests_total", labels, v);
        }
    }

    jb_lit(&b, "# HELP optimist_http_request_duration_seconds Time from "
               "request to response, by route.\n"
               "# TYPE optimist_http_request_duration_seconds histogram\n");
    for (int r = 0; r < M_ROUTES; r++) {
        const char *name = route_label(r, route_name, nroutes);
        uint64_t count = GET(m->latency_count[r]);
        if (name == NULL || count == 0)
            continue;
        uint64_t cum = 0;
        for (int k = 0; k < M_BUCKETS; k++) {
            cum += GET(m->latency[r][k]);
            snprintf(labels, sizeof labels, "{route=\"%s\",le=\"%g\"}", name,
                     buckets[k]);
            line_u64(&b, "optimist_http_request_duration_seconds_bucket",
                     labels, cum);
        }
        snprintf(labels, sizeof labels, "{route=\"%s\",le=\"+Inf\"}", name);
        line_u64(&b, "optimist_http_request_duration_seconds_bucket", labels,
                 count);
        snprintf(labels, sizeof labels, "{route=\"%s\"}", name);
        char sum[64];
        snprintf(sum, sizeof sum, " %.6f\n",
                 (double)GET(m->latency_sum_us[r]) / 1e6);
        jb_lit(&b, "optimist_http_request_duration_seconds_sum");
        jb_lit(&b, labels);
        jb_lit(&b, sum);
        line_u64(&b, "optimist_http_request_duration_seconds_count", labels,
                 count);
    }

    jb_lit(&b, "# HELP optimist_conflicts_total Writes refused because the "
               "version or state was not current (409/412), by resource.\n"
               "# TYPE optimist_conflicts_total counter\n");
    for (int i = 0; i < M_RESOURCES; i++) {
        snprintf(labels, sizeof labels, "{resource=\"%s\"}", resources[i]);
        line_u64(&b, "optimist_conflicts_total", labels, GET(m->conflicts[i]));
    }
    jb_lit(&b, "# HELP optimist_db_errors_total Failed database calls.\n"
               "# TYPE optimist_db_errors_total counter\n");
    line_u64(&b, "optimist_db_errors_total", "", GET(m->db_errors));
    jb_lit(&b, "# HELP optimist_db_retries_total Transactions run again after "
               "a deadlock or lock wait time-out.\n"
               "# TYPE optimist_db_retries_total counter\n");
    line_u64(&b, "optimist_db_retries_total", "", GET(m->db_retries));
    jb_lit(&b, "# HELP optimist_worker_restarts_total Workers the master "
               "replaced after they died.\n"
               "# TYPE optimist_worker_restarts_total counter\n");
    line_u64(&b, "optimist_worker_restarts_total", "", GET(m->worker_restarts));
    return b.p; /* the caller frees */
}
