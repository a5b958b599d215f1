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
