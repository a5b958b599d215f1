/*
 * tbltrig.c -- the names and bodies of the four triggers that `table
 * prepare` installs (tblprep.c) and that the check of a declared table
 * compares with what information_schema holds (introspect.c). Apart from
 * both, so that neither needs the other for them.
 */
#include "tbl_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
