/*
 * tblops.c -- the operations on a declared table's rows (get, insert,
 * update, delete, list) and the change log.
 *
 * A versioned write is one statement whose WHERE clause carries the
 * version; the affected rows decide (READ COMMITTED: an UPDATE waiting
 * for a row another transaction holds re-reads the committed row before
 * matching, so of two writers holding the same version exactly one
 * matches). The row is read after the write, in the same transaction,
 * for the answer; when nothing matched it is read to say why, and is the
 * 409's "current".
 *
 * What the server refuses for the data comes back as the contract's
 * refusals: a unique key, a foreign key or a CHECK (1062, 1451, 1452,
 * 4025; MySQL's 3819) as REC_CONSTRAINT with the constraint's name; a
 * value the converters let through but the column still refused (a
 * character set they do not know, a NOT NULL column that is not served)
 * as REC_INVALID with the column's name. Never a 500 for the data.
 */
#include "db_internal.h"
#include "xalloc.h"
#include "tbl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the text between `open` and the next `close` after it in msg. */
static int between(const char *msg, const char *open, char close, char *out,
                   size_t cap)
{
    const char *a = strstr(msg, open);
    if (a == NULL)
        return 0;
    a += strlen(open);
    const char *b = strchr(a, close);
    if (b == NULL)
        return 0;
    snprintf(out, cap, "%.*s", (int)(b - a), a);
    return 1;
}

/* A failed write's error as the contract's refusal, or st unchanged. */
rec_status tbl_refusal(rec_status st, tbl_err *err)
{
    const char *m = err->db.msg;
    char name[DECL_NAME_MAX + 1] = "";
    switch (err->db.code) {
    case 1062: /* Duplicate entry '1' for key 'uk_sku' */
        if (between(m, "for key '", '\'', name, sizeof name)) {
            const char *dot = strrchr(name, '.'); /* MySQL: 't.uk_sku' */
            if (dot != NULL)
                memmove(name, dot + 1, strlen(dot));
        }
        break;
    case 1451: /* ... CONSTRAINT `fk` FOREIGN KEY ... */
    case 1452:
    case 4025: /* CONSTRAINT `chk` failed for `db`.`t` */
        (void)between(m, "CONSTRAINT `", '`', name, sizeof name);
        break;
    case 3819: /* MySQL: Check constraint 'chk' is violated. */
        (void)between(m, "onstraint '", '\'', name, sizeof name);
        break;
    case 1048: /* Column 'c' cannot be null */
    case 1364: /* Field 'c' doesn't have a default value */
    case 1366: /* Incorrect string value: ... for column `db`.`t`.`c` */
    case 1406: /* Data too long for column 'c' at row 1 */
    case 1264: /* Out of range value for column 'c' at row 1 */
    case 1265: /* Data truncated for column 'c' at row 1 */
    case 1292: /* Incorrect datetime value: ... for column `c` */
        if (!between(m, "olumn '", '\'', name, sizeof name) &&
            !between(m, "Field '", '\'', name, sizeof name)) {
            const char *c = strstr(m, "for column ");
            const char *last = c ? strrchr(c, '.') : NULL;
            (void)between(last ? last
                          : c  ? c
                               : "",
                          "`", '`', name, sizeof name);
        }
        snprintf(err->column, sizeof err->column, "%s", name);
        snprintf(err->why, sizeof err->why,
                 "%s%sthe database refused the value", name,
                 name[0] ? ": " : "");
        return REC_INVALID;
    default:
        return st;
    }
    snprintf(err->constraint, sizeof err->constraint, "%s", name);
    snprintf(err->why, sizeof err->why, "the constraint %s%s%srefused the data",
             name[0] ? "`" : "", name, name[0] ? "` " : "");
    return REC_CONSTRAINT;
}

/* Runs fn in its own transaction, or in the caller's when there is one. */
static rec_status in_txn(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    if (db->in_txn || db->held)
        return fn(db, ctx, err);
    return rec_txn(db, fn, ctx, err);
}

/* ---- one row ------------------------------------------------------------ */

struct op {
    tbl_table *t;
    uint64_t tenant, key;
    rec_expect expect;
    rec_expect want; /* tbl_delete: the caller's expect */
    tbl_plan *plan;
    jbuf *out;
    size_t out_start; /* out's length before the op (a retry starts over) */
    uint32_t version;
    tbl_err *err;
};

static void out_restart(struct op *o)
{
    o->out->len = o->out_start;
    if (o->out->p != NULL)
        o->out->p[o->out_start] = '\0';
}

/* Reads the row into o->out and o->version. REC_NOT_FOUND if none. */
static rec_status read_row(rec_db *db, struct op *o)
{
    rec_rows *r = NULL;
    rec_param p[2] = {REC_U(o->key), REC_U(o->tenant)};
    rec_status st =
        rec_exec(db, o->t->sql_get, p, 2, &r, NULL, NULL, &o->err->db);
    if (st != REC_OK)
        return st;
    if (rec_rows_count(r) == 0) {
        rec_rows_free(r);
        return REC_NOT_FOUND;
    }
    out_restart(o);
    tbl_render(o->t, r, 0, o->out);
    o->version = (uint32_t)rec_rows_u64(r, 0, 1);
    rec_rows_free(r);
    return REC_OK;
}

rec_status tbl_get(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                   jbuf *out, uint32_t *version, tbl_err *err)
{
    memset(err, 0, sizeof *err);
    struct op o = {.t = t,
                   .tenant = tenant,
                   .key = key,
                   .out = out,
                   .out_start = out->len,
                   .err = err};
    rec_status st = read_row(db, &o);
    *version = o.version;
    return st;
}

rec_status tbl_log_change(rec_db *db, const tbl_table *t, uint64_t tenant,
                          uint64_t key, uint32_t version, int deleted,
                          rec_err *err)
{
    static const char sql[] =
        "INSERT INTO optimist_changes (table_name, row_key, tenant_id,"
        " version, deleted, committed_at)"
        " VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3))";
    if (t->prepared)
        return REC_OK; /* the triggers write it */
    rec_param p[5] = {REC_CSTR(t->name), REC_U(key), REC_U(tenant),
                      REC_U(version), REC_I(deleted ? 1 : 0)};
    return rec_exec(db, sql, p, 5, NULL, NULL, NULL, err);
}

static rec_status insert_body(rec_db *db, void *ctx, rec_err *e)
{
    struct op *o = ctx;
    uint64_t id = 0;
    (void)e;
    out_restart(o);
    rec_status st = rec_exec(db, o->plan->sql, o->plan->params,
                             o->plan->nparams, NULL, NULL, &id, &o->err->db);
    if (st != REC_OK)
        return tbl_refusal(st, o->err);
    o->key = id;
    if ((st = read_row(db, o)) != REC_OK)
        return st == REC_NOT_FOUND ? REC_ERROR : st;
    return tbl_log_change(db, o->t, o->tenant, id, o->version, 0, &o->err->db);
}

rec_status tbl_insert(rec_db *db, tbl_table *t, uint64_t tenant,
                      json_object *body, uint64_t *key, jbuf *out, tbl_err *err)
{
    tbl_plan *plan = xmalloc(sizeof *plan);
    rec_status st = tbl_plan_insert(t, tenant, body, plan, err);
    struct op o = {.t = t,
                   .tenant = tenant,
                   .plan = plan,
                   .out = out,
                   .out_start = out->len,
                   .err = err};
    if (st == REC_OK)
        st = in_txn(db, insert_body, &o, &err->db);
    *key = o.key;
    tbl_plan_free(db, plan);
    free(plan);
    return st;
}

/* The write (UPDATE or DELETE, params + key, tenant, version) matched
 * nothing: why. REC_OK means the row is at the version expected after
 * all (a writer moved it there meanwhile): write again. */
static rec_status why_not(rec_db *db, struct op *o)
{
    rec_status st = read_row(db, o);
    if (st != REC_OK)
        return st;
    if (o->expect.any || o->version == o->expect.version)
        return REC_OK;
    return REC_CONFLICT;
}

static rec_status write_row(rec_db *db, struct op *o, const char *sql,
                            const rec_param *set, size_t nset,
                            uint64_t *affected)
{
    rec_param p[TBL_MAX_PARAMS];
    if (nset + 3 > TBL_MAX_PARAMS) {
        snprintf(o->err->db.msg, sizeof o->err->db.msg, "too many columns");
        return REC_ERROR;
    }
    if (nset > 0)
        memcpy(p, set, nset * sizeof *p);
    p[nset] = REC_U(o->key);
    p[nset + 1] = REC_U(o->tenant);
    p[nset + 2] = o->expect.any ? REC_NULLP : REC_U(o->expect.version);
    rec_status st =
        rec_exec(db, sql, p, nset + 3, NULL, affected, NULL, &o->err->db);
    return st == REC_OK ? st : tbl_refusal(st, o->err);
}

static rec_status update_body(rec_db *db, void *ctx, rec_err *e)
{
    struct op *o = ctx;
    rec_status st;
    (void)e;
    out_restart(o);
    for (int writes = 0; writes < 2; writes++) {
        uint64_t affected = 0;
        st = write_row(db, o, o->plan->sql, o->plan->params, o->plan->nparams,
                       &affected);
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            if ((st = read_row(db, o)) != REC_OK)
                return st == REC_NOT_FOUND ? REC_ERROR : st;
            return tbl_log_change(db, o->t, o->tenant, o->key, o->version, 0,
                                  &o->err->db);
        }
        if ((st = why_not(db, o)) != REC_OK)
            return st;
    }
    return REC_CONFLICT;
}

rec_status tbl_update(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                      rec_expect expect, json_object *changes, jbuf *out,
                      uint32_t *version, tbl_err *err)
{
    tbl_plan *plan = xmalloc(sizeof *plan);
    rec_status st = tbl_plan_update(t, changes, plan, err);
    struct op o = {.t = t,
                   .tenant = tenant,
                   .key = key,
                   .expect = expect,
                   .plan = plan,
                   .out = out,
                   .out_start = out->len,
                   .err = err};
    if (st == REC_OK)
        st = in_txn(db, update_body, &o, &err->db);
    *version = o.version;
    tbl_plan_free(db, plan);
    free(plan);
    return st;
}

static rec_status delete_body(rec_db *db, void *ctx, rec_err *e)
{
    struct op *o = ctx;
    rec_status st;
    (void)e;
    out_restart(o);
    /* If-Match: * deletes whatever version is there, but the change log
     * needs it: read it, then delete exactly that one. (o->want, not
     * o->expect, which this changes: rec_txn may run it again.) */
    rec_expect want = o->want;
    o->expect = want;
    for (int writes = 0; writes < 3; writes++) {
        if (want.any) {
            if ((st = read_row(db, o)) != REC_OK)
                return st;
            o->expect = (rec_expect){.version = o->version};
        }
        uint64_t affected = 0;
        st = write_row(db, o, o->t->sql_delete, NULL, 0, &affected);
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            out_restart(o);
            o->version = o->expect.version + 1;
            return tbl_log_change(db, o->t, o->tenant, o->key, o->version, 1,
                                  &o->err->db);
        }
        if (!want.any && (st = why_not(db, o)) != REC_OK)
            return st;
    }
    return want.any ? REC_RETRY : REC_CONFLICT;
}

rec_status tbl_delete(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                      rec_expect expect, jbuf *out, uint32_t *version,
                      tbl_err *err)
{
    memset(err, 0, sizeof *err);
    struct op o = {.t = t,
                   .tenant = tenant,
                   .key = key,
                   .expect = expect,
                   .want = expect,
                   .out = out,
                   .out_start = out->len,
                   .err = err};
    rec_status st = in_txn(db, delete_body, &o, &err->db);
    *version = o.version;
    return st;
}

rec_status tbl_list(rec_db *db, tbl_table *t, uint64_t tenant,
                    const tbl_filter *f, size_t nf, uint64_t after,
                    unsigned limit, jbuf *out, tbl_err *err)
{
    tbl_plan *plan = xmalloc(sizeof *plan);
    rec_rows *r = NULL;
    rec_status st = tbl_plan_list(t, tenant, f, nf, after, limit, plan, err);
    if (st == REC_OK)
        st = rec_exec(db, plan->sql, plan->params, plan->nparams, &r, NULL,
                      NULL, &err->db);
    if (st == REC_OK) {
        size_t n = rec_rows_count(r), shown = n > limit ? limit : n;
        jb_lit(out, "{\"items\":[");
        for (size_t i = 0; i < shown; i++) {
            if (i > 0)
                jb_raw(out, ",", 1);
            tbl_render(t, r, i, out);
        }
        jb_lit(out, "],\"next_after\":");
        if (n > limit)
            jb_raw(out, rec_rows_get(r, shown - 1, 0),
                   rec_rows_len(r, shown - 1, 0));
        else
            jb_lit(out, "null");
        jb_raw(out, "}", 1);
    }
    rec_rows_free(r);
    tbl_plan_free(db, plan);
    free(plan);
    return st;
}

/* ---- the change log ----------------------------------------------------- */

rec_status tbl_changes(rec_db *db, const char *name, uint64_t tenant,
                       uint64_t key, uint64_t after, tbl_change *out,
                       size_t max, size_t *n, rec_err *err)
{
    static const char all[] =
        "SELECT seq, row_key, version, deleted,"
        " TIMESTAMPDIFF(MICROSECOND, committed_at, UTC_TIMESTAMP(3)) DIV 1000"
        " FROM optimist_changes WHERE table_name = ? AND tenant_id = ?"
        " AND seq > ? ORDER BY seq LIMIT ?";
    static const char one[] =
        "SELECT seq, row_key, version, deleted,"
        " TIMESTAMPDIFF(MICROSECOND, committed_at, UTC_TIMESTAMP(3)) DIV 1000"
        " FROM optimist_changes WHERE table_name = ? AND row_key = ?"
        " AND tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?";
    rec_rows *r = NULL;
    rec_status st;
    *n = 0;
    if (key == 0) {
        rec_param p[4] = {REC_CSTR(name), REC_U(tenant), REC_U(after),
                          REC_U(max)};
        st = rec_exec(db, all, p, 4, &r, NULL, NULL, err);
    } else {
        rec_param p[5] = {REC_CSTR(name), REC_U(key), REC_U(tenant),
                          REC_U(after), REC_U(max)};
        st = rec_exec(db, one, p, 5, &r, NULL, NULL, err);
    }
    if (st != REC_OK)
        return st;
    for (size_t i = 0; i < rec_rows_count(r) && i < max; i++) {
        const char *age = rec_rows_get(r, i, 4);
        out[i] = (tbl_change){.seq = rec_rows_u64(r, i, 0),
                              .key = rec_rows_u64(r, i, 1),
                              .version = (uint32_t)rec_rows_u64(r, i, 2),
                              .deleted = rec_rows_u64(r, i, 3) != 0,
                              .age_ms = age ? strtoll(age, NULL, 10) : 0};
        (*n)++;
    }
    rec_rows_free(r);
    return REC_OK;
}

rec_status tbl_changes_bounds(rec_db *db, uint64_t *oldest, uint64_t *last,
                              rec_err *err)
{
    static const char sql[] = "SELECT MIN(seq), MAX(seq) FROM optimist_changes";
    rec_rows *r = NULL;
    rec_status st = rec_exec(db, sql, NULL, 0, &r, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    *oldest = rec_rows_u64(r, 0, 0);
    *last = rec_rows_u64(r, 0, 1);
    rec_rows_free(r);
    return REC_OK;
}

rec_status tbl_changes_purge(rec_db *db, unsigned keep_secs, unsigned limit,
                             uint64_t *deleted, rec_err *err)
{
    static const char sql[] =
        "DELETE FROM optimist_changes"
        " WHERE committed_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
        " ORDER BY committed_at LIMIT ?";
    uint64_t n = 0;
    rec_param p[2] = {REC_U(keep_secs), REC_U(limit)};
    rec_status st = rec_exec(db, sql, p, 2, NULL, &n, NULL, err);
    if (deleted != NULL)
        *deleted = n;
    return st;
}
