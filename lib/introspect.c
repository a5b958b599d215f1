/*
 * introspect.c -- a declared table described from information_schema:
 * which columns it has, of which types, its key, version and tenant
 * columns, and whether its triggers are installed. Read only: nothing
 * here creates or alters anything (the contract: "reading a declaration
 * never creates or alters anything"; `table prepare` does, tblprep.c).
 *
 * Every refusal names the column and the reason in one line, so that
 * `optimist-fcgi --check` and a reload can say what to fix.
 */
#include "tbl_internal.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char SQL_DB[] = "SELECT DATABASE()";
static const char SQL_TABLE[] =
    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
static const char SQL_COLUMNS[] =
    "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME,"
    " CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION,"
    " NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,"
    " IS_GENERATED FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";
enum {
    C_NAME,
    C_DT,
    C_CT,
    C_CS,
    C_CMAX,
    C_OMAX,
    C_NP,
    C_NS,
    C_DTP,
    C_NULL,
    C_DEFAULT,
    C_EXTRA,
    C_GEN
};
static const char SQL_PK[] =
    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
    " WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = "
    "'PRIMARY'";
static const char SQL_CHECKS[] =
    "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
    " WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?";
static const char SQL_TRIGGERS[] =
    "SELECT TRIGGER_NAME, ACTION_STATEMENT, ACTION_TIMING, EVENT_MANIPULATION"
    " FROM information_schema.TRIGGERS"
    " WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?";

/* The work of one description. */
struct desc {
    rec_db *db;
    const decl *d;
    tbl_table *t;
    rec_rows *cols; /* SQL_COLUMNS */
    rec_rows *checks;
    char *why;
    rec_err *err;
    char logdb[DECL_NAME_MAX + 1];
};

static int refuse(struct desc *x, const char *fmt, const char *a, const char *b)
{
    snprintf(x->why, DECL_WHY_MAX, fmt, a, b);
    return -1;
}

/* The row of SQL_COLUMNS for column `name` (case-insensitive, as MariaDB
 * compares column names), or -1. */
static long find_col(const struct desc *x, const char *name)
{
    for (size_t i = 0; i < rec_rows_count(x->cols); i++)
        if (strcasecmp(rec_rows_get(x->cols, i, C_NAME), name) == 0)
            return (long)i;
    return -1;
}

static int is_json(const struct desc *x, const char *col)
{
    char want[DECL_NAME_MAX + 16];
    snprintf(want, sizeof want, "json_valid(`%s`)", col);
    for (size_t i = 0; i < rec_rows_count(x->checks); i++) {
        const char *c = rec_rows_get(x->checks, i, 0);
        if (c != NULL && strcasecmp(c, want) == 0)
            return 1;
    }
    return 0;
}

static void type_of(const struct desc *x, size_t row, col_type *ty)
{
    const rec_rows *r = x->cols;
    col_info in = {.data_type = rec_rows_get(r, row, C_DT),
                   .column_type = rec_rows_get(r, row, C_CT),
                   .charset = rec_rows_get(r, row, C_CS),
                   .char_max = rec_rows_get(r, row, C_CMAX),
                   .octet_max = rec_rows_get(r, row, C_OMAX),
                   .num_precision = rec_rows_get(r, row, C_NP),
                   .num_scale = rec_rows_get(r, row, C_NS),
                   .dt_precision = rec_rows_get(r, row, C_DTP)};
    const char *nul = rec_rows_get(r, row, C_NULL);
    in.nullable = nul != NULL && strcmp(nul, "YES") == 0;
    in.is_json = is_json(x, rec_rows_get(r, row, C_NAME));
    col_type_parse(&in, ty);
}

static int is_integer(const struct desc *x, size_t row)
{
    col_type ty;
    type_of(x, row, &ty);
    int ok = ty.kind == COL_INT || ty.kind == COL_BOOL;
    col_type_free(&ty);
    return ok;
}

static rec_status query(struct desc *x, const char *sql, rec_rows **rows)
{
    rec_param p[2] = {REC_CSTR(x->t->schema), REC_CSTR(x->t->table)};
    return rec_exec(x->db, sql, p, 2, rows, NULL, NULL, x->err);
}

/* The key: the one column of the primary key, an integer, auto-increment. */
static int check_key(struct desc *x, long krow, rec_status *st)
{
    rec_rows *pk = NULL;
    if ((*st = query(x, SQL_PK, &pk)) != REC_OK)
        return -2;
    int one = rec_rows_count(pk) == 1 &&
              strcasecmp(rec_rows_get(pk, 0, 0), x->t->key) == 0;
    rec_rows_free(pk);
    const char *extra = rec_rows_get(x->cols, (size_t)krow, C_EXTRA);
    if (!one || !is_integer(x, (size_t)krow) || extra == NULL ||
        strstr(extra, "auto_increment") == NULL)
        return refuse(x,
                      "key `%s` is not the table's one integer "
                      "auto-increment primary key%s",
                      x->t->key, "");
    return 0;
}

static int add_column(struct desc *x, size_t row)
{
    tbl_table *t = x->t;
    const char *name = rec_rows_get(x->cols, row, C_NAME);
    if (strcasecmp(name, "id") == 0 || strcasecmp(name, "version") == 0)
        return refuse(x,
                      "column `%s` cannot be served: a row's \"%s\" is its "
                      "key or version",
                      name, strcasecmp(name, "id") == 0 ? "id" : "version");
    if (t->ncols == DECL_MAX_COLS)
        return refuse(x, "more than %s served columns%s", "60", "");
    tbl_column *c = &t->cols[t->ncols];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    type_of(x, row, &c->type);
    if (c->type.kind == COL_UNSERVABLE)
        return refuse(x, "column `%s`: %s (leave it out of columns)", name,
                      c->type.why);
    t->ncols++;
    const char *def = rec_rows_get(x->cols, row, C_DEFAULT);
    const char *extra = rec_rows_get(x->cols, row, C_EXTRA);
    const char *gen = rec_rows_get(x->cols, row, C_GEN);
    int generated = gen != NULL && strcmp(gen, "ALWAYS") == 0;
    c->read_only = generated;
    c->has_default = def != NULL || c->type.nullable || generated ||
                     (extra != NULL && strstr(extra, "auto_increment"));
    return 0;
}

static int served_columns(struct desc *x, long krow, long vrow, long trow)
{
    const decl *d = x->d;
    tbl_table *t = x->t;
    t->cols = xcalloc(DECL_MAX_COLS, sizeof *t->cols);
    if (d->all_columns) {
        for (size_t i = 0; i < rec_rows_count(x->cols); i++)
            if ((long)i != krow && (long)i != vrow && (long)i != trow &&
                add_column(x, i) != 0)
                return -1;
    } else {
        for (size_t k = 0; k < d->ncolumns; k++) {
            long r = find_col(x, d->columns[k]);
            if (r < 0)
                return refuse(x, "columns: no column `%s` in the table%s",
                              d->columns[k], "");
            if (r == krow || r == vrow || r == trow)
                return refuse(x,
                              "columns: `%s` is the key, the version or the "
                              "tenant column%s",
                              d->columns[k], "");
            if (add_column(x, (size_t)r) != 0)
                return -1;
        }
    }
    for (size_t k = 0; k < d->nread_only; k++) {
        size_t i = 0;
        while (i < t->ncols && strcasecmp(t->cols[i].name, d->read_only[k]))
            i++;
        if (i == t->ncols)
            return refuse(x, "read_only: `%s` is not a served column%s",
                          d->read_only[k], "");
        t->cols[i].read_only = 1;
    }
    return 0;
}

/* Whether the four triggers are there, each as tblprep.c makes it. */
static rec_status triggers(struct desc *x, int *prepared)
{
    rec_rows *r = NULL;
    rec_status st = query(x, SQL_TRIGGERS, &r);
    if (st != REC_OK)
        return st;
    int found = 0;
    jbuf want;
    jb_init(&want);
    for (int w = 0; w < TBL_TRG_COUNT; w++) {
        char name[65];
        tbl_trigger_name(x->t->name, w, name);
        jb_reset(&want);
        tbl_trigger_body(x->t, x->logdb, w, &want);
        for (size_t i = 0; i < rec_rows_count(r); i++)
            if (strcmp(rec_rows_get(r, i, 0), name) == 0 &&
                strcmp(rec_rows_get(r, i, 1), want.p) == 0)
                found++;
    }
    jb_free(&want);
    rec_rows_free(r);
    *prepared = found == TBL_TRG_COUNT;
    return REC_OK;
}

static int describe(struct desc *x, int allow_no_version, int *has_version,
                    rec_status *st)
{
    const decl *d = x->d;
    tbl_table *t = x->t;
    rec_rows *r = NULL;

    if ((*st = rec_exec(x->db, SQL_DB, NULL, 0, &r, NULL, NULL, x->err)) !=
        REC_OK)
        return -2;
    snprintf(x->logdb, sizeof x->logdb, "%s",
             rec_rows_get(r, 0, 0) ? rec_rows_get(r, 0, 0) : "");
    rec_rows_free(r);
    snprintf(t->schema, sizeof t->schema, "%s",
             d->schema[0] ? d->schema : x->logdb);
    if ((*st = query(x, SQL_TABLE, &r)) != REC_OK)
        return -2;
    if (rec_rows_count(r) == 0) {
        rec_rows_free(r);
        return refuse(x, "no table `%s`.`%s` (or no privilege to see it)",
                      t->schema, t->table);
    }
    /* information_schema's spelling of the names */
    snprintf(t->schema, sizeof t->schema, "%s", rec_rows_get(r, 0, 0));
    snprintf(t->table, sizeof t->table, "%s", rec_rows_get(r, 0, 1));
    int base = strcmp(rec_rows_get(r, 0, 2), "BASE TABLE") == 0;
    rec_rows_free(r);
    if (!base)
        return refuse(x, "`%s`.`%s` is not a base table (a view?)", t->schema,
                      t->table);
    if ((*st = query(x, SQL_COLUMNS, &x->cols)) != REC_OK ||
        (*st = query(x, SQL_CHECKS, &x->checks)) != REC_OK)
        return -2;

    long krow = find_col(x, d->key), vrow = find_col(x, d->version);
    long trow = d->tenant_column[0] ? find_col(x, d->tenant_column) : -1;
    if (krow < 0)
        return refuse(x, "key: no column `%s` in the table%s", d->key, "");
    snprintf(t->key, sizeof t->key, "%s",
             rec_rows_get(x->cols, (size_t)krow, C_NAME));
    int kr = check_key(x, krow, st);
    if (kr != 0)
        return kr;
    *has_version = vrow >= 0;
    if (vrow < 0 && !allow_no_version)
        return refuse(x,
                      "version: no column `%s` in the table (optimistctl "
                      "table prepare %s adds it)",
                      d->version, d->name);
    if (vrow >= 0) {
        const char *nul = rec_rows_get(x->cols, (size_t)vrow, C_NULL);
        const char *def = rec_rows_get(x->cols, (size_t)vrow, C_DEFAULT);
        snprintf(t->version, sizeof t->version, "%s",
                 rec_rows_get(x->cols, (size_t)vrow, C_NAME));
        if (!is_integer(x, (size_t)vrow) || strcmp(nul, "NO") != 0 ||
            def == NULL || strcmp(def, "1") != 0)
            return refuse(x,
                          "version `%s` must be an integer column, NOT NULL, "
                          "DEFAULT 1%s",
                          t->version, "");
    } else {
        snprintf(t->version, sizeof t->version, "%s", d->version);
    }
    if (d->tenant_column[0]) {
        if (trow < 0)
            return refuse(x, "tenant_column: no column `%s` in the table%s",
                          d->tenant_column, "");
        snprintf(t->tenant_column, sizeof t->tenant_column, "%s",
                 rec_rows_get(x->cols, (size_t)trow, C_NAME));
        if (!is_integer(x, (size_t)trow) || trow == krow || trow == vrow)
            return refuse(x,
                          "tenant_column `%s` must be an integer column other "
                          "than the key and the version%s",
                          t->tenant_column, "");
    }
    if (vrow == krow && vrow >= 0)
        return refuse(x, "the key and the version are the same column `%s`%s",
                      t->key, "");
    if (served_columns(x, krow, vrow, trow) != 0)
        return -1;
    tbl_build_sql(t);
    if ((*st = triggers(x, &t->prepared)) != REC_OK)
        return -2;
    return 0;
}

tbl_table *tbl_describe(rec_db *db, const decl *d, int allow_no_version,
                        int *has_version, rec_status *st, char *why,
                        rec_err *err)
{
    tbl_table *t = xcalloc(1, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", d->name);
    snprintf(t->table, sizeof t->table, "%s", d->table);
    t->tenant = d->tenant_column[0] ? 0 : d->tenant;
    struct desc x = {.db = db, .d = d, .t = t, .why = why, .err = err};
    int hv = 0;
    why[0] = '\0';
    *st = REC_OK;
    int rc = describe(&x, allow_no_version, &hv, st);
    rec_rows_free(x.cols);
    rec_rows_free(x.checks);
    if (has_version != NULL)
        *has_version = hv;
    if (rc != 0) {
        if (rc == -1)
            *st = REC_INVALID;
        tbl_table_free(t, db);
        return NULL;
    }
    return t;
}
