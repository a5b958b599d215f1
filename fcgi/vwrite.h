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

typedef struct vw_resource {
    const char *name;        /* metrics label and messages: "sessions" */
    const char *version_sql; /* SELECT version FROM t WHERE id=? AND
                                tenant_id=? */
    /* Writes the resource as GET returns it to `out` and its version to
     * *version; REC_NOT_FOUND when there is none for r->tenant_id. */
    rec_status (*load)(http_req *r, uint64_t id, jbuf *out,
                       uint32_t *version, rec_err *err);
    /* For guarded writes (vw_write.from): SELECT version, status FROM t
     * WHERE id=? AND tenant_id=?. NULL for resources without a status. */
    const char *state_sql;
} vw_resource;

typedef struct vw_write {
    const char *sql;         /* see rec_versioned_write() */
    const rec_param *params; /* the SET parameters, before id/tenant/version */
    size_t nparams;
    int is_delete;           /* success answers 204 without a body */
    /* A guarded transition (rec_guarded_write): NULL-terminated statuses
     * the write may start from; the SQL carries the same condition. Any
     * other status answers 409 invalid_state. NULL: no status guard. */
    const char *const *from;
    /* Runs inside the write's transaction after the write and the read
     * back (an outbox row, say); failing rolls the write back. May be
     * NULL. */
    rec_status (*after)(http_req *r, uint64_t id, void *ctx, rec_err *err);
    void *ctx;               /* for `after` */
} vw_write;

/* Runs a versioned write of resource `id` and answers the request. */
void vw_run(http_req *r, const vw_resource *res, uint64_t id,
            json_object *body, const vw_write *w);

/* Answers GET of resource `id`: 200 with ETag, 304 on If-None-Match. */
void vw_get(http_req *r, const vw_resource *res, uint64_t id);

#endif
