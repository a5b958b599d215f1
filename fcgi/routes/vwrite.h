/*
 * vwrite.h -- the versioned-write route, shared by every [versioned]
 * route of the contract: precondition (428/400/412 weak), the write and
 * its version check in one statement, the new resource read back in the
 * same transaction, and the 409/412 answer with the current resource.
 * A resource describes itself once (vw_resource: how it is loaded and
 * rendered); a route passes its UPDATE or DELETE (vw_write), its INSERT
 * (vw_create) or its list queries (vw_list), and GET is vw_get.
 *
 * Two strategies write, each its own function after the precondition
 * (vw_expect_or_reply):
 * - vw_write_txn: the statement in a transaction (rec_txn) with the
 *   route's steps before and after it; what vw_run does for most routes;
 * - vw_write_checked: a write computed from the row it changes (a bid's
 *   merge) when the request names a version: no lock, no transaction,
 *   the UPDATE checks the version of the row read (rec_checked_write).
 * A route with both (a bid's PATCH: If-Match: * has no version to check,
 * so its merge reads the row under a lock instead) picks one itself.
 */
#ifndef OPTIMIST_VWRITE_H
#define OPTIMIST_VWRITE_H

#include "http.h"
#include "resource.h"

#include <json.h>

/* A resource is its descriptor (resource.h): vwrite uses its name,
 * load_sql/render/load, version_sql, state_sql, collection, view and
 * per_tenant. */
typedef struct resource vw_resource;

#define VW_WHY_MAX 256

/* A step of the write's transaction besides the versioned statement. It
 * returns REC_OK to go on; REC_INVALID with a message for the client in
 * why[VW_WHY_MAX] answers 400 bad_request; anything else is answered like
 * a failure of the write. It may run more than once (rec_txn retries). */
typedef rec_status (*vw_step_fn)(http_req *r, uint64_t id, rec_expect expect,
                                 void *ctx, char *why, rec_err *err);

typedef struct vw_write {
    const char *sql;         /* see rec_versioned_write() */
    const rec_param *params; /* the SET parameters, before id/tenant/version */
    size_t nparams;
    int is_delete; /* success answers 204 without a body */
    /* A guarded transition (rec_guarded_write): NULL-terminated statuses
     * the write may start from; the SQL carries the same condition. Any
     * other status answers 409 invalid_state. NULL: no status guard. */
    const char *const *from;
    /* Optional: before the statement, in its transaction (it may compute
     * the parameters from rows it locks); after it, once it succeeded (an
     * outbox row, a history row). A failing step rolls the write back. */
    vw_step_fn before, after;
    void *ctx; /* passed to before and after */
    /* Optional: the success body when it is not the resource itself: this
     * other resource, loaded by the same key (the ETag stays the written
     * resource's version). Conflicts still carry the written resource. */
    const struct resource *answer;
} vw_write;

/* The precondition of a write, as vw_expect_or_reply found it. */
typedef struct vw_expect {
    rec_expect expect; /* the version named, or any (If-Match: * alone) */
    int use_412;       /* a stale If-Match answers 412, a body version 409 */
} vw_expect;

/* Runs write `w` of resource `id` in one transaction and answers. */
void vw_write_txn(http_req *r, const vw_resource *res, uint64_t id,
                  const vw_expect *e, const vw_write *w);

/* A checked write's success body, from the row it read, at `version` (the
 * new one: the version read + 1); ctx is the write's check.ctx. */
typedef void (*vw_written_fn)(const rec_rows *read, uint32_t version, void *ctx,
                              jbuf *out);

typedef struct vw_checked {
    /* read_sql, update_sql, columns and from; compute and ctx are the
     * route's (compute's REC_INVALID answers 400 with `why`). */
    rec_checked check;
    vw_written_fn written;
    const char *why; /* the route's message for a 400, VW_WHY_MAX bytes */
} vw_checked;

/* Runs checked write `w` of resource `id`, which must expect a version
 * (not e->expect.any), with no transaction (rec_autocommit): two round
 * trips, one for a refusal, answered from that read (the resource needs
 * `view`). Answers the request. */
void vw_write_checked(http_req *r, const vw_resource *res, uint64_t id,
                      const vw_expect *e, const vw_checked *w);

/* The usual versioned write: vw_expect_or_reply, then vw_write_txn. */
void vw_run(http_req *r, const vw_resource *res, uint64_t id, json_object *body,
            const vw_write *w);

/* Answers GET of resource `id`: 200 with ETag, 304 on If-None-Match. */
void vw_get(http_req *r, const vw_resource *res, uint64_t id);

/* A resource's list, GET /v1/<collection>?status=&after=&limit=: a page
 * by id (paging.h), of one status when ?status= is given. */
typedef struct vw_list_sql {
    /* SELECT <load_sql's columns> FROM t WHERE tenant_id = ? AND id > ?
     * ORDER BY id LIMIT ? */
    const char *all;
    /* The same with "AND status = ?" right after "tenant_id = ?". */
    const char *by_status;
    const char *const *statuses; /* NULL-terminated: what ?status= takes */
    const char *bad_status;      /* the 400's message for anything else */
    /* 1: both statements end with one more "?", OPTIMIST_PAGE_MAX_BYTES,
     * so that the server already stops sending rows past it (bids). */
    int byte_cut;
} vw_list_sql;

/* Answers the list (rows rendered by res->render as they arrive, the page
 * bounded by OPTIMIST_PAGE_MAX_BYTES too: paging_stream). The first column
 * of both statements is the id. */
void vw_list(http_req *r, const vw_resource *res, const vw_list_sql *l);

/* Creates a resource and answers 201 (Location, ETag, the resource as GET
 * returns it): `insert_sql` takes r->tenant_id and then `params`; the new
 * row is loaded in the INSERT's transaction. */
void vw_create(http_req *r, const vw_resource *res, const char *insert_sql,
               const rec_param *params, size_t nparams);

/* vw_create for an INSERT that takes `params` as they are (the tenant
 * among them where the statement wants it: a declared table's), with an
 * optional step after it in its transaction (its id as `id`, version 1
 * as expect.version: a declared table's change log). */
void vw_create_with(http_req *r, const vw_resource *res, const char *insert_sql,
                    const rec_param *params, size_t nparams, vw_step_fn after,
                    void *ctx);

/* The version a versioned write of `id` expects, from the body's "version"
 * or If-Match. Answers 400 (malformed), 404 or 428 (none given) and 412 (a
 * weak tag) itself and returns -1; else 0, with *e. */
int vw_expect_or_reply(http_req *r, const vw_resource *res, uint64_t id,
                       json_object *body, vw_expect *e);

/* Answers a refused write of `id`: 409 version_conflict / 412
 * (REC_CONFLICT) or 409 invalid_state (REC_INVALID_STATE, `status`: what
 * the write found; a resource with `view` uses what its read finds) with
 * the resource as it is now; anything else goes to reply_rec. */
void vw_refused_reply(http_req *r, const vw_resource *res, uint64_t id,
                      rec_status st, const rec_err *err, int use_412,
                      const char *status);

#endif
