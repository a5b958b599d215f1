/*
 * vwrite.h -- the versioned-write route, shared by every [versioned]
 * route of the contract: precondition (428/400/412 weak), the write and
 * its version check in one statement, the new resource read back in the
 * same transaction, and the 409/412 answer with the current resource.
 * A resource describes itself once (vw_resource); a route passes its
 * UPDATE or DELETE (vw_write).
 */
#ifndef OPTIMIST_VWRITE_H
#define OPTIMIST_VWRITE_H

#include "http.h"

#include <json.h>

/* Writes a resource as GET returns it to `out` and its version to
 * *version; REC_NOT_FOUND when there is none for r->tenant_id. */
typedef rec_status (*vw_load_fn)(http_req *r, uint64_t id, jbuf *out,
                                 uint32_t *version, rec_err *err);

typedef struct vw_resource {
    const char *name;        /* metrics label and messages: "sessions" */
    const char *version_sql; /* SELECT version FROM t WHERE id=? AND
                                tenant_id=? (per_tenant: WHERE tenant_id=?) */
    vw_load_fn load;         /* the resource as GET returns it */
    int per_tenant;          /* one row per tenant, keyed by tenant_id alone
                                (rec_versioned_write_by_tenant); the id
                                argument of the functions below is unused */
    /* For guarded writes (vw_write.from): SELECT version, status FROM t
     * WHERE id=? AND tenant_id=?. NULL for resources without a status. */
    const char *state_sql;
} vw_resource;

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
    int is_delete;           /* success answers 204 without a body */
    /* A guarded transition (rec_guarded_write): NULL-terminated statuses
     * the write may start from; the SQL carries the same condition. Any
     * other status answers 409 invalid_state. NULL: no status guard. */
    const char *const *from;
    /* Optional: before the statement, in its transaction (it may compute
     * the parameters from rows it locks); after it, once it succeeded (an
     * outbox row, a history row). A failing step rolls the write back. */
    vw_step_fn before, after;
    void *ctx;               /* passed to before and after */
    /* Optional: the success body when it is not the resource itself (the
     * ETag stays the resource's version). Conflicts still carry the
     * resource. */
    vw_load_fn answer;
} vw_write;

/* Runs a versioned write of resource `id` and answers the request. */
void vw_run(http_req *r, const vw_resource *res, uint64_t id,
            json_object *body, const vw_write *w);

/* Answers GET of resource `id`: 200 with ETag, 304 on If-None-Match. */
void vw_get(http_req *r, const vw_resource *res, uint64_t id);

#endif
