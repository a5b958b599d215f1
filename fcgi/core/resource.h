/*
 * resource.h -- a resource described once, as data: what it is called,
 * where its rows live, how it is rendered as GET returns it, and how its
 * live feed is driven. The routes (vwrite.h) write and answer through it;
 * the hub (hub/) follows it; hublink_notify names it. Nothing here knows
 * an http_req: a descriptor is usable by any process that has a database
 * connection.
 *
 * The registry holds two kinds of descriptors:
 *
 * - built-in ones, static structs in the route files, registered once at
 *   start (router_register_resources: every resource a route row names,
 *   router.h) before the master forks, so the workers and the hub see the
 *   same set;
 *
 * - run-time ones (e.g. the application's declared tables), built by
 *   their owner from its files and handed over as a set with
 *   resource_set_runtime. A later call replaces the whole set (a reload):
 *   the registry keeps no pointer into the old set once it returns, so
 *   the owner frees the old descriptors right after it. Each process
 *   (workers, hub) builds and swaps its own set from the same files.
 *
 * Keys. `name` is the stable key between processes: a hub message carries
 * the name (hub_msg.resource), never a pointer or an index, because the
 * hub and a worker may have loaded their run-time sets at different
 * times. Within a process a name also has a small id (1..255) that stays
 * the same across reloads for as long as the process lives (a name that
 * disappears keeps its id; resource_by_id answers NULL for it until it
 * comes back): the hub's watches keep that id, never the pointer, and
 * look the descriptor up again each time they use it.
 *
 * A plain versioned resource (what a declared table is) fills:
 *   name, table, id_col ("id"), tenant_col ("tenant_id"), load_sql +
 *   render (or load), version_sql, collection, feed = RES_FEED_RECORD.
 * Its feed is then driven with no code of its own: the hub polls
 *   SELECT <id_col>, <poll_col> FROM <poll_table> WHERE <id_col> IN (...)
 * (defaults: table, "version") for the rows its streams follow, reloads a
 * row whose version grew with the descriptor's loader and sends it as a
 * `version` event (`deleted` once the row is gone, when deletable); the
 * worker's generic feed route (route_feed_record, serving r->res) checks
 * the row exists and hands the stream over; a successful write through a
 * route row naming the resource tells the hub at once (hublink_notify).
 * A route row names its resource in struct route.res; a route whose
 * resource is chosen at match time (/v1/tables/{name}) sets r->res itself
 * before the handler runs. docs/resources.md has the map.
 * Identifiers pasted into generated SQL (table, columns) must be plain
 * [A-Za-z0-9_] names: resource_register refuses anything else.
 */
#ifndef OPTIMIST_RESOURCE_H
#define OPTIMIST_RESOURCE_H

#include "jbuf.h"
#include "rec.h"

#include <stddef.h>
#include <stdint.h>

struct resource;

#define RESOURCE_NAME_MAX                                                      \
    80 /* with the NUL; the size in hub messages                               \
          ("tables/<64 bytes>/events" fits) */
#define RESOURCE_MAX_IDS 255
#define RESOURCE_POLL_IN                                                       \
    256 /* keys per poll statement (its "?" count):                            \
           40 statements a poll for 10,000 rows */
/* The "(?,...,?)" of RESOURCE_POLL_IN keys, for a poll_sql. */
#define RESOURCE_IN8 "?,?,?,?,?,?,?,?"
#define RESOURCE_IN64                                                          \
    RESOURCE_IN8 "," RESOURCE_IN8 "," RESOURCE_IN8 "," RESOURCE_IN8            \
                 "," RESOURCE_IN8 "," RESOURCE_IN8 "," RESOURCE_IN8            \
                 "," RESOURCE_IN8
#define RESOURCE_IN_LIST                                                       \
    "(" RESOURCE_IN64 "," RESOURCE_IN64 "," RESOURCE_IN64 "," RESOURCE_IN64 ")"

/* How the hub follows a resource. */
enum resource_feed {
    RES_FEED_NONE = 0, /* nobody streams it */
    RES_FEED_RECORD,   /* the row as GET returns it, at each new version
                          (cursor: the version) */
    RES_FEED_CHAT,     /* a report's chat: its messages (cursor: length) */
    RES_FEED_OUTBOX,   /* the tenant's approval events (cursor: seq) */
    RES_FEED_EVAL,     /* an evaluation's events (cursor: event seq) */
    RES_FEED_CHANGES   /* a declared table's changes for a tenant, from
                          the change log (cursor: seq; hub/changes.c) */
};

/* What a write the database refused for its data means (a declared
 * table's refusal, lib/table.h): REC_INVALID naming the column, or
 * REC_CONSTRAINT naming the constraint. */
typedef struct resource_refusal {
    char column[72];
    char constraint[72];
    char why[320];
} resource_refusal;

/* The loader: writes resource `id` of `tenant` as GET returns it to `out`
 * and its version to *version; REC_NOT_FOUND when there is none. For a
 * per_tenant resource `id` is unused. It must not keep `db` busy (rows
 * freed before it returns) and must render nothing on failure. */
typedef rec_status (*resource_load_fn)(rec_db *db, const struct resource *res,
                                       uint64_t tenant, uint64_t id, jbuf *out,
                                       uint32_t *version, rec_err *err);

/* Renders row i of a load_sql result as GET returns it (lists use the
 * same function: the shape of paging_render_fn). */
typedef void (*resource_render_fn)(jbuf *out, const rec_rows *rows, size_t i);

/* Renders row 0 of `rows` (a load_sql result, or a checked write's read,
 * which starts with the same columns) for a refused write: the resource
 * as GET returns it to `out`, its version, its status (REC_STATUS_MAX
 * bytes) and the members an invalid_state answer carries besides the
 * standard ones to `extra` (nothing, or e.g. a bid's "\"lease\":{...}"). */
typedef void (*resource_view_fn)(const rec_rows *rows, jbuf *out,
                                 uint32_t *version, char *status, jbuf *extra);

/* Reads a failed write's error: REC_INVALID or REC_CONSTRAINT with *out
 * filled when the database refused the data, else REC_OK (not the
 * data's fault: answered as any database error). */
typedef rec_status (*resource_refusal_fn)(const struct resource *res,
                                          const rec_err *err,
                                          resource_refusal *out);

struct resource {
    const char *name;       /* the key (above); metrics label, messages */
    const char *table;      /* where its rows live */
    const char *id_col;     /* the key column ("id") */
    const char *tenant_col; /* the tenant column ("tenant_id") */
    int per_tenant; /* one row per tenant, keyed by tenant_col alone: the
                       id arguments are unused, a watch is keyed by the
                       tenant */

    /* ---- as GET returns it ---- */
    /* Row 0 of load_sql (SELECT id, version, ... WHERE id = ? AND
     * tenant_id = ?, per_tenant: WHERE tenant_id = ?; the first two
     * columns are always those) rendered by render; or `load` (wins). */
    const char *load_sql;
    resource_render_fn render;
    resource_load_fn load;

    /* ---- its writes (vwrite.h) ---- */
    const char *version_sql;     /* SELECT version ... WHERE id=? AND
                                    tenant_id=? (per_tenant: tenant_id=?) */
    const char *state_sql;       /* SELECT version, status ... (guarded
                                    writes); NULL without a status */
    const char *collection;      /* a create's Location prefix: "/v1/bids" */
    resource_view_fn view;       /* optional: refusals answered from one read */
    resource_refusal_fn refusal; /* optional: a write the database refused
                                    for its data: 400 with "column" or 409
                                    constraint_violation (vwrite.c) */

    /* ---- its feed (the hub) ---- */
    enum resource_feed feed;
    /* The poll: one statement for up to RESOURCE_POLL_IN keys, answering
     * (key, cursor[, final]) rows. NULL: generated from poll_table
     * (NULL: table), the key column (id_col, or tenant_col when
     * per_tenant) and poll_col (NULL: "version"). */
    const char *poll_sql;
    const char *poll_table;
    const char *poll_col;
    int deletable; /* a followed row may vanish: its feeds end with a
                      `deleted` event */
    /* Other resources (names, NULL-terminated) a write to this one
     * changes too: their watches with the same key (the tenant, when
     * the other is per_tenant) are polled at once as well. */
    const char *const *also;

    void *ctx; /* the owner's, for descriptors built at run time */
};

/* Registers a built-in descriptor (kept by pointer: static storage).
 * Registering the same pointer twice is a no-op. Returns its id (> 0), or
 * -1: a bad identifier, a name already taken, or the table is full. */
int resource_register(const struct resource *res);

/* Replaces the run-time set with `set[0..n)` (kept by pointer until the
 * next call). All or nothing: -1 with a reason in why[whylen] (a name
 * taken by a built-in one, a bad identifier, a duplicate) keeps the
 * previous set. 0 on success: the previous set is no longer referenced. */
int resource_set_runtime(const struct resource *const *set, size_t n, char *why,
                         size_t whylen);

/* By name (NULL if none), by id (NULL if none or gone), a name's id (0 if
 * none), and one past the highest id handed out (ids run from 1). */
const struct resource *resource_find(const char *name);
const struct resource *resource_by_id(int id);
int resource_id(const char *name);
int resource_id_end(void);

/* 1 if resource `id` is built in: its descriptor lives as long as the
 * process, so another thread may use it (a run-time one may be freed by
 * the next reload). */
int resource_builtin(int id);

/* The poll statement of resource `id` (see poll_sql); NULL if none. */
const char *resource_poll_sql(int id);

/* The key a watch of `res` uses for row `id` of `tenant`. */
uint64_t resource_key(const struct resource *res, uint64_t tenant, uint64_t id);

/* The feeds a change of row `key` of `res` (of `tenant`) moves: its own
 * row, and the rows of the resources `res` names in `also` (keyed by
 * the tenant when per_tenant). fn is called for each in that order, and
 * the first nonzero it returns stops the walk and is returned. One rule
 * for the worker that decides whether to tell the hub and the hub that
 * marks its watches. */
int resource_touched(const struct resource *res, uint64_t tenant, uint64_t key,
                     int (*fn)(const struct resource *r, uint64_t tenant,
                               uint64_t key, void *ctx),
                     void *ctx);

/* Loads resource `id` of `tenant` as GET returns it (res->load, or
 * load_sql rendered by render). Appends to `out`. */
rec_status resource_load(rec_db *db, const struct resource *res,
                         uint64_t tenant, uint64_t id, jbuf *out,
                         uint32_t *version, rec_err *err);

#endif
