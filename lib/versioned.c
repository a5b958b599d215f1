/*
 * versioned.c -- the versioned writes every route uses, and the one
 * compare-and-set loop behind them.
 *
 * The version check and the write are one statement: the UPDATE carries
 * "AND version = ?" (and, for a guarded transition, the statuses it may
 * start from) and the affected-row count decides. The row is read only to
 * say why nothing was affected (a conflict and its current version, a
 * status that forbids the change, a missing row), or, for a checked write,
 * to compute the new values from: the UPDATE then checks the version that
 * read saw, so nothing read is ever written back unchecked.
 *
 * A row is named by its key: (id, tenant_id) for the rows of a resource
 * with ids, (tenant_id) alone for a resource a tenant has exactly one of
 * (the storefront).
 *
 * Guarded transitions (an approval is decided once; a bid is claimed only
 * while open): under READ COMMITTED, InnoDB's UPDATE waits for a row
 * another transaction has locked and then re-evaluates the WHERE clause
 * on the committed row, so of any number of concurrent transitions from
 * the same state exactly one matches; the others see the new status here.
 * invalid_state wins over a conflict: a row whose status forbids the
 * change refuses it whatever the version, so telling the client "send
 * another version" would send it round for nothing.
 */
#include "rec.h"

#include <stdio.h>
#include <string.h>

#define MAX_SET 61 /* rec_exec takes 64; the loop adds three at most */
#define MAX_KEY 2

/* One compare-and-set: the write, and the read that says why it did not
 * match. */
struct cas {
    const char *update_sql;
    rec_param p[MAX_SET + MAX_KEY + 1]; /* SET params, key, version */
    size_t nset;
    size_t nkey;
    const char *read_sql;    /* takes the key alone */
    size_t vcol, scol;       /* version and status columns of read_sql */
    const char *const *from; /* statuses the write may start from; NULL:
                                the row has none */
    rec_expect expect;
    const rec_checked *chk; /* a checked write: read first, compute */
    /* OUT */
    uint32_t version;            /* the row's, as read */
    char status[REC_STATUS_MAX]; /* the row's, as read */
    rec_rows *rows;              /* chk: the last read */
};

static int allowed(const char *const *from, const char *status)
{
    for (; from != NULL && *from != NULL; from++)
        if (strcmp(*from, status) == 0)
            return 1;
    return 0;
}

static rec_status cas_init(struct cas *c, const rec_param *params,
                           size_t nparams, const rec_param *key, size_t nkey,
                           rec_err *err)
{
    if (nparams > MAX_SET || nkey > MAX_KEY) {
        snprintf(err->msg, sizeof err->msg, "too many parameters");
        return REC_ERROR;
    }
    if (params != NULL && nparams > 0) /* NULL: computed (checked write) */
        memcpy(c->p, params, nparams * sizeof *c->p);
    memcpy(c->p + nparams, key, nkey * sizeof *c->p);
    c->nset = nparams;
    c->nkey = nkey;
    /* NULL makes "version = COALESCE(?, version)" match any version. */
    c->p[nparams + nkey] = c->expect.any ? REC_NULLP : REC_U(c->expect.version);
    return REC_OK;
}

/* Reads the row and decides: REC_OK when it still allows the write (the
 * caller writes again), else why not. */
static rec_status cas_read(rec_db *db, struct cas *c, rec_err *err)
{
    rec_rows *rows = NULL;
    rec_status st =
        rec_exec_row(db, c->read_sql, c->p + c->nset, c->nkey, &rows, err);
    if (st != REC_OK)
        return st;
    c->version = (uint32_t)rec_rows_u64(rows, 0, c->vcol);
    if (c->from != NULL) {
        const char *s = rec_rows_get(rows, 0, c->scol);
        snprintf(c->status, sizeof c->status, "%s", s ? s : "");
    }
    if (c->chk != NULL) {
        rec_rows_free(c->rows);
        c->rows = rows;
    } else {
        rec_rows_free(rows);
    }
    if (c->from != NULL && !allowed(c->from, c->status))
        return REC_INVALID_STATE;
    if (c->expect.any)
        /* A row without a status that a write of any version did not
         * match is not there for this write. */
        return c->from != NULL ? REC_OK : REC_NOT_FOUND;
    return c->version == c->expect.version ? REC_OK : REC_CONFLICT;
}

/* At most two writes. A write that matches nothing although the read
 * after it finds the row as expected lost a race to a writer that moved
 * the row there in between (the client sent a version ahead of the row):
 * it is tried once more rather than answered "conflict, current = your
 * version". */
static rec_status cas_run(rec_db *db, struct cas *c, rec_err *err)
{
    rec_status st;
    if (c->chk != NULL && (st = cas_read(db, c, err)) != REC_OK)
        return st;
    for (int writes = 0; writes < 2; writes++) {
        if (c->chk != NULL) {
            size_t n = 0;
            st = c->chk->compute(c->rows, c->chk->ctx, c->p, &n, err);
            if (st != REC_OK)
                return st;
            if (n != c->nset) {
                snprintf(err->msg, sizeof err->msg,
                         "compute made %zu parameters, not %zu", n, c->nset);
                return REC_ERROR;
            }
        }
        uint64_t affected = 0;
        st = rec_exec(db, c->update_sql, c->p, c->nset + c->nkey + 1, NULL,
                      &affected, NULL, err);
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            c->version = c->expect.any ? 0 : c->expect.version + 1;
            return REC_OK;
        }
        if ((st = cas_read(db, c, err)) != REC_OK)
            return st;
    }
    return REC_CONFLICT;
}

static rec_status versioned_write(rec_db *db, const char *update_sql,
                                  const rec_param *params, size_t nparams,
                                  const char *version_sql, const rec_param *key,
                                  size_t nkey, rec_expect expect,
                                  uint32_t *current, rec_err *err)
{
    struct cas c = {
        .update_sql = update_sql, .read_sql = version_sql, .expect = expect};
    rec_status st = cas_init(&c, params, nparams, key, nkey, err);
    if (st == REC_OK)
        st = cas_run(db, &c, err);
    *current = c.version;
    return st;
}

rec_status rec_versioned_write(rec_db *db, const char *update_sql,
                               const rec_param *params, size_t nparams,
                               const char *version_sql, uint64_t id,
                               uint64_t tenant_id, rec_expect expect,
                               uint32_t *current, rec_err *err)
{
    rec_param key[2] = {REC_U(id), REC_U(tenant_id)};
    return versioned_write(db, update_sql, params, nparams, version_sql, key, 2,
                           expect, current, err);
}

rec_status rec_versioned_write_by_tenant(rec_db *db, const char *update_sql,
                                         const rec_param *params,
                                         size_t nparams,
                                         const char *version_sql,
                                         uint64_t tenant_id, rec_expect expect,
                                         uint32_t *current, rec_err *err)
{
    rec_param key[1] = {REC_U(tenant_id)};
    return versioned_write(db, update_sql, params, nparams, version_sql, key, 1,
                           expect, current, err);
}

rec_status rec_guarded_write(rec_db *db, const rec_guard *g, uint64_t id,
                             uint64_t tenant_id, rec_expect expect,
                             rec_guard_out *out, rec_err *err)
{
    rec_param key[2] = {REC_U(id), REC_U(tenant_id)};
    struct cas c = {.update_sql = g->update_sql,
                    .read_sql = g->state_sql,
                    .vcol = 0,
                    .scol = 1,
                    .from = g->from,
                    .expect = expect};
    static const char *const none[] = {NULL};
    if (c.from == NULL)
        c.from = none; /* a guard without statuses refuses every one */
    memset(out, 0, sizeof *out);
    rec_status st = cas_init(&c, g->params, g->nparams, key, 2, err);
    if (st == REC_OK)
        st = cas_run(db, &c, err);
    out->version = c.version;
    if (st == REC_CONFLICT || st == REC_INVALID_STATE)
        memcpy(out->status, c.status, sizeof out->status);
    return st;
}

rec_status rec_checked_write(rec_db *db, const rec_checked *w, uint64_t id,
                             uint64_t tenant_id, uint32_t expect,
                             rec_rows **read, rec_err *err)
{
    rec_param key[2] = {REC_U(id), REC_U(tenant_id)};
    struct cas c = {.update_sql = w->update_sql,
                    .read_sql = w->read_sql,
                    .vcol = w->version_col,
                    .scol = w->status_col,
                    .from = w->from,
                    .expect = {.version = expect},
                    .chk = w};
    *read = NULL;
    rec_status st = cas_init(&c, NULL, w->nparams, key, 2, err);
    if (st == REC_OK)
        st = cas_run(db, &c, err);
    *read = c.rows;
    return st;
}
