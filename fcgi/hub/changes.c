/*
 * changes.c -- a declared table's change feed (see changes.h).
 *
 * The change log's seq is taken at insert and becomes visible at commit,
 * so a reader that sent seq 12 may later see 11 commit. The horizon is
 * the seq up to which every change is visible or given up on: it moves
 * over each seq that follows it by the server's auto-increment step, and
 * over a gap once the change after the gap is CHANGES_GAP_MS old (an
 * insert rolled back, a Galera node's own increments, or a transaction
 * that held its change that long: a feed skips it then, as
 * docs/tables.md, "Feeds", says). A feed sends changes up to the horizon at
 * once, and a younger one past a gap once the horizon reaches it.
 */
#include "changes.h"

#include "hubctx.h"
#include "log.h"
#include "resource.h"
#include "tableset.h"
#include "watch.h"

#include <stdlib.h>

#define CHANGES_GAP_MS   3000
#define EVENTS_PER_FETCH 100

static const char SQL_CHANGES_AFTER[] =
    "SELECT seq, TIMESTAMPDIFF(MICROSECOND, committed_at, UTC_TIMESTAMP(3))"
    " DIV 1000 FROM optimist_changes WHERE seq > ? ORDER BY seq LIMIT 1000";
static const char SQL_CHANGES_START[] =
    "SELECT COALESCE(MAX(seq), 0), @@auto_increment_increment FROM "
    "optimist_changes WHERE committed_at < UTC_TIMESTAMP(3) - INTERVAL 3 "
    "SECOND";

static struct {
    int known;
    uint64_t horizon, step;
} CH;

void changes_horizon(void)
{
    rec_rows *rows = NULL;
    rec_err err = {0};
    if (!CH.known) {
        if (rec_exec(hub.db, SQL_CHANGES_START, NULL, 0, &rows, NULL, NULL,
                     &err) != REC_OK ||
            rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            return;
        }
        CH.horizon = rec_rows_u64(rows, 0, 0);
        CH.step = rec_rows_u64(rows, 0, 1);
        if (CH.step == 0)
            CH.step = 1;
        CH.known = 1;
        rec_rows_free(rows);
        rows = NULL;
    }
    rec_param p[1] = {REC_U(CH.horizon)};
    if (rec_exec(hub.db, SQL_CHANGES_AFTER, p, 1, &rows, NULL, NULL, &err) !=
        REC_OK)
        return;
    for (size_t i = 0; i < rec_rows_count(rows); i++) {
        uint64_t seq = rec_rows_u64(rows, i, 0);
        const char *age = rec_rows_get(rows, i, 1);
        if (seq != CH.horizon + CH.step &&
            (age == NULL || atoll(age) < CHANGES_GAP_MS))
            break;
        CH.horizon = seq;
    }
    rec_rows_free(rows);
}

/* {"id", "version", "row"}: the row as GET gives it now, null if gone. */
static void render(jbuf *b, tbl_table *t, uint64_t tenant, const tbl_change *ch)
{
    jb_lit(b, "{\"id\":");
    jb_u64(b, ch->key);
    jb_lit(b, ",\"version\":");
    jb_u64(b, ch->version);
    jb_lit(b, ",\"row\":");
    size_t at = b->len;
    uint32_t v = 0;
    tbl_err terr;
    rec_status st = ch->deleted
                        ? REC_NOT_FOUND
                        : tbl_get(hub.db, t, tenant, ch->key, b, &v, &terr);
    if (st != REC_OK) {
        b->len = at;
        if (b->p != NULL)
            b->p[at] = '\0';
        jb_lit(b, "null");
    }
    jb_lit(b, "}");
}

void changes_catch_up(struct conn *c)
{
    struct watch *w = c->w;
    const struct resource *res = resource_by_id(w->rid);
    tbl_table *t = res ? tset_table_of(res) : NULL;
    if (t == NULL)
        return;
    int held = 0;
    while (!held && conn_pending(c) < OUT_BOUND && c->cursor < w->version) {
        tbl_change ch[EVENTS_PER_FETCH];
        size_t n = 0;
        rec_err err = {0};
        if (tbl_changes(hub.db, t->name, w->tenant, 0, c->cursor, ch,
                        EVENTS_PER_FETCH, &n, &err) != REC_OK) {
            LOG(LOG_WARN, "hub: reading the change log of %s: %s", t->name,
                err.msg);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (ch[i].seq > CH.horizon && ch[i].age_ms < CHANGES_GAP_MS) {
                held = 1; /* an earlier change may still commit */
                break;
            }
            jbuf b;
            jb_init(&b);
            render(&b, t, w->tenant, &ch[i]);
            conn_event(c, "change", ch[i].seq, b.p, b.len);
            jb_free(&b);
        }
        if (n == 0)
            break;
    }
    /* Held back: the next poll finds the feed behind again and retries. */
    if (held && c->cursor < w->version)
        w->version = c->cursor;
}
