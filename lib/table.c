/*
 * table.c -- the statements of a declared table and the plans that bind
 * a request's values to them.
 *
 * Statement texts are made from information_schema's names only, and
 * kept per table: the constant ones (get, version, delete) at load, the
 * ones that depend on which columns a request gives (INSERT, UPDATE, a
 * list's filters) once per column set, up to TBL_CACHE_MAX sets a table.
 * rec_exec keys its prepared statements by the text's address, so a kept
 * text is prepared once per connection; a set past the limit gets a text
 * of its own, which tbl_plan_free forgets (rec_forget) before freeing, so
 * that no later text at the same address finds its statement.
 */
#include "tbl_internal.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TBL_CACHE_MAX   48 /* column sets kept per table */
#define TBL_MAX_FILTERS 16

enum { K_INSERT, K_UPDATE, K_LIST };

struct tbl_entry {
    int kind;
    uint64_t mask; /* K_INSERT, K_UPDATE */
    size_t nidx;   /* K_LIST: filter columns, sorted */
    unsigned char idx[TBL_MAX_FILTERS];
    char *sql;
};

struct tbl_cache {
    size_t n;
    struct tbl_entry e[TBL_CACHE_MAX];
};

/* ---- names and texts ---------------------------------------------------- */

void tbl_quote(jbuf *b, const char *name)
{
    jb_raw(b, "`", 1);
    for (const char *p = name; *p; p++)
        jb_raw(b, *p == '`' ? "``" : p, *p == '`' ? 2 : 1);
    jb_raw(b, "`", 1);
}

void tbl_quote_table(jbuf *b, const tbl_table *t)
{
    tbl_quote(b, t->schema);
    jb_raw(b, ".", 1);
    tbl_quote(b, t->table);
}

void tbl_where_row(jbuf *b, const tbl_table *t)
{
    tbl_quote(b, t->key);
    jb_lit(b, " = ? AND ");
    if (t->tenant_column[0]) {
        tbl_quote(b, t->tenant_column);
        jb_lit(b, " = ?");
    } else {
        jb_lit(b, "? = ");
        jb_u64(b, t->tenant);
    }
}

char *tbl_strdup(const jbuf *b)
{
    char *s = xmalloc(b->len + 1);
    memcpy(s, b->p, b->len);
    s[b->len] = '\0';
    return s;
}

/* "SELECT `key`, `version`, `c1`, ... FROM `s`.`t`" */
static void select_cols(jbuf *b, const tbl_table *t)
{
    jb_lit(b, "SELECT ");
    tbl_quote(b, t->key);
    jb_lit(b, ", ");
    tbl_quote(b, t->version);
    for (size_t i = 0; i < t->ncols; i++) {
        jb_lit(b, ", ");
        /* The client library prints a FLOAT with 6 digits; as a DOUBLE
         * (exact) it prints all, and col_render finds the shortest text
         * that reads back as the same FLOAT. */
        if (t->cols[i].type.kind == COL_FLOAT)
            jb_lit(b, "CAST(");
        tbl_quote(b, t->cols[i].name);
        if (t->cols[i].type.kind == COL_FLOAT)
            jb_lit(b, " AS DOUBLE)");
    }
    jb_lit(b, " FROM ");
    tbl_quote_table(b, t);
}

/* " AND `version` = COALESCE(?, `version`)" */
static void and_version(jbuf *b, const tbl_table *t)
{
    jb_lit(b, " AND ");
    tbl_quote(b, t->version);
    jb_lit(b, " = COALESCE(?, ");
    tbl_quote(b, t->version);
    jb_lit(b, ")");
}

void tbl_build_sql(tbl_table *t)
{
    jbuf b;
    jb_init(&b);
    select_cols(&b, t);
    jb_lit(&b, " WHERE ");
    tbl_where_row(&b, t);
    t->sql_get = tbl_strdup(&b);
    jb_reset(&b);
    jb_lit(&b, "SELECT ");
    tbl_quote(&b, t->version);
    jb_lit(&b, " FROM ");
    tbl_quote_table(&b, t);
    jb_lit(&b, " WHERE ");
    tbl_where_row(&b, t);
    t->sql_version = tbl_strdup(&b);
    jb_reset(&b);
    jb_lit(&b, "DELETE FROM ");
    tbl_quote_table(&b, t);
    jb_lit(&b, " WHERE ");
    tbl_where_row(&b, t);
    and_version(&b, t);
    t->sql_delete = tbl_strdup(&b);
    jb_reset(&b);
    jb_lit(&b, "SELECT ");
    tbl_quote(&b, t->key);
    jb_lit(&b, ", ");
    tbl_quote(&b, t->version);
    jb_lit(&b, " FROM ");
    tbl_quote_table(&b, t);
    jb_lit(&b, " WHERE ");
    tbl_quote(&b, t->key);
    jb_lit(&b, " IN (?");
    for (int i = 1; i < TBL_POLL_IN; i++)
        jb_lit(&b, ", ?");
    jb_lit(&b, ")");
    t->sql_poll = tbl_strdup(&b);
    jb_free(&b);
    t->cache = xcalloc(1, sizeof *t->cache);
}

static void forget_free(rec_db *db, char *sql)
{
    if (sql != NULL && db != NULL)
        rec_forget(db, sql);
    free(sql);
}

void tbl_table_free(tbl_table *t, rec_db *db)
{
    if (t == NULL)
        return;
    forget_free(db, t->sql_get);
    forget_free(db, t->sql_version);
    forget_free(db, t->sql_delete);
    forget_free(db, t->sql_poll);
    if (t->cache != NULL)
        for (size_t i = 0; i < t->cache->n; i++)
            forget_free(db, t->cache->e[i].sql);
    free(t->cache);
    for (size_t i = 0; t->cols != NULL && i < t->ncols; i++)
        col_type_free(&t->cols[i].type);
    free(t->cols);
    free(t);
}

const tbl_column *tbl_column_find(const tbl_table *t, const char *name,
                                  size_t n)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strlen(t->cols[i].name) == n &&
            memcmp(t->cols[i].name, name, n) == 0)
            return &t->cols[i];
    return NULL;
}

/* ---- statement texts per column set ------------------------------------- */

static void make_sql(const tbl_table *t, const struct tbl_entry *k, jbuf *b)
{
    if (k->kind == K_INSERT) {
        jb_lit(b, "INSERT INTO ");
        tbl_quote_table(b, t);
        jb_lit(b, " (");
        for (size_t i = 0; i < t->ncols; i++)
            if (k->mask & (UINT64_C(1) << i)) {
                tbl_quote(b, t->cols[i].name);
                jb_lit(b, ", ");
            }
        if (t->tenant_column[0]) {
            tbl_quote(b, t->tenant_column);
            jb_lit(b, ", ");
        }
        tbl_quote(b, t->version);
        jb_lit(b, ") VALUES (");
        for (size_t i = 0; i < t->ncols; i++)
            if (k->mask & (UINT64_C(1) << i))
                jb_lit(b, "?, ");
        if (t->tenant_column[0])
            jb_lit(b, "?, ");
        jb_lit(b, "1)");
    } else if (k->kind == K_UPDATE) {
        jb_lit(b, "UPDATE ");
        tbl_quote_table(b, t);
        jb_lit(b, " SET ");
        for (size_t i = 0; i < t->ncols; i++)
            if (k->mask & (UINT64_C(1) << i)) {
                tbl_quote(b, t->cols[i].name);
                jb_lit(b, " = ?, ");
            }
        tbl_quote(b, t->version);
        jb_lit(b, " = ");
        tbl_quote(b, t->version);
        jb_lit(b, " + 1 WHERE ");
        tbl_where_row(b, t);
        and_version(b, t);
    } else {
        select_cols(b, t);
        jb_lit(b, " WHERE ");
        if (t->tenant_column[0]) {
            tbl_quote(b, t->tenant_column);
            jb_lit(b, " = ?");
        } else {
            jb_lit(b, "? = ");
            jb_u64(b, t->tenant);
        }
        jb_lit(b, " AND ");
        tbl_quote(b, t->key);
        jb_lit(b, " > ?");
        for (size_t i = 0; i < k->nidx; i++) {
            jb_lit(b, " AND ");
            tbl_quote(b, t->cols[k->idx[i]].name);
            jb_lit(b, " = ?");
        }
        jb_lit(b, " ORDER BY ");
        tbl_quote(b, t->key);
        jb_lit(b, " LIMIT ?");
    }
}

static int same(const struct tbl_entry *a, const struct tbl_entry *b)
{
    return a->kind == b->kind && a->mask == b->mask && a->nidx == b->nidx &&
           memcmp(a->idx, b->idx, a->nidx) == 0;
}

/* The text for key k: kept in the cache, or the plan's own. */
static void plan_sql(tbl_table *t, const struct tbl_entry *k, tbl_plan *plan)
{
    struct tbl_cache *c = t->cache;
    for (size_t i = 0; i < c->n; i++)
        if (same(&c->e[i], k)) {
            plan->sql = c->e[i].sql;
            return;
        }
    jbuf b;
    jb_init(&b);
    make_sql(t, k, &b);
    char *sql = tbl_strdup(&b);
    jb_free(&b);
    if (c->n < TBL_CACHE_MAX) {
        c->e[c->n] = *k;
        c->e[c->n++].sql = sql;
    } else {
        plan->owned_sql = sql;
    }
    plan->sql = sql;
}

void tbl_plan_free(rec_db *db, tbl_plan *plan)
{
    if (plan == NULL)
        return;
    forget_free(db, plan->owned_sql);
    plan->owned_sql = NULL;
}

/* ---- plans from a body -------------------------------------------------- */

static rec_status bad(tbl_err *err, const char *column, const char *fmt,
                      const char *detail)
{
    snprintf(err->column, sizeof err->column, "%s", column);
    char msg[sizeof err->why];
    snprintf(msg, sizeof msg, fmt, detail);
    if (column[0])
        snprintf(err->why, sizeof err->why, "%s: %s", column, msg);
    else
        snprintf(err->why, sizeof err->why, "%s", msg);
    return REC_INVALID;
}

/* The members of a POST or PATCH body, each into plan->vals[column]. */
static rec_status body_values(const tbl_table *t, json_object *body, int insert,
                              tbl_plan *plan, tbl_err *err)
{
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return bad(err, "", "%s", "the body must be a JSON object");
    json_object_object_foreach(body, name, v)
    {
        if (strlen(name) > DECL_NAME_MAX)
            return bad(err, "", "%s", "a member name is not a served column");
        if (strcmp(name, "version") == 0) {
            if (!insert)
                continue; /* the precondition: the caller's */
            return bad(err, name, "%s", "a new row's version is 1");
        }
        if (strcmp(name, "id") == 0)
            return bad(err, name, "%s",
                       "the key is the database's (it is in the path)");
        if (t->tenant_column[0] && strcmp(name, t->tenant_column) == 0)
            return bad(err, name, "%s", "the tenant column is the token's");
        const tbl_column *c = tbl_column_find(t, name, strlen(name));
        if (c == NULL)
            return bad(err, name, "%s", "not a served column");
        if (c->read_only)
            return bad(err, name, "%s", "read-only");
        size_t i = (size_t)(c - t->cols);
        char why[COL_WHY_MAX];
        if (col_from_json(&c->type, v, &plan->vals[i], why) != 0)
            return bad(err, name, "%s", why);
        plan->mask |= UINT64_C(1) << i;
    }
    return REC_OK;
}

static void params_in_order(const tbl_table *t, tbl_plan *plan)
{
    plan->nparams = 0;
    for (size_t i = 0; i < t->ncols; i++)
        if (plan->mask & (UINT64_C(1) << i))
            plan->params[plan->nparams++] = plan->vals[i].p;
}

static void plan_init(tbl_plan *plan, tbl_err *err)
{
    plan->sql = NULL;
    plan->nparams = 0;
    plan->mask = 0;
    plan->owned_sql = NULL;
    memset(err, 0, sizeof *err);
}

rec_status tbl_plan_insert(tbl_table *t, uint64_t tenant, json_object *body,
                           tbl_plan *plan, tbl_err *err)
{
    plan_init(plan, err);
    if (!t->tenant_column[0] && tenant != t->tenant)
        return REC_NOT_FOUND;
    rec_status st = body_values(t, body, 1, plan, err);
    if (st != REC_OK)
        return st;
    for (size_t i = 0; i < t->ncols; i++)
        if (!(plan->mask & (UINT64_C(1) << i)) && !t->cols[i].has_default)
            return bad(err, t->cols[i].name, "%s",
                       t->cols[i].read_only
                           ? "read-only and NOT NULL without a default: no "
                             "request can fill it"
                           : "required (NOT NULL without a default)");
    params_in_order(t, plan);
    if (t->tenant_column[0])
        plan->params[plan->nparams++] = REC_U(tenant);
    struct tbl_entry k = {.kind = K_INSERT, .mask = plan->mask};
    plan_sql(t, &k, plan);
    return REC_OK;
}

rec_status tbl_plan_update(tbl_table *t, json_object *body, tbl_plan *plan,
                           tbl_err *err)
{
    plan_init(plan, err);
    rec_status st = body_values(t, body, 0, plan, err);
    if (st != REC_OK)
        return st;
    params_in_order(t, plan);
    struct tbl_entry k = {.kind = K_UPDATE, .mask = plan->mask};
    plan_sql(t, &k, plan);
    return REC_OK;
}

rec_status tbl_plan_list(tbl_table *t, uint64_t tenant, const tbl_filter *f,
                         size_t nf, uint64_t after, unsigned limit,
                         tbl_plan *plan, tbl_err *err)
{
    size_t order[TBL_MAX_FILTERS];
    unsigned char col[TBL_MAX_FILTERS];
    plan_init(plan, err);
    if (nf > TBL_MAX_FILTERS)
        return bad(err, "", "at most %s filters", "16");
    for (size_t i = 0; i < nf; i++) {
        char name[DECL_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s",
                 (int)(f[i].column_len > DECL_NAME_MAX ? DECL_NAME_MAX
                                                       : f[i].column_len),
                 f[i].column);
        const tbl_column *c = tbl_column_find(t, f[i].column, f[i].column_len);
        if (c == NULL)
            return bad(err, name, "%s", "not a served column");
        char why[COL_WHY_MAX];
        col[i] = (unsigned char)(c - t->cols);
        if (col_from_text(&c->type, f[i].value, f[i].value_len, &plan->vals[i],
                          why) != 0)
            return bad(err, name, "%s", why);
        order[i] = i;
    }
    /* Filters sorted by column (insertion sort, at most 16): one text per
     * set of columns, whatever order the query gave them in. */
    for (size_t i = 1; i < nf; i++)
        for (size_t j = i; j > 0 && col[order[j - 1]] > col[order[j]]; j--) {
            size_t tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    struct tbl_entry k = {.kind = K_LIST, .nidx = nf};
    plan->params[plan->nparams++] = REC_U(tenant);
    plan->params[plan->nparams++] = REC_U(after);
    for (size_t i = 0; i < nf; i++) {
        k.idx[i] = col[order[i]];
        plan->params[plan->nparams++] = plan->vals[order[i]].p;
    }
    plan->params[plan->nparams++] = REC_U((uint64_t)limit + 1);
    plan_sql(t, &k, plan);
    return REC_OK;
}

/* ---- rows --------------------------------------------------------------- */

void tbl_render(const tbl_table *t, const rec_rows *rows, size_t i, jbuf *out)
{
    jb_lit(out, "{\"id\":");
    jb_raw(out, rec_rows_get(rows, i, 0), rec_rows_len(rows, i, 0));
    jb_lit(out, ",\"version\":");
    jb_raw(out, rec_rows_get(rows, i, 1), rec_rows_len(rows, i, 1));
    for (size_t c = 0; c < t->ncols; c++) {
        jb_raw(out, ",", 1);
        jb_cstr(out, t->cols[c].name);
        jb_raw(out, ":", 1);
        col_render(&t->cols[c].type, rec_rows_get(rows, i, c + 2),
                   rec_rows_len(rows, i, c + 2), out);
    }
    jb_raw(out, "}", 1);
}
