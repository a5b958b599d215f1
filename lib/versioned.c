/*
 * versioned.c -- the one versioned write every route uses.
 *
 * The version check and the write are one statement: the UPDATE carries
 * "AND version = ?" and the affected-row count decides. Only when nothing
 * was affected is the row read, to tell a conflict (and its current
 * version) from a missing row. Never read-check-write.
 *
 * A row is named by its key: (id, tenant_id) for the rows of a resource
 * with ids, (tenant_id) alone for a resource a tenant has exactly one of
 * (the storefront). Both go through the same loop below.
 */
#include "rec.h"

#include <stdio.h>
#include <string.h>

#define MAX_VPARAMS 29 /* rec_exec takes 32; we add three at most */
#define MAX_KEY 2

/* The write of a row named by key[0..nkey): the key and the expected
 * version are appended to params, and version_sql takes the key alone. */
static rec_status versioned_write(rec_db *db, const char *update_sql,
                                  const rec_param *params, size_t nparams,
                                  const char *version_sql,
                                  const rec_param *key, size_t nkey,
                                  rec_expect expect, uint32_t *current,
                                  rec_err *err)
{
    rec_param p[MAX_VPARAMS + MAX_KEY + 1];
    rec_status st;

    *current = 0;
    if (nparams > MAX_VPARAMS || nkey > MAX_KEY) {
        snprintf(err->msg, sizeof err->msg, "too many parameters");
        return REC_ERROR;
    }
    if (nparams > 0)
        memcpy(p, params, nparams * sizeof *p);
    memcpy(p + nparams, key, nkey * sizeof *p);
    /* NULL makes "version = COALESCE(?, version)" match any version. */
    p[nparams + nkey] = expect.any ? REC_NULLP : REC_U(expect.version);

    /* Two rounds at most: see the comment at the end of the loop. */
    for (int round = 0; round < 2; round++) {
        uint64_t affected = 0;
        st = rec_exec(db, update_sql, p, nparams + nkey + 1, NULL, &affected,
                      NULL, err);
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            *current = expect.any ? 0 : expect.version + 1;
            return REC_OK;
        }
        rec_rows *rows = NULL;
        st = rec_exec(db, version_sql, key, nkey, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        if (rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            return REC_NOT_FOUND;
        }
        uint64_t v = rec_rows_u64(rows, 0, 0);
        rec_rows_free(rows);
        if (expect.any || v != expect.version) {
            *current = (uint32_t)v;
            return expect.any ? REC_NOT_FOUND : REC_CONFLICT;
        }
        /* The row now has the expected version although the UPDATE did
         * not match it: a writer moved it there in between (the client
         * sent a version ahead of the row). Try the write once more
         * rather than answer "conflict, current = your version". */
    }
    *current = expect.version;
    return REC_CONFLICT;
}

rec_status rec_versioned_write(rec_db *db, const char *update_sql,
                               const rec_param *params, size_t nparams,
                               const char *version_sql, uint64_t id,
                               uint64_t tenant_id, rec_expect expect,
                               uint32_t *current, rec_err *err)
{
    rec_param key[2] = {REC_U(id), REC_U(tenant_id)};
    return versioned_write(db, update_sql, params, nparams, version_sql, key,
                           2, expect, current, err);
}

rec_status rec_versioned_write_by_tenant(rec_db *db, const char *update_sql,
                                         const rec_param *params,
                                         size_t nparams,
                                         const char *version_sql,
                                         uint64_t tenant_id,
                                         rec_expect expect,
                                         uint32_t *current, rec_err *err)
{
    rec_param key[1] = {REC_U(tenant_id)};
    return versioned_write(db, update_sql, params, nparams, version_sql, key,
                           1, expect, current, err);
}
