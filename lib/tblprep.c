/*
 * tblprep.c -- `optimistctl table prepare`: what makes a declared table
 * safe for writers that bypass optimist. The only code of the declared
 * tables that changes a schema, and only when an operator asks.
 *
 *   - the version column, when missing: INT UNSIGNED NOT NULL DEFAULT 1
 *     (every existing row starts at version 1, as a new one does);
 *   - BEFORE UPDATE: a statement that leaves the version as it was raises
 *     it by one. optimist's own UPDATE sets version = version + 1, which
 *     the trigger sees as changed and leaves alone: never counted twice;
 *   - AFTER INSERT, UPDATE, DELETE: the change into optimist_changes, in
 *     the statement's transaction. An UPDATE that moves a row to another
 *     key or tenant also logs the old one as deleted, so that a feed of
 *     the old tenant hears that the row left.
 *
 * Galera: the triggers fire on the node that runs the statement; the
 * other nodes apply the row events (ROW format), triggers included
 * already, so nothing is logged twice. Nothing here is non-deterministic
 * in a way that matters under row replication (UTC_TIMESTAMP(3) is
 * evaluated once, on the writing node).
 *
 * Idempotent: a trigger already there with the body this version makes
 * is left alone; one with another body (the declaration changed) is
 * replaced in one statement (CREATE OR REPLACE TRIGGER), so that no
 * write slips between a DROP and a CREATE.
 */
#include "tbl_internal.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_TRIGGERS[] =
    "SELECT TRIGGER_NAME, ACTION_STATEMENT, EVENT_OBJECT_TABLE"
    " FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?";
static const char SQL_LOG_TABLE[] =
    "SELECT DATABASE(), COUNT(*) FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'optimist_changes'";

static const char *const suffix[TBL_TRG_COUNT] = {"bu", "ai", "au", "ad"};

void tbl_trigger_name(const char *name, int which, char out[65])
{
    size_t n = strlen(name);
    if (n <= 52) {
        snprintf(out, 65, "optimist_%s_%s", name, suffix[which]);
        return;
    }
    /* optimist_ + 43 + _ + 8 + _xx = 64: a long name keeps its start and
     * a hash of the whole (FNV-1a), the same on every run. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    snprintf(out, 65, "optimist_%.43s_%08x_%s", name, h, suffix[which]);
}

const char *tbl_trigger_event(int which)
{
    static const char *const ev[TBL_TRG_COUNT] = {
        "BEFORE UPDATE", "AFTER INSERT", "AFTER UPDATE", "AFTER DELETE"};
    return ev[which];
}

/* The tenant of the NEW or OLD row: its column (NULL logged as 0), or the
 * table's fixed tenant. */
static void tenant_of(jbuf *b, const tbl_table *t, const char *row)
{
    if (t->tenant_column[0]) {
        jb_lit(b, "IFNULL(");
        jb_lit(b, row);
        jb_lit(b, ".");
        tbl_quote(b, t->tenant_column);
        jb_lit(b, ", 0)");
    } else {
        jb_u64(b, t->tenant);
    }
}

/* INSERT INTO `logdb`.optimist_changes ... for row NEW or OLD. */
static void log_insert(jbuf *b, const tbl_table *t, const char *logdb,
                       const char *row, int deleted)
{
    jb_lit(b, "INSERT INTO ");
    tbl_quote(b, logdb);
    jb_lit(b, ".optimist_changes (table_name, row_key, tenant_id, version,"
              " deleted, committed_at) VALUES ('");
    jb_lit(b, t->name); /* a-z, 0-9, _ only (decl_name_ok) */
    jb_lit(b, "', ");
    jb_lit(b, row);
    jb_lit(b, ".");
    tbl_quote(b, t->key);
    jb_lit(b, ", ");
    tenant_of(b, t, row);
    jb_lit(b, ", ");
    jb_lit(b, row);
    jb_lit(b, ".");
    tbl_quote(b, t->version);
    jb_lit(b, deleted ? " + 1, 1" : ", 0");
    jb_lit(b, ", UTC_TIMESTAMP(3))");
}

void tbl_trigger_body(const tbl_table *t, const char *logdb, int which, jbuf *b)
{
    switch (which) {
    case TBL_TRG_BU:
        jb_lit(b, "IF NEW.");
        tbl_quote(b, t->version);
        jb_lit(b, " = OLD.");
        tbl_quote(b, t->version);
        jb_lit(b, " THEN SET NEW.");
        tbl_quote(b, t->version);
        jb_lit(b, " = OLD.");
        tbl_quote(b, t->version);
        jb_lit(b, " + 1; END IF");
        break;
    case TBL_TRG_AI:
        log_insert(b, t, logdb, "NEW", 0);
        break;
    case TBL_TRG_AU:
        jb_lit(b, "BEGIN IF NOT (NEW.");
        tbl_quote(b, t->key);
        jb_lit(b, " <=> OLD.");
        tbl_quote(b, t->key);
        jb_lit(b, ") OR NOT (");
        tenant_of(b, t, "NEW");
        jb_lit(b, " <=> ");
        tenant_of(b, t, "OLD");
        jb_lit(b, ") THEN ");
        log_insert(b, t, logdb, "OLD", 1);
        jb_lit(b, "; END IF; ");
        log_insert(b, t, logdb, "NEW", 0);
        jb_lit(b, "; END");
        break;
    default:
        log_insert(b, t, logdb, "OLD", 1);
        break;
    }
}

struct prep {
    rec_db *db;
    int dry_run;
    void (*print)(const char *sql, void *ctx);
    void *ctx;
    unsigned *changes;
    tbl_err *err;
};

static rec_status run(struct prep *p, const jbuf *sql)
{
    (*p->changes)++;
    if (p->print != NULL)
        p->print(sql->p, p->ctx);
    if (p->dry_run)
        return REC_OK;
    return rec_exec_text(p->db, sql->p, sql->len, &p->err->db);
}

static rec_status prepare(struct prep *p, tbl_table *t, int has_version)
{
    rec_rows *r = NULL;
    rec_status st =
        rec_exec(p->db, SQL_LOG_TABLE, NULL, 0, &r, NULL, NULL, &p->err->db);
    if (st != REC_OK)
        return st;
    char logdb[DECL_NAME_MAX + 1];
    snprintf(logdb, sizeof logdb, "%s",
             rec_rows_get(r, 0, 0) ? rec_rows_get(r, 0, 0) : "");
    int have_log = rec_rows_u64(r, 0, 1) == 1;
    rec_rows_free(r);
    r = NULL; /* the triggers' query below may not run */
    if (!have_log) {
        snprintf(p->err->why, sizeof p->err->why,
                 "no table optimist_changes in database `%s`: run "
                 "optimistctl migrate first",
                 logdb);
        return REC_INVALID;
    }
    jbuf sql, body;
    jb_init(&sql);
    jb_init(&body);
    if (!has_version) {
        jb_lit(&sql, "ALTER TABLE ");
        tbl_quote_table(&sql, t);
        jb_lit(&sql, " ADD COLUMN ");
        tbl_quote(&sql, t->version);
        jb_lit(&sql, " INT UNSIGNED NOT NULL DEFAULT 1");
        st = run(p, &sql);
    }
    rec_param sp = REC_CSTR(t->schema);
    if (st == REC_OK)
        st = rec_exec(p->db, SQL_TRIGGERS, &sp, 1, &r, NULL, NULL, &p->err->db);
    for (int w = 0; st == REC_OK && w < TBL_TRG_COUNT; w++) {
        char name[65];
        int found = 0, same = 0;
        tbl_trigger_name(t->name, w, name);
        jb_reset(&body);
        tbl_trigger_body(t, logdb, w, &body);
        for (size_t i = 0; i < rec_rows_count(r); i++)
            if (strcmp(rec_rows_get(r, i, 0), name) == 0) {
                found = 1;
                same = strcmp(rec_rows_get(r, i, 1), body.p) == 0 &&
                       strcmp(rec_rows_get(r, i, 2), t->table) == 0;
            }
        if (same)
            continue;
        jb_reset(&sql);
        jb_lit(&sql, found ? "CREATE OR REPLACE TRIGGER " : "CREATE TRIGGER ");
        tbl_quote(&sql, t->schema);
        jb_lit(&sql, ".");
        tbl_quote(&sql, name);
        jb_lit(&sql, " ");
        jb_lit(&sql, tbl_trigger_event(w));
        jb_lit(&sql, " ON ");
        tbl_quote_table(&sql, t);
        jb_lit(&sql, " FOR EACH ROW ");
        jb_raw(&sql, body.p, body.len);
        st = run(p, &sql);
    }
    rec_rows_free(r);
    jb_free(&sql);
    jb_free(&body);
    return st;
}

rec_status tbl_prepare(rec_db *db, const char *dir, const char *name,
                       int dry_run, void (*print)(const char *sql, void *ctx),
                       void *ctx, unsigned *changes, tbl_err *err)
{
    decl *d = xmalloc(sizeof *d);
    char why[DECL_WHY_MAX];
    rec_status st = REC_INVALID;
    int has_version = 0;
    memset(err, 0, sizeof *err);
    *changes = 0;
    if (!decl_name_ok(name)) {
        snprintf(err->why, sizeof err->why, "\"%s\" is not a table name", name);
    } else if (decl_load(dir, name, d, why) != 0) {
        snprintf(err->why, sizeof err->why, "%s", why);
    } else {
        tbl_table *t = tbl_describe(db, d, 1, &has_version, &st, why, &err->db);
        if (t == NULL && st == REC_INVALID)
            snprintf(err->why, sizeof err->why, "%s/%s.conf: %s", dir, name,
                     why);
        if (t != NULL) {
            struct prep p = {.db = db,
                             .dry_run = dry_run,
                             .print = print,
                             .ctx = ctx,
                             .changes = changes,
                             .err = err};
            st = prepare(&p, t, has_version);
        }
        tbl_table_free(t, db);
    }
    free(d);
    return st;
}
