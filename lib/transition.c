/*
 * transition.c -- guarded status transitions: a versioned write that may
 * only start from some statuses (an approval is decided once; a bid is
 * claimed only while open).
 *
 * As in versioned.c, the check and the write are one statement and the
 * affected rows decide; the row is read only when nothing was affected, to
 * say why. Under READ COMMITTED, InnoDB's UPDATE waits for a row another
 * transaction has locked and then re-evaluates the WHERE clause on the
 * committed row, so of any number of concurrent transitions from the same
 * state exactly one matches; the others see the new status here.
 *
 * Why invalid_state wins over a conflict: a row whose status forbids the
 * change refuses it whatever the version, so telling the client "send
 * another version" would send it round for nothing.
 */
#include "rec.h"

#include <stdio.h>
#include <string.h>

#define MAX_GPARAMS 29 /* rec_exec takes 32; we add three */

static int allowed(const char *const *from, const char *status)
{
    for (; from != NULL && *from != NULL; from++)
        if (strcmp(*from, status) == 0)
            return 1;
    return 0;
}

rec_status rec_guarded_write(rec_db *db, const rec_guard *g, uint64_t id,
                             uint64_t tenant_id, rec_expect expect,
                             rec_guard_out *out, rec_err *err)
{
    rec_param p[MAX_GPARAMS + 3];
    rec_status st;

    memset(out, 0, sizeof *out);
    if (g->nparams > MAX_GPARAMS) {
        snprintf(err->msg, sizeof err->msg, "too many parameters");
        return REC_ERROR;
    }
    if (g->nparams > 0)
        memcpy(p, g->params, g->nparams * sizeof *p);
    p[g->nparams] = REC_U(id);
    p[g->nparams + 1] = REC_U(tenant_id);
    /* NULL makes "version = COALESCE(?, version)" match any version. */
    p[g->nparams + 2] = expect.any ? REC_NULLP : REC_U(expect.version);

    /* Two rounds at most: see the end of the loop. */
    for (int round = 0; round < 2; round++) {
        uint64_t affected = 0;
        st = rec_exec(db, g->update_sql, p, g->nparams + 3, NULL, &affected,
                      NULL, err);
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            out->version = expect.any ? 0 : expect.version + 1;
            return REC_OK;
        }
        rec_param key[2] = {REC_U(id), REC_U(tenant_id)};
        rec_rows *rows = NULL;
        st = rec_exec(db, g->state_sql, key, 2, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        if (rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            return REC_NOT_FOUND;
        }
        uint64_t v = rec_rows_u64(rows, 0, 0);
        const char *status = rec_rows_get(rows, 0, 1);
        snprintf(out->status, sizeof out->status, "%s", status ? status : "");
        out->version = (uint32_t)v;
        int ok_status = allowed(g->from, out->status);
        rec_rows_free(rows);
        if (!ok_status)
            return REC_INVALID_STATE;
        if (!expect.any && v != expect.version)
            return REC_CONFLICT;
        /* Status and version both match now although the UPDATE matched
         * nothing: another writer moved the row there in between (the
         * client sent a version ahead of the row). Try once more rather
         * than answer "conflict, current = your version". */
    }
    return REC_CONFLICT;
}
