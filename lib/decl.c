/*
 * decl.c -- the declaration files of OPTIMIST_TABLES_DIR: one table each,
 * "KEY = value" lines. A strict reader: an unknown key, a key given
 * twice, a value that is not an identifier, or both or neither of
 * tenant_column and tenant is refused with the line it was on, so that a
 * typo never serves a table other than the one meant.
 */
#include "decl.h"
#include "xalloc.h"

#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int decl_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > DECL_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int decl_file_name(const char *file_name, char *name_out)
{
    size_t n = strlen(file_name);
    if (n <= 5 || n - 5 > DECL_NAME_MAX ||
        strcmp(file_name + n - 5, ".conf") != 0)
        return 0;
    memcpy(name_out, file_name, n - 5);
    name_out[n - 5] = '\0';
    return decl_name_ok(name_out);
}

static int ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

/* Copies s[0..n) into out if it is an identifier. */
static int ident(const char *s, size_t n, decl_ident out)
{
    if (n < 1 || n > DECL_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!ident_char((unsigned char)s[i]))
            return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static const char *trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *end = e;
    return s;
}

/* A comma-separated list of identifiers, no duplicates. */
static int ident_list(const char *s, const char *e, decl_ident *out, size_t *n,
                      char *why, unsigned line, const char *key)
{
    *n = 0;
    while (s <= e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *item_end, *item = trim(s, c ? c : e, &item_end);
        if (*n == DECL_MAX_COLS) {
            snprintf(why, DECL_WHY_MAX,
                     "line %u: %s names more than %d columns", line, key,
                     DECL_MAX_COLS);
            return -1;
        }
        if (ident(item, (size_t)(item_end - item), out[*n]) != 0) {
            snprintf(why, DECL_WHY_MAX,
                     "line %u: %s: \"%.*s\" is not a column name", line, key,
                     (int)(item_end - item > 64 ? 64 : item_end - item), item);
            return -1;
        }
        for (size_t i = 0; i < *n; i++)
            if (strcmp(out[i], out[*n]) == 0) {
                snprintf(why, DECL_WHY_MAX, "line %u: %s names %s twice", line,
                         key, out[i]);
                return -1;
            }
        (*n)++;
        if (c == NULL)
            break;
        s = c + 1;
    }
    return 0;
}

enum {
    K_TABLE,
    K_KEY,
    K_VERSION,
    K_TENANT_COLUMN,
    K_TENANT,
    K_COLUMNS,
    K_READ_ONLY,
    K_COUNT
};
static const char *const keys[K_COUNT] = {"table",         "key",    "version",
                                          "tenant_column", "tenant", "columns",
                                          "read_only"};

static int set_value(decl *d, int k, const char *v, const char *ve,
                     unsigned line, char *why)
{
    size_t n = (size_t)(ve - v);
    switch (k) {
    case K_TABLE: {
        const char *dot = memchr(v, '.', n);
        if (dot != NULL
                ? ident(v, (size_t)(dot - v), d->schema) != 0 ||
                      ident(dot + 1, (size_t)(ve - dot - 1), d->table) != 0
                : ident(v, n, d->table) != 0)
            break;
        return 0;
    }
    case K_KEY:
        if (ident(v, n, d->key) != 0)
            break;
        return 0;
    case K_VERSION:
        if (ident(v, n, d->version) != 0)
            break;
        return 0;
    case K_TENANT_COLUMN:
        if (ident(v, n, d->tenant_column) != 0)
            break;
        return 0;
    case K_TENANT: {
        char tmp[24];
        uint64_t t = 0;
        if (n == 0 || n >= sizeof tmp)
            break;
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        if (parse_u64(tmp, UINT64_MAX, &t) != n || t == 0 || t == UINT64_MAX)
            break;
        d->tenant = t;
        return 0;
    }
    case K_COLUMNS:
        d->all_columns = 0;
        return ident_list(v, ve, d->columns, &d->ncolumns, why, line,
                          "columns");
    case K_READ_ONLY:
        return ident_list(v, ve, d->read_only, &d->nread_only, why, line,
                          "read_only");
    }
    snprintf(why, DECL_WHY_MAX, "line %u: %s: \"%.*s\" is not %s", line,
             keys[k], (int)(n > 64 ? 64 : n), v,
             k == K_TENANT  ? "a tenant id (a positive integer)"
             : k == K_TABLE ? "a table or database.table name"
                            : "a column name");
    return -1;
}

int decl_parse(const char *name, const char *text, size_t len, decl *d,
               char *why)
{
    int seen[K_COUNT] = {0};
    unsigned line = 0;
    memset(d, 0, sizeof *d);
    if (!decl_name_ok(name)) {
        snprintf(why, DECL_WHY_MAX,
                 "the name must be 1 to 64 of a-z, 0-9 and _, starting with "
                 "a letter");
        return -1;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->key, sizeof d->key, "id");
    snprintf(d->version, sizeof d->version, "version");
    d->all_columns = 1;
    if (memchr(text, '\0', len) != NULL) {
        snprintf(why, DECL_WHY_MAX, "the file holds a NUL byte");
        return -1;
    }
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end,
                   *hash = memchr(p, '#', (size_t)(le - p));
        const char *ke, *k, *ve, *v;
        line++;
        k = trim(p, hash ? hash : le, &ke);
        p = nl ? nl + 1 : end;
        if (k == ke)
            continue;
        const char *eq = memchr(k, '=', (size_t)(ke - k));
        if (eq == NULL) {
            snprintf(why, DECL_WHY_MAX, "line %u: not KEY = value", line);
            return -1;
        }
        v = trim(eq + 1, ke, &ve);
        k = trim(k, eq, &ke);
        int which = -1;
        for (int i = 0; i < K_COUNT; i++)
            if ((size_t)(ke - k) == strlen(keys[i]) &&
                memcmp(k, keys[i], (size_t)(ke - k)) == 0)
                which = i;
        if (which < 0) {
            snprintf(why, DECL_WHY_MAX, "line %u: unknown key \"%.*s\"", line,
                     (int)(ke - k > 64 ? 64 : ke - k), k);
            return -1;
        }
        if (seen[which]++) {
            snprintf(why, DECL_WHY_MAX, "line %u: %s is given twice", line,
                     keys[which]);
            return -1;
        }
        if (set_value(d, which, v, ve, line, why) != 0)
            return -1;
    }
    if (!seen[K_TABLE]) {
        snprintf(why, DECL_WHY_MAX, "no table = line (it is required)");
        return -1;
    }
    if (seen[K_TENANT_COLUMN] == seen[K_TENANT]) {
        snprintf(why, DECL_WHY_MAX,
                 "exactly one of tenant_column and tenant must be given");
        return -1;
    }
    return 0;
}

int decl_load(const char *dir, const char *name, decl *out, char *why)
{
    char path[4200], inner[DECL_WHY_MAX];
    snprintf(path, sizeof path, "%s/%s.conf", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, DECL_WHY_MAX, "%s: cannot be opened", path);
        return -1;
    }
    char *buf = xmalloc(DECL_MAX_BYTES + 1);
    size_t n = fread(buf, 1, DECL_MAX_BYTES + 1, f);
    int bad = ferror(f), rc = -1;
    fclose(f);
    if (bad || n > DECL_MAX_BYTES)
        snprintf(why, DECL_WHY_MAX, "%s: %s", path,
                 bad ? "cannot be read" : "is larger than 64 KiB");
    else if (decl_parse(name, buf, n, out, inner) != 0)
        snprintf(why, DECL_WHY_MAX, "%s: %s", path, inner);
    else
        rc = 0;
    free(buf);
    return rc;
}
