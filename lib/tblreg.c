/*
 * tblreg.c -- the registry of declared tables: every <name>.conf of
 * OPTIMIST_TABLES_DIR, described from the database. A new registry is
 * built whole, beside the one in use, so that a caller swaps one pointer
 * at a reload, or keeps the old registry when the new one refused
 * something (the contract: a bad reload keeps the tables served before).
 */
#include "tbl_internal.h"
#include "xalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct refusal {
    decl_ident name;
    char why[DECL_WHY_MAX + 64];
};

struct tbl_registry {
    size_t n, cap;
    tbl_table **t;
    size_t nref, capref;
    struct refusal *ref;
};

static void *grow(void *p, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return p;
    *cap = *cap ? *cap * 2 : 8;
    if (*cap < want)
        *cap = want;
    p = xrealloc(p, *cap * size);
    return p;
}

static void refuse(tbl_registry *reg, const char *name, const char *fmt,
                   const char *a, const char *b)
{
    reg->ref = grow(reg->ref, &reg->capref, reg->nref + 1, sizeof *reg->ref);
    struct refusal *r = &reg->ref[reg->nref++];
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->why, sizeof r->why, fmt, a, b);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names of dir ending in .conf, sorted (the caller frees). */
static char **conf_files(const char *dir, size_t *n)
{
    DIR *dh = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    if (dh == NULL)
        return NULL;
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 ||
            strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        names = grow(names, &cap, *n + 1, sizeof *names);
        names[(*n)++] = xstrdup(e->d_name);
    }
    closedir(dh);
    if (*n > 0)
        qsort(names, *n, sizeof *names, by_name);
    else if (names == NULL)
        names = xcalloc(1, sizeof *names);
    return names;
}

tbl_registry *tbl_registry_load(rec_db *db, const char *dir, rec_status *st,
                                tbl_err *err)
{
    tbl_registry *reg = xcalloc(1, sizeof *reg);
    decl *d = xmalloc(sizeof *d);
    size_t nfiles = 0;
    char **files = NULL;
    memset(err, 0, sizeof *err);
    *st = REC_OK;
    if (dir != NULL && dir[0] != '\0') {
        files = conf_files(dir, &nfiles);
        if (files == NULL) {
            snprintf(err->db.msg, sizeof err->db.msg,
                     "%s: cannot read the folder", dir);
            *st = REC_ERROR;
        }
    }
    for (size_t i = 0; *st == REC_OK && i < nfiles; i++) {
        char name[DECL_NAME_MAX + 1], why[DECL_WHY_MAX];
        if (!decl_file_name(files[i], name)) {
            refuse(reg, "",
                   "%s/%s: the name must be 1 to 64 of a-z, 0-9 "
                   "and _, starting with a letter",
                   dir, files[i]);
            continue;
        }
        if (decl_load(dir, name, d, why) != 0) {
            refuse(reg, name, "%s%s", why, "");
            continue;
        }
        rec_status s = REC_OK;
        tbl_table *t = tbl_describe(db, d, 0, NULL, &s, why, &err->db);
        if (t == NULL && s == REC_INVALID) {
            char path[DECL_WHY_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            refuse(reg, name, "%s: %s", path, why);
        } else if (t == NULL) {
            *st = s; /* the database: no registry */
        } else {
            reg->t = grow(reg->t, &reg->cap, reg->n + 1, sizeof *reg->t);
            reg->t[reg->n++] = t;
        }
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(d);
    if (*st != REC_OK) {
        tbl_registry_free(reg, db);
        return NULL;
    }
    return reg;
}

tbl_table *tbl_find(tbl_registry *reg, const char *name, size_t n)
{
    for (size_t i = 0; reg != NULL && i < reg->n; i++)
        if (strlen(reg->t[i]->name) == n &&
            memcmp(reg->t[i]->name, name, n) == 0)
            return reg->t[i];
    return NULL;
}

size_t tbl_registry_count(const tbl_registry *reg)
{
    return reg ? reg->n : 0;
}

tbl_table *tbl_registry_at(tbl_registry *reg, size_t i)
{
    return reg && i < reg->n ? reg->t[i] : NULL;
}

size_t tbl_registry_nrefused(const tbl_registry *reg)
{
    return reg ? reg->nref : 0;
}

const char *tbl_registry_refused(const tbl_registry *reg, size_t i,
                                 const char **name)
{
    if (reg == NULL || i >= reg->nref)
        return NULL;
    if (name != NULL)
        *name = reg->ref[i].name;
    return reg->ref[i].why;
}

void tbl_registry_free(tbl_registry *reg, rec_db *db)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        tbl_table_free(reg->t[i], db);
    free(reg->t);
    free(reg->ref);
    free(reg);
}
