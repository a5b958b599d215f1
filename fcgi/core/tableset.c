/*
 * tableset.c -- the declared tables as resource descriptors (see
 * tableset.h). The registry (lib/table.h) says what each table is; this
 * file turns each into the descriptors the router, the write loop and the
 * hub read, and swaps whole sets at a reload.
 *
 * The statements pasted together here take their identifiers from the
 * registry only (information_schema's names, quoted with backticks) and
 * the declared name, which decl.c allows as [a-z][a-z0-9_]* only: never
 * anything from a request.
 */
#include "tableset.h"

#include "log.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One "?" a key the hub binds (RESOURCE_POLL_IN of them). */
#define IN_KEYS RESOURCE_IN_LIST

struct entry {
    struct resource rows, changes;
    tbl_table *t;
    char rows_name[RESOURCE_NAME_MAX];
    char changes_name[RESOURCE_NAME_MAX];
    char collection[96];
    char *rows_poll, *changes_poll;
    const char *also[2]; /* a row's write changes the change feed too */
};

struct set {
    tbl_registry *reg;
    struct entry *e;
    size_t n;
};

static struct set cur; /* what this process serves */

/* resource_load_fn: the row as GET returns it. */
static rec_status load_row(rec_db *db, const struct resource *res,
                           uint64_t tenant, uint64_t id, jbuf *out,
                           uint32_t *version, rec_err *err)
{
    const struct entry *e = res->ctx;
    tbl_err terr;
    size_t start = out->len;
    rec_status st = tbl_get(db, e->t, tenant, id, out, version, &terr);
    if (st != REC_OK) {
        out->len = start; /* nothing rendered on failure */
        if (out->p != NULL)
            out->p[start] = '\0';
        *err = terr.db;
    }
    return st;
}

/* resource_refusal_fn: the library reads the database's refusal. */
static rec_status refusal(const struct resource *res, const rec_err *err,
                          resource_refusal *out)
{
    (void)res;
    tbl_err te;
    memset(&te, 0, sizeof te);
    te.db = *err;
    rec_status st = tbl_refusal(REC_ERROR, &te);
    if (st != REC_INVALID && st != REC_CONSTRAINT)
        return REC_OK;
    snprintf(out->column, sizeof out->column, "%s", te.column);
    snprintf(out->constraint, sizeof out->constraint, "%s", te.constraint);
    snprintf(out->why, sizeof out->why, "%s", te.why);
    return st;
}

/* `identifier` with its backticks doubled, in backticks. */
static void quote(jbuf *b, const char *id)
{
    jb_lit(b, "`");
    for (const char *p = id; *p; p++) {
        if (*p == '`')
            jb_lit(b, "`");
        jb_raw(b, p, 1);
    }
    jb_lit(b, "`");
}

static char *dup_buf(const jbuf *b)
{
    return xstrdup(b->p ? b->p : "");
}

static void entry_make(struct entry *e, tbl_table *t)
{
    memset(e, 0, sizeof *e);
    e->t = t;
    snprintf(e->rows_name, sizeof e->rows_name, "tables/%s", t->name);
    snprintf(e->changes_name, sizeof e->changes_name, "tables/%s/events",
             t->name);
    snprintf(e->collection, sizeof e->collection, "/v1/tables/%s", t->name);

    jbuf b;
    jb_init(&b);
    /* A record feed polls the versions of the rows it follows. */
    jb_lit(&b, "SELECT ");
    quote(&b, t->key);
    jb_lit(&b, ", ");
    quote(&b, t->version);
    jb_lit(&b, " FROM ");
    if (t->schema[0] != '\0') {
        quote(&b, t->schema);
        jb_lit(&b, ".");
    }
    quote(&b, t->table);
    jb_lit(&b, " WHERE ");
    quote(&b, t->key);
    jb_lit(&b, " IN " IN_KEYS);
    e->rows_poll = dup_buf(&b);
    /* A change feed polls the newest seq of its tenant's changes. */
    jb_reset(&b);
    jb_lit(&b, "SELECT tenant_id, MAX(seq) FROM optimist_changes WHERE "
               "table_name = '");
    jb_raw(&b, t->name, strlen(t->name)); /* [a-z][a-z0-9_]*: decl.c */
    jb_lit(&b, "' AND tenant_id IN " IN_KEYS " GROUP BY tenant_id");
    e->changes_poll = dup_buf(&b);
    jb_free(&b);

    e->also[0] = e->changes_name;
    e->also[1] = NULL;
    e->rows = (struct resource){.name = e->rows_name,
                                .table = t->table,
                                .id_col = "id",
                                .tenant_col = "tenant_id",
                                .load = load_row,
                                .version_sql = t->sql_version,
                                .collection = e->collection,
                                .refusal = refusal,
                                .feed = RES_FEED_RECORD,
                                .poll_sql = e->rows_poll,
                                .deletable = 1,
                                .also = e->also,
                                .ctx = e};
    e->changes = (struct resource){.name = e->changes_name,
                                   .table = "optimist_changes",
                                   .id_col = "seq",
                                   .tenant_col = "tenant_id",
                                   .per_tenant = 1,
                                   .load = load_row,
                                   .feed = RES_FEED_CHANGES,
                                   .poll_sql = e->changes_poll,
                                   .ctx = e};
}

static void set_free(struct set *s, rec_db *db)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].rows_poll);
        free(s->e[i].changes_poll);
    }
    free(s->e);
    tbl_registry_free(s->reg, db);
    memset(s, 0, sizeof *s);
}

/* Makes the descriptors of `reg` and hands them to the registry; on
 * success *out is the new set. */
static int set_make(tbl_registry *reg, struct set *out, char *why,
                    size_t whylen)
{
    struct set s = {.reg = reg, .n = tbl_registry_count(reg)};
    s.e = xcalloc(s.n ? s.n : 1, sizeof *s.e);
    const struct resource **list = xcalloc(2 * s.n + 1, sizeof *list);
    for (size_t i = 0; i < s.n; i++) {
        entry_make(&s.e[i], tbl_registry_at(reg, i));
        list[2 * i] = &s.e[i].rows;
        list[2 * i + 1] = &s.e[i].changes;
    }
    int rc = resource_set_runtime(list, 2 * s.n, why, whylen);
    free(list);
    if (rc != 0) {
        s.reg = NULL; /* the caller still owns reg */
        set_free(&s, NULL);
        return -1;
    }
    *out = s;
    return 0;
}

static void names(const struct set *s, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n && o + 1 < len; i++) {
        int w =
            snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s->e[i].t->name);
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
    }
}

int tset_load(const conf *c, rec_db *db, int initial)
{
    rec_db *own = NULL;
    if (db == NULL) {
        rec_config cfg;
        conf_rec_config(c, &cfg);
        db = own = rec_db_new(&cfg);
    }
    rec_status st = REC_OK;
    tbl_err terr;
    memset(&terr, 0, sizeof terr);
    tbl_registry *reg = tbl_registry_load(db, c->tables_dir, &st, &terr);
    int rc = -1;
    char why[256] = "";
    if (reg == NULL) {
        LOG(LOG_ERROR,
            "tables: cannot read the declared tables in '%s': %s; %s",
            c->tables_dir, terr.db.msg[0] ? terr.db.msg : rec_status_name(st),
            initial ? "none served" : "keeping the tables served before");
        if (st == REC_UNAVAILABLE || st == REC_RETRY)
            rc = TSET_NO_DB; /* the database, not the folder: try again */
        goto out;
    }
    size_t bad = tbl_registry_nrefused(reg);
    for (size_t i = 0; i < bad; i++)
        LOG(LOG_ERROR, "tables: refused %s",
            tbl_registry_refused(reg, i, NULL));
    if (bad > 0 && !initial) {
        LOG(LOG_ERROR,
            "tables: reload refused (%zu declaration%s); keeping the %zu "
            "tables served before",
            bad, bad == 1 ? "" : "s", cur.n);
        tbl_registry_free(reg, db);
        goto out;
    }
    struct set fresh;
    if (set_make(reg, &fresh, why, sizeof why) != 0) {
        LOG(LOG_ERROR, "tables: %s; keeping the %zu tables served before", why,
            cur.n);
        tbl_registry_free(reg, db);
        goto out;
    }
    /* The registry no longer points into the old set: free it. The old
     * tables' statements were prepared on this connection, if any. */
    set_free(&cur, own ? NULL : db);
    cur = fresh;
    char list[512];
    names(&cur, list, sizeof list);
    LOG(LOG_INFO, "tables: serving %zu from '%s'%s%s%s", cur.n, c->tables_dir,
        cur.n ? " (" : "", list, cur.n ? ")" : "");
    rc = 0;
out:
    if (own != NULL)
        rec_db_close(own);
    return rc;
}

int tset_check(const conf *c)
{
    if (c->tables_dir[0] == '\0')
        return 0;
    rec_config cfg;
    conf_rec_config(c, &cfg);
    rec_db *db = rec_db_new(&cfg);
    rec_status st = REC_OK;
    tbl_err terr;
    memset(&terr, 0, sizeof terr);
    tbl_registry *reg = tbl_registry_load(db, c->tables_dir, &st, &terr);
    int rc = 0;
    if (reg == NULL) {
        fprintf(stderr, "optimist-fcgi: tables: cannot check '%s': %s\n",
                c->tables_dir,
                terr.db.msg[0] ? terr.db.msg : rec_status_name(st));
        rc = -1;
    } else {
        for (size_t i = 0; i < tbl_registry_nrefused(reg); i++) {
            fprintf(stderr, "optimist-fcgi: tables: %s\n",
                    tbl_registry_refused(reg, i, NULL));
            rc = -1;
        }
        if (rc == 0)
            printf("tables: %zu declared table%s ok\n", tbl_registry_count(reg),
                   tbl_registry_count(reg) == 1 ? "" : "s");
    }
    tbl_registry_free(reg, db);
    rec_db_close(db);
    return rc;
}

tbl_table *tset_find(const char *name, size_t n)
{
    return cur.reg ? tbl_find(cur.reg, name, n) : NULL;
}

static struct entry *entry_find(const char *name, size_t n)
{
    for (size_t i = 0; i < cur.n; i++)
        if (strlen(cur.e[i].t->name) == n &&
            memcmp(cur.e[i].t->name, name, n) == 0)
            return &cur.e[i];
    return NULL;
}

const struct resource *tset_rows(const char *name, size_t n)
{
    struct entry *e = entry_find(name, n);
    return e ? &e->rows : NULL;
}

const struct resource *tset_changes(const char *name, size_t n)
{
    struct entry *e = entry_find(name, n);
    return e ? &e->changes : NULL;
}

tbl_table *tset_table_of(const struct resource *res)
{
    for (size_t i = 0; i < cur.n; i++)
        if (res == &cur.e[i].rows || res == &cur.e[i].changes)
            return cur.e[i].t;
    return NULL;
}
