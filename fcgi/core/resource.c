/*
 * resource.c -- the registry of resource descriptors (see resource.h).
 *
 * A slot per name, handed out in order and never reused: its id is what a
 * hub watch keeps, so a reload that drops a name and brings it back finds
 * the same watches. A slot holds the descriptor now behind the name (NULL
 * while a run-time one is gone) and its poll statement, built when the
 * descriptor arrives (the registry owns that copy, the owner the
 * descriptor).
 */
#include "resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char name[RESOURCE_NAME_MAX];
    const struct resource *res; /* NULL: gone (a run-time one dropped) */
    int builtin;
    char *poll_sql; /* ours */
};

static struct slot slots[RESOURCE_MAX_IDS + 1]; /* [0] unused */
static int nslots = 1;

static int is_ident(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) >= 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* A descriptor's problem, or NULL when it can be registered. */
static const char *check(const struct resource *res)
{
    if (res->name == NULL || res->name[0] == '\0' ||
        strlen(res->name) >= RESOURCE_NAME_MAX)
        return "a name of 1 to 79 bytes";
    if (res->feed == RES_FEED_NONE)
        return NULL;
    if (res->poll_sql != NULL) {
        /* The hub binds exactly RESOURCE_POLL_IN keys to every poll: a
         * statement with another count would fail at each poll. */
        int marks = 0;
        for (const char *c = res->poll_sql; *c; c++)
            marks += *c == '?';
        return marks == RESOURCE_POLL_IN
                   ? NULL
                   : "a poll_sql with RESOURCE_POLL_IN \"?\" marks";
    }
    const char *key = res->per_tenant ? res->tenant_col : res->id_col;
    if (!is_ident(res->poll_table ? res->poll_table : res->table) ||
        !is_ident(key) || (res->poll_col != NULL && !is_ident(res->poll_col)))
        return "table and column names of [A-Za-z0-9_] only";
    return NULL;
}

static char *make_poll_sql(const struct resource *res)
{
    if (res->feed == RES_FEED_NONE)
        return NULL;
    if (res->poll_sql != NULL)
        return strdup(res->poll_sql);
    const char *key = res->per_tenant ? res->tenant_col : res->id_col;
    char buf[1024]; /* 256 "?," and the names */
    int n =
        snprintf(buf, sizeof buf,
                 "SELECT `%s`, `%s` FROM `%s` WHERE `%s` IN " RESOURCE_IN_LIST,
                 key, res->poll_col ? res->poll_col : "version",
                 res->poll_table ? res->poll_table : res->table, key);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return strdup(buf);
}

static int slot_of(const char *name)
{
    for (int i = 1; i < nslots; i++)
        if (strcmp(slots[i].name, name) == 0)
            return i;
    return 0;
}

/* Puts `res` in its name's slot (a new one if needed). */
static int place(const struct resource *res, int builtin)
{
    int id = slot_of(res->name);
    if (id == 0) {
        if (nslots > RESOURCE_MAX_IDS)
            return -1;
        id = nslots++;
        snprintf(slots[id].name, sizeof slots[id].name, "%s", res->name);
    }
    char *sql = make_poll_sql(res);
    if (res->feed != RES_FEED_NONE && sql == NULL)
        return -1;
    free(slots[id].poll_sql);
    slots[id].poll_sql = sql;
    slots[id].res = res;
    slots[id].builtin = builtin;
    return id;
}

int resource_register(const struct resource *res)
{
    if (res == NULL || check(res) != NULL)
        return -1;
    int id = slot_of(res->name);
    if (id > 0 && slots[id].res == res)
        return id;
    if (id > 0 && slots[id].res != NULL)
        return -1; /* the name is taken */
    return place(res, 1);
}

int resource_set_runtime(const struct resource *const *set, size_t n, char *why,
                         size_t whylen)
{
    /* Everything is checked before anything changes. */
    for (size_t i = 0; i < n; i++) {
        const char *bad = check(set[i]);
        int id = bad ? 0 : slot_of(set[i]->name);
        if (bad == NULL && id > 0 && slots[id].builtin)
            bad = "the name of a built-in resource";
        for (size_t j = 0; bad == NULL && j < i; j++)
            if (strcmp(set[j]->name, set[i]->name) == 0)
                bad = "a name given twice";
        if (bad == NULL && id == 0 && nslots + (int)i > RESOURCE_MAX_IDS)
            bad = "too many resources";
        if (bad != NULL) {
            snprintf(why, whylen, "resource %s: %s",
                     set[i]->name ? set[i]->name : "(unnamed)", bad);
            return -1;
        }
    }
    for (int id = 1; id < nslots; id++)
        if (!slots[id].builtin) {
            slots[id].res = NULL;
            free(slots[id].poll_sql);
            slots[id].poll_sql = NULL;
        }
    for (size_t i = 0; i < n; i++)
        if (place(set[i], 0) < 0) {
            snprintf(why, whylen, "resource %s: no room for its poll",
                     set[i]->name);
            return -1;
        }
    return 0;
}

const struct resource *resource_find(const char *name)
{
    int id = name ? slot_of(name) : 0;
    return id > 0 ? slots[id].res : NULL;
}

const struct resource *resource_by_id(int id)
{
    return id > 0 && id < nslots ? slots[id].res : NULL;
}

int resource_builtin(int id)
{
    return id > 0 && id < nslots && slots[id].res != NULL && slots[id].builtin;
}

int resource_id(const char *name)
{
    int id = name ? slot_of(name) : 0;
    return id > 0 && slots[id].res != NULL ? id : 0;
}

int resource_id_end(void)
{
    return nslots;
}

const char *resource_poll_sql(int id)
{
    return id > 0 && id < nslots ? slots[id].poll_sql : NULL;
}

uint64_t resource_key(const struct resource *res, uint64_t tenant, uint64_t id)
{
    return res->per_tenant ? tenant : id;
}

int resource_touched(const struct resource *res, uint64_t tenant, uint64_t key,
                     int (*fn)(const struct resource *r, uint64_t tenant,
                               uint64_t key, void *ctx),
                     void *ctx)
{
    int rc = fn(res, tenant, key, ctx);
    for (const char *const *a = res->also; rc == 0 && a && *a; a++) {
        const struct resource *other = resource_find(*a);
        if (other != NULL)
            rc = fn(other, tenant, resource_key(other, tenant, key), ctx);
    }
    return rc;
}

rec_status resource_load(rec_db *db, const struct resource *res,
                         uint64_t tenant, uint64_t id, jbuf *out,
                         uint32_t *version, rec_err *err)
{
    if (res->load != NULL)
        return res->load(db, res, tenant, id, out, version, err);
    rec_param key[2] = {REC_U(id), REC_U(tenant)};
    rec_rows *rows = NULL;
    rec_status st =
        res->per_tenant
            ? rec_exec(db, res->load_sql, key + 1, 1, &rows, NULL, NULL, err)
            : rec_exec(db, res->load_sql, key, 2, &rows, NULL, NULL, err);
    if (st == REC_OK && rec_rows_count(rows) == 0)
        st = REC_NOT_FOUND;
    if (st == REC_OK) {
        *version = (uint32_t)rec_rows_u64(rows, 0, 1);
        res->render(out, rows, 0);
    }
    rec_rows_free(rows);
    return st;
}
